"""Display maps (hil/data/displays/*.yaml): where a meter model's LCD shows what.

A map gives the camera frame's size, the LCD glass (the bright panel a readback finds and
squares up), the main field of seven-segment cells, the icons, the word the field shows
for each class of token result, how long a result stays up, and how registers are brought
to the screen. Coordinates are pixels of the frame, origin top left. Errors name the file
and the field on one line, like the rig files' (hil/rig/config.py).

The geometry of one cell (`CellGeometry`) lives here so the renderer and the OCR draw and
sample the very same segments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hil.display.segments import SEGMENTS, decode, fit, glyphs, patterns_of
from hil.errors import ConfigError
from hil.meter.results import TokenResult
from hil.paths import DATA
from hil.yamlfile import read_yaml

DISPLAYS = DATA / "displays"
REQUIRED_ICONS = ("kwh", "relay_open", "low_credit", "lockout")
# The result classes the harness compares displays by; a map may merge classes (a meter that
# shows "Err" for a used token puts `used` under REJECTED), never invent one.
RESULT_CLASSES = ("ACCEPTED", "USED", "OLD", "EXPIRED", "LOCKOUT", "BUSY", "REJECTED")
IDLE = "idle"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Box(_Strict):
    """A rectangle of the frame; YAML gives ``{x, y, w, h}`` or ``[x, y, w, h]``."""

    x: float = Field(ge=0)
    y: float = Field(ge=0)
    w: float = Field(gt=0)
    h: float = Field(gt=0)

    @model_validator(mode="before")
    @classmethod
    def _from_list(cls, data: object) -> object:
        if isinstance(data, list | tuple):
            if len(data) != 4:
                raise ValueError("a box is [x, y, w, h] or {x:, y:, w:, h:}")
            return dict(zip("xywh", data, strict=True))
        return data

    @property
    def x1(self) -> float:
        return self.x + self.w

    @property
    def y1(self) -> float:
        return self.y + self.h

    def inside(self, other: Box) -> bool:
        return (
            self.x >= other.x and self.y >= other.y and self.x1 <= other.x1 and self.y1 <= other.y1
        )

    def overlaps(self, other: Box) -> bool:
        return self.x < other.x1 and other.x < self.x1 and self.y < other.y1 and other.y < self.y1


@dataclass(frozen=True)
class Bar:
    """One segment: its axis from ``start`` to ``end`` and its thickness, in the cell's
    upright coordinates (before the slant)."""

    start: tuple[float, float]
    end: tuple[float, float]
    thickness: float

    def polygon(self) -> np.ndarray:
        """The segment's hexagon (pointed ends), upright coordinates, shape (6, 2)."""
        p0, p1 = np.array(self.start), np.array(self.end)
        along = (p1 - p0) / np.linalg.norm(p1 - p0)
        normal = np.array([-along[1], along[0]])
        h = self.thickness / 2
        return np.array(
            [
                p0,
                p0 + h * along + h * normal,
                p1 - h * along + h * normal,
                p1,
                p1 - h * along - h * normal,
                p0 + h * along - h * normal,
            ]
        )

    def points(self, along: np.ndarray, across: np.ndarray) -> np.ndarray:
        """Points at fractions ``along`` the axis (0 start, 1 end) and offsets ``across`` it
        in pixels (positive: the normal's side), upright coordinates, shape (n*m, 2)."""
        p0, p1 = np.array(self.start), np.array(self.end)
        axis = p1 - p0
        normal = np.array([-axis[1], axis[0]]) / np.linalg.norm(axis)
        on_axis = p0 + along[:, None] * axis
        return (on_axis[:, None, :] + across[None, :, None] * normal).reshape(-1, 2)


@dataclass(frozen=True)
class CellGeometry:
    """Where one cell's segments and point are: upright coordinates with the origin at the
    digit's top left, slanted into the frame by `to_frame`."""

    origin: tuple[float, float]
    height: float
    shear: float  # tan(slant): the top of the digit leans right by height * shear
    bars: dict[str, Bar]
    dp_centre: tuple[float, float]
    dp_radius: float

    def to_frame(self, points: np.ndarray) -> np.ndarray:
        pts = np.asarray(points, dtype=np.float64)
        x = self.origin[0] + pts[..., 0] + (self.height - pts[..., 1]) * self.shear
        return np.stack([x, self.origin[1] + pts[..., 1]], axis=-1)


class DigitField(_Strict):
    """The main field: ``cells`` seven-segment cells, evenly spaced across ``box``, each
    with a decimal point at its lower right."""

    box: Box
    cells: int = Field(ge=1, le=32)
    digit_width: float = Field(default=0.6, gt=0.2, lt=0.9, description="of a cell's width")
    thickness: float = Field(default=0.22, gt=0.05, lt=0.4, description="of the digit's width")
    slant_deg: float = Field(default=4.0, ge=0, le=15)

    @model_validator(mode="after")
    def _room(self) -> DigitField:
        pitch = self.box.w / self.cells
        width = self.digit_width * pitch
        needed = 0.08 * pitch + width + self.box.h * math.tan(math.radians(self.slant_deg))
        if needed + 1.5 * self.thickness * width > pitch:
            raise ValueError(
                "field: a digit, its slant and its point do not fit in a cell; "
                "lower digit_width or slant_deg, or widen the box"
            )
        return self

    @cached_property
    def geometry(self) -> tuple[CellGeometry, ...]:
        """Every cell's geometry, left to right."""
        pitch = self.box.w / self.cells
        w, hh = self.digit_width * pitch, self.box.h
        t = self.thickness * w
        h, gap = t / 2, 0.06 * w
        mid = hh / 2
        bars = {
            "a": Bar((h + gap, h), (w - h - gap, h), t),
            "b": Bar((w - h, h + gap), (w - h, mid - gap), t),
            "c": Bar((w - h, mid + gap), (w - h, hh - h - gap), t),
            "d": Bar((h + gap, hh - h), (w - h - gap, hh - h), t),
            "e": Bar((h, mid + gap), (h, hh - h - gap), t),
            "f": Bar((h, h + gap), (h, mid - gap), t),
            "g": Bar((h + gap, mid), (w - h - gap, mid), t),
        }
        assert tuple(bars) == tuple(SEGMENTS)
        shear = math.tan(math.radians(self.slant_deg))
        return tuple(
            CellGeometry(
                origin=(self.box.x + i * pitch + 0.08 * pitch, self.box.y),
                height=hh,
                shear=shear,
                bars=bars,
                dp_centre=(w + 0.85 * t, hh - h),
                dp_radius=0.6 * t,
            )
            for i in range(self.cells)
        )


class Message(_Strict):
    """The word the field shows for a class of results, and the results in that class."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str = Field(min_length=1)
    results: tuple[TokenResult, ...] = Field(min_length=1)

    @field_validator("results", mode="before")
    @classmethod
    def _labels(cls, value: object) -> object:
        if not isinstance(value, list | tuple):
            return value
        out = []
        for item in value:
            if isinstance(item, str):
                try:
                    out.append(TokenResult.from_label(item))
                except ValueError:
                    names = ", ".join(r.name.lower() for r in TokenResult)
                    raise ValueError(f"unknown token result {item!r}; accepted: {names}") from None
            else:
                out.append(item)
        return out


class Timing(_Strict):
    result_s: float = Field(gt=0, description="how long a result word stays before idle")


class DisplayMap(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    frame: tuple[int, int] = Field(description="camera frame (width, height), pixels")
    panel: Box = Field(description="the LCD glass: the bright area a readback squares up")
    field: DigitField
    icons: dict[str, Box]
    messages: dict[str, Message]
    timing: Timing
    # register -> "idle" (the idle screen shows it) or the keypad short code that shows it.
    registers: dict[str, str] = {"credit": IDLE}

    @field_validator("registers", mode="before")
    @classmethod
    def _registers(cls, value: object) -> object:
        if not isinstance(value, dict):
            return value
        for name, how in value.items():
            # YAML reads 055 as the number 55: a code is data to type, so it must be quoted.
            if how != IDLE and not (isinstance(how, str) and how.isdigit() and len(how) <= 8):
                raise ValueError(f'{name}: accepted: idle or a keypad code in quotes ("055")')
        if sum(how == IDLE for how in value.values()) > 1:
            raise ValueError("only one register is on the idle screen")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> DisplayMap:
        width, height = self.frame
        if not self.panel.inside(Box(x=0, y=0, w=width, h=height)):
            raise ValueError("panel: the panel is not inside the frame")
        if not self.field.box.inside(self.panel):
            raise ValueError("field.box: the field is not inside the panel")
        missing = [name for name in REQUIRED_ICONS if name not in self.icons]
        if missing:
            raise ValueError(f"icons: missing {', '.join(missing)}")
        for name, box in self.icons.items():
            if not box.inside(self.panel) or box.overlaps(self.field.box):
                raise ValueError(f"icons.{name}: inside the panel and clear of the field")
        self._check_messages()
        return self

    def _check_messages(self) -> None:
        unknown = [name for name in self.messages if name not in RESULT_CLASSES]
        if unknown:
            raise ValueError(f"messages.{unknown[0]}: accepted: {', '.join(RESULT_CLASSES)}")
        owner: dict[TokenResult, str] = {}
        for name, message in self.messages.items():
            for result in message.results:
                if result in owner:
                    raise ValueError(
                        f"messages: result {result.name} is in both {owner[result]} and {name}"
                    )
                owner[result] = name
        missing = [r.name for r in TokenResult if r not in owner]
        if missing:
            raise ValueError(
                f"messages: result {', '.join(missing)} in no class "
                "(every token result belongs to exactly one)"
            )
        seen: dict[tuple[tuple[frozenset[str], bool], ...], str] = {}
        for name, message in self.messages.items():
            try:
                fit(message.text, self.field.cells)
            except ValueError as exc:
                raise ValueError(f"messages.{name}.text: {exc}") from None
            if _looks_numeric(message.text):
                raise ValueError(f"messages.{name}.text: {message.text!r} reads as a number")
            shape = patterns_of(message.text)
            if shape in seen:
                raise ValueError(
                    f"messages.{name}.text: looks the same as {seen[shape]}'s on the LCD"
                )
            seen[shape] = name

    @cached_property
    def _class_of(self) -> dict[TokenResult, str]:
        return {r: name for name, m in self.messages.items() for r in m.results}

    def class_of(self, result: TokenResult) -> str:
        """The result class (a key of ``messages``) a token result belongs to."""
        return self._class_of[TokenResult(result)]

    def message_for(self, result: TokenResult) -> Message:
        """What the field shows after a token with this result."""
        return self.messages[self.class_of(result)]

    def results_of(self, class_name: str) -> tuple[TokenResult, ...]:
        """The token results a class stands for; KeyError naming the known classes."""
        try:
            return self.messages[class_name].results
        except KeyError:
            known = ", ".join(self.messages)
            raise KeyError(f"{class_name!r}: this map's classes are {known}") from None

    def register_code(self, register: str) -> str | None:
        """The keypad code that brings ``register`` up; None for the idle screen's register.
        KeyError when the meter has no way to show it."""
        how = self.registers[register]
        return None if how == IDLE else how


def _looks_numeric(text: str) -> bool:
    # A message word must never read as a number: a readback could not tell the two apart.
    chars = "".join(decode(g.segments) or "?" for g in glyphs(text)).strip()
    return bool(chars) and all(c.isdigit() or c in "- " for c in chars)


def _one_line(exc: ValidationError, source: Path) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling)"
        parts.append(f"{where}: {msg}" if where else msg)
    return f"{source}: " + "; ".join(parts)


def load_display_map(path: Path) -> DisplayMap:
    """The validated display map in ``path``; ConfigError on one line naming file and field."""
    path = Path(path)
    data, _raw = read_yaml(path, "display map")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a display map is a YAML mapping (name:, frame:, field:, ...)")
    try:
        return DisplayMap.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_one_line(exc, path)) from None


def builtin_display_map(name: str = "sim-lcd") -> DisplayMap:
    """A display map shipped in hil/data/displays ("sim-lcd": the simulated meter's LCD)."""
    path = DISPLAYS / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in DISPLAYS.glob("*.yaml")))
        raise ConfigError(f"{path}: no built-in display map {name!r}; known: {known}")
    return load_display_map(path)

"""Read a meter's seven-segment LCD back from a camera frame: pure, no I/O, no models.

The method, in order:

1. Find the LCD glass (the largest bright region), fit a straight line to each of its four
   edges and warp the quadrilateral they make onto the map's panel: tilt, perspective and
   offset are undone, whatever the camera's resolution.
2. Divide out the glass's own brightness (a grey closing: uneven light, glare) so each
   pixel becomes an ink darkness from 0 (clear glass) to 1 (black).
3. Sample the core of every segment, point and icon, and, beside each lit segment, the
   clear glass that must flank it (a misplaced sampling grid or a smeared frame shows there).
   Each sample is on or off against a level between clear and lit; its margin is how far
   from that level it is, relative to the gap.
4. The confidence is a ramp of the weakest margin: one doubtful segment makes the whole
   reading doubtful, so a wrong reading comes with a low confidence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image

from hil.display.layout import Bar, Box, CellGeometry, DisplayMap
from hil.display.segments import decode, patterns_of, trim_blanks

DEFAULT_THRESHOLD = 0.5  # a reading at or above this confidence is sure
_ON_LEVEL = 0.26  # ink darkness between a ghost (~0.05) and a lit segment (>= 0.45)
_LEVEL_RANGE = (0.18, 0.36)  # where the frame's own on/off split may move that level
# Margin (0 on the level, 1 at twice/zero the level) -> confidence: a linear ramp.
_RAMP = (0.2, 0.5)
_UNKNOWN_GLYPH_CAP = 0.25  # a lit pattern no character has is most likely a misread
_PER_CELL = 8  # samples per cell: segments a-g, then the point
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


@dataclass(frozen=True)
class DisplayReading:
    """What a frame shows. ``text`` is the field as read, blanks stripped ("12.50", or the
    map's word for a message); ``value`` the number when it shows one; ``message`` the
    result class when it shows a message word; ``crops`` grey uint8 arrays of the squared-up
    frame ("frame"), the main field ("field") and each icon (by name), kept as evidence."""

    text: str
    value: float | None
    message: str | None
    icons: frozenset[str]
    confidence: float
    crops: dict[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)
    weakest: str = ""  # which sample set the confidence (for a report)
    threshold: float = DEFAULT_THRESHOLD

    @property
    def sure(self) -> bool:
        """True when the confidence reaches the threshold the frame was read with."""
        return self.confidence >= self.threshold


def confident(reading: DisplayReading, threshold: float | None = None) -> bool:
    """Whether ``reading`` is sure at ``threshold`` (default: the one it was read with)."""
    return reading.confidence >= (reading.threshold if threshold is None else threshold)


def read_display(
    image: Image.Image | np.ndarray,
    display_map: DisplayMap,
    *,
    threshold: float = DEFAULT_THRESHOLD,
) -> DisplayReading:
    """Read the LCD in ``image`` (a PIL image, or an array: H x W grey or H x W x 3 in
    either channel order) laid out as ``display_map``. Never raises for a bad frame: one
    where the glass cannot be found reads as empty with confidence 0."""
    grey = _grey(image)
    corners = _find_panel(grey)
    if corners is None:
        return DisplayReading("", None, None, frozenset(), 0.0, {}, "no LCD panel", threshold)
    width, height = display_map.frame
    panel = display_map.panel
    target = np.array(
        [[panel.x, panel.y], [panel.x1, panel.y], [panel.x1, panel.y1], [panel.x, panel.y1]],
        np.float32,
    )
    warp = cv2.getPerspectiveTransform(corners.astype(np.float32), target)
    square = cv2.warpPerspective(grey, warp, (width, height), flags=cv2.INTER_LINEAR)
    ink = _ink(square, display_map)

    samples = _Samples(ink)
    for i, geometry in enumerate(display_map.field.geometry):
        for name, bar in geometry.bars.items():
            samples.add(f"cell {i + 1} segment {name}", _bar_core(geometry, bar))
        samples.add(f"cell {i + 1} point", _point_core(geometry))
    for name, box in display_map.icons.items():
        samples.add(f"icon {name}", _box_core(box))
    level = samples.split_level()
    lit = samples.means > level

    # Beside every lit segment the glass must be clear; these samples are never "on".
    flanks = _Samples(ink)
    n_cell = len(display_map.field.geometry)
    for i, geometry in enumerate(display_map.field.geometry):
        for j, (name, bar) in enumerate(geometry.bars.items()):
            if lit[i * _PER_CELL + j]:
                for side in (-1.0, 1.0):
                    where = f"cell {i + 1} beside segment {name}"
                    flanks.add(where, _bar_flank(geometry, bar, side))

    # Margin: distance from the level in units of the level (on and off alike).
    margins = np.abs(samples.means - level) / level
    names = list(samples.names)
    if flanks.names:
        margins = np.concatenate([margins, (level - flanks.means) / level])
        names += flanks.names
    margins = np.clip(margins, -1.0, 1.0)
    weakest = int(np.argmin(margins))
    low, high = _RAMP
    confidence = float(np.clip((margins[weakest] - low) / (high - low), 0.0, 1.0))

    cells = []
    unknown = False
    for i in range(n_cell):
        segs = frozenset(
            seg
            for j, seg in enumerate(display_map.field.geometry[i].bars)
            if lit[i * _PER_CELL + j]
        )
        char = decode(segs)
        unknown |= char is None
        cells.append((segs, bool(lit[i * _PER_CELL + 7]), char or "?"))
    if unknown:
        confidence = min(confidence, _UNKNOWN_GLYPH_CAP)
    text = "".join(char + ("." if dp else "") for _segs, dp, char in cells).strip()
    shown = trim_blanks([(segs, dp) for segs, dp, _char in cells])
    message = next(
        (name for name, m in display_map.messages.items() if patterns_of(m.text) == shown), None
    )
    if message is not None:
        text = display_map.messages[message].text
    value = float(text) if message is None and _NUMBER.match(text) else None
    icons = frozenset(
        name for k, name in enumerate(display_map.icons) if lit[n_cell * _PER_CELL + k]
    )
    crops = _crops(square, display_map)
    return DisplayReading(text, value, message, icons, confidence, crops, names[weakest], threshold)


class _Samples:
    """Named sets of sample points on the ink image, and their mean darkness."""

    def __init__(self, ink: np.ndarray) -> None:
        self.ink = ink
        self.names: list[str] = []
        self._means: list[float] = []

    def add(self, name: str, points: np.ndarray) -> None:
        h, w = self.ink.shape
        xs = np.clip(np.rint(points[:, 0]).astype(np.intp), 0, w - 1)
        ys = np.clip(np.rint(points[:, 1]).astype(np.intp), 0, h - 1)
        self.names.append(name)
        self._means.append(float(self.ink[ys, xs].mean()))

    @property
    def means(self) -> np.ndarray:
        return np.array(self._means)

    def split_level(self) -> float:
        """The on/off level for this frame: midway between its lit and its clear samples
        when it clearly has both (a dim or a dark LCD moves it), else the fixed level."""
        values = self.means
        level = _ON_LEVEL
        for _ in range(4):
            on, off = values[values > level], values[values <= level]
            if not len(on) or not len(off) or on.mean() - off.mean() < 0.2:
                return _ON_LEVEL
            level = float(np.clip((on.mean() + off.mean()) / 2, *_LEVEL_RANGE))
        return level


def _grey(image: Image.Image | np.ndarray) -> np.ndarray:
    # The plain mean of the channels: the same grey for RGB and BGR frames.
    pixels = np.asarray(image.convert("RGB") if isinstance(image, Image.Image) else image)
    if pixels.ndim == 3:
        pixels = pixels[..., :3].mean(axis=2)
    return pixels.astype(np.float32)


def _find_panel(grey: np.ndarray) -> np.ndarray | None:
    """The glass's corners (top left, top right, bottom right, bottom left) in the image,
    from lines fitted to its four edges; None when no whole panel is in view."""
    h, w = grey.shape
    smooth = cv2.GaussianBlur(grey, (5, 5), 0).clip(0, 255).astype(np.uint8)
    _t, mask = cv2.threshold(smooth, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return None
    outline = max(contours, key=cv2.contourArea)
    if cv2.contourArea(outline) < 0.2 * h * w:
        return None
    points = outline.reshape(-1, 2).astype(np.float64)
    if (
        points[:, 0].min() <= 1
        or points[:, 1].min() <= 1
        or points[:, 0].max() >= w - 2
        or points[:, 1].max() >= h - 2
    ):
        return None  # the glass runs off the picture: its edges cannot be trusted
    hull = cv2.convexHull(outline)
    quad = cv2.approxPolyDP(hull, 0.02 * cv2.arcLength(hull, True), True).reshape(-1, 2)
    if len(quad) != 4:
        quad = cv2.boxPoints(cv2.minAreaRect(outline))
    rough = _order(np.asarray(quad, np.float64))
    lines = []
    for k in range(4):
        a, b = rough[k], rough[(k + 1) % 4]
        side = b - a
        length = float(np.linalg.norm(side))
        rel = points - a
        t = rel @ side / length**2
        dist = np.abs(rel[:, 0] * side[1] - rel[:, 1] * side[0]) / length
        near = points[(t > 0.1) & (t < 0.9) & (dist < 4)]
        if len(near) < 10:
            return None
        vx, vy, x0, y0 = cv2.fitLine(near.astype(np.float32), cv2.DIST_HUBER, 0, 0.01, 0.01)
        lines.append((np.array([x0[0], y0[0]]), np.array([vx[0], vy[0]])))
    corners = [_intersect(lines[k - 1], lines[k]) for k in range(4)]
    if any(c is None for c in corners):
        return None
    return np.array(corners)


def _order(quad: np.ndarray) -> np.ndarray:
    total, diff = quad.sum(axis=1), quad[:, 0] - quad[:, 1]
    return np.array(
        [
            quad[np.argmin(total)],
            quad[np.argmax(diff)],
            quad[np.argmax(total)],
            quad[np.argmin(diff)],
        ]
    )


def _intersect(
    one: tuple[np.ndarray, np.ndarray], two: tuple[np.ndarray, np.ndarray]
) -> np.ndarray | None:
    (p, r), (q, s) = one, two
    cross = r[0] * s[1] - r[1] * s[0]
    if abs(cross) < 1e-6:
        return None
    t = ((q - p)[0] * s[1] - (q - p)[1] * s[0]) / cross
    return p + t * r


def _ink(square: np.ndarray, display_map: DisplayMap) -> np.ndarray:
    """Ink darkness 0..1 of the squared-up frame: 1 - pixel / local glass brightness."""
    field = display_map.field
    thickest = max(
        [field.thickness * field.digit_width * field.box.w / field.cells]
        + [min(b.w, b.h) for b in display_map.icons.values()]
    )
    size = int(thickest * 1.3) | 1  # wider than any ink shape: the closing removes them all
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (size, size))
    glass = cv2.morphologyEx(square, cv2.MORPH_CLOSE, kernel)
    glass = cv2.blur(glass, (size, size))
    return np.clip(1.0 - square / np.maximum(glass, 1.0), 0.0, 1.0)


_ALONG = np.linspace(0.2, 0.8, 9)


def _bar_core(geometry: CellGeometry, bar: Bar) -> np.ndarray:
    t = bar.thickness
    return geometry.to_frame(bar.points(_ALONG, np.array([-0.25, 0.0, 0.25]) * t))


def _bar_flank(geometry: CellGeometry, bar: Bar, side: float) -> np.ndarray:
    # 3 px of clear glass beyond the segment's edge: wide of the blur, short of a neighbour.
    offset = side * (bar.thickness / 2 + 3.0)
    return geometry.to_frame(bar.points(_ALONG, np.array([offset])))


def _point_core(geometry: CellGeometry) -> np.ndarray:
    r = geometry.dp_radius * 0.45
    grid = np.array([(dx, dy) for dx in (-r, 0, r) for dy in (-r, 0, r)])
    return geometry.to_frame(np.array(geometry.dp_centre) + grid)


def _box_core(box: Box) -> np.ndarray:
    xs = np.linspace(box.x + 0.25 * box.w, box.x1 - 0.25 * box.w, 7)
    ys = np.linspace(box.y + 0.3 * box.h, box.y1 - 0.3 * box.h, 3)
    return np.array([(x, y) for x in xs for y in ys])


def _crops(square: np.ndarray, display_map: DisplayMap) -> dict[str, np.ndarray]:
    frame = square.clip(0, 255).astype(np.uint8)

    def cut(box: Box) -> np.ndarray:
        return frame[round(box.y) : round(box.y1), round(box.x) : round(box.x1)].copy()

    crops = {"frame": frame, "field": cut(display_map.field.box)}
    crops.update({name: cut(box) for name, box in display_map.icons.items()})
    return crops

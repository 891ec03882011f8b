"""Rig files (rigs/*.yaml): what a bench is made of, validated on load.

A rig file has four parts: ``meter`` (identity, key sources, timing profile),
``features`` (what the bench can do), ``resources`` (where the devices are) and, for
the simulated bench, ``simulator`` (the harness starts and stops it). Errors name the
file, the field and what is accepted, on one line.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hil.errors import ConfigError
from hil.rig.meter_spec import MeterSpec
from hil.yamlfile import read_yaml

Feature = Literal["keypad", "virtual_carrier", "power_control", "load_control", "relay_sensing"]
KEYPAD_KEYS = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "ENTER", "BACK")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UsbMatch(_Strict):
    """Find a USB serial device by identity instead of /dev/ttyUSBn."""

    serial_number: str | None = None
    location: str | None = None
    vid: int | None = None
    pid: int | None = None


class SerialResource(_Strict):
    url: str | None = Field(
        default=None, description="pyserial URL: /dev/..., socket://, rfc2217://"
    )
    usb: UsbMatch | None = None
    baudrate: int = 115200
    timeout_s: float = Field(default=1.0, gt=0)

    @model_validator(mode="after")
    def _where(self) -> SerialResource:
        if (self.url is None) == (self.usb is None):
            raise ValueError("give exactly one of url or usb (serial_number/location)")
        return self


class RelayBoardResource(SerialResource):
    kind: Literal["numato", "kmtronic"] = "numato"
    channels: int = Field(default=16, ge=1, le=32)
    min_spacing_s: float = Field(default=0.0, ge=0)


class KeypadWiring(_Strict):
    """Relay channels behind each key: one per key, or row + column buses (a matrix)."""

    keys: dict[str, int] | None = None
    rows: dict[str, int] | None = None
    cols: dict[str, int] | None = None
    layout: list[list[str]] | None = None  # key names by row then column (matrix only)

    @model_validator(mode="after")
    def _shape(self) -> KeypadWiring:
        if self.keys is not None:
            if self.rows or self.cols or self.layout:
                raise ValueError("use either keys (one channel per key) or rows/cols/layout")
            missing = [k for k in KEYPAD_KEYS if k not in self.keys]
            if missing:
                raise ValueError(f"keys is missing {', '.join(missing)}")
        elif not (self.rows and self.cols and self.layout):
            raise ValueError("a matrix keypad needs rows, cols and layout")
        return self

    def contacts(self) -> dict[str, tuple[int, ...]]:
        """Channels to close for each key."""
        if self.keys is not None:
            return {k: (ch,) for k, ch in self.keys.items()}
        assert self.rows and self.cols and self.layout
        row_names, col_names = list(self.rows), list(self.cols)
        out = {}
        for r, row in enumerate(self.layout):
            for c, key in enumerate(row):
                if key:
                    out[key] = (self.rows[row_names[r]], self.cols[col_names[c]])
        return out


class InstrumentResource(_Strict):
    resource: str = Field(description="VISA resource string, e.g. TCPIP::10.0.0.5::5025::SOCKET")
    backend: str = Field(default="@py", description="pyvisa backend: @py (pyvisa-py) or @ivi")
    commands: str = Field(default="generic-scpi", description="command map in hil/data/instruments")
    timeout_s: float = Field(default=2.0, gt=0)


class Instruments(_Strict):
    ac_source: InstrumentResource | None = None
    dmm: InstrumentResource | None = None
    load: InstrumentResource | None = None


class Resources(_Strict):
    relay_board: RelayBoardResource | None = None
    keypad: KeypadWiring | None = None
    probe: SerialResource | None = None
    instruments: Instruments = Instruments()


class SimulatorSpec(_Strict):
    """Present in rigs whose bench is the simulator that the harness starts itself."""

    transport: Literal["pty", "tcp"] = "pty"
    speed: float = Field(default=1.0, gt=0, description="model seconds per real second")
    defect: str | None = Field(default=None, description="defect profile (hil sim --list-defects)")
    credit_kwh: float = Field(default=0.0, ge=0)
    load_w: float = Field(default=0.0, ge=0)
    # A conforming meter not written by this project (docs/simulator.md, "A foreign meter").
    real_time: bool = Field(default=False, description="clock at 1.0; acceleration refused")
    credit_resolution_kwh: float = Field(
        default=0.001, ge=0.001, le=0.1, description="GET CREDIT rounded down to this (kWh)"
    )
    supply_off_at_start: bool = Field(
        default=False, description="meter unpowered, probe silent, until the AC source is on"
    )
    events: Literal["all", "mandatory"] = Field(
        default="all", description="mandatory: push only the events the contract requires"
    )

    @model_validator(mode="after")
    def _foreign_meter(self) -> SimulatorSpec:
        wh = self.credit_resolution_kwh * 1000
        if abs(wh - round(wh)) > 1e-6:  # the simulated register counts whole Wh
            raise ValueError("credit_resolution_kwh: accepted: a multiple of 0.001 (e.g. 0.01)")
        if self.real_time and self.speed != 1.0:
            raise ValueError("speed: a real_time simulator runs at 1.0; remove speed")
        return self


class Capabilities(_Strict):
    """What the bench can do, as the lab declares it: tests size credit, load and waits from
    these figures (energy / power), never from a simulator's clock."""

    load_max_w: float = Field(
        default=3000.0, gt=0, description="largest load the bench draws through the meter (W)"
    )
    metering_error_pct: float = Field(
        default=2.0, ge=0, le=20, description="allowed error of the meter's energy register (%)"
    )
    supply_cut_jitter_s: float = Field(
        default=0.005, gt=0, le=1,
        description="how precisely the AC source's output goes off when told to (s): a few ms "
        "for a plain OUTP OFF, less for a triggered LIST/PULSE transient",
    )  # fmt: skip


_NEEDS = {
    "keypad": ("relay_board", "keypad"),
    "virtual_carrier": ("probe",),
    "power_control": ("ac_source",),
    "load_control": ("load",),
    "relay_sensing": ("dmm",),
}


class RigConfig(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    meter: MeterSpec
    features: list[Feature] = []
    token_entry: Literal["keypad", "virtual_carrier"] = "keypad"
    resources: Resources = Resources()
    capabilities: Capabilities = Capabilities()
    simulator: SimulatorSpec | None = None

    @model_validator(mode="after")
    def _features_have_resources(self) -> RigConfig:
        if self.token_entry not in self.features:
            raise ValueError(f"token_entry {self.token_entry} needs feature {self.token_entry}")
        if self.simulator is not None:
            return self  # the harness fills in the simulator's ports
        have = {
            "relay_board": self.resources.relay_board,
            "keypad": self.resources.keypad,
            "probe": self.resources.probe,
            "ac_source": self.resources.instruments.ac_source,
            "dmm": self.resources.instruments.dmm,
            "load": self.resources.instruments.load,
        }
        if have["probe"] is None:
            raise ValueError("resources.probe is required: the harness reads the meter through it")
        for feature in self.features:
            for need in _NEEDS[feature]:
                if have[need] is None:
                    raise ValueError(f"feature {feature} needs resources.{_path(need)}")
        return self


def _path(need: str) -> str:
    return f"instruments.{need}" if need in ("ac_source", "dmm", "load") else need


def _one_line(exc: ValidationError, source: Path) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling; see docs/rig-files.md)"
        elif err["type"] == "literal_error":
            msg = msg.replace("Input should be", "accepted:")
        parts.append(f"{where}: {msg}")
    return f"{source}: " + "; ".join(parts)


def load_rig(path: str | Path) -> tuple[RigConfig, str]:
    """The validated rig and the SHA-256 of the file (for the run record)."""
    path = Path(path)
    data, raw = read_yaml(path, "rig file")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a rig file is a YAML mapping (name:, meter:, resources:)")
    for section in ("resources", "features", "simulator", "capabilities"):
        if section in data and data[section] is None:  # an empty YAML section
            del data[section]
    try:
        rig = RigConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_one_line(exc, path)) from None
    return rig, hashlib.sha256(raw).hexdigest()

"""Rig files (rigs/*.yaml): what a bench is made of, validated on load.

A rig file has four parts: ``meter`` (identity, key sources, timing profile),
``features`` (what the bench can do), ``resources`` (where the devices are) and, for
the simulated bench, ``simulator`` (the harness starts and stops it). Errors name the
file, the field and what is accepted, on one line.

A split-meter rig (docs/split-meters.md) has ``ciu``, ``meters`` and ``link`` instead of
``meter``; it is read by ``load_split_rig`` into a `SplitRigConfig`, and ``load_rig``
refuses it, so code written for one meter never meets a rig without ``meter``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hil.errors import ConfigError
from hil.rig.meter_spec import MeterSpec
from hil.yamlfile import read_yaml

if TYPE_CHECKING:
    from hil.display.layout import DisplayMap

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


class OperatorResource(_Strict):
    """A person who reads the meter's display (docs/drivers.md, "The operator"), or a file
    of answers standing in for one."""

    name: str | None = Field(default=None, description="who answers ($HIL_OPERATOR, else login)")
    script: str | None = Field(
        default=None, description="answers from this YAML file instead of a terminal"
    )
    answer_timeout_s: float = Field(default=120.0, gt=0, description="silence after: error")


class ReadbackResource(_Strict):
    """How the harness reads the meter (docs/drivers.md, "Writing a readback driver"):
    ``kind`` names the driver (``probe``: test firmware through resources.probe; ``dlms``:
    DLMS/COSEM at ``url``; ``display``: a camera at ``url`` on the meter's LCD; ``operator``:
    a person at the display, also the display's fallback when given there)."""

    kind: str = "probe"
    operator: OperatorResource | None = None
    display: str = Field(
        default="sim-lcd", description="display map: a built-in name or a YAML file's path"
    )
    credit_resolution_kwh: float | None = Field(
        default=None, gt=0, description="display, operator: the credit's resolution as shown"
    )
    threshold: float = Field(default=0.5, gt=0, le=1, description="display: OCR confidence")
    tries: int = Field(default=8, ge=1, description="display: frames before it is unsure")
    url: str | None = Field(
        default=None,
        description="dlms: tcp://HOST:PORT (wrapper) or a serial URL (HDLC); display: the camera",
    )
    client_sap: int = Field(default=16, ge=0, le=127, description="dlms: 16 public, 1 management")
    password_env: str | None = Field(
        default=None, description="dlms: environment variable holding the low-level password"
    )
    baudrate: int = 9600
    timeout_s: float = Field(default=2.0, gt=0)

    def display_map(self, base: Path) -> DisplayMap:
        """The display map named by ``display``: a YAML file (from ``base``) or a built-in."""
        from hil.display.layout import builtin_display_map, load_display_map

        if self.display.endswith((".yaml", ".yml")):
            return load_display_map(base / self.display)
        return builtin_display_map(self.display)

    @model_validator(mode="after")
    def _known_kind(self) -> ReadbackResource:
        from hil.rig.readback import READBACKS, unknown_kind  # the drivers: import late

        if self.kind not in READBACKS:
            raise ValueError(unknown_kind(self.kind))
        return self


class Resources(_Strict):
    relay_board: RelayBoardResource | None = None
    keypad: KeypadWiring | None = None
    probe: SerialResource | None = None
    readback: ReadbackResource = ReadbackResource()
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
        readback = self.resources.readback
        if readback.kind == "probe" and have["probe"] is None:
            raise ValueError("resources.probe is required: the harness reads the meter through it")
        if readback.kind != "probe" and readback.url is None:
            raise ValueError(f"resources.readback.url is required by readback kind {readback.kind}")
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


_Rig = TypeVar("_Rig", bound=BaseModel)
Topology = Literal["integrated", "split"]

# Per topology: its top-level parts (for a file that is no mapping), the error for a rig
# of the other topology, and whether errors keep their "(top)" place.
_LOADING: dict[Topology, tuple[str, str, bool]] = {
    # The integrated Rig never takes a split bench (its meter would be missing).
    "integrated": (
        "name:, meter:, resources:",
        "meters: a split-meter rig (ciu:, meters:, link:) is not an integrated "
        "bench; open it with hil.rig.split_rig.SplitRig.open (see docs/split-meters.md)",
        True,
    ),
    # Cross-field messages name their own field, so "(top)" would only be noise.
    "split": (
        "name:, ciu:, meters:, link:",
        "meters: missing: this is an integrated rig (meter:); use load_rig",
        False,
    ),
}


def _load(path: Path, model: type[_Rig], topology: Topology) -> tuple[_Rig, str]:
    """A rig file of ``topology`` validated as ``model``, and the file's SHA-256."""
    parts, other, top = _LOADING[topology]
    data, raw = read_yaml(path, "rig file")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a rig file is a YAML mapping ({parts})")
    if _topology(data, path) != topology:
        raise ConfigError(f"{path}: {other}")
    for section in ("resources", "features", "simulator", "capabilities"):
        if section in data and data[section] is None:  # an empty YAML section
            del data[section]
    try:
        rig = model.model_validate(data)
    except ValidationError as exc:
        line = _one_line(exc, path)
        raise ConfigError(line if top else line.replace("(top): ", "")) from None
    return rig, hashlib.sha256(raw).hexdigest()


def load_rig(path: str | Path) -> tuple[RigConfig, str]:
    """The validated rig and the SHA-256 of the file (for the run record)."""
    return _load(Path(path), RigConfig, "integrated")


# ---------------------------------------------------------------- split meters (issue #14)

SPLIT_PARTS = ("ciu", "meters", "link")
SplitFeature = Literal[Feature, "link_control"]
LinkKindName = Literal["two_wire", "rs485", "plc", "rf"]
_WIRED = ("two_wire", "rs485")  # a bench relay can open or short only a private pair


def _topology(data: dict[str, object], path: Path) -> Topology:
    split = [part for part in SPLIT_PARTS if part in data]
    if split and "meter" in data:
        raise ConfigError(
            f"{path}: meter: give meter: (an integrated meter) or {', '.join(split)} "
            "(a split meter), not both"
        )
    return "split" if split else "integrated"


def rig_topology(path: str | Path) -> Topology:
    """Whether a rig file describes an integrated or a split meter (read, not validated):
    how a command picks load_rig or load_split_rig."""
    path = Path(path)
    data, _raw = read_yaml(path, "rig file")
    if not isinstance(data, dict):
        return "integrated"  # load_rig gives the error
    return _topology(data, path)


class MeterInstruments(_Strict):
    """A split meter's own load-side instruments: each meter has its own load circuit."""

    dmm: InstrumentResource | None = None
    load: InstrumentResource | None = None


class SplitMeterSpec(MeterSpec):
    """One measurement unit behind the CIU: a meter's identity and keys, and its own devices."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="unit name in reports and API")
    probe: SerialResource | None = None
    instruments: MeterInstruments = MeterInstruments()


class CiuConfig(_Strict):
    """The customer interface unit: keypad and display in the home (docs/split-meters.md)."""

    keypad: KeypadWiring | None = None
    probe: SerialResource | None = Field(default=None, description="CIU display readback")
    paired: str | None = Field(default=None, description="meter name paired at start")
    pair_code: str = Field(default="800", pattern=r"^[0-9]{1,6}$")
    show_code: str = Field(default="801", pattern=r"^[0-9]{1,6}$")
    supply: Literal["own", "load_side", "link"] = "own"
    supply_meter: str | None = Field(default=None, description="meter feeding a load_side CIU")
    supply_channel: int | None = Field(
        default=None, ge=0, description="relay in series with an own-supply CIU's mains: on cuts it"
    )
    battery_backup: bool = False
    settings_volatile: bool = True


class SplitLinkConfig(_Strict):
    """The link and the bench relays that disturb it: on applies the fault."""

    kind: LinkKindName
    cut_channel: int | None = Field(
        default=None, ge=0, description="relay in series with the link (normally closed)"
    )
    short_channel: int | None = Field(
        default=None, ge=0, description="relay across the link (normally open)"
    )


class SplitResources(_Strict):
    """Shared bench devices of a split rig; the keypad and probes belong to the units."""

    relay_board: RelayBoardResource | None = None
    instruments: Instruments = Instruments()


class SplitRigConfig(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    ciu: CiuConfig | None = None
    meters: list[SplitMeterSpec] = []
    link: SplitLinkConfig | None = None
    features: list[SplitFeature] = []
    token_entry: Literal["keypad", "virtual_carrier"] = "keypad"
    resources: SplitResources = SplitResources()
    capabilities: Capabilities = Capabilities()
    simulator: SimulatorSpec | None = None

    @model_validator(mode="before")
    @classmethod
    def _units_own_their_devices(cls, data: object) -> object:
        resources = data.get("resources") if isinstance(data, dict) else None
        if isinstance(resources, dict):
            if "keypad" in resources:
                raise ValueError("resources.keypad: a split rig's keypad is the CIU's: ciu.keypad")
            if "probe" in resources:
                raise ValueError(
                    "resources.probe: each unit has its own: meters[].probe, ciu.probe"
                )
        return data

    @model_validator(mode="after")
    def _consistent(self) -> SplitRigConfig:
        problems = _split_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def meter(self, name: str) -> SplitMeterSpec:
        for spec in self.meters:
            if spec.name == name:
                return spec
        raise KeyError(name)


def _split_problems(rig: SplitRigConfig) -> list[str]:
    """Every inconsistency as ``field: message``, in file order."""
    ciu, link, meters = rig.ciu, rig.link, rig.meters
    if ciu is None:
        return ["ciu: a split rig needs its CIU (ciu: keypad, probe, paired)"]
    if not meters:
        return ["meters: a CIU needs at least one meter (meters: [{name:, pan:, ...}])"]
    if link is None:
        return ["link: a split rig needs link: (kind: two_wire, rs485, plc or rf)"]
    out: list[str] = []
    names: dict[str, int] = {}
    pans: dict[str, int] = {}
    for i, spec in enumerate(meters):
        if spec.name in names:
            out.append(f"meters.{i}.name: {spec.name} is also meters.{names[spec.name]}'s name")
        if spec.pan in pans:
            out.append(
                f"meters.{i}.pan: {spec.pan} is also meters.{pans[spec.pan]}'s PAN: "
                "two meters cannot share one PAN (the link addresses them by number)"
            )
        names.setdefault(spec.name, i)
        pans.setdefault(spec.pan, i)
    for field in ("paired", "supply_meter"):
        wanted = getattr(ciu, field)
        if wanted is not None and wanted not in names:
            out.append(f"ciu.{field}: {wanted} is not a meter here; accepted: {', '.join(names)}")
    if ciu.supply == "load_side" and ciu.supply_meter is None:
        out.append("ciu.supply_meter: a load_side CIU needs the name of the meter that feeds it")
    if ciu.pair_code == ciu.show_code:
        out.append("ciu.show_code: must differ from ciu.pair_code")
    out += _link_problems(rig, link, ciu)
    out += _feature_problems(rig, ciu)
    return out


def _link_problems(rig: SplitRigConfig, link: SplitLinkConfig, ciu: CiuConfig) -> list[str]:
    out: list[str] = []
    keypad = {}
    if ciu.keypad is not None:
        for key, channels in ciu.keypad.contacts().items():
            for ch in channels:
                keypad.setdefault(ch, key)
    board = rig.resources.relay_board
    if ciu.supply_channel is not None:
        ch = ciu.supply_channel
        if ciu.supply != "own":
            out.append(f"ciu.supply_channel: a {ciu.supply} CIU has no supply of its own to cut")
        if ch in keypad:
            out.append(
                f"ciu.supply_channel: channel {ch} is also the CIU keypad's {keypad[ch]} key"
            )
        if ch in (link.cut_channel, link.short_channel):
            out.append(f"ciu.supply_channel: channel {ch} is also a link relay")
        if board is not None and ch >= board.channels:
            out.append(
                f"ciu.supply_channel: channel {ch} is not on a {board.channels}-channel board"
            )
        if rig.simulator is None and board is None:
            out.append("ciu.supply_channel needs resources.relay_board")
    for field in ("cut_channel", "short_channel"):
        ch = getattr(link, field)
        if ch is None:
            continue
        if link.kind not in _WIRED:
            verb = "open" if field == "cut_channel" else "short"
            out.append(f"link.{field}: a link of kind {link.kind} has no pair a relay can {verb}")
        if ch in keypad:
            out.append(f"link.{field}: channel {ch} is also the CIU keypad's {keypad[ch]} key")
        if board is not None and ch >= board.channels:
            out.append(f"link.{field}: channel {ch} is not on a {board.channels}-channel board")
        if rig.simulator is None and board is None:
            out.append(f"link.{field} needs resources.relay_board")
    if link.cut_channel is not None and link.cut_channel == link.short_channel:
        out.append(f"link.short_channel: channel {link.cut_channel} is also link.cut_channel")
    return out


def _feature_problems(rig: SplitRigConfig, ciu: CiuConfig) -> list[str]:
    out: list[str] = []
    if rig.token_entry not in rig.features:
        out.append(f"token_entry: {rig.token_entry} needs feature {rig.token_entry}")
    link = rig.link
    no_relay = link is not None and link.cut_channel is None and link.short_channel is None
    if "link_control" in rig.features and no_relay:
        out.append("features: link_control needs link.cut_channel or link.short_channel")
    if "keypad" in rig.features and ciu.keypad is None:
        out.append("features: keypad needs ciu.keypad (the CIU's keys on the relay board)")
    if rig.simulator is not None:
        return out  # the harness fills in the simulator's ports
    if "keypad" in rig.features and rig.resources.relay_board is None:
        out.append("features: keypad needs resources.relay_board")
    if "power_control" in rig.features and rig.resources.instruments.ac_source is None:
        out.append("features: power_control needs resources.instruments.ac_source")
    per_meter = {"relay_sensing": "dmm", "load_control": "load"}
    for i, spec in enumerate(rig.meters):
        if spec.probe is None:
            out.append(f"meters.{i}.probe is required: the harness reads each meter by its probe")
        for feature, device in per_meter.items():
            if feature in rig.features and getattr(spec.instruments, device) is None:
                out.append(f"meters.{i}.instruments.{device} is required by feature {feature}")
    return out


def load_split_rig(path: str | Path) -> tuple[SplitRigConfig, str]:
    """A split-meter rig (ciu:, meters:, link:), validated, and the file's SHA-256."""
    return _load(Path(path), SplitRigConfig, "split")

"""Build a meter model and a simulated bench from a rig file (the simulator's setup)."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from hil.errors import ConfigError
from hil.meter.defects import Defect
from hil.meter.model import MeterModel
from hil.rig.config import KeypadWiring, RigConfig, SimulatorSpec
from hil.sim.bench import SimBench
from hil.sim.keypad import KeyMap
from hil.sim.options import EventsMode, MeterOptions

_T = TypeVar("_T")


def parse_defect(name: str | None) -> frozenset[Defect]:
    if not name or name in ("none", "conforming"):
        return frozenset()
    try:
        return frozenset({Defect(name)})
    except ValueError:
        known = ", ".join(d.value for d in Defect)
        raise ConfigError(f"unknown defect profile {name!r}; known: {known}") from None


def keymap_for(wiring: KeypadWiring | None) -> KeyMap:
    if wiring is None:
        return KeyMap.per_key({str(d): d for d in range(10)} | {"ENTER": 10, "BACK": 11})
    if wiring.keys is not None:
        return KeyMap.per_key(wiring.keys)
    assert wiring.rows and wiring.cols and wiring.layout
    rows, cols = list(wiring.rows), list(wiring.cols)
    layout = {
        key: (rows[r], cols[c])
        for r, row in enumerate(wiring.layout)
        for c, key in enumerate(row)
        if key
    }
    return KeyMap.matrix(wiring.rows, wiring.cols, layout)


def build_model(
    rig: RigConfig,
    base: Path | None,
    *,
    defect: str | None = None,
    profile: str | None = None,
    credit_kwh: float = 0.0,
) -> MeterModel:
    meter = rig.meter
    return MeterModel(
        meter.meter_pan,
        meter.key_info,
        meter.load_decoder_key(base),
        meter.behaviour(base, profile),
        defects=parse_defect(defect),
        firmware=meter.firmware or "sim-1.0",
        credit_units=round(credit_kwh * 10),
        sta_tables=meter.tables(base),
    )


def meter_options(
    spec: SimulatorSpec | None,
    *,
    real_time: bool | None = None,
    credit_resolution_kwh: float | None = None,
    supply_off_at_start: bool | None = None,
    events: EventsMode | None = None,
) -> MeterOptions:
    """The rig file's simulator options, each overridden where a value is given (the
    `hil sim` flags)."""
    spec = spec or SimulatorSpec()
    return MeterOptions(
        real_time=_pick(real_time, spec.real_time),
        credit_resolution_kwh=_pick(credit_resolution_kwh, spec.credit_resolution_kwh),
        supply_off_at_start=_pick(supply_off_at_start, spec.supply_off_at_start),
        events=_pick(events, spec.events),
    )


def _pick(given: _T | None, default: _T) -> _T:
    return default if given is None else given


def build_bench(
    rig: RigConfig,
    base: Path | None,
    *,
    defect: str | None = None,
    profile: str | None = None,
    speed: float | None = None,
    options: MeterOptions | None = None,
) -> SimBench:
    sim = rig.simulator
    model = build_model(
        rig,
        base,
        defect=defect if defect is not None else (sim and sim.defect),
        profile=profile,
        credit_kwh=sim.credit_kwh if sim else 0.0,
    )
    board = rig.resources.relay_board
    return SimBench(
        model,
        keymap_for(rig.resources.keypad),
        board=board.kind if board else "numato",
        channels=board.channels if board else 16,
        speed=speed or (sim.speed if sim else 1.0),
        load_w=sim.load_w if sim else 0.0,
        options=options or meter_options(sim),
    )

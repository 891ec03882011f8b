"""Build a meter model and a simulated bench from a rig file (the simulator's setup)."""

from __future__ import annotations

from pathlib import Path

from hil.errors import ConfigError
from hil.meter.defects import Defect
from hil.meter.model import MeterModel
from hil.meter.profile_file import load_profile
from hil.paths import PROFILES
from hil.rig.config import KeypadWiring, RigConfig
from hil.sim.bench import SimBench
from hil.sim.keypad import KeyMap


def profile_path(name: str) -> Path:
    path = Path(name)
    if path.suffix in (".yaml", ".yml") and path.exists():
        return path
    candidate = PROFILES / f"{name}.yaml"
    if not candidate.exists():
        known = ", ".join(sorted(p.stem for p in (PROFILES).glob("*.yaml")))
        raise ConfigError(f"timing profile {name!r} not found; known: {known}")
    return candidate


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
        load_profile(profile_path(profile or meter.profile)),
        defects=parse_defect(defect),
        firmware=meter.firmware or "sim-1.0",
        credit_units=round(credit_kwh * 10),
        sta_tables=meter.tables(base),
    )


def build_bench(
    rig: RigConfig,
    base: Path | None,
    *,
    defect: str | None = None,
    profile: str | None = None,
    speed: float | None = None,
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
    )

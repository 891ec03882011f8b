"""``hil sim --rig <split rig>``: host one split system (a CIU and its meters) until stopped.

``hil sim`` hands a rig with ``ciu:``/``meters:``/``link:`` here; the integrated path is
untouched. The ready file holds ``pid``, ``kind: split`` and every endpoint
(``relay_board``, ``ciu``, ``control``, ``meter:<name>``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hil.errors import ConfigError
from hil.meter.split_defects import SplitDefect, parse_split_defect
from hil.rig.config import SimulatorSpec, SplitRigConfig, load_split_rig
from hil.sim.build import keymap_for, meter_options
from hil.sim.options import MeterOptions
from hil.sim.split_bench import SplitBench
from hil.sim.split_build import build_split


def build_split_bench(
    rig: SplitRigConfig,
    base: Path | None,
    *,
    timing: str | None = None,
    speed: float | None = None,
    options: MeterOptions | None = None,
    defects: frozenset[SplitDefect] = frozenset(),
) -> SplitBench:
    assert rig.ciu is not None and rig.link is not None
    sim = rig.simulator
    board = rig.resources.relay_board
    return SplitBench(
        build_split(rig, base, timing=timing, defects=defects),
        keymap_for(rig.ciu.keypad),
        cut_channel=rig.link.cut_channel,
        short_channel=rig.link.short_channel,
        supply_channel=rig.ciu.supply_channel,
        board=board.kind if board else "numato",
        channels=board.channels if board else 16,
        speed=speed or (sim.speed if sim else 1.0),
        options=options or meter_options(sim),
    )


def split_sim_bench(
    rig_file: Path,
    *,
    defect: str | None,
    timing: str | None,
    speed: float | None,
    options: Callable[[SimulatorSpec | None], MeterOptions],
) -> tuple[SimulatorSpec | None, SplitBench, list[str]]:
    """The split rig's bench (``options`` gives its meters' options from the rig's
    simulator section), not started: its simulator section, the bench and its banner."""
    rig, _digest = load_split_rig(rig_file)
    # --defect wins over the rig file's simulator.defect, as on the integrated bench.
    name = defect if defect is not None else (rig.simulator.defect if rig.simulator else None)
    try:
        defects = parse_split_defect(name)
    except ConfigError as exc:
        raise ConfigError(f"{rig_file}: {exc}") from None
    bench = build_split_bench(
        rig,
        rig_file.parent,
        timing=timing,
        speed=speed,
        options=options(rig.simulator),
        defects=defects,
    )
    parts = bench.parts
    units = ", ".join(f"{name} {number}" for number, name in parts.names.items())
    assert rig.link is not None
    flaws = ",".join(sorted(d.value for d in defects)) or "none (conforming)"
    banner = [
        f"hil sim: split rig {rig.name}: CIU paired {parts.paired or 'none'}, meters {units}, "
        f"link {rig.link.kind}, defect {flaws}, speed {bench.clock.speed:g}x",
        f"  meters: {bench.options.describe()}",
    ]
    return rig.simulator, bench, banner

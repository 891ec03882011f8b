"""Pre-flight for a split rig: the file, each meter's key source, then the bench opened and
every unit asked who it is (the CIU's readback, each meter's probe). Rows as
``hil.rig.preflight`` makes them, so ``hil run`` stops on the first bad one with one line.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from hil.errors import ConfigError, HarnessError
from hil.meter.split_defects import parse_split_defect
from hil.rig.check import CheckRow, rig_file_row
from hil.rig.config import SplitRigConfig, load_split_rig, rig_topology
from hil.rig.split_rig import SplitRig
from hil.sts.errors import StsError


def _row(rows: list[CheckRow], device: str, check: str, fn: Callable[[], str]) -> bool:
    start = time.monotonic()
    try:
        detail, ok = fn(), True
    except (HarnessError, StsError, OSError, ValueError) as exc:
        detail, ok = str(exc), False
    rows.append(CheckRow(device, check, ok, detail, time.monotonic() - start))
    return ok


def split_preflight(path: Path, *, defect: str | None = None) -> tuple[list[CheckRow], str]:
    rows: list[CheckRow] = []
    config = rig_file_row(rows, path, load_split_rig, "split rig")
    if config is None:
        return rows, path.stem
    if defect is not None and not _row(rows, "simulator", f"defect {defect}",
                                       lambda: _defect(config, defect)):  # fmt: skip
        return rows, config.name
    for spec in config.meters:
        ok = _row(rows, f"meter {spec.name}", "key source",
                  lambda spec=spec: _loads(spec.load_decoder_key, path.parent))  # fmt: skip
        if not ok:
            return rows, config.name
    start = time.monotonic()
    try:
        rig = SplitRig.open(path, defect=defect)
    except (HarnessError, OSError) as exc:
        rows.append(CheckRow("bench", "open", False, str(exc), time.monotonic() - start))
        return rows, config.name
    with rig:
        _row(rows, "ciu", "readback INFO", lambda: _ciu(rig))
        for name, meter in rig.meters.items():
            _row(rows, f"meter {name}", "probe INFO",
                 lambda meter=meter: _meter(meter.info(), str(meter.spec.meter_pan)))  # fmt: skip
    return rows, config.name


def _defect(config: SplitRigConfig, name: str) -> str:
    if config.simulator is None:
        raise HarnessError(f"--defect {name} needs a simulated split rig (a simulator: section)")
    if not parse_split_defect(name):
        return "conforming CIU"
    return f"simulated CIU with split defect {name}"


def _loads(load: Callable[[Path], object], base: Path) -> str:
    load(base)
    return "decoder key source loads (value not shown)"


def _ciu(rig: SplitRig) -> str:
    info = rig.ciu.probe.info()
    if info.get("unit") != "ciu":
        raise ValueError(f"the CIU readback says unit={info.get('unit')!r}, not ciu")
    return f"CIU {info.get('firmware', '?')}, paired {info.get('paired') or 'none'}"


def _meter(info: dict[str, str], pan: str) -> str:
    shown = info.get("pan", "")
    if shown != pan:
        raise ValueError(f"the probe says pan={shown!r}; the rig file says {pan}")
    return f"meter {shown}"


def is_split(path: Path) -> bool:
    """A readable rig file with ciu:/meters:/link: (a broken file is left to load_rig,
    whose message the integrated path gives as before)."""
    try:
        return path.is_file() and rig_topology(path) == "split"
    except ConfigError:
        return False

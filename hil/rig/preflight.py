"""Pre-flight: every part a run needs, checked before the first test, every row reported.

``hil run`` stops on the first bad row with one line (the part and the fix); ``hil rig
check`` shows them all. Parts are checked one by one, so an absent relay board does not
hide a silent probe, and a supply that is off is told apart from a keypad fault.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from hil.errors import HarnessError, SupplyFault
from hil.rig.check import CheckRow, check_rig, rig_file_row
from hil.rig.config import RigConfig, load_rig
from hil.rig.rig import Rig
from hil.sts.errors import StsError

Fix = str  # what to do about a failed row, appended to its detail


def _row(rows: list[CheckRow], device: str, check: str, fn: Callable[[], str], fix: Fix) -> bool:
    start = time.monotonic()
    try:
        detail, ok = fn(), True
    except (HarnessError, StsError, OSError, ValueError) as exc:
        detail, ok = f"{exc}; {fix}" if fix else str(exc), False
    rows.append(CheckRow(device, check, ok, detail, time.monotonic() - start))
    return ok


def check_sources(config: RigConfig, base: Path, rows: list[CheckRow]) -> None:
    """Key sources and STA tables: loadable, without opening any device."""
    meter = config.meter
    if meter.vending_key is not None:
        _row(rows, "keys", "vending key", lambda: _loads(meter, base, "vending"),
             "set the variable or fix the file the rig file names (docs/rig-files.md)")  # fmt: skip
    if meter.decoder_key is not None or meter.vending_key is None:
        _row(rows, "keys", "decoder key", lambda: _loads(meter, base, "decoder"),
             "give the meter a vending_key or decoder_key source")  # fmt: skip
    if meter.ea == 7 or meter.sta_tables is not None:
        _row(rows, "keys", "STA tables", lambda: _tables(meter, base),
             "point sta_tables (or HIL_STA_TABLES) at the table file")  # fmt: skip
    if meter.functions is not None:
        _row(rows, "meter file", meter.functions, lambda: _declared(meter, base),
             "fix the file meter.functions names (docs/rig-files.md)")  # fmt: skip


def _declared(meter, base: Path) -> str:  # type: ignore[no-untyped-def]
    meter.behaviour(base)  # the meter file and the timing profile it is applied to
    return f"meter file {meter.declared(base).name!r} loads"


def _loads(meter, base: Path, which: str) -> str:  # type: ignore[no-untyped-def]
    meter.load_decoder_key(base)  # derives from the vending key, or loads the decoder key
    return f"{which} key source loads (value not shown)"


def _tables(meter, base: Path) -> str:  # type: ignore[no-untyped-def]
    tables = meter.tables(base)
    return f"STA tables: {getattr(tables, 'name', 'loaded')}"


def preflight(
    path: Path, *, defect: str | None = None, keys: bool = False
) -> tuple[list[CheckRow], str]:
    """Check the rig at ``path``: its file, key sources, then every device (pressing every
    key when ``keys``). Returns the rows and the rig's name."""
    rows: list[CheckRow] = []
    config = rig_file_row(rows, path, load_rig, "rig")
    if config is None:
        return rows, path.stem
    check_sources(config, path.parent, rows)
    if defect is not None:
        _row(rows, "simulator", f"defect {defect}", lambda: _defect(config, defect),
             "see `hil selftest --list` for the defect profiles")  # fmt: skip
        if not rows[-1].ok:
            return rows, config.name
    start = time.monotonic()
    try:
        rig = Rig.open(path, defect=defect)
    except SupplyFault as exc:
        rows.append(CheckRow("supply", "POWER_UP after supply on", False, str(exc),
                             time.monotonic() - start))  # fmt: skip
        return rows, config.name
    except (HarnessError, OSError) as exc:
        if config.simulator is not None:
            rows.append(CheckRow("simulator", "start", False, str(exc),
                                 time.monotonic() - start))  # fmt: skip
        else:
            check_parts(config, rows)  # one row per device: which of them is at fault
        return rows, config.name
    with rig:
        rows.extend(check_rig(rig, keys=keys))
    return rows, config.name


def check_parts(config: RigConfig, rows: list[CheckRow]) -> None:
    """Each device of a real bench opened on its own (when the bench as a whole would not)."""
    from hil.rig.drivers import instruments as visa
    from hil.rig.drivers.probe import ProbeClient
    from hil.rig.drivers.relays import make_relay
    from hil.rig.rig import serial_url

    res = config.resources
    handles: dict[str, object] = {}

    def instrument(role: str) -> Callable[[], str]:
        def open_it() -> str:
            spec = getattr(res.instruments, role)
            handle = visa.open_resource(spec.resource, backend=spec.backend,
                                        timeout_s=spec.timeout_s)  # fmt: skip
            handles[role] = handle
            return f"{spec.resource} answers *IDN?"

        return open_it

    for role in ("ac_source", "dmm", "load"):
        if getattr(res.instruments, role) is not None:  # the VISA error names the fix
            _row(rows, role.replace("_", " "), "*IDN?", instrument(role), "")

    def probe() -> str:
        assert res.probe is not None
        with ProbeClient(serial_url(res.probe), timeout_s=res.probe.timeout_s,
                         baudrate=res.probe.baudrate) as client:  # fmt: skip
            client.ping()
        return "answers PING"

    if res.probe is not None:
        fix = "is the meter powered and the probe connected?"
        source = handles.get("ac_source")
        if source is not None and res.instruments.ac_source is not None:
            commands = visa.load_command_map(res.instruments.ac_source.commands)
            if not visa.AcSourceDriver(source, commands).is_on():
                fix = "the AC source output is off: the meter has no supply (not a probe fault)"
        _row(rows, "probe", "PING", probe, fix)

    def board() -> str:
        assert res.relay_board is not None
        relay = make_relay(res.relay_board.kind, serial_url(res.relay_board),
                           channels=res.relay_board.channels,
                           timeout_s=res.relay_board.timeout_s)  # fmt: skip
        try:
            return relay.identify()
        finally:
            relay.close()

    if res.relay_board is not None:
        _row(rows, "relay board", "identify", board, "")  # the port error names the fix
    for handle in handles.values():
        close = getattr(handle, "close", None)
        if close is not None:
            close()


def _defect(config: RigConfig, name: str) -> str:
    from hil.meter.defects import Defect

    if config.simulator is None:
        raise HarnessError(f"--defect {name} needs a simulated bench (a simulator: section)")
    known = [d.value for d in Defect]
    if name not in known and name not in ("none", "conforming"):
        raise HarnessError(f"unknown defect profile {name!r}; known: {', '.join(known)}")
    return f"simulated meter with defect {name}"


def first_problem(rows: list[CheckRow], rig_file: Path) -> str | None:
    """The one line ``hil run`` stops with, or None when every row passed."""
    bad = next((r for r in rows if not r.ok), None)
    if bad is None:
        return None
    if bad.device == "rig file":  # the loader's message already names the file and field
        return bad.detail
    return (f"{bad.device} ({bad.check}): {bad.detail}; "
            f"`hil rig check {rig_file}` shows every part")  # fmt: skip

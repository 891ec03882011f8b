"""``hil rig check``: does every part of a bench answer? One row per check, never a hang."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from hil.errors import HarnessError
from hil.rig.config import RigConfig, SplitRigConfig
from hil.rig.rig import Rig

_Config = TypeVar("_Config", RigConfig, SplitRigConfig)


@dataclass
class CheckRow:
    device: str
    check: str
    ok: bool
    detail: str
    seconds: float


def rig_file_row(
    rows: list[CheckRow], path: Path, load: Callable[[Path], tuple[_Config, str]], kind: str
) -> _Config | None:
    """The rig file loaded by ``load``, with its row (``kind`` and the rig's name); None
    and a failed row when it does not load."""
    try:
        config, _ = load(path)
    except HarnessError as exc:
        rows.append(CheckRow("rig file", str(path), False, str(exc), 0.0))
        return None
    rows.append(CheckRow("rig file", str(path), True, f"{kind} {config.name}", 0.0))
    return config


def _run(rows: list[CheckRow], device: str, check: str, fn: Callable[[], str]) -> bool:
    start = time.monotonic()
    try:
        detail, ok = fn(), True
    except (HarnessError, OSError, ValueError) as exc:
        detail, ok = str(exc), False
    rows.append(CheckRow(device, check, ok, detail, time.monotonic() - start))
    return ok


def check_rig(rig: Rig, *, keys: bool = True) -> list[CheckRow]:
    """One row per check of an open bench; ``keys`` presses every keypad key."""
    rows: list[CheckRow] = []
    meter = rig.meter

    kind = rig.readback.kind

    def probe_info() -> str:
        info = rig.info(refresh=True)
        if "pan" not in info and kind != "probe":  # a readback that reads no meter number
            shown = ", ".join(f"{k} {v}" for k, v in info.items() if k != "readback")
            return f"{shown or 'no identity'} (this readback reads no PAN: not compared)"
        if info.get("pan") != meter.pan:
            raise HarnessError(f"probe reports meter {info.get('pan')}, rig file says {meter.pan}")
        if meter.firmware and info.get("firmware") != meter.firmware:
            raise HarnessError(
                f"firmware {info.get('firmware')}, rig file expects {meter.firmware}"
            )
        return (
            f"meter {info['pan']}, firmware {info['firmware']}, KRN {info['krn']},"
            f" base {info['base_date']}"
        )

    def readback() -> str:
        relay = "closed" if rig.read_relay()[0] else "open"
        return f"credit {rig.read_credit():.3f} kWh, relay {relay}"

    device = "probe" if kind == "probe" else f"readback {kind}"
    _run(rows, device, "INFO" if kind == "probe" else "identity", probe_info)
    _run(rows, device, "GET CREDIT / RELAY" if kind == "probe" else "credit / relay", readback)
    board_ok = rig.relay is not None and _run(rows, "relay board", "identify", rig.relay.identify)
    if board_ok and rig.keypad is not None and keys:
        _check_keys(rig, rows)
    for name in ("ac_source", "dmm", "load"):
        device = getattr(rig, name)
        if device is not None:
            _run(rows, name.replace("_", " "), "*IDN?", device.idn)
    if rig.dmm is not None:
        _run(rows, "dmm", "load-side voltage", lambda: f"{rig.dmm.read_ac_voltage():.1f} V")
    return rows


def _check_keys(rig: Rig, rows: list[CheckRow]) -> None:
    """Each key is pressed and must be registered by the meter (its KEY event); the digits
    are then erased with BACK. ENTER is only clicked electrically: pressing it would submit."""
    keypad, relay = rig.keypad, rig.relay
    assert keypad is not None and relay is not None
    digits = sorted(k for k in keypad.keys if k.isdigit())

    def press(key: str) -> str:
        rig.mark()
        keypad.press(key)
        if keypad.verify is None:  # the readback cannot see key presses
            return "pressed (not confirmed: the readback sees no key presses)"
        return "registered by the meter (probe KEY event)"

    for key in digits:
        _run(rows, "keypad", f"key {key}", lambda k=key: press(k))
    if "BACK" in keypad.keys:
        _run(rows, "keypad", "key BACK", lambda: press("BACK"))
        for _ in digits[1:]:
            keypad.press("BACK")
    enter = keypad.enter_key
    if enter is not None:

        def click() -> str:
            for channel in keypad.keymap[enter]:
                relay.set(channel, True)
                relay.set(channel, False)
            return f"channel {', '.join(map(str, keypad.keymap[enter]))} switched (not pressed)"

        _run(rows, "keypad", f"key {enter}", click)

"""The simulator's control port: run-time fault injection and inspection.

Plain text, one command per line, replies ``OK ...`` or ``ERR <text>`` (usable by hand
with ``nc 127.0.0.1 PORT``). The command list is in docs/simulator.md and ``help``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from hil.sim.bench import PowerLossPlan

if TYPE_CHECKING:
    from hil.sim.bench import SimBench

HELP = (
    "state | fault probe|board silent 0|1 | fault probe|board drop|garble RATE | "
    "fault probe|board delay S | fault clear | stuck CH | unstick CH | reboot | power on|off | "
    "powerloss keys N [restore S] | powerloss processing [restore S] | slow-keypad FACTOR | "
    "speed X (refused on a real-time meter) | tamper | load WATTS | reset"
)


class ControlError(ValueError):
    pass


class ControlServer:
    def __init__(self, bench: SimBench) -> None:
        self.bench = bench

    def handle(self, line: str, at: float) -> str:
        words = line.split()
        if not words:
            return "ERR empty command; try: help"
        try:
            with self.bench.lock:
                return "OK" + _suffix(self._run(words[0].lower(), words[1:]))
        except ControlError as exc:
            return f"ERR {exc}"

    def _run(self, cmd: str, args: list[str]) -> str:
        bench, model = self.bench, self.bench.model
        now = bench.clock.now()
        if cmd == "help":
            return HELP
        if cmd == "state":
            return json.dumps(self.state(), separators=(",", ":"))
        if cmd == "fault":
            return self._fault(args)
        if cmd in ("stuck", "unstick") and len(args) == 1:
            channel = _number(args[0], int, "channel")
            (bench.board.stuck.add if cmd == "stuck" else bench.board.stuck.discard)(channel)
            return ""
        if cmd == "reboot":
            bench.reboot()
            return ""
        if cmd == "power" and args in (["on"], ["off"]):
            bench.physics.set_source(at=now, on=args[0] == "on")
            return ""
        if cmd == "powerloss" and args:
            restore = 1.0
            if len(args) >= 2 and args[-2] == "restore":
                restore = _number(args[-1], float, "restore seconds")
                args = args[:-2]
            if args[0] == "keys" and len(args) == 2:
                plan = PowerLossPlan(after_keys=_number(args[1], int, "key count"))
            elif args == ["processing"]:
                plan = PowerLossPlan(during_processing=True)
            else:
                raise ControlError("powerloss keys N | powerloss processing [restore S]")
            plan.restore_after_s = restore
            bench.faults.power_loss = plan
            return ""
        if cmd == "slow-keypad" and len(args) == 1:
            bench.set_keypad_slowdown(_number(args[0], float, "factor"))
            return ""
        if cmd == "speed" and len(args) == 1:
            speed = _number(args[0], float, "speed")
            if bench.options.real_time and speed != 1.0:
                # A foreign meter's clock cannot be sped up: tests must wait in real time.
                raise ControlError(
                    "speed refused: real-time meter (--real-time), its clock runs at 1.0"
                )
            if not speed > 0:
                raise ControlError("speed must be greater than 0")
            bench.clock.set_speed(speed)
            return ""
        if cmd == "reset":  # RESET STATE for a bench read without the probe (DLMS)
            bench._publish(bench._factory_reset(now))
            return ""
        if cmd == "tamper":
            bench._publish(model.tamper(now))
            return ""
        if cmd == "load" and len(args) == 1:
            bench.physics.set_load_power(_number(args[0], float, "watts"), now)
            return ""
        raise ControlError(f"unknown command {cmd!r}; try: help")

    def _fault(self, args: list[str]) -> str:
        if args == ["clear"]:
            for faults in (self.bench.faults.probe, self.bench.faults.board,
                           self.bench.faults.dlms):  # fmt: skip
                faults.clear()
            self.bench.faults.power_loss = None
            self.bench.board.stuck.clear()
            return ""
        if len(args) != 3 or args[0] not in ("probe", "board"):
            raise ControlError("fault probe|board silent|drop|garble|delay VALUE, or fault clear")
        faults = getattr(self.bench.faults, args[0])
        kind, value = args[1], args[2]
        if kind == "silent":
            faults.silent = value == "1"
        elif kind in ("drop", "garble"):
            rate = _number(value, float, "rate")
            if not 0 <= rate <= 1:
                raise ControlError("rate must be between 0 and 1")
            setattr(faults, f"{kind}_rate", rate)
        elif kind == "delay":
            faults.delay_s = _number(value, float, "delay")
        else:
            raise ControlError(f"unknown fault {kind!r}: silent, drop, garble or delay")
        return ""

    def state(self) -> dict[str, object]:
        """A snapshot for debugging and for tests (no key values)."""
        model, bench = self.bench.model, self.bench
        last = model.last_result
        return {
            "time": round(bench.clock.now(), 3),
            "speed": bench.clock.speed,
            "supply_on": bench.physics.supplied,
            "powered": model.powered,
            "credit_wh": model.credit_wh,
            "relay_closed": model.relay_closed,
            "relay_reason": model.relay_reason,
            "power_limit_w": model.power_limit_w,
            "tamper": model.tamper_active,
            "last_result": None if last is None else int(last.result),
            "tid_memory": list(model.tid_memory),
            "key": model.info(),
            "board_closed": [ch for ch in range(bench.board.channels) if bench.board.is_closed(ch)]
            if hasattr(bench.board, "channels")
            else [],
            "lost_presses": len(bench.decoder.lost),
            "options": {
                "real_time": bench.options.real_time,
                "credit_resolution_kwh": bench.options.credit_resolution_kwh,
                "supply_off_at_start": bench.options.supply_off_at_start,
                "events": bench.options.events,
            },
        }


def _suffix(text: str) -> str:
    return f" {text}" if text else ""


def _number(text: str, kind: type, what: str):  # type: ignore[no-untyped-def]
    try:
        return kind(text)
    except ValueError:
        raise ControlError(f"{what} must be a number, got {text!r}") from None

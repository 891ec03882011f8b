"""The CIU's readback (docs/split-meters.md, "The CIU readback protocol"), over a CIU model.

Same framing and request/reply/event shapes as the meter probe (docs/probe-protocol.md),
with its own commands: the display, the link state, the paired number, a key on the CIU's
keypad path, a CIU-local setting, RESET STATE. Pure apart from the clock value it is
handed: the bench calls ``handle`` for each request line and ``publish`` for the CIU's
events.

The readback is bench-powered (an adapter on the display), so it answers while the CIU is
dark: ``GET DISPLAY`` then says ``powered=0 screen=off``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from hil.meter.ciu import KEYS, CiuModel
from hil.meter.events import Event
from hil.probe import protocol as p
from hil.sim.probe_server import ArgError, RequestServer, events_since, result_name

CIU_PROTOCOL = 1
EVENT_MEMORY = 256
FIRMWARE = "sim-ciu-1.0"

# The event fields each CIU event carries on the wire (the model's data, flattened).
_FIELDS: dict[str, tuple[str, ...]] = {
    "CIU_KEY": ("key", "accepted", "reason"),
    "CIU_ENTRY_TIMEOUT": ("digits",),
    "CIU_SENT": ("kind", "seq", "try"),
    "CIU_TONE": ("tone",),
    "CIU_COMMS_FAILURE": ("kind", "reason"),
    "CIU_PAIRED": ("number",),
    "CIU_NUMBER": ("number",),
    "CIU_PAIR_FAILED": ("number", "reason"),
    "CIU_LINK_STATE": ("state",),
    "CIU_POWER_FAIL": (),
    "CIU_POWER_UP": ("paired",),
}


class CiuProbeServer(RequestServer):
    """``ciu()`` gives the CIU now (the bench may replace it); ``press(key, at)`` and
    ``reset(at)`` act through the bench and return the CIU's events."""

    def __init__(
        self,
        ciu: Callable[[], CiuModel],
        *,
        press: Callable[[str, float], list[Event]],
        reset: Callable[[float], list[Event]] | None = None,
        set_setting: Callable[[str, int, float], list[Event]] | None = None,
        start: float = 0.0,
    ) -> None:
        self._ciu = ciu
        self._press = press
        self._reset = reset
        self._set_setting = set_setting
        self._start = start
        self._events: deque[str] = deque(maxlen=EVENT_MEMORY)
        self._evseq = 0
        self.garbled_requests = 0

    # -- events ------------------------------------------------------------------------
    def publish(self, events: list[Event]) -> list[str]:
        lines: list[str] = []
        for event in events:
            name = str(event.name)
            if name == "CIU_RESULT":
                lines.append(self._emit(name, event.at, _result_fields(event.data)))
            elif name in _FIELDS:
                fields = {k: _text(event.data.get(k)) for k in _FIELDS[name]}
                lines.append(self._emit(name, event.at, fields))
        return lines

    def started(self, at: float) -> list[str]:
        """The first event, as the bench starts: the CIU is up."""
        return [self._emit("CIU_POWER_UP", at, {"paired": _text(self._ciu().paired)})]

    def _emit(self, name: str, at: float, fields: dict[str, object]) -> str:
        self._evseq += 1
        uptime_ms = max(0, int((at - self._start) * 1000))
        line = p.format_event(self._evseq, uptime_ms, name, fields)
        self._events.append(line)
        return line

    # -- requests ----------------------------------------------------------------------
    def handle(self, line: str, at: float) -> list[str]:
        return self._answer(line, at)

    def _dispatch(self, r: p.Request, at: float) -> list[str]:
        words = [a.upper() for a in r.args]

        def ok(fields: dict[str, object] | None = None) -> list[str]:
            return [p.format_reply(r.seq, fields)]

        if r.command == "PING":
            return ok()
        if r.command == "INFO":
            return ok(self._info())
        if r.command == "GET" and words:
            if words == ["DISPLAY"]:
                return ok(self._display())
            if words == ["LINK"]:
                return ok({"state": str(self._ciu().link_state)})
            if words == ["PAIRED"]:
                return ok({"number": _text(self._ciu().paired)})
            if words == ["SETTINGS"]:
                return ok(dict(self._ciu().settings))
            if len(words) == 3 and words[:2] == ["EVENTS", "SINCE"]:
                if not words[2].isdigit():
                    raise ArgError("evseq must be a number")
                return self._events_since(r.seq, int(words[2]))
            raise ArgError(f"unknown GET item {r.args[0]!r}")
        if r.command == "KEY" and len(words) == 1:
            if words[0] not in KEYS:
                raise ArgError("KEY takes 0-9, ENTER or BACK")
            return self.publish(self._press(words[0], at)) + ok()
        if r.command == "RESET" and words == ["STATE"]:
            if self._reset is None:
                return [p.format_error(r.seq, p.ERR_NOT_SUPPORTED, "not supported")]
            return self.publish(self._reset(at)) + ok()
        if r.command == "SET" and len(words) == 3 and words[0] == "SETTING":
            return self._set(r.seq, r.args[1].lower(), words[2], at)
        if r.command in ("GET", "KEY", "RESET", "SET"):
            raise ArgError(f"{r.command} needs arguments (see docs/split-meters.md)")
        return [p.format_error(r.seq, p.ERR_UNKNOWN_COMMAND, "unknown command")]

    def _set(self, seq: int, name: str, value: str, at: float) -> list[str]:
        if self._set_setting is None:
            return [p.format_error(seq, p.ERR_NOT_SUPPORTED, "not supported")]
        if not value.isdigit():
            raise ArgError("a setting's value is a whole number")
        try:
            events = self._set_setting(name, int(value), at)
        except ValueError as exc:
            raise ArgError(str(exc)) from None
        return [*self.publish(events), p.format_reply(seq, None)]

    def _info(self) -> dict[str, object]:
        ciu = self._ciu()
        return {
            "protocol": p.PROTOCOL_VERSION,
            "unit": "ciu",
            "ciu_protocol": CIU_PROTOCOL,
            "firmware": FIRMWARE,
            "paired": _text(ciu.paired),
        }

    def _display(self) -> dict[str, object]:
        ciu = self._ciu()
        shown = ciu.display
        result = shown.result
        return {
            "powered": ciu.powered,
            "screen": str(shown.screen),
            "entry": shown.entry,
            "result": "" if result is None else int(result),
            "result_name": "" if result is None else result_name(int(result)),
            "credit_wh": _text(shown.credit_wh),
            "number": _text(shown.number),
            "link": str(shown.link),
            "low_credit": shown.low_credit,
            "busy": ciu.busy,
        }

    def _events_since(self, seq: int, since: int) -> list[str]:
        return events_since(self._events, self._evseq, seq, since)


def _result_fields(data: dict[str, Any]) -> dict[str, object]:
    code = int(data.get("result", 0))
    return {"code": code, "name": result_name(code), "credit_wh": _text(data.get("credit_wh"))}


def _text(value: object) -> str:
    """A field value: None is empty, booleans are 0/1."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(int(value))
    return str(value)

"""The meter side of the probe protocol (docs/probe-protocol.md), over a meter model.

Pure apart from the clock value it is handed: the bench calls ``handle`` for each request
line and ``publish`` for the model's events, and sends the returned lines.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from hil.meter.results import TokenResult
from hil.probe import protocol as p
from hil.sim.options import MeterOptions

if TYPE_CHECKING:
    from hil.meter.events import Event
    from hil.meter.logs import TokenEntry
    from hil.meter.model import MeterModel

EVENT_MEMORY = 256


def result_name(code: int) -> str:
    """Protocol names have no spaces: "1st KCT" -> "1stKCT", "Key expired" -> "KeyExpired"."""
    if code == 0:
        return "None"
    label = TokenResult(code).label
    return "".join(word[:1].upper() + word[1:] for word in label.split())


def events_since(events: Iterable[str], last: int, seq: int, since: int) -> list[str]:
    """GET EVENTS SINCE ``since``: the held event lines after that evseq (all of them when
    it is older than the oldest held), then the reply (request ``seq``) with the last and
    oldest evseq held; ``last`` is the newest evseq."""
    held = list(events)
    oldest = last - len(held) + 1
    replay = held[max(0, since - oldest + 1) :] if since >= oldest - 1 else held
    return [*replay, p.format_reply(seq, {"last": last, "oldest": oldest})]


class ArgError(ValueError):
    """A request's arguments are wrong: answered with ERR_BAD_ARGUMENT."""


class RequestServer:
    """The request side of both probe servers (the meter's, the CIU readback's): a line
    that does not parse is counted and answered with a checksum error (when it has a
    sequence number), an ``ArgError`` from ``_dispatch`` with ERR_BAD_ARGUMENT."""

    garbled_requests: int

    def _answer(self, line: str, at: float, *, internal_errors: bool = False) -> list[str]:
        """The reply lines for one request line; ``internal_errors``: any other exception
        is answered too (ERR_NOT_ALLOWED, its text), not raised."""
        try:
            request = p.parse_request(line)
        except p.FrameError:
            self.garbled_requests += 1
            seq = line.split(" ", 1)[0]
            return (
                [p.format_error(int(seq), p.ERR_CHECKSUM, "bad checksum")] if seq.isdigit() else []
            )
        try:
            return self._dispatch(request, at)
        except ArgError as exc:
            return [p.format_error(request.seq, p.ERR_BAD_ARGUMENT, f"bad argument: {exc}")]
        except Exception as exc:  # a simulator bug must show, not look like a silent probe
            if not internal_errors:
                raise
            text = f"internal error: {exc.__class__.__name__}: {exc}"[:200]
            return [p.format_error(request.seq, p.ERR_NOT_ALLOWED, text.replace("\n", " "))]

    def _dispatch(self, r: p.Request, at: float) -> list[str]:
        raise NotImplementedError


class ProbeServer(RequestServer):
    def __init__(
        self,
        model: MeterModel,
        *,
        reset: Callable[[float], list[Event]] | None = None,
        options: MeterOptions | None = None,
    ) -> None:
        self.model = model
        self.options = options or MeterOptions()
        self._reset = reset
        self._events: deque[str] = deque(maxlen=EVENT_MEMORY)
        self._evseq = 0
        self._boot_at = 0.0
        self._tokens_done = 0
        self.garbled_requests = 0

    # -- events ------------------------------------------------------------------------
    def power_up(self, at: float) -> list[str]:
        """Evseq and uptime restart at power-up, as on a real meter."""
        self._evseq, self._boot_at, self._tokens_done = 0, at, 0
        self._events.clear()
        return self._emit("POWER_UP", at, {"firmware": self.model.info()["firmware"]})

    def publish(self, events: list[Event]) -> list[str]:
        lines: list[str] = []
        for event in events:
            name = str(event.name)
            if name == "POWER_UP":
                lines += self.power_up(event.at)
                continue
            if name == "TOKEN_RESULT" and event.data.get("result") != TokenResult.NOT_READY:
                self._tokens_done += 1
            if not self.options.pushes(name):
                continue  # a meter that leaves this event out: no line, no evseq, no replay
            lines += self._emit(name, event.at, self._fields(name, event.data))
        return lines

    def _emit(self, name: str, at: float, fields: dict[str, object]) -> list[str]:
        self._evseq += 1
        uptime_ms = max(0, int((at - self._boot_at) * 1000))
        line = p.format_event(self._evseq, uptime_ms, name, fields)
        self._events.append(line)
        return [line]

    def _fields(self, name: str, data: dict[str, Any]) -> dict[str, object]:
        if name == "TOKEN_RESULT":
            return self._result_fields(event_data=data)
        if name == "KEY":
            return {"key": data.get("key", "")}
        if name == "CREDIT_CHANGED":
            fields: dict[str, object] = {"credit_kwh": self._kwh(self.model.credit_wh)}
            if "delta_wh" in data:
                fields["delta_kwh"] = self._kwh(data["delta_wh"])
            return fields
        if name == "RELAY_CHANGED":
            return self._relay_fields()
        if name == "LOCKOUT_START":
            until, at = data.get("until"), data.get("at", 0.0)
            return {"seconds": f"{until - at:.3f}" if until is not None else ""}
        if name == "KCT_PENDING":
            return {"have": ",".join(str(s) for s in data.get("have", ()))}
        if name == "ENTRY_TIMEOUT":
            return {"digits": data.get("digits", 0)}
        if name in ("TEST_STARTED", "TEST_ENDED"):
            return {"test": data.get("test", "")}
        if name == "EMERGENCY_CREDIT":  # granted 0: refused (the model's reason has spaces)
            return {"granted_kwh": self._kwh(data.get("granted_wh", 0))}
        return {}

    def _relay_fields(self) -> dict[str, object]:
        closed = self.model.relay_closed
        return {
            "relay": "closed" if closed else "open",
            "reason": self.model.relay_reason or "none",
        }

    def _result_fields(self, event_data: dict[str, Any] | None = None) -> dict[str, object]:
        if event_data is not None and event_data.get("result") == TokenResult.NOT_READY:
            return {
                "code": 16,
                "name": result_name(16),
                "tid": "",
                "class": "",
                "subclass": "",
                "amount": "",
                "n": self._tokens_done,
            }
        if event_data is None and self.model.processing:
            return {
                "code": 16,
                "name": result_name(16),
                "tid": "",
                "class": "",
                "subclass": "",
                "amount": "",
                "n": self._tokens_done,
            }
        outcome = self.model.last_result
        if outcome is None:  # before any token, or after RESET STATE (n goes on counting)
            return {
                "code": 0,
                "name": "None",
                "tid": "",
                "class": "",
                "subclass": "",
                "amount": "",
                "n": self._tokens_done,
            }
        token = outcome.token
        amount = getattr(token, "amount", getattr(token, "watts", ""))
        return {
            "code": int(outcome.result),
            "name": result_name(int(outcome.result)),
            "tid": "" if outcome.tid is None else outcome.tid,
            "class": "" if outcome.token_class is None else outcome.token_class,
            "subclass": "" if outcome.subclass is None else outcome.subclass,
            "amount": amount,
            "n": self._tokens_done,
        }

    # -- requests ----------------------------------------------------------------------
    def handle(self, line: str, at: float) -> list[str]:
        """Reply (and replayed events) for one request line; nothing when unpowered."""
        if not self.model.powered:
            return []  # a dead meter's UART says nothing
        return self._answer(line, at, internal_errors=True)

    def _dispatch(self, r: p.Request, at: float) -> list[str]:
        words = [a.upper() for a in r.args]
        ok = lambda fields=None: [p.format_reply(r.seq, fields)]  # noqa: E731
        if r.command == "PING":
            return ok()
        if r.command == "INFO":
            return ok(self._info())
        if r.command == "GET" and words:
            what = words[0]
            if what == "CREDIT":
                return ok(self._credit_fields())
            if what == "RELAY":
                return ok(self._relay_fields())
            if what == "TOKEN_RESULT":
                return ok(self._result_fields())
            if what == "TID_MEM":
                tids = self.model.tid_memory
                return ok({"count": len(tids), "tids": list(tids)})
            if what == "LOCKOUT":
                until = self.model.locked_out_until
                remaining = max(0.0, until - at) if until else 0.0
                return ok(
                    {
                        "active": remaining > 0,
                        "remaining_s": f"{remaining:.3f}",
                        "rejects": self.model.consecutive_rejects,
                    }
                )
            if what == "EVENTS" and len(words) == 3 and words[1] == "SINCE":
                return self._events_since(r.seq, _int(words[2], "evseq"))
            # A meter without a log does not offer its reading: unknown command, as for any
            # GET item it does not know (docs/probe-protocol.md, version 2).
            if what == "TOKEN_LOG" and self.model.profile.token_log_depth:
                entries = [_token_entry(e) for e in self.model.token_log]
                return self._log_page(r.seq, entries, words[1:])
            if what == "EVENT_LOG" and self.model.profile.event_log_depth:
                entries = [p.event_log_entry(e.name, e.detail) for e in self.model.event_log]
                return self._log_page(r.seq, entries, words[1:])
            return [p.format_error(r.seq, p.ERR_UNKNOWN_COMMAND, "unknown command")]
        if r.command == "TOKEN":
            digits = "".join(r.args)
            if len(digits) != 20 or not digits.isdigit():
                raise ArgError("TOKEN takes 20 digits")
            if self.model.processing:
                return [p.format_error(r.seq, p.ERR_BUSY, "busy: a token is being processed")]
            return self.publish(self.model.submit_token(digits, at)) + ok({"accepted": 1})
        if r.command == "KEY" and len(words) == 1:
            if words[0] not in {*"0123456789", "ENTER", "BACK"}:
                raise ArgError("KEY takes 0-9, ENTER or BACK")
            return self.publish(self.model.press_key(words[0], at)) + ok()
        if r.command == "CLOCK" and words == ["GET"]:
            now = datetime.fromtimestamp(self.model.clock(at), UTC)
            return ok({"time": now.strftime("%Y-%m-%dT%H:%M:%SZ")})
        if r.command == "CLOCK" and len(words) == 2 and words[0] == "SET":
            try:
                when = datetime.fromisoformat(r.args[1].replace("Z", "+00:00"))
            except ValueError:
                raise ArgError("CLOCK SET takes an ISO 8601 UTC time") from None
            if when.tzinfo is None:  # the contract's times are UTC
                when = when.replace(tzinfo=UTC)
            # The meter clock can move the relay (friendly hours): its events go out too.
            return self.publish(self.model.set_clock(when.timestamp(), at)) + ok()
        if r.command == "RESET" and words == ["STATE"]:
            if self._reset is None:
                return [p.format_error(r.seq, p.ERR_NOT_SUPPORTED, "not supported")]
            return self.publish(self._reset(at)) + ok()
        if r.command in ("GET", "KEY", "CLOCK", "RESET"):
            raise ArgError(f"{r.command} needs arguments (see docs/probe-protocol.md)")
        return [p.format_error(r.seq, p.ERR_UNKNOWN_COMMAND, "unknown command")]

    def _info(self) -> dict[str, object]:
        info = self.model.info()
        return {
            "protocol": p.METER_PROTOCOL_VERSION,
            "firmware": info["firmware"],
            "pan": info["pan"],
            "mfr_code": info.get("mfr_code", ""),
            "sgc": info["sgc"],
            "ti": info["ti"],
            "krn": info["krn"],
            "kt": info["kt"],
            "ken": info["ken"],
            "base_date": info["base_date"],
            "ea": info["ea"],
            "dkga": info["dkga"],
            "tid_mem_depth": info["tid_memory_depth"],
            "credit_resolution_kwh": self.options.resolution_text(),
        }

    def _kwh(self, wh: float) -> str:
        return self.options.kwh_text(wh)

    def _credit_fields(self) -> dict[str, object]:
        """GET CREDIT: the v2 fields only where the meter has the function."""
        model, profile = self.model, self.model.profile
        fields: dict[str, object] = {"credit_kwh": self._kwh(model.credit_wh)}
        if profile.low_credit_wh:
            fields["low"] = model.low_credit
        if profile.emergency_credit_wh:
            fields["emergency_owed_kwh"] = self._kwh(model.emergency_owed_wh)
        return fields

    def _log_page(self, seq: int, entries: list[str], args: list[str]) -> list[str]:
        """A log reply from entry ``start`` (the optional argument) on, as many entries as
        fit in one line: a long log would pass MAX_LINE, so the harness reads it in pages."""
        if len(args) > 1:
            raise ArgError("a log reading takes at most one argument, the first entry wanted")
        start = _int(args[0], "start") if args else 0
        if start > len(entries):
            raise ArgError(f"start {start} is past the {len(entries)} entries held")
        head = {"count": len(entries), "start": start}
        room = p.MAX_LINE - len(p.format_reply(seq, {**head, "entries": ""}))
        page: list[str] = []
        for entry in entries[start:]:
            room -= len(entry) + (1 if page else 0)  # the comma before all but the first
            if room < 0 and page:
                break
            page.append(entry)
        return [p.format_reply(seq, {**head, "entries": page})]

    def _events_since(self, seq: int, since: int) -> list[str]:
        return events_since(self._events, self._evseq, seq, since)


def _token_entry(entry: TokenEntry) -> str:
    def num(value: int | None) -> int | None:
        return None if value is None else int(value)  # int(): the result is a TokenResult

    fields = (entry.result, entry.token_class, entry.subclass, entry.tid)
    return p.TokenLogEntry(*(num(v) for v in fields)).format()


def _int(text: str, what: str) -> int:
    if not text.isdigit():
        raise ArgError(f"{what} must be a number")
    return int(text)

"""The harness side of the probe protocol (docs/probe-protocol.md).

`ProbeClient` owns the probe port from open to close. A reader thread reads every line the
meter sends, checks its framing, hands replies to the request waiting for that `<seq>` (late
replies to abandoned requests are dropped) and queues events, so no event is lost between two
requests or before an `expect`. Every line in and out goes to a `ProbeLog` with timestamps, for
test reports.

Retry rules: a request marked idempotent (reads: INFO, GET ..., CLOCK GET, PING) is sent again,
with a new `<seq>`, when no reply or only a garbled line came back, up to `retries` times.
A request that changes the meter (TOKEN, KEY, CLOCK SET, RESET STATE) is sent exactly once: if
its reply is lost, the driver cannot know whether the meter acted, and sending it again could be
a replay. Faults: silence -> `ReplyTimeout`; unreadable replies -> `GarbledReply`; ``ERR`` reply
-> `ProbeRefused` (a `DeviceError`); port gone -> `DeviceAbsent`. A meter that does not offer a
command (``ERR 1`` unknown command, ``ERR 5`` not supported) raises `NotOffered`, a
`ProbeRefused`: the optional readings of protocol version 2 are left out by a version 1 meter.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Literal, NoReturn

import serial

from hil.closing import Closing
from hil.errors import DeviceAbsent, DeviceError, GarbledReply, ReplyTimeout
from hil.probe import protocol
from hil.probe.protocol import Event, Reply, TokenLogEntry
from hil.rig.drivers.serial_port import open_serial

__all__ = [
    "CreditStatus",
    "EventReplay",
    "LogLine",
    "NotOffered",
    "ProbeClient",
    "ProbeLog",
    "ProbeRefused",
    "ProbeStats",
    "TokenLogEntry",
]

_log = logging.getLogger(__name__)

_POLL_S = 0.02  # reader poll: bounds how long close() waits for the reader thread
_JOIN_S = 1.0
_KEYS = frozenset([*"0123456789", "ENTER", "BACK"])
_NOT_OFFERED = frozenset({protocol.ERR_UNKNOWN_COMMAND, protocol.ERR_NOT_SUPPORTED})
_LOG_READS = 3  # a log that changes between its pages is read again, this often in all

_ERR_HINTS = {
    protocol.ERR_UNKNOWN_COMMAND: "the probe firmware does not know this command",
    protocol.ERR_BAD_ARGUMENT: "the request's arguments are wrong for this probe",
    protocol.ERR_CHECKSUM: "the request was garbled on the way; check the cable",
    protocol.ERR_BUSY: "the meter is busy (a token may be in progress); wait and ask again",
    protocol.ERR_NOT_SUPPORTED: "this meter's firmware leaves the command out",
    protocol.ERR_NOT_ALLOWED: "the meter refuses it in its present state",
}


class ProbeRefused(DeviceError):
    """The probe answered ``ERR <code> <text>``."""

    def __init__(self, message: str, *, command: str, code: int, text: str) -> None:
        super().__init__(message)
        self.command = command
        self.code = code
        self.text = text


class NotOffered(ProbeRefused):
    """The meter does not offer the command (``ERR 1`` unknown command or ``ERR 5`` not
    supported): a reading it leaves out, not a fault; callers skip what needs it."""


@dataclass(frozen=True, slots=True)
class CreditStatus:
    """``GET CREDIT``: the credit, and the protocol 2 fields, None when the meter leaves them
    out (it has no low-credit warning or no emergency credit, or speaks version 1)."""

    credit_kwh: float
    low: bool | None
    emergency_owed_kwh: float | None


# -- log ------------------------------------------------------------------------------------


Direction = Literal["out", "in", "bad"]
_ARROWS: dict[str, str] = {"out": ">", "in": "<", "bad": "<?"}


@dataclass(frozen=True, slots=True)
class LogLine:
    """One line on the probe link. `direction`: ``out`` (sent), ``in``, ``bad`` (in, unreadable)."""

    direction: Direction
    mono: float  # time.monotonic() when sent or received
    wall: float  # time.time() at the same moment
    text: str  # printable ASCII; other bytes as \\xNN

    def format(self) -> str:
        stamp = datetime.fromtimestamp(self.wall, UTC).isoformat(timespec="milliseconds")
        return f"{stamp.replace('+00:00', 'Z')} {_ARROWS[self.direction]} {self.text}"


class ProbeLog:
    """Every line in and out, timestamped: the last `capacity` in memory, all of them in `path`.

    The probe protocol carries no key material (tokens are not keys), so lines are kept as they
    are. The file is appended to, one formatted line per line on the link.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        capacity: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.path = Path(path) if path is not None else None
        self._clock = clock
        self._wall_clock = wall_clock
        self._lines: deque[LogLine] = deque(maxlen=capacity)
        self._lock = threading.Lock()
        self._file: IO[str] | None = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="ascii", buffering=1)

    def record(self, direction: Direction, text: str) -> LogLine:
        line = LogLine(direction, self._clock(), self._wall_clock(), _printable(text))
        with self._lock:
            self._lines.append(line)
            if self._file is not None:
                try:
                    self._file.write(line.format() + "\n")
                except OSError as exc:  # a full disk must not stop the probe reader
                    _log.warning(
                        "probe log %s: write failed (%s); file logging stopped", self.path, exc
                    )
                    self._close_file()
        return line

    def lines(self, since: float | None = None) -> list[LogLine]:
        """The lines kept in memory, from monotonic time `since` on (all when None)."""
        with self._lock:
            return [line for line in self._lines if since is None or line.mono >= since]

    def excerpt(self, since: float | None = None, *, limit: int | None = 200) -> list[str]:
        """Formatted lines from monotonic time `since` on; the last `limit` of them."""
        lines = [line.format() for line in self.lines(since)]
        return lines[-limit:] if limit is not None and limit >= 0 else lines

    def close(self) -> None:
        with self._lock:
            self._close_file()

    def _close_file(self) -> None:
        if self._file is not None:
            with suppress(OSError):
                self._file.close()
            self._file = None


def _printable(text: str) -> str:
    if text.isascii() and text.isprintable():
        return text
    return "".join(c if " " <= c <= "~" else f"\\x{ord(c) & 0xFF:02x}" for c in text)


# -- client ---------------------------------------------------------------------------------


@dataclass(slots=True)
class ProbeStats:
    """Counters for the health of the probe link (for reports)."""

    garbled_lines: int = 0  # lines that failed framing (bad checksum or shape)
    stale_replies: int = 0  # replies whose seq matched no waiting request (dropped)
    dropped_events: int = 0  # events pushed out of the full queue before anyone read them
    event_gaps: int = 0  # events missing by evseq (lost or garbled on the way)
    restarts: int = 0  # evseq went back: the meter restarted


@dataclass(frozen=True, slots=True)
class EventReplay:
    """What ``GET EVENTS SINCE <since>`` returned."""

    since: int
    events: list[Event]
    last: int
    oldest: int

    @property
    def complete(self) -> bool:
        """True unless the meter no longer holds some event after `since`."""
        return self.last <= self.since or self.oldest <= self.since + 1


@dataclass(slots=True)
class _Waiter:
    seq: int
    collect: bool
    reply: Reply | None = None
    garbled: int = 0
    events: list[Event] = field(default_factory=list)


class ProbeClient(Closing):
    """A meter's probe over any pyserial URL (device path, socket://, rfc2217://, loop://).

    `timeout_s` is the deadline of one request attempt; `retries` the extra attempts an
    idempotent request gets; `event_timeout_s` the default for `expect`; `max_events` bounds
    the event queue (oldest dropped first, counted in `stats`). Without `log`, lines are kept
    in a private in-memory `ProbeLog` (see `log`). Bytes that end no line and are followed by
    `line_idle_s` of quiet are counted as a garbled line and dropped, so noise does not spoil
    the next good line; keep `timeout_s` above it.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 1.0,
        retries: int = 2,
        log: ProbeLog | None = None,
        event_timeout_s: float = 5.0,
        max_events: int = 1000,
        baudrate: int = 115200,
        line_idle_s: float = 0.1,
    ) -> None:
        if timeout_s <= 0 or event_timeout_s <= 0:
            raise ValueError("timeout_s and event_timeout_s must be > 0")
        if retries < 0:
            raise ValueError(f"retries must be >= 0, got {retries}")
        if max_events < 1:
            raise ValueError(f"max_events must be >= 1, got {max_events}")
        self.url = url
        self.timeout_s = timeout_s
        self.retries = retries
        self.event_timeout_s = event_timeout_s
        self.max_events = max_events
        self.line_idle_s = line_idle_s
        self.log = log if log is not None else ProbeLog()
        self._cond = threading.Condition()
        self._request_lock = threading.Lock()
        self._seq = 0
        self._waiter: _Waiter | None = None
        self._events: deque[tuple[int, Event]] = deque()
        self._event_count = 0  # index of the newest queued event (indices count from 1)
        self._cursor = 0  # events with a higher index count for expect/drain
        self._last_evseq: int | None = None
        self._stats = ProbeStats()
        self._failure: str | None = None  # why the reader stopped, if it did
        self._stop = threading.Event()
        self._closed = False
        self._port: serial.SerialBase = open_serial(
            url,
            baudrate=baudrate,
            timeout_s=_POLL_S,
            write_timeout_s=max(timeout_s, 1.0),
            what="probe",
        )
        self._reader = threading.Thread(
            target=self._read_loop, name=f"probe-reader {url}", daemon=True
        )
        self._reader.start()

    # -- lifecycle -----------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the reader and release the port. Idempotent; pending waits end at once."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._reader is not threading.current_thread():
            self._reader.join(_JOIN_S)
        self._port.close()
        with self._cond:
            if self._failure is None:
                self._failure = "the probe client was closed"
            self._cond.notify_all()

    def __repr__(self) -> str:
        return f"ProbeClient({self.url!r})"

    @property
    def stats(self) -> ProbeStats:
        """A snapshot of the link counters."""
        with self._cond:
            return replace(self._stats)

    # -- requests ------------------------------------------------------------------------------

    def request(
        self, command: str, *args: str, idempotent: bool, timeout_s: float | None = None
    ) -> dict[str, str]:
        """Send ``<seq> COMMAND args*CRC`` and return the reply's fields.

        `command` may hold several words (``"GET CREDIT"``). `idempotent` must be given: only
        idempotent requests are retried. Raises `ReplyTimeout`, `GarbledReply`,
        `ProbeRefused` or `DeviceAbsent`.
        """
        reply, _ = self._request(command, args, idempotent=idempotent, timeout_s=timeout_s)
        return reply.fields

    def _request(
        self,
        command: str,
        args: tuple[str, ...],
        *,
        idempotent: bool,
        timeout_s: float | None,
        collect: bool = False,
    ) -> tuple[Reply, list[Event]]:
        words = [*command.split(), *args]
        _check_words(words)
        what = " ".join(words)
        what = what if len(what) <= 40 else what[:37] + "..."
        timeout = self.timeout_s if timeout_s is None else timeout_s
        attempts = 1 + (self.retries if idempotent else 0)
        outcomes: list[str] = []
        with self._request_lock:
            for attempt in range(attempts):
                last = attempt == attempts - 1
                waiter = self._send(words, what, collect)
                self._wait(waiter, timeout, early=idempotent and not last)
                reply = waiter.reply
                if reply is not None and reply.ok:
                    return reply, waiter.events
                if reply is not None and reply.error_code != protocol.ERR_CHECKSUM:
                    raise self._refused(what, reply)
                if self._failure is not None and reply is None:
                    raise self._absent()
                if reply is not None:
                    outcomes.append("ERR 3")  # the meter could not read the request
                else:
                    outcomes.append("garbled" if waiter.garbled else "silent")
        self._give_up(what, timeout, outcomes, idempotent)

    def _send(self, words: list[str], what: str, collect: bool) -> _Waiter:
        with self._cond:
            if self._failure is not None:
                raise self._absent()
            self._seq += 1
            waiter = _Waiter(self._seq, collect)
            self._waiter = waiter  # registered before sending: a fast reply finds it
        line = protocol.format_request(waiter.seq, *words)
        self.log.record("out", line)
        try:
            self._port.write(line.encode("ascii") + b"\n")
            self._port.flush()
        except serial.SerialTimeoutException as exc:
            self._forget(waiter)
            raise ReplyTimeout(
                f"probe at {self.url} did not take {what!r} within its write timeout: "
                "check the probe cable and that the meter's port is not blocked"
            ) from exc
        except (serial.SerialException, OSError) as exc:
            self._forget(waiter)
            raise DeviceAbsent(
                f"probe at {self.url} failed while sending {what!r} ({exc}): check the probe "
                "cable and the port in the rig file"
            ) from exc
        return waiter

    def _wait(self, waiter: _Waiter, timeout: float, *, early: bool) -> None:
        """Wait for the reply; with `early`, also stop at the first garbled line."""
        deadline = time.monotonic() + timeout
        with self._cond:
            try:
                while waiter.reply is None and self._failure is None:
                    if early and waiter.garbled:
                        break
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
            finally:
                self._waiter = None

    def _forget(self, waiter: _Waiter) -> None:
        with self._cond:
            if self._waiter is waiter:
                self._waiter = None

    def _refused(self, what: str, reply: Reply) -> ProbeRefused:
        hint = _ERR_HINTS.get(reply.error_code, "see docs/probe-protocol.md")
        kind = NotOffered if reply.error_code in _NOT_OFFERED else ProbeRefused
        return kind(
            f"probe at {self.url} refused {what!r}: ERR {reply.error_code} "
            f"{reply.error_text or '(no text)'}: {hint}",
            command=what,
            code=reply.error_code,
            text=reply.error_text,
        )

    def _give_up(
        self, what: str, timeout: float, outcomes: list[str], idempotent: bool
    ) -> NoReturn:
        tried = (
            f"{len(outcomes)} attempts: {', '.join(outcomes)}"
            if idempotent
            else "sent once, never retried: sending it again could repeat its effect"
        )
        if outcomes[-1] != "silent":
            raise GarbledReply(
                f"probe at {self.url} gave no readable reply to {what!r} within {timeout} s "
                f"({tried}): check the cable, the baud rate and electrical noise on the link"
            )
        raise ReplyTimeout(
            f"probe at {self.url} did not answer {what!r} within {timeout} s ({tried}): check "
            "the probe cable, the port in the rig file and that the meter is powered"
        )

    def _absent(self) -> DeviceAbsent:
        return DeviceAbsent(
            f"probe at {self.url} is not usable: {self._failure}: check the probe cable and "
            "the port in the rig file, then reopen the probe"
        )

    # -- reader thread -------------------------------------------------------------------------

    def _read_loop(self) -> None:
        buf = bytearray()
        last_rx = 0.0
        while not self._stop.is_set():
            try:
                waiting = self._port.in_waiting
                chunk = self._port.read(waiting if waiting > 0 else 1)
            except Exception as exc:  # port unplugged, socket closed by the peer, ...
                if not self._stop.is_set():
                    self._fail(f"the port failed ({exc})")
                return
            now = time.monotonic()
            if not chunk:
                # Noise that never ends its line would corrupt the next good line: drop it.
                if buf and now - last_rx >= self.line_idle_s:
                    self._handle(bytes(buf))
                    buf.clear()
                continue
            last_rx = now
            buf += chunk
            while (end := buf.find(b"\n")) >= 0:
                self._handle(bytes(buf[:end]))
                del buf[: end + 1]
            if len(buf) > 2 * protocol.MAX_LINE:  # a runaway line with no end: garbage
                self._handle(bytes(buf))
                buf.clear()

    def _handle(self, raw: bytes) -> None:
        try:
            self._on_line(raw)
        except Exception:  # a bug here must not end the capture
            _log.exception("probe at %s: failed to handle line %r", self.url, raw)

    def _fail(self, why: str) -> None:
        with self._cond:
            self._failure = why
            self._cond.notify_all()

    def _on_line(self, raw: bytes) -> None:
        text = raw.decode("latin-1").rstrip("\r")
        if not text.strip():
            return
        try:
            item = protocol.parse_incoming(text)
        except ValueError:  # FrameError, or a line whose digits int() cannot read
            self.log.record("bad", text)
            with self._cond:
                self._stats.garbled_lines += 1
                if self._waiter is not None:
                    self._waiter.garbled += 1
                self._cond.notify_all()
            return
        self.log.record("in", text)
        with self._cond:
            if isinstance(item, Reply):
                waiter = self._waiter
                if waiter is not None and item.seq == waiter.seq and waiter.reply is None:
                    waiter.reply = item
                else:
                    self._stats.stale_replies += 1
            else:
                self._on_event(item)
            self._cond.notify_all()

    def _on_event(self, event: Event) -> None:
        """Queue `event` (caller holds the condition)."""
        waiter = self._waiter
        last = self._last_evseq
        if waiter is not None and waiter.collect:
            # Inside GET EVENTS SINCE: replayed events the queue already holds are not queued
            # again (same evseq and uptime: the same event); the others were lost on the way.
            waiter.events.append(event)
            if any(_same(event, held) for _, held in self._events):
                return
            self._last_evseq = event.evseq if last is None else max(last, event.evseq)
        else:
            if last is not None:
                if event.evseq <= last:
                    self._stats.restarts += 1
                elif event.evseq > last + 1:
                    self._stats.event_gaps += event.evseq - last - 1
            self._last_evseq = event.evseq
        self._event_count += 1
        self._events.append((self._event_count, event))
        if len(self._events) > self.max_events:
            index, _ = self._events.popleft()
            if index > self._cursor:
                self._stats.dropped_events += 1

    # -- events --------------------------------------------------------------------------------

    def mark(self) -> int:
        """Only events arriving after this call count for `expect` and `drain_events`."""
        with self._cond:
            self._cursor = self._event_count
            return self._cursor

    def drain_events(self) -> list[Event]:
        """The events after the mark (oldest first); moves the mark past them."""
        with self._cond:
            events = [event for index, event in self._events if index > self._cursor]
            self._cursor = self._event_count
            return events

    def pending_events(self) -> list[Event]:
        """The events after the mark, without moving it."""
        with self._cond:
            return [event for index, event in self._events if index > self._cursor]

    def expect(
        self,
        name: str,
        predicate: Callable[[Event], bool] | None = None,
        timeout_s: float | None = None,
        *,
        fields: Mapping[str, str] | None = None,
    ) -> Event:
        """Wait for the first event after the mark named `name` and matching.

        Matching: every item of `fields` equals the event's field, and `predicate(event)` is
        true. Events that arrived before this call (after the mark) count. On success the mark
        moves to the event returned; earlier non-matching events are passed over.
        Raises `ReplyTimeout` naming what was awaited and what arrived instead.
        """
        timeout = self.event_timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + timeout
        wanted = dict(fields or {})
        with self._cond:
            scanned = self._cursor
            while True:
                for index, event in self._events:
                    if index <= scanned:
                        continue
                    scanned = index
                    if (
                        event.name == name
                        and _has_fields(event, wanted)
                        and (predicate is None or predicate(event))
                    ):
                        self._cursor = index
                        return event
                if self._failure is not None:
                    raise self._absent()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            arrived = [_describe(e) for index, e in self._events if index > self._cursor]
        shown = ", ".join(arrived[-8:]) if arrived else "no events"
        if len(arrived) > 8:
            shown = f"{len(arrived)} events, last: {shown}"
        looked_for = " ".join([name, *(f"{k}={v}" for k, v in wanted.items())])
        if predicate is not None:
            looked_for += f" matching {getattr(predicate, '__name__', repr(predicate))}"
        raise ReplyTimeout(
            f"probe at {self.url}: no {looked_for} event within {timeout} s (arrived: {shown}): "
            "check that the meter got the input, and the timing profile"
        )

    def events_since(self, evseq: int, *, timeout_s: float | None = None) -> EventReplay:
        """``GET EVENTS SINCE <evseq>``: the events the meter replays (after a reconnect).

        Replayed events are returned; those the queue did not have yet are queued too.
        """
        if evseq < 0:
            raise ValueError(f"evseq must be >= 0, got {evseq}")
        reply, events = self._request(
            "GET EVENTS SINCE",
            (str(evseq),),
            idempotent=True,
            timeout_s=timeout_s,
            collect=True,
        )
        fields = reply.fields
        last = self._int(fields, "last", "GET EVENTS SINCE")
        oldest = self._int(fields, "oldest", "GET EVENTS SINCE")
        return EventReplay(evseq, [e for e in events if e.evseq > evseq], last, oldest)

    # -- convenience ---------------------------------------------------------------------------

    def ping(self) -> None:
        self.request("PING", idempotent=True)

    def info(self) -> dict[str, str]:
        return self.request("INFO", idempotent=True)

    def credit_kwh(self) -> float:
        return self._kwh(self.request("GET CREDIT", idempotent=True), "credit_kwh", "GET CREDIT")

    def credit_status(self) -> CreditStatus:
        """``GET CREDIT`` with the protocol 2 fields ``low=`` and ``emergency_owed_kwh=``,
        each None when the meter leaves it out (it lacks the function)."""
        fields = self.request("GET CREDIT", idempotent=True)
        credit = self._kwh(fields, "credit_kwh", "GET CREDIT")
        low = fields.get("low")
        if low is not None and low not in ("0", "1"):
            raise self._bad_field("GET CREDIT", "low", low)
        owed = None
        if "emergency_owed_kwh" in fields:
            owed = self._kwh(fields, "emergency_owed_kwh", "GET CREDIT")
        return CreditStatus(credit, None if low is None else low == "1", owed)

    def relay(self) -> tuple[bool, str]:
        """(closed, reason) of the meter's load relay."""
        fields = self.request("GET RELAY", idempotent=True)
        state = self._field(fields, "relay", "GET RELAY")
        if state not in ("open", "closed"):
            raise self._bad_field("GET RELAY", "relay", state)
        return state == "closed", fields.get("reason", "")

    def token_result(self) -> dict[str, int | str | None]:
        """``GET TOKEN_RESULT``: code, name, n (always) and tid, class, subclass, amount.

        Numbers become int; tid/class/subclass/amount are None when the meter left them empty.
        """
        fields = self.request("GET TOKEN_RESULT", idempotent=True)
        result: dict[str, int | str | None] = {
            "code": self._int(fields, "code", "GET TOKEN_RESULT"),
            "name": self._field(fields, "name", "GET TOKEN_RESULT"),
            "n": self._int(fields, "n", "GET TOKEN_RESULT"),
        }
        for key in ("tid", "class", "subclass", "amount"):
            value = fields.get(key, "")
            if value == "":
                result[key] = None
            elif value.isdigit():
                result[key] = int(value)
            else:
                raise self._bad_field("GET TOKEN_RESULT", key, value)
        return result

    def tid_memory(self) -> list[int]:
        """The TIDs in the meter's memory, ascending."""
        fields = self.request("GET TID_MEM", idempotent=True)
        text = fields.get("tids", "")
        parts = [p for p in text.split(",") if p] if text else []
        if not all(p.isdigit() for p in parts):
            raise self._bad_field("GET TID_MEM", "tids", text)
        tids = [int(p) for p in parts]
        if "count" in fields and fields["count"] != str(len(tids)):
            raise self._bad_field("GET TID_MEM", "count", fields["count"])
        return tids

    def lockout(self) -> dict[str, bool | float | int]:
        """``GET LOCKOUT``: {"active": bool, "remaining_s": float, "rejects": int}."""
        fields = self.request("GET LOCKOUT", idempotent=True)
        active = self._field(fields, "active", "GET LOCKOUT")
        if active not in ("0", "1"):
            raise self._bad_field("GET LOCKOUT", "active", active)
        remaining = _to_float(fields.get("remaining_s", "0"))
        if remaining is None:
            raise self._bad_field("GET LOCKOUT", "remaining_s", fields["remaining_s"])
        return {
            "active": active == "1",
            "remaining_s": remaining,
            "rejects": self._int(fields, "rejects", "GET LOCKOUT"),
        }

    def send_token(self, digits: str, *, timeout_s: float | None = None) -> dict[str, str]:
        """``TOKEN <20 digits>`` through the virtual token carrier. Sent once, never retried."""
        clean = digits.replace(" ", "").replace("-", "")
        if len(clean) != 20 or not clean.isascii() or not clean.isdigit():
            raise ValueError(f"token: expected 20 digits, got {clean[:24]!r}")
        return self.request("TOKEN", clean, idempotent=False, timeout_s=timeout_s)

    def key(self, k: str) -> None:
        """``KEY <k>``: a key press through the keypad path. Sent once, never retried."""
        if k not in _KEYS:
            raise ValueError(f"key: expected 0-9, ENTER or BACK, got {k!r}")
        self.request("KEY", k, idempotent=False)

    def clock_get(self) -> str:
        return self._field(self.request("CLOCK GET", idempotent=True), "time", "CLOCK GET")

    def clock_set(self, when: str) -> None:
        """``CLOCK SET <ISO 8601 UTC>``. Sent once, never retried."""
        self.request("CLOCK SET", when, idempotent=False)

    def clock(self) -> datetime:
        """``CLOCK GET`` as a timezone-aware datetime in UTC (a time without a zone is UTC,
        as the contract says)."""
        text = self.clock_get()
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            raise self._bad_field("CLOCK GET", "time", text) from None
        return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)

    def set_clock(self, when: datetime) -> None:
        """``CLOCK SET`` to ``when`` (timezone-aware), sent in UTC to the whole second (the
        contract's format). Sent once, never retried."""
        if when.utcoffset() is None:
            raise ValueError(
                f"set_clock: {when.isoformat()} has no time zone: give an aware datetime, "
                "e.g. datetime(2026, 1, 1, tzinfo=UTC)"
            )
        self.clock_set(when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))

    def token_log(self) -> list[TokenLogEntry]:
        """``GET TOKEN_LOG``: the meter's token log, oldest first; a field the meter did not
        decode is None. `NotOffered` when the meter has no token log (or speaks protocol 1)."""
        entries: list[TokenLogEntry] = []
        for text in self._log("TOKEN_LOG"):
            try:
                entries.append(TokenLogEntry.parse(text))
            except protocol.FrameError:
                raise self._bad_field("GET TOKEN_LOG", "entries", text) from None
        return entries

    def event_log(self) -> list[str]:
        """``GET EVENT_LOG``: the meter's event log, oldest first, each entry as sent (for
        example ``RELAY_CHANGED/open/credit``). `NotOffered` when the meter has none."""
        return self._log("EVENT_LOG")

    def _log(self, item: str) -> list[str]:
        """Every entry of a log reading, page by page: a reply holds what fits in one line,
        from its ``start=``; the next page is asked for from the first entry not yet read."""
        command = f"GET {item}"
        for _ in range(_LOG_READS):
            entries: list[str] = []
            count: int | None = None
            while count is None or len(entries) < count:
                fields = self._log_page(command, len(entries))
                held = self._int(fields, "count", command)
                if count is not None and held != count:
                    break  # an entry came or went between two pages: read it again
                count = held
                start = fields.get("start", "0")  # may be left out when all fits
                if start != str(len(entries)):
                    raise self._bad_field(command, "start", start)
                text = self._field(fields, "entries", command)
                page = text.split(",") if text else []
                if not page and count > len(entries):  # no progress: fewer than it says
                    raise self._bad_field(command, "count", fields["count"])
                entries += page
            else:
                if len(entries) != count:
                    raise self._bad_field(command, "count", str(count))
                return entries
        raise DeviceError(
            f"probe at {self.url}: the meter's {item} changed between its pages in "
            f"{_LOG_READS} reads: read it while nothing happens on the meter"
        )

    def _log_page(self, command: str, start: int) -> dict[str, str]:
        args = (str(start),) if start else ()  # the first page as a version 2 meter knows it
        try:
            return self.request(command, *args, idempotent=True)
        except ProbeRefused as exc:
            # A version 1 meter may take the unknown item for a bad argument of GET.
            if isinstance(exc, NotOffered) or start or exc.code != protocol.ERR_BAD_ARGUMENT:
                raise
            raise NotOffered(
                f"probe at {self.url} does not offer {command!r} (ERR 2 {exc.text}): a "
                "protocol 1 meter, or one without this log",
                command=exc.command,
                code=exc.code,
                text=exc.text,
            ) from exc

    def reset_state(self, *, timeout_s: float | None = None) -> None:
        """``RESET STATE`` (test firmware only). Sent once, never retried."""
        self.request("RESET STATE", idempotent=False, timeout_s=timeout_s)

    # -- field helpers -------------------------------------------------------------------------

    def _field(self, fields: Mapping[str, str], key: str, command: str) -> str:
        if key not in fields:
            raise self._bad_field(command, key, None)
        return fields[key]

    def _kwh(self, fields: Mapping[str, str], key: str, command: str) -> float:
        value = self._field(fields, key, command)
        number = _to_float(value)
        if number is None:
            raise self._bad_field(command, key, value)
        return number

    def _int(self, fields: Mapping[str, str], key: str, command: str) -> int:
        value = self._field(fields, key, command)
        if not value.isascii() or not value.isdigit():
            raise self._bad_field(command, key, value)
        return int(value)

    def _bad_field(self, command: str, key: str, value: str | None) -> GarbledReply:
        got = "no such field" if value is None else f"got {value!r}"
        return GarbledReply(
            f"probe at {self.url} answered {command!r} without a valid {key}= ({got}): the probe "
            "firmware does not follow docs/probe-protocol.md"
        )


def _check_words(words: list[str]) -> None:
    if not words:
        raise ValueError("probe request: empty command")
    for word in words:
        if not word.isascii() or not word.isprintable() or "*" in word or " " in word:
            raise ValueError(f"probe request: {word!r} is not a plain ASCII word without '*'")


def _same(a: Event, b: Event) -> bool:
    return a.evseq == b.evseq and a.uptime_ms == b.uptime_ms and a.name == b.name


def _has_fields(event: Event, wanted: Mapping[str, str]) -> bool:
    return all(event.fields.get(key) == str(value) for key, value in wanted.items())


def _describe(event: Event) -> str:
    shown = " ".join(f"{k}={v}" for k, v in list(event.fields.items())[:3])
    return f"{event.name} {shown}".rstrip()


def _to_float(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None

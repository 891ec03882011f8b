"""ProbeClient against a scripted probe served over a real pty or TCP port.

The scripted probe answers framed requests the way docs/probe-protocol.md says a meter does,
records every request it received, and can push events, drop or delay replies, or refuse.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from hil.errors import BenchFault, DeviceAbsent, DeviceError, GarbledReply, ReplyTimeout
from hil.probe import protocol
from hil.probe.protocol import Request, TokenLogEntry
from hil.rig.drivers.probe import CreditStatus, NotOffered, ProbeClient, ProbeLog, ProbeRefused
from hil.sim.transports import Faults, LineAdapter, PtyEndpoint, TcpEndpoint

TIMEOUT_S = 0.2
TOKEN = "12345678901234567890"


class ScriptedProbe:
    """A line handler playing a meter's probe."""

    def __init__(self) -> None:
        self.seen: list[Request] = []
        self.lock = threading.Lock()
        self.send: Callable[[bytes], None] = lambda data: None
        self.evseq = 0
        self.held: list[tuple[int, str]] = []  # (evseq, line): what GET EVENTS SINCE replays
        self.credit = "12.500"
        self.lose: set[str] = set()  # commands whose reply is lost (handled, not answered)
        self.refuse: dict[str, tuple[int, str]] = {}  # command -> ERR code, text
        self.late: dict[str, list[float]] = {}  # command -> delays of successive replies
        self.handlers: dict[str, Callable[[Request], str]] = {}

    def count(self, command: str) -> int:
        with self.lock:
            return sum(1 for r in self.seen if " ".join([r.command, *r.args]).startswith(command))

    def event(self, event_name: str, evseq: int | None = None, /, **fields: object) -> str:
        with self.lock:
            self.evseq = self.evseq + 1 if evseq is None else evseq
            line = protocol.format_event(self.evseq, 1000 + self.evseq, event_name, fields)
            self.held.append((self.evseq, line))
            return line

    def push(self, event_name: str, evseq: int | None = None, /, **fields: object) -> None:
        """Send an event now, between requests."""
        self.send((self.event(event_name, evseq, **fields) + "\n").encode())

    def handle(self, line: str, at: float) -> str | None:
        try:
            request = protocol.parse_request(line)
        except protocol.FrameError:
            return None
        with self.lock:
            self.seen.append(request)
        name = " ".join([request.command, *request.args])
        key = next((k for k in (*self.lose, *self.refuse, *self.late) if name.startswith(k)), "")
        if key in self.lose:
            return None
        if key in self.refuse:
            code, text = self.refuse[key]
            return protocol.format_error(request.seq, code, text)
        reply = self.answer(request, name)
        if self.late.get(key):
            delay = self.late[key].pop(0)
            threading.Timer(delay, self.send, args=((reply + "\n").encode(),)).start()
            return None
        return reply

    def answer(self, request: Request, name: str) -> str:
        seq = request.seq
        if name in self.handlers:
            return self.handlers[name](request)
        if name.startswith("GET EVENTS SINCE"):
            since = int(request.args[2])
            lines = [line for evseq, line in self.held if evseq > since]
            oldest = self.held[0][0] if self.held else 0
            reply = protocol.format_reply(seq, {"last": self.evseq, "oldest": oldest})
            return "\n".join([*lines, reply])
        if request.command == "KEY":
            event = self.event("KEY", key=request.args[0])
            return event + "\n" + protocol.format_reply(seq)
        fields: dict[str, object] = {
            "PING": {},
            "INFO": {"protocol": 1, "firmware": "sim-1.0", "pan": "600727000000000009"},
            "GET CREDIT": {"credit_kwh": self.credit},
            "GET RELAY": {"relay": "closed", "reason": "none"},
            "GET TOKEN_RESULT": {
                "code": 1,
                "name": "Accept",
                "tid": 5433750,
                "class": 0,
                "subclass": 0,
                "amount": 256,
                "n": 1,
            },
            "GET TID_MEM": {"count": 2, "tids": "5433750,5433751"},
            "GET LOCKOUT": {"active": 1, "remaining_s": "12.5", "rejects": 3},
            "CLOCK GET": {"time": "2026-11-23T10:00:00Z"},
        }.get(name, {})
        if request.command == "TOKEN":
            fields = {"accepted": 1}
        return protocol.format_reply(seq, fields)


@contextmanager
def probe_on(
    transport: str = "pty", faults: Faults | None = None, **client: object
) -> Iterator[tuple[ScriptedProbe, ProbeClient]]:
    script = ScriptedProbe()
    options: dict = {"timeout_s": TIMEOUT_S, "retries": 2, "line_idle_s": 0.05}
    options.update(client)
    if transport == "pty":
        endpoint: PtyEndpoint | TcpEndpoint = PtyEndpoint(LineAdapter(script.handle), faults=faults)
    else:
        endpoint = TcpEndpoint(lambda: LineAdapter(script.handle), faults=faults)
    script.send = endpoint.send
    try:
        with ProbeClient(endpoint.url, **options) as client_:
            if transport == "tcp":
                deadline = time.monotonic() + 1.0
                while endpoint.client_count == 0 and time.monotonic() < deadline:
                    time.sleep(0.005)
            yield script, client_
    finally:
        endpoint.close()


def wait_until(check: Callable[[], bool], timeout_s: float = 1.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


# -- requests and replies -------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["pty", "tcp"])
def test_reads_over_a_real_port(transport: str) -> None:
    with probe_on(transport) as (script, probe):
        probe.ping()
        assert probe.info()["firmware"] == "sim-1.0"
        assert probe.credit_kwh() == 12.5
        assert probe.relay() == (True, "none")
        assert probe.token_result() == {
            "code": 1,
            "name": "Accept",
            "n": 1,
            "tid": 5433750,
            "class": 0,
            "subclass": 0,
            "amount": 256,
        }
        assert probe.tid_memory() == [5433750, 5433751]
        assert probe.lockout() == {"active": True, "remaining_s": 12.5, "rejects": 3}
        assert probe.clock_get() == "2026-11-23T10:00:00Z"
        assert probe.request("GET CREDIT", idempotent=True) == {"credit_kwh": "12.500"}
    assert [r.seq for r in script.seen] == list(range(1, 10))  # seq counts up from 1


def test_actions_are_sent_as_framed_requests() -> None:
    with probe_on() as (script, probe):
        assert probe.send_token("1234 5678 9012 3456 7890") == {"accepted": "1"}
        probe.key("ENTER")
        probe.clock_set("2026-11-23T10:00:00Z")
        probe.reset_state()
    assert [(r.command, r.args) for r in script.seen] == [
        ("TOKEN", (TOKEN,)),
        ("KEY", ("ENTER",)),
        ("CLOCK", ("SET", "2026-11-23T10:00:00Z")),
        ("RESET", ("STATE",)),
    ]


def test_bad_arguments_are_refused_before_sending() -> None:
    with probe_on() as (script, probe):
        with pytest.raises(ValueError, match="20 digits"):
            probe.send_token("123")
        with pytest.raises(ValueError, match="0-9, ENTER or BACK"):
            probe.key("#")
        with pytest.raises(ValueError, match="without"):
            probe.request("GET", "A*B", idempotent=True)
    assert script.seen == []


def test_empty_tid_memory_and_unknown_token_fields() -> None:
    with probe_on() as (script, probe):
        script.handlers["GET TID_MEM"] = lambda r: protocol.format_reply(
            r.seq, {"count": 0, "tids": ""}
        )
        script.handlers["GET TOKEN_RESULT"] = lambda r: protocol.format_reply(
            r.seq,
            {
                "code": 13,
                "name": "CRC",
                "tid": "",
                "class": "",
                "subclass": "",
                "amount": "",
                "n": 4,
            },
        )
        assert probe.tid_memory() == []
        result = probe.token_result()
        assert result["code"] == 13 and result["tid"] is None and result["n"] == 4


def test_a_reply_missing_its_field_is_garbled() -> None:
    with probe_on() as (script, probe):
        script.handlers["GET CREDIT"] = lambda r: protocol.format_reply(r.seq, {"kwh": 1})
        with pytest.raises(GarbledReply, match="without a valid credit_kwh="):
            probe.credit_kwh()


# -- protocol version 2 readings ------------------------------------------------------------


def reply_with(fields: dict[str, object]) -> Callable[[Request], str]:
    return lambda r: protocol.format_reply(r.seq, fields)


def test_credit_status_reads_the_optional_fields() -> None:
    with probe_on() as (script, probe):
        script.handlers["GET CREDIT"] = reply_with(
            {"credit_kwh": "0.500", "low": 1, "emergency_owed_kwh": "2.000"}
        )
        assert probe.credit_status() == CreditStatus(0.5, True, 2.0)
        script.handlers["GET CREDIT"] = reply_with({"credit_kwh": "9.000", "low": 0})
        assert probe.credit_status() == CreditStatus(9.0, False, None)


def test_credit_status_of_a_version_1_meter_has_none_for_the_new_fields() -> None:
    with probe_on() as (_, probe):
        assert probe.credit_status() == CreditStatus(12.5, None, None)


@pytest.mark.parametrize(
    ("fields", "key"),
    [
        ({"credit_kwh": "1.000", "low": "yes"}, "low="),
        ({"credit_kwh": "1.000", "emergency_owed_kwh": "lots"}, "emergency_owed_kwh="),
    ],
)
def test_credit_status_with_a_bad_field_is_garbled(fields: dict[str, object], key: str) -> None:
    with probe_on() as (script, probe):
        script.handlers["GET CREDIT"] = reply_with(fields)
        with pytest.raises(GarbledReply, match=f"without a valid {key}"):
            probe.credit_status()


def test_token_log_entries_are_decoded_with_none_for_undecoded_fields() -> None:
    with probe_on() as (script, probe):
        script.handlers["GET TOKEN_LOG"] = reply_with(
            {"count": 3, "entries": "1/0/0/5433750,13/-/-/-,10/0/0/5433750"}
        )
        assert probe.token_log() == [
            TokenLogEntry(1, 0, 0, 5433750),
            TokenLogEntry(13, None, None, None),
            TokenLogEntry(10, 0, 0, 5433750),
        ]
        script.handlers["GET TOKEN_LOG"] = reply_with({"count": 0, "entries": ""})
        assert probe.token_log() == []
        script.handlers["GET TOKEN_LOG"] = reply_with({"count": 1, "entries": "1/0/0"})
        with pytest.raises(GarbledReply, match="without a valid entries="):
            probe.token_log()


@pytest.mark.parametrize(
    "entry",
    [
        TokenLogEntry(1, 0, 0, 5433750),
        TokenLogEntry(13, None, None, None),
        TokenLogEntry(None, 2, None, 16_777_215),
    ],
)
def test_token_log_entry_round_trip(entry: TokenLogEntry) -> None:
    assert TokenLogEntry.parse(entry.format()) == entry


def test_token_log_entry_refuses_what_is_not_four_numbers() -> None:
    for text in ("1/0/0", "1/0/0/x", "1/0/0/5/6", "", "1/0/-1/5"):
        with pytest.raises(protocol.FrameError, match="expected <code>/<class>"):
            TokenLogEntry.parse(text)


def test_event_log_entries_are_kept_as_sent() -> None:
    with probe_on() as (script, probe):
        entries = "POWER_FAIL,POWER_UP,RELAY_CHANGED/open/credit,TAMPER"
        script.handlers["GET EVENT_LOG"] = reply_with({"count": 4, "entries": entries})
        assert probe.event_log() == entries.split(",")


def test_a_log_count_that_does_not_match_its_entries_is_garbled() -> None:
    with probe_on() as (script, probe):
        script.handlers["GET EVENT_LOG"] = reply_with({"count": 1, "entries": "POWER_UP,TAMPER"})
        with pytest.raises(GarbledReply, match="without a valid count="):
            probe.event_log()


def paged(log: list[str], per_page: int) -> Callable[[Request], str]:
    """A meter that sends ``per_page`` entries of ``log`` per reply, from the start asked."""

    def answer(request: Request) -> str:
        start = int(request.args[1]) if len(request.args) > 1 else 0
        page = log[start : start + per_page]
        return protocol.format_reply(
            request.seq, {"count": len(log), "start": start, "entries": page}
        )

    return answer


def test_a_long_log_is_read_page_by_page() -> None:
    log = [f"RELAY_CHANGED/open/credit{i}" for i in range(7)]
    with probe_on() as (script, probe):
        script.handlers["GET EVENT_LOG"] = paged(log, 3)
        script.handlers["GET EVENT_LOG 3"] = paged(log, 3)
        script.handlers["GET EVENT_LOG 6"] = paged(log, 3)
        assert probe.event_log() == log
    assert [r.args for r in script.seen] == [
        ("EVENT_LOG",),
        ("EVENT_LOG", "3"),
        ("EVENT_LOG", "6"),
    ]


def test_a_log_that_grows_between_pages_is_read_again() -> None:
    log = ["POWER_FAIL", "POWER_UP", "TAMPER"]
    with probe_on() as (script, probe):
        first = paged(log, 2)

        def grows(request: Request) -> str:
            reply = first(request)
            log.append("RELAY_CHANGED/closed")  # a new entry after each first page
            script.handlers["GET EVENT_LOG"] = paged(log, 10)
            return reply

        script.handlers["GET EVENT_LOG"] = grows
        script.handlers["GET EVENT_LOG 2"] = paged(log, 2)
        assert probe.event_log() == log
        assert script.count("GET EVENT_LOG") == 3  # page 1, page 2 (count changed), again


def test_a_meter_ignoring_the_page_start_is_garbled() -> None:
    log = ["POWER_FAIL", "POWER_UP", "TAMPER"]
    with probe_on() as (script, probe):
        script.handlers["GET EVENT_LOG"] = paged(log, 2)
        script.handlers["GET EVENT_LOG 2"] = lambda r: paged(log, 2)(Request(r.seq, "GET", ()))
        with pytest.raises(GarbledReply, match="without a valid start="):
            probe.event_log()


@pytest.mark.parametrize(
    ("command", "read"),
    [
        ("GET TOKEN_LOG", lambda p: p.token_log()),
        ("GET EVENT_LOG", lambda p: p.event_log()),
        ("CLOCK GET", lambda p: p.clock()),
        ("CLOCK SET", lambda p: p.set_clock(datetime(2026, 1, 1, tzinfo=UTC))),
    ],
    ids=["token_log", "event_log", "clock", "set_clock"],
)
@pytest.mark.parametrize(
    "refusal",
    [(1, "unknown command"), (5, "not supported")],
    ids=["unknown", "not-supported"],
)
def test_a_meter_without_the_reading_raises_not_offered(
    command: str, read: Callable[[ProbeClient], object], refusal: tuple[int, str]
) -> None:
    with probe_on() as (script, probe):
        script.refuse = {command: refusal}
        with pytest.raises(NotOffered) as info:
            read(probe)
    assert isinstance(info.value, ProbeRefused) and isinstance(info.value, DeviceError)
    assert (info.value.code, info.value.text) == refusal
    assert script.count(command) == 1  # an answer: not retried


@pytest.mark.parametrize("item", ["TOKEN_LOG", "EVENT_LOG"])
def test_a_version_1_meter_taking_the_log_item_for_a_bad_argument_does_not_offer_it(
    item: str,
) -> None:
    with probe_on() as (script, probe):
        script.refuse = {f"GET {item}": (2, "bad argument: unknown GET item 'TOKEN_LOG'")}
        with pytest.raises(NotOffered, match="does not offer"):
            probe.token_log() if item == "TOKEN_LOG" else probe.event_log()


def test_other_refusals_are_not_not_offered() -> None:
    with probe_on() as (script, probe):
        script.refuse = {"GET TOKEN_LOG": (4, "busy"), "CLOCK SET": (2, "bad argument: time")}
        with pytest.raises(ProbeRefused) as busy:
            probe.token_log()
        with pytest.raises(ProbeRefused) as bad:
            probe.set_clock(datetime(2026, 1, 1, tzinfo=UTC))
    assert not isinstance(busy.value, NotOffered) and busy.value.code == 4
    assert not isinstance(bad.value, NotOffered) and bad.value.code == 2


def test_clock_is_a_timezone_aware_datetime() -> None:
    with probe_on() as (script, probe):
        assert probe.clock() == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
        assert probe.clock().tzinfo is not None
        script.handlers["CLOCK GET"] = reply_with({"time": "2026-11-23T12:00:00+02:00"})
        assert probe.clock() == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
        script.handlers["CLOCK GET"] = reply_with({"time": "noon"})
        with pytest.raises(GarbledReply, match="without a valid time="):
            probe.clock()


def test_set_clock_sends_utc_whole_seconds_and_refuses_a_naive_time() -> None:
    with probe_on() as (script, probe):
        plus_two = timezone(timedelta(hours=2))
        probe.set_clock(datetime(2026, 11, 23, 12, 0, 5, 900_000, tzinfo=plus_two))
        with pytest.raises(ValueError, match="no time zone"):
            probe.set_clock(datetime(2026, 11, 23, 12, 0))
    assert [(r.command, r.args) for r in script.seen] == [
        ("CLOCK", ("SET", "2026-11-23T10:00:05Z"))
    ]


# -- faults ---------------------------------------------------------------------------------


def test_silent_probe_read_times_out_after_its_retries() -> None:
    with probe_on(faults=Faults(silent=True)) as (_, probe):
        start = time.monotonic()
        with pytest.raises(ReplyTimeout) as info:
            probe.credit_kwh()
        elapsed = time.monotonic() - start
    assert 3 * TIMEOUT_S <= elapsed < 3 * TIMEOUT_S + 0.5
    message = str(info.value)
    assert (
        "did not answer 'GET CREDIT' within 0.2 s (3 attempts: silent, silent, silent)" in message
    )
    assert "\n" not in message


def test_silent_probe_token_times_out_at_once_without_retry() -> None:
    with probe_on(faults=Faults(silent=True)) as (_, probe):
        start = time.monotonic()
        with pytest.raises(ReplyTimeout, match="sent once, never retried"):
            probe.send_token(TOKEN)
        assert TIMEOUT_S <= time.monotonic() - start < TIMEOUT_S + 0.3


@pytest.mark.parametrize(
    "action",
    [
        lambda p: p.send_token(TOKEN),
        lambda p: p.key("5"),
        lambda p: p.clock_set("2026-01-01T00:00:00Z"),
        lambda p: p.reset_state(),
    ],
    ids=["TOKEN", "KEY", "CLOCK SET", "RESET STATE"],
)
def test_lost_reply_to_an_action_is_never_retried(action: Callable[[ProbeClient], object]) -> None:
    with probe_on() as (script, probe):
        script.lose = {"TOKEN", "KEY", "CLOCK SET", "RESET STATE"}
        with pytest.raises(ReplyTimeout):
            action(probe)
        time.sleep(0.05)
        assert len(script.seen) == 1  # the meter saw it exactly once


def test_lost_reply_to_a_read_is_retried_with_a_new_seq() -> None:
    with probe_on() as (script, probe):
        script.lose = {"GET CREDIT"}
        with pytest.raises(ReplyTimeout):
            probe.credit_kwh()
        assert [r.seq for r in script.seen] == [1, 2, 3]
        script.lose = set()
        assert probe.credit_kwh() == 12.5


def test_garbled_replies_to_a_read_give_garbled_reply_after_retries() -> None:
    with probe_on(faults=Faults(garble_rate=1.0, seed=3)) as (script, probe):
        start = time.monotonic()
        with pytest.raises(GarbledReply, match=r"3 attempts: garbled, garbled, garbled"):
            probe.credit_kwh()
        assert time.monotonic() - start < 3 * TIMEOUT_S + 0.5
        assert script.count("GET CREDIT") == 3
        assert probe.stats.garbled_lines >= 3


def test_garbled_reply_to_a_token_is_not_retried() -> None:
    with probe_on(faults=Faults(garble_rate=1.0, seed=5)) as (script, probe):
        with pytest.raises(GarbledReply, match="never retried"):
            probe.send_token(TOKEN)
        time.sleep(0.05)
        assert script.count("TOKEN") == 1


def test_err_reply_is_a_device_error_with_code_and_text() -> None:
    with probe_on() as (script, probe):
        script.refuse = {"RESET STATE": (5, "not supported"), "GET LOCKOUT": (4, "busy")}
        with pytest.raises(ProbeRefused) as info:
            probe.reset_state()
        assert isinstance(info.value, DeviceError)
        assert (info.value.code, info.value.text) == (5, "not supported")
        assert "refused 'RESET STATE': ERR 5 not supported" in str(info.value)
        with pytest.raises(DeviceError, match="ERR 4 busy"):
            probe.lockout()
        assert script.count("GET LOCKOUT") == 1  # an ERR is an answer: not retried


def test_err_checksum_on_a_read_is_retried() -> None:
    with probe_on() as (script, probe):
        answers = iter([protocol.ERR_CHECKSUM])

        def first_bad(request: Request) -> str:
            code = next(answers, None)
            if code is not None:  # the meter could not read our request the first time
                return protocol.format_error(request.seq, code, "bad checksum")
            return protocol.format_reply(request.seq, {"credit_kwh": "3.000"})

        script.handlers["GET CREDIT"] = first_bad
        assert probe.credit_kwh() == 3.0
        assert script.count("GET CREDIT") == 2


def test_late_reply_with_an_old_seq_is_dropped() -> None:
    with probe_on(timeout_s=0.5) as (script, probe):
        # Attempt 1 (seq 1) times out at 0.5 s; its reply comes at 0.7 s, while attempt 2
        # (seq 2, sent at 0.5 s) waits for its own reply, which comes at 0.85 s.
        script.late = {"GET CREDIT": [0.7, 0.35]}
        credits = iter(["999.000", "1.000"])
        script.handlers["GET CREDIT"] = lambda r: protocol.format_reply(
            r.seq, {"credit_kwh": next(credits)}
        )
        assert probe.credit_kwh() == 1.0
        assert [r.seq for r in script.seen] == [1, 2]
        assert wait_until(lambda: probe.stats.stale_replies == 1)
        assert probe.ping() is None  # the stale line did not upset the next request


def test_probe_gone_is_device_absent() -> None:
    script = ScriptedProbe()
    tcp = TcpEndpoint(lambda: LineAdapter(script.handle))
    probe = ProbeClient(tcp.url, timeout_s=TIMEOUT_S)
    try:
        probe.ping()
        tcp.close()  # the far end hangs up
        assert wait_until(lambda: probe._failure is not None)
        with pytest.raises(DeviceAbsent, match="port failed"):
            probe.ping()
        with pytest.raises(DeviceAbsent):
            probe.expect("KEY", timeout_s=1.0)
    finally:
        probe.close()
        tcp.close()


def test_absent_probe_ports() -> None:
    with pytest.raises(DeviceAbsent, match="probe at /dev/ttyUSB-missing could not be opened"):
        ProbeClient("/dev/ttyUSB-missing")
    with pytest.raises(BenchFault):
        ProbeClient("socket://127.0.0.1:1")


# -- events ---------------------------------------------------------------------------------


def test_events_between_requests_are_kept_for_expect() -> None:
    with probe_on() as (script, probe):
        probe.mark()
        script.push("RELAY_CHANGED", relay="open", reason="credit")
        script.push("KEY", key="1")
        assert wait_until(lambda: len(probe.pending_events()) == 2)
        probe.info()  # a request in between loses nothing
        script.push("TOKEN_RESULT", code=1, name="Accept")
        event = probe.expect("KEY", fields={"key": "1"}, timeout_s=1.0)
        assert event.evseq == 2
        result = probe.expect("TOKEN_RESULT", lambda e: e.fields["code"] == "1", 1.0)
        assert result.fields["name"] == "Accept"
        assert probe.drain_events() == []


def test_key_event_arrives_before_its_reply_and_is_queued() -> None:
    with probe_on() as (_, probe):
        probe.mark()
        probe.key("7")
        assert probe.expect("KEY", timeout_s=0.5).fields == {"key": "7"}


def test_expect_skips_non_matching_events_and_reports_what_came() -> None:
    with probe_on() as (script, probe):
        probe.mark()
        script.push("KEY", key="1")
        script.push("KEY", key="2")
        start = time.monotonic()
        with pytest.raises(ReplyTimeout) as info:
            probe.expect("TOKEN_RESULT", fields={"code": "1"}, timeout_s=0.2)
        assert 0.2 <= time.monotonic() - start < 0.6
        message = str(info.value)
        assert "no TOKEN_RESULT code=1 event within 0.2 s" in message
        assert "arrived: KEY key=1, KEY key=2" in message
        # Nothing consumed by the failed expect: a later one still finds them.
        assert probe.expect("KEY", fields={"key": "2"}, timeout_s=0.2).evseq == 2
        assert probe.pending_events() == []


def test_mark_forgets_earlier_events() -> None:
    with probe_on() as (script, probe):
        script.push("KEY", key="1")
        assert wait_until(lambda: len(probe.pending_events()) == 1)
        probe.mark()
        script.push("KEY", key="2")
        assert probe.expect("KEY", timeout_s=0.5).fields["key"] == "2"


def test_event_queue_is_bounded_and_counts_what_it_dropped() -> None:
    with probe_on(max_events=5) as (script, probe):
        for n in range(8):
            script.push("KEY", key=str(n))
        assert wait_until(lambda: probe.stats.dropped_events == 3)
        assert [e.fields["key"] for e in probe.drain_events()] == ["3", "4", "5", "6", "7"]


def test_evseq_gaps_and_restarts_are_counted() -> None:
    with probe_on() as (script, probe):
        script.push("KEY", 1, key="1")
        script.push("KEY", 2, key="2")
        script.push("KEY", 5, key="5")  # 3 and 4 lost
        script.push("POWER_UP", 1, firmware="sim-1.0")  # restarted
        assert wait_until(lambda: len(probe.pending_events()) == 4)
        stats = probe.stats
        assert (stats.event_gaps, stats.restarts) == (2, 1)


def test_events_since_replays_without_duplicating_the_queue() -> None:
    with probe_on() as (script, probe):
        for n in range(1, 4):
            script.push("KEY", key=str(n))
        assert wait_until(lambda: len(probe.pending_events()) == 3)
        script.event("KEY", key="4")  # held by the meter, never sent live (lost on the way)
        script.event("KEY", key="5")
        script.push("KEY", key="6")  # live again
        assert wait_until(lambda: len(probe.pending_events()) == 4)
        assert probe.stats.event_gaps == 2
        replay = probe.events_since(3)
        assert [e.evseq for e in replay.events] == [4, 5, 6]
        assert (replay.last, replay.oldest, replay.complete) == (6, 1, True)
        # 4 and 5 recovered, 6 not queued twice
        assert [e.evseq for e in probe.pending_events()] == [1, 2, 3, 6, 4, 5]
        everything = probe.events_since(0)
        assert [e.evseq for e in everything.events] == [1, 2, 3, 4, 5, 6]
        assert len(probe.pending_events()) == 6  # replays of known events are not re-queued
        assert probe.stats.restarts == 0


# -- log ------------------------------------------------------------------------------------


def test_log_keeps_every_line_with_timestamps_and_a_file(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "probe.log"
    log = ProbeLog(path, capacity=100)
    with probe_on(log=log) as (script, probe):
        since = time.monotonic()
        probe.credit_kwh()
        script.push("KEY", key="1")
        script.send(b"1 OK credit_kwh=1*0000\n")  # bad checksum
        assert wait_until(lambda: probe.stats.garbled_lines == 1)
    log.close()
    lines = log.excerpt(since)
    assert [line.split(" ", 1)[1][:2] for line in lines] == ["> ", "< ", "< ", "<?"]
    assert lines[0].endswith(protocol.format_request(1, "GET", "CREDIT"))
    assert lines[0][:4].isdigit() and "T" in lines[0] and lines[0].split(" ")[0].endswith("Z")
    written = path.read_text().splitlines()
    assert written == lines
    assert [line.direction for line in log.lines(since)] == ["out", "in", "in", "bad"]


def test_log_escapes_unprintable_bytes() -> None:
    log = ProbeLog(capacity=2)
    log.record("bad", "a\x00b\xffc")
    log.record("in", "x")
    log.record("in", "y")
    assert [line.text for line in log.lines()] == ["x", "y"]  # bounded
    assert log.record("bad", "a\x00b\xff").text == "a\\x00b\\xff"


def test_close_is_prompt_and_stops_the_reader() -> None:
    with probe_on() as (_, probe):
        reader = probe._reader
        start = time.monotonic()
        probe.close()
        assert time.monotonic() - start < 0.5
        assert not reader.is_alive()
        probe.close()
        with pytest.raises(DeviceAbsent, match="closed"):
            probe.ping()


# -- pure framing over loop:// --------------------------------------------------------------


def test_loop_port_sees_its_own_requests_as_garbled_lines() -> None:
    # On loop:// every request comes straight back: a request is not a valid reply or event,
    # so it is counted as garbled, and the read fails as garbled rather than silent.
    with ProbeClient("loop://", timeout_s=0.2, retries=1) as probe:
        with pytest.raises(GarbledReply, match="2 attempts: garbled, garbled"):
            probe.credit_kwh()
        assert probe.stats.garbled_lines == 2
        assert [line.direction for line in probe.log.lines()] == ["out", "bad", "out", "bad"]

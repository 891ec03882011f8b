"""The simulated meter's probe (hil.sim.probe_server), protocol version 2: the optional
readings served from the meter model, left out (or unknown command) where the meter lacks
the function. Requests go straight to the server at a model time: no ports, no threads."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from hil.meter.model import MeterModel
from hil.probe import protocol as p
from hil.probe.protocol import TokenLogEntry
from hil.rig.drivers.probe import CreditStatus, NotOffered, ProbeClient
from hil.sim.dlms_server import DlmsServer, InMemoryMeter
from hil.sim.options import MeterOptions
from hil.sim.probe_server import ProbeServer
from hil.sim.transports import LineAdapter, PtyEndpoint
from tests.meter.helpers import FAST, TID0, credit, meter

# The fast profile with every payment function and log (FAST itself has none of them).
FULL = dataclasses.replace(
    FAST,
    low_credit_wh=5000,
    emergency_credit_wh=2000,
    emergency_below_wh=1000,
    token_log_depth=10,
    event_log_depth=100,
)
BAD_CRC = "12345678901234567890"


class Server:
    """A ProbeServer over a model, asked at model times of our choosing."""

    def __init__(self, model: MeterModel, options: MeterOptions | None = None) -> None:
        self.model = model
        self.probe = ProbeServer(model, options=options)
        self.seq = 0

    def lines(self, *words: str, at: float = 1.0) -> list[str]:
        self.seq += 1
        return self.probe.handle(p.format_request(self.seq, *words), at)

    def reply(self, *words: str, at: float = 1.0) -> p.Reply:
        last = p.parse_incoming(self.lines(*words, at=at)[-1])
        assert isinstance(last, p.Reply)
        return last

    def ok(self, *words: str, at: float = 1.0) -> dict[str, str]:
        reply = self.reply(*words, at=at)
        assert reply.ok, reply
        return reply.fields


def full(**kwargs: object) -> Server:
    return Server(meter(FULL, **kwargs))


def plain(**kwargs: object) -> Server:
    return Server(meter(FAST, **kwargs))


def test_info_says_protocol_2() -> None:
    assert plain().ok("INFO")["protocol"] == "2"


# -- GET CREDIT ------------------------------------------------------------------------------


def test_credit_has_low_and_emergency_owed_where_the_meter_has_them() -> None:
    server = full(credit_wh=500)
    assert server.ok("GET", "CREDIT") == {
        "credit_kwh": "0.500",
        "low": "1",
        "emergency_owed_kwh": "0.000",
    }
    server.model.request_emergency(1.0)
    assert server.ok("GET", "CREDIT", at=1.5) == {
        "credit_kwh": "2.500",
        "low": "1",
        "emergency_owed_kwh": "2.000",
    }
    server.model.enter_token(credit(TID0, amount=100), 2.0)  # 10 kWh: repays the 2 first
    assert server.ok("GET", "CREDIT", at=2.5) == {
        "credit_kwh": "10.500",
        "low": "0",
        "emergency_owed_kwh": "0.000",
    }


def test_credit_leaves_the_fields_out_where_the_meter_lacks_the_function() -> None:
    assert plain(credit_wh=500).ok("GET", "CREDIT") == {"credit_kwh": "0.500"}
    only_low = Server(meter(dataclasses.replace(FAST, low_credit_wh=5000)))
    assert only_low.ok("GET", "CREDIT") == {"credit_kwh": "0.000", "low": "1"}


def test_emergency_owed_is_rounded_down_to_the_credit_resolution() -> None:
    profile = dataclasses.replace(FULL, emergency_credit_wh=1550)
    server = Server(meter(profile), MeterOptions(credit_resolution_kwh=0.1))
    server.model.request_emergency(1.0)
    fields = server.ok("GET", "CREDIT", at=1.5)
    assert (fields["credit_kwh"], fields["emergency_owed_kwh"]) == ("1.5", "1.5")


def test_emergency_credit_event_says_what_was_granted() -> None:
    server = full()
    granted = server.probe.publish(server.model.request_emergency(1.0))
    again = server.probe.publish(server.model.request_emergency(2.0))  # still owed: refused
    names = [p.parse_incoming(line) for line in [*granted, *again]]
    emergency = [e.fields for e in names if isinstance(e, p.Event) and e.name == "EMERGENCY_CREDIT"]
    assert emergency == [{"granted_kwh": "2.000"}, {"granted_kwh": "0.000"}]


def test_emergency_credit_event_is_optional() -> None:
    server = Server(meter(FULL), MeterOptions(events="mandatory"))
    assert server.probe.publish(server.model.request_emergency(1.0)) == []


# -- GET TOKEN_LOG ---------------------------------------------------------------------------


def test_token_log_entries_round_trip_to_the_models_log() -> None:
    server = full()
    server.model.enter_token(credit(TID0), 1.0)
    server.model.enter_token(BAD_CRC, 1.1)
    server.model.enter_token(credit(TID0), 1.2)  # a replay: Used
    fields = server.ok("GET", "TOKEN_LOG", at=1.5)
    assert (fields["count"], fields["start"]) == ("3", "0")
    decoded = [TokenLogEntry.parse(e) for e in fields["entries"].split(",")]
    expected = [
        TokenLogEntry(int(e.result), e.token_class, e.subclass, e.tid)
        for e in server.model.token_log
    ]
    assert decoded == expected
    assert decoded[0] == TokenLogEntry(1, 0, 0, TID0)
    assert decoded[1].result == 13 and decoded[1].tid is None  # CRC: the TID was not decoded
    assert fields["entries"].split(",")[1].endswith("/-")
    assert decoded[2].result == 10


def test_token_log_is_empty_before_any_token() -> None:
    assert full().ok("GET", "TOKEN_LOG") == {"count": "0", "start": "0", "entries": ""}


@pytest.mark.parametrize("item", ["TOKEN_LOG", "EVENT_LOG"])
def test_a_meter_without_the_log_answers_unknown_command(item: str) -> None:
    reply = plain().reply("GET", item)
    assert (reply.ok, reply.error_code) == (False, p.ERR_UNKNOWN_COMMAND)


def test_an_unknown_get_item_is_an_unknown_command() -> None:
    reply = full().reply("GET", "FROB")
    assert (reply.ok, reply.error_code) == (False, p.ERR_UNKNOWN_COMMAND)


# -- GET EVENT_LOG ---------------------------------------------------------------------------


def test_event_log_names_supply_tamper_and_relay_events() -> None:
    server = full(credit_wh=10_000)
    model = server.model
    model.power_off(1.0)
    model.power_on(2.0)
    model.tamper(3.0)
    fields = server.ok("GET", "EVENT_LOG", at=3.5)
    entries = fields["entries"].split(",")
    assert entries == [p.event_log_entry(e.name, e.detail) for e in model.event_log]
    assert entries[:2] == ["POWER_FAIL", "POWER_UP"]
    assert entries[-2:] == ["TAMPER", "RELAY_CHANGED/open/tamper"]
    assert fields["count"] == str(len(entries))


def test_event_log_entry_format() -> None:
    assert (
        p.event_log_entry("RELAY_CHANGED", "open power_limit") == "RELAY_CHANGED/open/power_limit"
    )
    assert p.event_log_entry("RELAY_CHANGED", "closed") == "RELAY_CHANGED/closed"
    assert p.event_log_entry("POWER_UP") == "POWER_UP"
    with pytest.raises(ValueError, match="no ','"):
        p.event_log_entry("A,B")


def test_a_long_log_comes_in_pages_that_fit_in_a_line() -> None:
    server = full(credit_wh=10_000)
    for i in range(40):  # 80 entries: more than one line holds
        server.model.power_off(1.0 + i)
        server.model.power_on(1.5 + i)
    whole = [p.event_log_entry(e.name, e.detail) for e in server.model.event_log]
    pages: list[str] = []
    while True:
        lines = server.lines("GET", "EVENT_LOG", *([str(len(pages))] if pages else []), at=50.0)
        assert all(len(line) <= p.MAX_LINE for line in lines)
        fields = p.parse_fields(p.unseal(lines[-1]).split()[2:])
        assert (fields["count"], fields["start"]) == (str(len(whole)), str(len(pages)))
        pages += fields["entries"].split(",")
        if len(pages) >= len(whole):
            break
    assert pages == whole
    assert server.ok("GET", "EVENT_LOG", str(len(whole)), at=50.0)["entries"] == ""
    for bad in ([str(len(whole) + 1)], ["x"], ["1", "2"]):
        reply = server.reply("GET", "EVENT_LOG", *bad, at=50.0)
        assert (reply.ok, reply.error_code) == (False, p.ERR_BAD_ARGUMENT), bad


# -- CLOCK -----------------------------------------------------------------------------------


def test_clock_get_reads_the_model_clock() -> None:
    server = plain()
    expected = datetime.fromtimestamp(server.model.clock(7.0), UTC)
    assert server.ok("CLOCK", "GET", at=7.0)["time"] == f"{expected:%Y-%m-%dT%H:%M:%SZ}"


def test_clock_set_then_get_advances_with_model_time() -> None:
    server = plain()
    assert server.ok("CLOCK", "SET", "2026-11-23T10:00:00Z", at=5.0) == {}
    when = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    assert server.model.clock(5.0) == when.timestamp()
    assert server.ok("CLOCK", "GET", at=5.0)["time"] == "2026-11-23T10:00:00Z"
    assert server.ok("CLOCK", "GET", at=95.0)["time"] == "2026-11-23T10:01:30Z"


def test_clock_set_refuses_a_bad_time() -> None:
    reply = plain().reply("CLOCK", "SET", "yesterday")
    assert (reply.ok, reply.error_code) == (False, p.ERR_BAD_ARGUMENT)
    assert "ISO 8601" in reply.error_text


def test_clock_set_publishes_what_the_new_time_makes_the_meter_do() -> None:
    # Credit runs out inside the friendly hours (relay held closed); moving the clock out of
    # them opens the relay, and the server sends that RELAY_CHANGED before its reply.
    server = Server(meter(dataclasses.replace(FAST, friendly_hours=(17, 8)), credit_wh=1))
    model = server.model
    model.set_clock(datetime(2026, 1, 1, 7, 0, tzinfo=UTC).timestamp(), 0.0)
    model.set_load(3600.0, 0.0)
    model.advance(2.0)
    assert model.credit_wh == 0 and model.relay_closed
    lines = server.lines("CLOCK", "SET", "2026-01-01T12:00:00Z", at=2.0)
    events = [p.parse_incoming(line) for line in lines[:-1]]
    assert [(e.name, e.fields["relay"]) for e in events if isinstance(e, p.Event)] == [
        ("RELAY_CHANGED", "open")
    ]
    assert p.parse_incoming(lines[-1]).ok


# -- through the harness's ProbeClient -------------------------------------------------------


def client_of(server: Server) -> tuple[PtyEndpoint, ProbeClient]:
    """The harness's driver on a pty to ``server``, at model time 1.0."""
    endpoint = PtyEndpoint(
        LineAdapter(lambda line, at: "\n".join(server.probe.handle(line, 1.0)) or None)
    )
    return endpoint, ProbeClient(endpoint.url, timeout_s=0.5, retries=0)


def test_the_driver_reads_what_a_full_meter_offers() -> None:
    server = full(credit_wh=500)
    server.model.enter_token(credit(TID0), 0.5)
    server.model.enter_token(BAD_CRC, 0.6)
    endpoint, client = client_of(server)
    with endpoint, client:
        assert client.credit_status() == CreditStatus(10.5, False, 0.0)
        assert client.token_log() == [
            TokenLogEntry(int(e.result), e.token_class, e.subclass, e.tid)
            for e in server.model.token_log
        ]
        assert client.event_log() == [
            p.event_log_entry(e.name, e.detail) for e in server.model.event_log
        ]
        assert client.clock() == datetime.fromtimestamp(server.model.clock(1.0), UTC)


def test_the_driver_reads_not_offered_from_a_meter_without_the_functions() -> None:
    endpoint, client = client_of(plain(credit_wh=500))
    with endpoint, client:
        assert client.credit_status() == CreditStatus(0.5, None, None)
        with pytest.raises(NotOffered, match="ERR 1 unknown command"):
            client.token_log()
        with pytest.raises(NotOffered):
            client.event_log()


# -- the DLMS face's clock -------------------------------------------------------------------


def test_dlms_clock_is_the_meters_clock() -> None:
    stand_in = InMemoryMeter(1.0)
    server = DlmsServer(stand_in)
    assert server.clock(3.0).timestamp() == stand_in.clock(3.0)
    stand_in.set_clock(datetime(2026, 11, 23, 10, 0, tzinfo=UTC).timestamp(), 3.0)
    assert server.clock(63.0) == datetime(2026, 11, 23, 10, 1, tzinfo=UTC)


def test_dlms_rtc_start_sets_the_meters_clock() -> None:
    start = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
    stand_in = InMemoryMeter(1.0)
    server = DlmsServer(stand_in, rtc_start=start)
    assert stand_in.clock(0.0) == start.timestamp()
    assert server.clock(10.0) == datetime(2026, 5, 1, 8, 0, 10, tzinfo=UTC)

"""Load switch: credit exhaustion, power limit, clear credit, tamper; energy accounting."""

from __future__ import annotations

import pytest

from hil.meter.events import EventName, names
from hil.sts.tokens import ClearCreditToken, ClearTamperToken, MaxPowerLimitToken
from tests.meter.helpers import TID0, R, credit, meter, token


def relay_events(events: list) -> list[tuple[float, bool, str]]:
    return [
        (e.at, e.data["closed"], e.data["reason"])
        for e in events
        if e.name == EventName.RELAY_CHANGED
    ]


def test_relay_open_without_credit_at_start() -> None:
    m = meter()
    assert not m.relay_closed and m.relay_reason == "credit"
    assert meter(credit_units=1).relay_closed


def test_relay_closes_when_credit_added() -> None:
    m = meter()
    out = m.enter_token(credit(TID0), 1.0)
    assert relay_events(out.events) == [(1.0, True, "")]
    assert m.relay_closed and m.relay_reason == ""


def test_consumption_decrements_credit() -> None:
    m = meter(credit_units=10)  # 1000 Wh
    m.set_load(1000.0, 0.0)
    m.advance(36.0)  # 1000 W for 36 s = 10 Wh
    assert m.credit_wh == 990
    m.advance(36.9)  # 0.25 Wh more: carried, not shown
    assert m.credit_wh == 990
    m.advance(39.7)  # 1.03 Wh since t = 36
    assert m.credit_wh == 989


def test_relay_opens_at_zero_credit_under_load() -> None:
    m = meter(credit_units=1)  # 100 Wh
    m.set_load(3600.0, 0.0)  # 1 Wh per second: empty at t = 100 s
    assert m.advance(99.9) == [] and m.relay_closed and m.credit_wh == 1
    events = m.advance(150.0)
    assert names(events) == ["CREDIT_CHANGED", "RELAY_CHANGED"]
    assert events[0].at == pytest.approx(100.0) and events[0].data["reason"] == "exhausted"
    assert relay_events(events) == [(pytest.approx(100.0), False, "credit")]
    assert m.credit_wh == 0 and m.power_w == 0.0


def test_exhaustion_time_does_not_depend_on_advance_steps() -> None:
    a, b = meter(credit_units=3), meter(credit_units=3)
    for m in (a, b):
        m.set_load(777.0, 0.0)
    ea = a.advance(10_000.0)
    eb: list = []
    t = 0.0
    while t < 10_000.0:
        t += 13.7
        eb += b.advance(min(t, 10_000.0))
    assert [e.at for e in ea] == pytest.approx([e.at for e in eb])
    assert ea[0].at == pytest.approx(300 * 3600 / 777.0)


def test_no_consumption_while_unpowered() -> None:
    m = meter(credit_units=10)
    m.set_load(3600.0, 0.0)
    m.power_off(1.0)
    m.advance(500.0)
    assert m.credit_wh == 999 and m.power_w == 0.0


def test_power_limit_trips_and_recovers() -> None:
    m = meter(credit_units=1000)
    retry = m.profile.power_limit_retry_s
    m.enter_token(token(MaxPowerLimitToken(tid=TID0, watts=1000)), 0.0)
    assert m.power_limit_w == 1000
    events = m.set_load(1500.0, 1.0)
    assert relay_events(events) == [(1.0, False, "power_limit")]
    # still over at the retry: trips again at once, the relay never closes
    assert relay_events(m.advance(1.0 + retry)) == []
    assert not m.relay_closed
    # load back under the limit: closes at the next retry, not before
    m.set_load(500.0, 1.0 + retry + 0.01)
    assert not m.relay_closed
    events = m.advance(1.0 + 3 * retry)
    assert relay_events(events) == [(pytest.approx(1.0 + 2 * retry), True, "")]


def test_power_limit_token_trips_a_running_load() -> None:
    m = meter(credit_units=1000)
    m.set_load(2000.0, 0.0)
    out = m.enter_token(token(MaxPowerLimitToken(tid=TID0, watts=1000)), 1.0)
    assert out.result is R.ACCEPT and relay_events(out.events) == [(1.0, False, "power_limit")]


def test_load_at_the_limit_does_not_trip() -> None:
    m = meter(credit_units=1000, power_limit_w=1000)
    m.set_load(1000.0, 1.0)
    assert m.relay_closed


def test_power_limit_checked_when_credit_closes_the_relay() -> None:
    m = meter(power_limit_w=100)
    m.set_load(500.0, 0.0)  # no credit: relay open, no current, no trip
    assert m.relay_reason == "credit"
    out = m.enter_token(credit(TID0), 1.0)
    assert relay_events(out.events) == [(1.0, False, "power_limit")]


def test_clear_credit_opens_relay() -> None:
    m = meter(credit_units=100)
    out = m.enter_token(token(ClearCreditToken(tid=TID0, value=0xFFFF)), 1.0)
    assert out.credit_delta_wh == -10_000
    assert relay_events(out.events) == [(1.0, False, "credit")]


def test_tamper_opens_relay_and_clear_tamper_recloses() -> None:
    m = meter(credit_units=100)
    events = m.tamper(1.0)
    assert names(events) == ["TAMPER", "RELAY_CHANGED"]
    assert m.relay_reason == "tamper" and m.tamper_active
    m.enter_token(credit(TID0), 2.0)  # credit alone does not reclose
    assert m.relay_reason == "tamper"
    out = m.enter_token(token(ClearTamperToken(tid=TID0 + 1)), 3.0)
    assert out.result is R.ACCEPT and relay_events(out.events) == [(3.0, True, "")]


def test_clear_tamper_without_credit_leaves_relay_open_for_credit() -> None:
    m = meter()
    m.tamper(1.0)
    m.enter_token(token(ClearTamperToken(tid=TID0)), 2.0)
    assert not m.tamper_active and m.relay_reason == "credit"

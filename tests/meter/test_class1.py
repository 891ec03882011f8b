"""Class 1 InitiateMeterTest/Display tokens: MfrCode, control bits, test behaviour."""

from __future__ import annotations

import pytest

from hil.meter.events import EventName, names
from hil.sts.tokens import TEST_CONTROLS, MeterTestToken
from tests.meter.helpers import INFO, PAN, TID0, R, credit, meter, token


def test_token(*tests: str, mfr: int | None = None, four_digit: bool = False) -> str:
    control = sum(TEST_CONTROLS[t] for t in tests) if tests else 1 << 20
    code = PAN.mfr_code if mfr is None else mfr
    return token(MeterTestToken(control, code, four_digit), None)


test_token.__test__ = False  # type: ignore[attr-defined]


def test_load_switch_test_opens_relay_then_restores() -> None:
    m = meter(credit_units=10)
    out = m.enter_token(test_token("load-switch"), 1.0)
    assert out.result is R.ACCEPT and out.token_class == 1 and out.tid is None
    assert names(out.events) == ["TOKEN_RESULT", "TEST_STARTED", "RELAY_CHANGED"]
    assert m.relay_reason == "test" and m.tests_running == ("load-switch",)
    end = 1.0 + m.profile.load_switch_test_s
    events = m.advance(end)
    assert names(events) == ["RELAY_CHANGED", "TEST_ENDED"]
    assert all(e.at == pytest.approx(end) for e in events)
    assert m.relay_closed and m.tests_running == ()


def test_load_switch_test_without_credit_leaves_relay_open() -> None:
    m = meter()
    m.enter_token(test_token("load-switch"), 1.0)
    assert m.relay_reason == "credit"
    assert [e for e in m.advance(5.0) if e.name == EventName.RELAY_CHANGED] == []


def test_display_test_emits_started_and_ended() -> None:
    m = meter(credit_units=10)
    out = m.enter_token(test_token("display", "totals", "key-info"), 1.0)
    started = next(e for e in out.events if e.name == EventName.TEST_STARTED)
    assert started.data["tests"] == ["display", "totals", "key-info"]
    assert started.data["shows"] == {
        "credit_wh": 1000,
        "krn": INFO.krn,
        "kt": INFO.kt,
        "ti": INFO.ti,
    }
    assert m.relay_closed  # display tests do not touch the relay
    events = m.advance(1.0 + m.profile.display_test_s)
    assert names(events) == ["TEST_ENDED"]


def test_wrong_mfr_code_is_mfr_code() -> None:
    m = meter()
    assert m.enter_token(test_token("display", mfr=PAN.mfr_code + 1), 1.0).result is R.MFR_CODE


def test_four_digit_mfr_token_on_two_digit_meter_is_mfr_code() -> None:
    m = meter()
    out = m.enter_token(test_token("display", four_digit=True), 1.0)
    assert out.result is R.MFR_CODE


def test_test_token_with_no_known_control_bit_is_function() -> None:
    assert meter().enter_token(test_token(), 1.0).result is R.FUNCTION


def test_class1_does_not_touch_tid_memory_or_lockout_count() -> None:
    m = meter()
    m.enter_token(credit(TID0), 1.0)
    m.enter_token(test_token(mfr=PAN.mfr_code + 1), 1.1)  # Mfr code error: not counted
    m.enter_token(test_token("tid"), 1.2)
    assert m.tid_memory == [TID0] and m.consecutive_rejects == 0


def test_test_token_needs_no_key_and_is_the_same_on_every_meter() -> None:
    digits = test_token("display")
    assert digits == token(MeterTestToken(TEST_CONTROLS["display"], 0), None)

"""Keypad entry, the two-phase processing path, result hold and Not ready."""

from __future__ import annotations

import pytest

from hil.meter.events import EventName, names
from tests.meter.helpers import (
    TID0,
    R,
    credit,
    leading_zero_credit,
    meter,
    profile,
    type_token,
)


def test_keypad_token_is_decided_after_processing() -> None:
    m = meter()
    digits = credit(TID0)
    t = type_token(m, digits, 1.0)
    assert m.processing and m.result_code is R.NOT_READY and m.credit_wh == 0
    assert m.processing_until == pytest.approx(t + m.profile.processing_s)
    assert m.advance(t + m.profile.processing_s * 0.99) == []
    events = m.advance(t + m.profile.processing_s)
    assert names(events)[:2] == ["TOKEN_RESULT", "CREDIT_CHANGED"]
    assert m.last_result is not None and m.last_result.source == "keypad"
    assert m.last_result.result is R.ACCEPT and m.credit_wh == 10_000
    assert not m.processing and m.processing_until is None


def test_key_events_report_the_entry() -> None:
    m = meter()
    events = m.press_key("4", 1.0) + m.press_key("2", 1.1) + m.press_key("BACK", 1.2)
    assert [(e.data["key"], e.data["entry"]) for e in events] == [("4", 1), ("2", 2), ("BACK", 1)]
    assert m.entry == "4"


def test_back_removes_the_last_digit() -> None:
    m = meter()
    digits = credit(TID0)
    t = type_token(m, digits[:5] + "9", 1.0, enter=False)
    m.press_key("BACK", t + 0.01)
    t = type_token(m, digits[5:], t + 0.02)
    m.advance(t + 1.0)
    assert m.last_result is not None and m.last_result.result is R.ACCEPT


def test_inter_digit_timeout_discards_entry() -> None:
    m = meter()
    timeout = m.profile.keypad.inter_digit_timeout_s
    m.press_key("1", 1.0)
    m.press_key("2", 1.0 + timeout * 0.9)  # each key restarts the timeout
    assert m.advance(1.0 + timeout * 1.5) == []
    events = m.advance(1.0 + timeout * 2)
    assert names(events) == ["ENTRY_TIMEOUT"]
    assert events[0].at == pytest.approx(1.0 + timeout * 1.9) and events[0].data["digits"] == 2
    assert m.entry == ""
    # a later full entry is unaffected
    t = type_token(m, credit(TID0), 10.0)
    m.advance(t + 1.0)
    assert m.last_result is not None and m.last_result.result is R.ACCEPT


def test_entry_timeout_mid_token_loses_the_digits() -> None:
    m = meter()
    digits = credit(TID0)
    t = type_token(m, digits[:10], 1.0, enter=False)
    t = type_token(m, digits[10:], t + m.profile.keypad.inter_digit_timeout_s + 0.1)
    m.advance(t + 1.0)
    assert m.last_result is not None and m.last_result.result is R.FORMAT  # 10 digits only


def test_enter_on_short_entry_is_format() -> None:
    m = meter()
    t = type_token(m, "12345", 1.0)
    m.advance(t + 1.0)
    assert m.last_result is not None and m.last_result.result is R.FORMAT


def test_enter_on_empty_entry_is_ignored() -> None:
    m = meter()
    events = m.press_key("ENTER", 1.0)
    assert events[0].data == {"key": "ENTER", "accepted": False, "entry": 0, "reason": "empty"}
    assert not m.processing


def test_twenty_first_digit_is_ignored() -> None:
    m = meter()
    t = type_token(m, credit(TID0), 1.0, enter=False)
    events = m.press_key("7", t + 0.05)
    assert events[0].data["reason"] == "full" and len(m.entry) == 20


def test_auto_submit_at_20() -> None:
    m = meter(profile(keypad={"auto_submit_at_20": True}))
    t = type_token(m, credit(TID0), 1.0, enter=False)
    assert m.processing and m.entry == ""
    m.advance(t + 1.0)
    assert m.credit_wh == 10_000


def test_keys_ignored_while_processing_and_during_result_hold() -> None:
    m = meter()
    t = type_token(m, credit(TID0), 1.0)
    during = m.press_key("5", t + m.profile.processing_s / 2)
    assert during[0].data == {"key": "5", "accepted": False, "entry": 0, "reason": "processing"}
    done = t + m.profile.processing_s
    held = m.press_key("5", done + m.profile.result_hold_s / 2)
    assert held[-1].data["reason"] == "result_hold" and m.entry == ""
    after = m.press_key("5", done + m.profile.result_hold_s)
    assert after[-1].data["accepted"] and m.entry == "5"


def test_direct_entry_does_not_start_a_result_hold() -> None:
    m = meter()
    m.enter_token(credit(TID0), 1.0)
    assert m.press_key("1", 1.0)[-1].data["accepted"]


def test_submit_token_is_two_phase_and_not_ready_while_busy() -> None:
    m = meter()
    m.submit_token(credit(TID0), 1.0)
    busy = m.submit_token(credit(TID0 + 1), 1.001)
    assert busy[-1].name == EventName.TOKEN_RESULT and busy[-1].data["result"] == 16
    assert m.enter_token(credit(TID0 + 2), 1.002).result is R.NOT_READY
    m.advance(2.0)
    assert m.last_result is not None and m.last_result.source == "carrier"
    assert m.tid_memory == [TID0]  # the refused submissions changed nothing


def test_unpowered_meter_ignores_keys_and_carrier() -> None:
    m = meter()
    m.power_off(0.5)
    assert m.press_key("1", 1.0) == [] and m.entry == ""
    assert m.submit_token(credit(TID0), 1.1) == [] and not m.processing


def test_unknown_key_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown key"):
        meter().press_key("#", 1.0)


def test_token_typed_without_its_leading_zero_is_format() -> None:
    # A token is exactly 20 digits (sts-notes 2, step 6): 19 digits and ENTER is Format,
    # even when the 19 digits are a token whose leading 0 was left out.
    _, digits = leading_zero_credit()
    m = meter()
    t = type_token(m, digits[1:], 1.0)
    m.advance(t + 1.0)
    assert m.last_result is not None and m.last_result.result is R.FORMAT
    assert m.credit_wh == 0 and m.tid_memory == []
    assert meter().enter_token(digits[1:], 1.0).result is R.FORMAT  # direct path too
    t = type_token(m, digits, t + 2.0)  # the whole token is then accepted
    m.advance(t + 1.0)
    assert m.last_result is not None and m.last_result.result is R.ACCEPT


def test_defect_accepts_short_entry() -> None:
    tid, digits = leading_zero_credit()
    m = meter(defects={"accepts_short_entry"})
    assert m.enter_token(digits[1:], 1.0).result is R.ACCEPT and m.tid_memory == [tid]
    assert m.enter_token("12345", 2.0).result is R.CRC  # padded: garbage, not Format
    assert m.enter_token(digits + "7", 3.0).result is R.FORMAT  # long entries unchanged

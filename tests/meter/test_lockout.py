"""Token lockout after consecutive rejects (bench-notes 1.3)."""

from __future__ import annotations

import pytest

from hil.meter.events import EventName, names
from hil.sts.tokens import TEST_CONTROLS, MeterTestToken
from tests.meter.helpers import (
    PAN,
    REALISTIC,
    TID0,
    R,
    credit,
    info,
    key_for,
    meter,
    profile,
    token,
)

BAD = credit(TID0 + 99, key=key_for(info(krn=7)))  # CRC on this meter


def test_lockout_after_n_rejects_doubles_and_resets() -> None:
    m = meter()
    base = m.profile.lockout.base_s
    assert m.enter_token(BAD, 1.0).result is R.CRC
    assert m.enter_token(BAD, 1.1).result is R.CRC
    assert m.locked_out_until is None
    out = m.enter_token(BAD, 1.2)  # third reject: locked for base_s
    assert out.result is R.CRC and names(out.events)[-1] == "LOCKOUT_START"
    assert m.locked_out_until == pytest.approx(1.2 + base)
    # while locked: every meter-specific token gets Lockout and does not count
    assert m.enter_token(credit(TID0), 1.25).result is R.LOCKOUT
    assert m.enter_token(BAD, 1.26).result is R.LOCKOUT
    assert m.consecutive_rejects == 3
    events = m.advance(1.2 + base)
    assert names(events) == ["LOCKOUT_END"]
    # the count is kept: the next reject locks for twice as long
    t = 1.2 + base + 0.5
    m.enter_token(BAD, t)
    assert m.locked_out_until == pytest.approx(t + 2 * base)
    t += 2 * base + 0.5
    m.enter_token(BAD, t)
    assert m.locked_out_until == pytest.approx(t + 4 * base)
    t += 4 * base + 0.5
    # an accepted token resets the count: two more rejects do not lock
    assert m.enter_token(credit(TID0), t).result is R.ACCEPT
    assert m.consecutive_rejects == 0
    m.enter_token(BAD, t + 0.1)
    m.enter_token(BAD, t + 0.2)
    assert m.locked_out_until is None


def test_lockout_doubles_up_to_the_maximum() -> None:
    m = meter(REALISTIC)
    seen = []
    t = 0.0
    for _ in range(12):
        m.enter_token(BAD, t)
        until = m.locked_out_until
        seen.append(0.0 if until is None else round(until - t, 6))
        t = (until or t) + 1.0
    assert seen == [0, 0, 10, 20, 40, 80, 160, 320, 640, 1280, 1280, 1280]


def test_every_rejection_result_counts() -> None:
    m = meter()
    used = credit(TID0)
    m.enter_token(used, 1.0)
    assert [m.enter_token(d, 1.1 + i / 10).result for i, d in enumerate([used, "123", BAD])] == [
        R.USED,
        R.FORMAT,
        R.CRC,
    ]
    assert m.locked_out_until is not None


def test_class1_test_tokens_work_during_lockout() -> None:
    m = meter()
    for i in range(3):
        m.enter_token(BAD, 1.0 + i / 100)
    test = token(MeterTestToken(TEST_CONTROLS["display"], PAN.mfr_code), None)
    out = m.enter_token(test, 1.1)
    assert out.result is R.ACCEPT
    assert any(e.name == EventName.TEST_STARTED for e in out.events)
    assert m.consecutive_rejects == 3  # class 1 neither counts nor resets


def test_lockout_reset_by_power_cycle() -> None:
    m = meter()
    for i in range(3):
        m.enter_token(BAD, 1.0 + i / 100)
    m.power_off(1.05)
    events = m.power_on(1.06)
    assert names(events) == ["POWER_UP", "LOCKOUT_END"]
    assert m.locked_out_until is None and m.consecutive_rejects == 0
    assert m.enter_token(credit(TID0), 1.07).result is R.ACCEPT


def test_lockout_kept_across_power_cycle_when_profile_says() -> None:
    m = meter(profile(lockout={"reset_by_power_cycle": False}))
    for i in range(3):
        m.enter_token(BAD, 1.0 + i / 100)
    m.power_off(1.05)
    m.power_on(1.06)
    assert m.enter_token(credit(TID0), 1.07).result is R.LOCKOUT


def test_lockout_also_applies_to_keypad_entries() -> None:
    m = meter()
    done = m.profile.processing_s + 0.001  # a keypad entry is judged once processing ends
    for i in range(3):
        m.submit_token(BAD, 1.0 + i / 5)
        m.advance(1.0 + i / 5 + done)
    assert m.locked_out_until is not None
    m.submit_token(credit(TID0), 1.7)
    m.advance(1.7 + done)
    assert m.last_result is not None and m.last_result.result is R.LOCKOUT

"""Power fail and restore: volatile vs non-volatile state, atomic token processing."""

from __future__ import annotations

import pytest

from hil.meter.model import MeterOffError
from hil.sts.tokens import MaxPowerLimitToken
from tests.meter.helpers import (
    TID0,
    R,
    credit,
    info,
    kct,
    key_for,
    meter,
    profile,
    results,
    token,
    type_token,
)


def test_power_fail_before_processing_completes_changes_nothing() -> None:
    m = meter()
    digits = credit(TID0)
    t = type_token(m, digits, 1.0)
    events = m.power_off(t + m.profile.processing_s * 0.9)
    assert events[-1].data == {"token": "keypad", "credit_committed": False}
    m.power_on(t + 1.0)
    assert m.credit_wh == 0 and m.tid_memory == [] and m.last_result is None
    # the same token is accepted afterwards
    assert m.enter_token(digits, t + 2.0).result is R.ACCEPT and m.credit_wh == 10_000


def test_processed_token_applied_exactly_once_across_power_cycle() -> None:
    m = meter()
    digits = credit(TID0)
    m.submit_token(digits, 1.0)
    m.advance(1.0 + m.profile.processing_s)  # decided: committed
    m.power_off(1.1)
    m.power_on(1.2)
    assert m.credit_wh == 10_000 and m.tid_memory == [TID0]
    assert m.enter_token(digits, 2.0).result is R.USED
    assert m.credit_wh == 10_000


def test_power_fail_exactly_at_decision_time_commits_first() -> None:
    # Deadlines that fall due at ``at`` are handled before the call's own action.
    m = meter()
    m.submit_token(credit(TID0), 1.0)
    m.power_off(1.0 + m.profile.processing_s)
    assert m.credit_wh == 10_000 and m.tid_memory == [TID0]


def test_nonvolatile_state_survives_power_cycle() -> None:
    new = info(krn=2, ken=200)
    m = meter(profile(lockout={"reset_by_power_cycle": False}))
    results(m, kct(new))
    results(
        m,
        [
            credit(TID0, key=key_for(new)),
            token(MaxPowerLimitToken(tid=TID0 + 1, watts=3000), key_for(new)),
        ],
        at=2.0,
    )
    m.tamper(3.0)
    bad = credit(TID0 + 5)  # old key: CRC
    results(m, [bad] * 3, at=4.0)
    locked = m.locked_out_until
    before = (m.credit_wh, m.tid_memory, m.key_info, m.power_limit_w, m.tamper_active, locked)
    m.power_off(4.01)
    m.power_on(4.02)
    after = (
        m.credit_wh,
        m.tid_memory,
        m.key_info,
        m.power_limit_w,
        m.tamper_active,
        m.locked_out_until,
    )
    assert locked is not None and after == before
    assert m.consecutive_rejects == 3


def test_volatile_state_lost_on_power_fail() -> None:
    m = meter()
    t = type_token(m, credit(TID0)[:7], 1.0, enter=False)
    events = m.power_off(t + 0.01)
    assert events[-1].data == {"entry_digits": 7}
    m.power_on(2.1)
    assert m.entry == "" and m.advance(100.0) == []  # no entry timeout either


def test_power_up_reports_and_recloses_relay() -> None:
    m = meter(credit_units=5)
    m.power_off(1.0)
    events = m.power_on(2.0)
    assert events[0].name == "POWER_UP" and events[0].data == {"credit_wh": 500}
    assert m.relay_closed and m.powered


def test_enter_token_when_off_raises() -> None:
    m = meter()
    m.power_off(1.0)
    with pytest.raises(MeterOffError):
        m.enter_token(credit(TID0), 2.0)


def test_time_cannot_go_back() -> None:
    m = meter()
    m.advance(5.0)
    with pytest.raises(ValueError, match="cannot go back"):
        m.press_key("1", 4.0)


def test_replay_after_a_power_cycle_is_used_and_registers_are_kept() -> None:
    # NV-RETENTION: the TID memory, credit, key register and power limit are non-volatile
    # (docs/meter-model.md "Power fail and restore"), so a replay after a cycle is Used.
    new = info(krn=2)
    m = meter()
    results(m, kct(new))
    digits = credit(TID0, key=key_for(new))
    limit = token(MaxPowerLimitToken(tid=TID0 + 1, watts=2000), key_for(new))
    assert results(m, [digits, limit], at=2.0) == [R.ACCEPT, R.ACCEPT]
    before = (m.credit_wh, m.tid_memory, m.key_info, m.power_limit_w)
    m.power_off(3.0)
    m.power_on(8.0)
    assert (m.credit_wh, m.tid_memory, m.key_info, m.power_limit_w) == before
    assert m.enter_token(digits, 9.0).result is R.USED and m.credit_wh == 10_000
    m.set_load(2500.0, 9.5)  # the limit still trips after the cycle
    assert not m.relay_closed and m.relay_reason == "power_limit"


def test_defect_forgets_tids_on_power_cycle() -> None:
    m = meter(defects={"forgets_tids_on_power_cycle"})
    digits = credit(TID0)
    assert m.enter_token(digits, 1.0).result is R.ACCEPT
    events = m.power_off(2.0)
    assert events[-1].data == {"tids": 1}
    m.power_on(3.0)
    assert m.tid_memory == [] and m.credit_wh == 10_000  # credit kept, TIDs lost
    assert m.enter_token(digits, 4.0).result is R.ACCEPT and m.credit_wh == 20_000

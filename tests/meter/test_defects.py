"""Each defect breaks exactly its own rule.

One scenario per defect observes that rule. The conforming model gives the expected
observation in every scenario; a model with one defect differs from it in that defect's
scenario (and gives the documented wrong observation) and in no other scenario.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest

from hil.meter.defects import Defect
from hil.meter.model import CLOCK_START
from hil.sts.tokens import TEST_CONTROLS, ClearCreditToken, MeterTestToken, WaterMeterFactorToken
from tests.meter.helpers import (
    INFO,
    PAN,
    TID0,
    R,
    credit,
    info,
    kct,
    key_for,
    leading_zero_credit,
    meter,
    profile,
    results,
    token,
)

D = Defect
NEW = info(krn=2)
BAD = credit(TID0 + 99, key=key_for(info(krn=7)))
Scenario = Callable[[frozenset[Defect]], Any]


def replay(d: frozenset[Defect]) -> Any:
    m = meter(defects=d)
    return results(m, [credit(TID0), credit(TID0)]), m.credit_wh


def key_expiry(d: frozenset[Defect]) -> Any:
    short = info(ken=(TID0 >> 16) - 1)
    return meter(key_info=short, defects=d).enter_token(credit(TID0, key=key_for(short)), 1).result


def memory_depth(d: frozenset[Defect]) -> Any:
    m = meter(defects=d)
    results(m, [credit(TID0 + i) for i in range(6)])
    return [t - TID0 for t in m.tid_memory], m.info()["tid_memory_depth"]


def old_rule(d: frozenset[Defect]) -> Any:
    m = meter(defects=d)
    results(m, [credit(TID0 + 1 + i) for i in range(m.tid_memory_depth)])
    return results(m, [credit(TID0), credit(TID0)], at=2.0), m.tid_memory[0] - TID0


def atomicity(d: frozenset[Defect]) -> Any:
    m = meter(defects=d)
    digits = credit(TID0)
    m.submit_token(digits, 1.0)
    m.advance(1.0 + m.profile.processing_s * 0.75)
    m.power_off(1.0 + m.profile.processing_s * 0.75)
    m.power_on(1.1)
    return m.enter_token(digits, 2.0).result, m.credit_wh


def zero_credit(d: frozenset[Defect]) -> Any:
    m = meter(credit_units=1, defects=d)
    m.set_load(3600.0, 0.0)
    m.advance(200.0)
    return m.relay_closed, m.relay_reason, m.credit_wh


def key_change_order(d: frozenset[Defect]) -> Any:
    s = kct(NEW)
    return results(meter(defects=d), [s[1], s[0], s[3], s[2]])


def power_limit(d: frozenset[Defect]) -> Any:
    m = meter(credit_units=1000, power_limit_w=1000, defects=d)
    m.set_load(1500.0, 1.0)
    return m.relay_closed, m.relay_reason


def lockout(d: frozenset[Defect]) -> Any:
    m = meter(defects=d)
    results(m, [BAD] * 3)
    return m.enter_token(credit(TID0), 1.1).result


def ddtk(d: frozenset[Defect]) -> Any:
    default = info(kt=1)
    m = meter(key_info=default, defects=d)
    return m.enter_token(credit(TID0, key=key_for(default)), 1.0).result, m.credit_wh


def rollover(d: frozenset[Defect]) -> Any:
    old, new = info(base_year=1993), info(base_year=2014, krn=2)
    m = meter(key_info=old, defects=d)
    results(m, [credit(TID0, key=key_for(old)), credit(TID0 + 1, key=key_for(old))])
    results(m, kct(new, key_for(old), rollover=True), at=2.0)
    first = m.enter_token(credit(1000, key=key_for(new)), 3.0).result  # early 2014-base TID
    return [t - TID0 for t in m.tid_memory if t >= TID0], first


def amount(d: frozenset[Defect]) -> Any:
    m = meter(defects=d)
    results(m, [credit(TID0, 256), credit(TID0 + 1, 20_000)])
    return m.credit_wh


def nv_tids(d: frozenset[Defect]) -> Any:
    m = meter(defects=d)
    m.enter_token(credit(TID0), 1.0)
    m.power_off(2.0)
    m.power_on(3.0)
    return [t - TID0 for t in m.tid_memory], m.credit_wh


def short_entry(d: frozenset[Defect]) -> Any:
    _, digits = leading_zero_credit()
    m = meter(defects=d)
    return m.enter_token(digits[1:], 1.0).result, m.credit_wh  # left without its leading 0


def key_type(d: frozenset[Defect]) -> Any:
    m = meter(defects=d)
    return results(m, kct(info(krn=2, kt=3)))[-1], m.key_info.kt


def readback(d: frozenset[Defect]) -> Any:
    m = meter(defects=d)
    new = info(krn=2, ti=7, ken=200)
    results(m, kct(new))
    shown = m.info()
    return shown["ti"], shown["ken"], shown["krn"], m.key_info.ti


def class1_totals(d: frozenset[Defect]) -> Any:
    m = meter(defects=d)
    only = token(MeterTestToken(TEST_CONTROLS["totals"], PAN.mfr_code, False), None)
    return m.enter_token(only, 1.0).result, m.tests_running


def back_key(d: frozenset[Defect]) -> Any:
    m = meter(defects=d)
    digits = credit(TID0)
    wrong = str((int(digits[-1]) + 1) % 10)
    at = 1.0
    for key in [*digits[:-1], wrong, "BACK", digits[-1], "ENTER"]:
        m.press_key(key, at)
        at += 0.01
    m.advance(at + 1.0)
    return m.last_result.result if m.last_result else None, m.credit_wh


def unsupported_management(d: frozenset[Defect]) -> Any:
    m = meter(defects=d)
    out = m.enter_token(token(WaterMeterFactorToken(TID0, 0, 1000)), 1.0)
    return out.result, len(m.tid_memory)


def missing_register(d: frozenset[Defect]) -> Any:
    m = meter(credit_units=100, defects=d)  # electricity only: no water register (1)
    out = m.enter_token(token(ClearCreditToken(tid=TID0, value=1)), 1.0)
    return out.result, m.credit_wh, len(m.tid_memory)


def over_registers(d: frozenset[Defect]) -> Any:
    m = meter(credit_units=10, defects=d)  # 1000 Wh
    m.set_load(1000.0, 0.0)
    m.advance(360.0)  # 100 Wh delivered
    return m.credit_wh


def tamper_through_power_cycle(d: frozenset[Defect]) -> Any:
    m = meter(credit_units=100, defects=d)
    m.tamper(1.0)
    m.power_off(2.0)
    m.power_on(2.5)
    return m.tamper_active, m.relay_reason


def low_credit_warning(d: frozenset[Defect]) -> Any:
    m = meter(profile(low_credit_wh=5_000), credit_units=10, defects=d)  # 1 kWh, under 5 kWh
    below = m.low_credit
    m.enter_token(credit(TID0), 1.0)  # 11 kWh
    return below, m.low_credit


EMERGENCY = profile(emergency_credit_wh=2_000, emergency_below_wh=1_000, emergency_code="99")


def emergency_when(d: frozenset[Defect]) -> Any:
    above = meter(EMERGENCY, credit_wh=5_000, defects=d)
    above.request_emergency(1.0)
    empty = meter(EMERGENCY, defects=d)
    empty.request_emergency(1.0)
    empty.request_emergency(2.0)  # still owed
    return above.credit_wh, empty.credit_wh, empty.emergency_owed_wh


def emergency_repaid(d: frozenset[Defect]) -> Any:
    m = meter(EMERGENCY, defects=d)
    m.request_emergency(1.0)
    out = m.enter_token(credit(TID0), 2.0)  # 10 kWh
    return out.credit_delta_wh, m.credit_wh, m.emergency_owed_wh


DAY0 = CLOCK_START - 10 * 3600  # midnight before the meter clock's start


def friendly_hours(d: frozenset[Defect]) -> Any:
    m = meter(profile(friendly_hours=(17, 8)), credit_units=1, clock_start=DAY0 + 20 * 3600,
              defects=d)  # fmt: skip
    m.set_load(3600.0, 0.0)
    m.advance(200.0)  # credit ran out at 20:01:40
    return m.relay_closed, m.relay_reason, m.credit_wh


def token_log_nv(d: frozenset[Defect]) -> Any:
    m = meter(profile(token_log_depth=5), defects=d)
    m.enter_token(credit(TID0), 1.0)
    m.power_off(2.0)
    m.power_on(2.5)
    return [(e.result, None if e.tid is None else e.tid - TID0) for e in m.token_log]


def power_fail_log(d: frozenset[Defect]) -> Any:
    m = meter(profile(event_log_depth=5), credit_units=10, defects=d)
    m.power_off(1.0)
    m.power_on(2.0)
    return [e.describe() for e in m.event_log]


def trip_latch(d: frozenset[Defect]) -> Any:
    m = meter(profile(trip_retries=3), credit_units=1000, power_limit_w=1000, defects=d)
    retry = m.profile.power_limit_retry_s
    m.set_load(1500.0, 1.0)
    m.advance(1.0 + 3 * retry)  # the third retry trips again
    m.set_load(500.0, 1.0 + 3.5 * retry)
    by_itself = [e.data for e in m.advance(1.0 + 10 * retry) if e.name == "RELAY_CHANGED"]
    m.press_key("0", 1.0 + 10 * retry)
    return by_itself, m.relay_closed


def long_outage(d: frozenset[Defect]) -> Any:
    m = meter(defects=d)
    m.enter_token(credit(TID0), 1.0)
    m.power_off(2.0)
    m.power_on(2.0 + m.profile.long_outage_s)
    return m.credit_wh


def clock_battery(d: frozenset[Defect]) -> Any:
    m = meter(defects=d)
    m.power_off(1.0)
    m.power_on(101.0)
    return m.clock() - CLOCK_START


# defect -> (its scenario, observation of the conforming meter, observation with the defect)
CASES: dict[Defect, tuple[Scenario, Any, Any]] = {
    D.ACCEPTS_REPLAYS: (replay, ([R.ACCEPT, R.USED], 10_000), ([R.ACCEPT, R.ACCEPT], 20_000)),
    D.IGNORES_KEY_EXPIRY: (key_expiry, R.KEY_EXPIRED, R.ACCEPT),
    D.SMALL_TID_MEMORY: (memory_depth, ([0, 1, 2, 3, 4, 5], 50), ([1, 2, 3, 4, 5], 5)),
    D.NO_OLD_RULE: (old_rule, ([R.OLD, R.OLD], 1), ([R.ACCEPT, R.ACCEPT], 1)),
    D.DOUBLE_CREDIT_ON_POWER_FAIL: (atomicity, (R.ACCEPT, 10_000), (R.ACCEPT, 20_000)),
    D.RELAY_STAYS_CLOSED_AT_ZERO: (zero_credit, (False, "credit", 0), (True, "", 0)),
    D.KEY_CHANGE_ONE_ORDER: (
        key_change_order,
        [R.KCT1, R.KCT1, R.KCT1, R.KCT2],
        [R.FORMAT, R.KCT1, R.FORMAT, R.FORMAT],
    ),
    D.IGNORES_POWER_LIMIT: (power_limit, (False, "power_limit"), (True, "")),
    D.NO_LOCKOUT: (lockout, R.LOCKOUT, R.ACCEPT),
    D.ACCEPTS_CREDIT_UNDER_DDTK: (ddtk, (R.DDTK, 0), (R.ACCEPT, 10_000)),
    D.ROLLOVER_KEEPS_TID_MEMORY: (rollover, ([], R.ACCEPT), ([0, 1], R.OLD)),
    D.WRONG_AMOUNT_AT_EXPONENT_BOUNDARY: (amount, 25_600 + 2_000_400, 25_600 + 362_000),
    D.FORGETS_TIDS_ON_POWER_CYCLE: (nv_tids, ([0], 10_000), ([], 10_000)),
    D.ACCEPTS_SHORT_ENTRY: (short_entry, (R.FORMAT, 0), (R.ACCEPT, 10_000)),
    D.ACCEPTS_ILLEGAL_KEY_TYPE: (key_type, (R.KEY_TYPE, 2), (R.KCT2, 3)),
    D.KEY_READBACK_STALE: (readback, ("07", 200, 2, 7), (f"{INFO.ti:02d}", INFO.ken, 2, 7)),
    D.CLASS1_IGNORES_TOTALS: (class1_totals, (R.ACCEPT, ("totals",)), (R.FUNCTION, ())),
    D.BACK_KEY_IGNORED: (back_key, (R.ACCEPT, 10_000), (R.CRC, 0)),
    D.ACCEPTS_UNSUPPORTED_MANAGEMENT: (unsupported_management, (R.FUNCTION, 0), (R.ACCEPT, 1)),
    D.CLEARS_MISSING_REGISTER: (missing_register, (R.RANGE, 10_000, 0), (R.ACCEPT, 10_000, 1)),
    D.OVER_REGISTERS: (over_registers, 900, 890),
    D.TAMPER_CLEARED_BY_POWER_CYCLE: (tamper_through_power_cycle, (True, "tamper"), (False, "")),
    D.NO_LOW_CREDIT_WARNING: (low_credit_warning, (True, False), (False, False)),
    D.EMERGENCY_CREDIT_ANY_TIME: (emergency_when, (5_000, 2_000, 2_000), (7_000, 4_000, 4_000)),
    D.EMERGENCY_CREDIT_NOT_REPAID: (emergency_repaid, (8_000, 10_000, 0), (10_000, 12_000, 2_000)),
    D.DISCONNECTS_IN_FRIENDLY_HOURS: (friendly_hours, (True, "", 0), (False, "credit", 0)),
    D.TOKEN_LOG_VOLATILE: (token_log_nv, [(R.ACCEPT, 0)], []),
    D.NO_POWER_FAIL_LOG: (power_fail_log, ["POWER_FAIL", "POWER_UP"], ["POWER_UP"]),
    D.NO_TRIP_LATCH: (trip_latch, ([], True), ([{"closed": True, "reason": ""}], True)),
    D.FORGETS_CREDIT_IN_LONG_OUTAGE: (long_outage, 10_000, 0),
    D.CLOCK_STOPS_WITHOUT_SUPPLY: (clock_battery, 101.0, 1.0),
}


def _ids(defects: Iterable[Defect]) -> list[str]:
    return [d.value for d in defects]


def test_every_defect_has_a_scenario() -> None:
    assert set(CASES) == set(Defect)


@pytest.mark.parametrize("defect", list(CASES), ids=_ids(CASES))
def test_conforming_model_obeys_the_rule(defect: Defect) -> None:
    scenario, conforming, _ = CASES[defect]
    assert scenario(frozenset()) == conforming


@pytest.mark.parametrize("defect", list(CASES), ids=_ids(CASES))
def test_defect_breaks_exactly_its_rule(defect: Defect) -> None:
    flawed = frozenset({defect})
    for other, (scenario, conforming, broken) in CASES.items():
        seen = scenario(flawed)
        if other is defect:
            assert seen == broken != conforming
        else:
            assert seen == conforming, f"{defect.value} also changes the {other.value} scenario"

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
from hil.sts.tokens import TEST_CONTROLS, MeterTestToken, WaterMeterFactorToken
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

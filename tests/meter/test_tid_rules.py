"""Credit tokens and the TID rules: Accept, Used, Old, memory replacement, KeyExpired, DDTK,
Overflow, and the decode-stage results (CRC, Format, Function, Range)."""

from __future__ import annotations

import pytest

from hil.sts.amount import decode_amount, encode_amount
from hil.sts.tokens import (
    ClearCreditToken,
    MaxPowerLimitToken,
    PhaseUnbalanceLimitToken,
    TariffRateToken,
)
from tests.meter.helpers import (
    TID0,
    R,
    credit,
    info,
    key_for,
    meter,
    profile,
    raw_token,
    results,
    token,
)


def test_credit_token_adds_amount_times_100_wh() -> None:
    m = meter()
    out = m.enter_token(credit(TID0, 256), 1.0)
    assert out.result is R.ACCEPT and out.accepted
    assert out.tid == TID0 and out.token_class == 0 and out.subclass == 0
    assert out.credit_delta_wh == 25_600
    assert m.credit_wh == 25_600 and m.tid_memory == [TID0]
    assert m.last_result is out and m.result_code is R.ACCEPT


def test_amount_is_the_decoded_field_value() -> None:
    # 2000.0 kWh is carried as field 0x416A, which decodes to 20004 units (rounded up).
    m = meter()
    m.enter_token(credit(TID0, 20_000), 1.0)
    assert m.credit_wh == decode_amount(encode_amount(20_000)) * 100 == 2_000_400


def test_replayed_token_is_used() -> None:
    m = meter()
    digits = credit(TID0)
    assert results(m, [digits, digits]) == [R.ACCEPT, R.USED]
    assert m.credit_wh == 10_000
    assert m.last_result is not None and m.last_result.credit_delta_wh == 0


def test_tid_below_oldest_in_full_memory_is_old() -> None:
    m = meter(profile(tid_memory_depth=5))
    assert results(m, [credit(TID0 + i) for i in range(1, 6)]) == [R.ACCEPT] * 5
    assert m.enter_token(credit(TID0), 2.0).result is R.OLD
    assert m.credit_wh == 50_000


def test_tid_below_oldest_in_partial_memory_is_old() -> None:
    m = meter()
    m.enter_token(credit(TID0 + 10), 1.0)
    assert m.enter_token(credit(TID0), 2.0).result is R.OLD


def test_old_only_when_full_profile_accepts_below_oldest_while_not_full() -> None:
    m = meter(profile(old_only_when_full=True, tid_memory_depth=3))
    assert results(m, [credit(TID0 + 10), credit(TID0)]) == [R.ACCEPT, R.ACCEPT]
    m.enter_token(credit(TID0 + 11), 2.0)  # memory now full: [TID0, +10, +11]
    assert m.enter_token(credit(TID0 - 1), 3.0).result is R.OLD


def test_memory_full_drops_smallest_tid() -> None:
    m = meter(profile(tid_memory_depth=3))
    # Entered out of order: the smallest TID is dropped, not the first entered.
    results(m, [credit(TID0 + 5), credit(TID0 + 1), credit(TID0 + 9)])
    assert m.enter_token(credit(TID0 + 7), 2.0).result is R.ACCEPT
    assert m.tid_memory == [TID0 + 5, TID0 + 7, TID0 + 9]
    assert m.enter_token(credit(TID0 + 1), 3.0).result is R.OLD  # dropped, now below oldest


def test_out_of_order_tid_within_window_is_accepted() -> None:
    m = meter()
    got = results(m, [credit(TID0 + 10), credit(TID0 + 20), credit(TID0 + 15)])
    assert got == [R.ACCEPT] * 3
    assert m.tid_memory == [TID0 + 10, TID0 + 15, TID0 + 20]


def test_tid_is_stored_only_when_accepted() -> None:
    m = meter(profile(credit_max_units=150))
    assert results(m, [credit(TID0, 100), credit(TID0 + 1, 100)]) == [R.ACCEPT, R.OVERFLOW]
    assert m.tid_memory == [TID0]


def test_key_expired() -> None:
    ken = (TID0 >> 16) - 1
    m = meter(key_info=info(ken=ken))
    assert m.enter_token(credit(TID0, key=key_for(info(ken=ken))), 1.0).result is R.KEY_EXPIRED
    # the last TID the key covers is still accepted
    last = ((ken + 1) << 16) - 1
    assert m.enter_token(credit(last, key=key_for(info(ken=ken))), 2.0).result is R.ACCEPT


def test_key_expiry_applies_to_management_tokens() -> None:
    ken = (TID0 >> 16) - 1
    key = key_for(info(ken=ken))
    m = meter(key_info=info(ken=ken))
    mpl = token(MaxPowerLimitToken(tid=TID0, watts=1000), key)
    assert m.enter_token(mpl, 1.0).result is R.KEY_EXPIRED


def test_key_expiry_not_checked_when_profile_says_not_implemented() -> None:
    ken = (TID0 >> 16) - 1
    m = meter(profile(key_expiry=False), key_info=info(ken=ken))
    assert m.enter_token(credit(TID0, key=key_for(info(ken=ken))), 1.0).result is R.ACCEPT


def test_credit_under_ddtk_is_refused() -> None:
    ddtk = info(kt=1)
    key = key_for(ddtk)
    m = meter(key_info=ddtk)
    out = m.enter_token(credit(TID0, key=key), 1.0)
    assert out.result is R.DDTK and m.credit_wh == 0 and m.tid_memory == []
    # management tokens are allowed under a DDTK
    assert m.enter_token(token(MaxPowerLimitToken(tid=TID0 + 1, watts=5000), key), 2.0).accepted


def test_overflow_refused() -> None:
    m = meter(profile(credit_max_units=1000))
    assert results(m, [credit(TID0, 600), credit(TID0 + 1, 600)]) == [R.ACCEPT, R.OVERFLOW]
    assert m.credit_wh == 60_000
    assert m.enter_token(credit(TID0 + 2, 400), 2.0).result is R.ACCEPT  # exactly full
    assert m.credit_wh == 100_000


def test_check_order_old_before_used_before_expiry() -> None:
    ken = (TID0 >> 16) - 1
    key = key_for(info(ken=ken))
    m = meter(key_info=info(ken=ken), tid_memory=[TID0 - 5, TID0])
    # TID0 is in memory and past the KEN: Used wins over KeyExpired
    assert m.enter_token(credit(TID0, key=key), 1.0).result is R.USED
    assert m.enter_token(credit(TID0 - 9, key=key), 2.0).result is R.OLD


def test_wrong_key_is_crc() -> None:
    other = key_for(info(krn=2))
    m = meter()
    assert m.enter_token(credit(TID0, key=other), 1.0).result is R.CRC
    assert m.credit_wh == 0 and m.tid_memory == []


def test_mistyped_token_is_crc() -> None:
    digits = credit(TID0)
    typo = digits[:7] + str((int(digits[7]) + 1) % 10) + digits[8:]
    assert meter().enter_token(typo, 1.0).result is R.CRC


@pytest.mark.parametrize("digits", ["1234", "1234567890123456789a", "9" * 20, ""])
def test_malformed_entry_is_format(digits: str) -> None:
    out = meter().enter_token(digits, 1.0)
    assert out.result is R.FORMAT and out.token is None


@pytest.mark.parametrize(
    ("token_class", "subclass"),
    [(0, 4), (0, 7), (0, 8), (0, 15), (2, 10), (2, 15), (3, 0)],
    ids=[
        "currency4",
        "currency7",
        "class0-reserved8",
        "class0-reserved15",
        "class2-reserved10",
        "class2-reserved15",
        "class3",
    ],
)
def test_unsupported_or_reserved_token_is_function(token_class: int, subclass: int) -> None:
    digits = raw_token(token_class, subclass, 5 << 40 | TID0 << 16 | 100)
    assert meter().enter_token(digits, 1.0).result is R.FUNCTION


def test_credit_kind_not_supported_is_function() -> None:
    m = meter()
    assert m.enter_token(credit(TID0, kind=1), 1.0).result is R.FUNCTION
    assert m.tid_memory == []


def test_other_credit_kind_has_its_own_register_when_supported() -> None:
    m = meter(profile(credit_kinds=(0, 1)))
    assert m.enter_token(credit(TID0, 30, kind=1), 1.0).result is R.ACCEPT
    assert m.credit_units(1) == 30 and m.credit_wh == 0
    assert m.enter_token(credit(TID0 + 1, 30, kind=1), 2.0).accepted  # shares the TID memory
    assert m.enter_token(credit(TID0, 30, kind=0), 3.0).result is R.USED


def test_management_function_not_supported_is_function() -> None:
    m = meter()
    assert m.enter_token(token(TariffRateToken(tid=TID0, value=5)), 1.0).result is R.FUNCTION
    assert m.tid_memory == []


def test_supported_settings_are_stored() -> None:
    m = meter(profile(management_subclasses=(0, 1, 2, 5, 6)))
    assert m.enter_token(token(TariffRateToken(tid=TID0, value=5)), 1.0).accepted
    assert m.enter_token(token(PhaseUnbalanceLimitToken(tid=TID0 + 1, watts=900)), 2.0).accepted
    assert m.settings == {"tariff_rate": 5, "phase_unbalance_limit_w": 900}


@pytest.mark.parametrize("register", [1, 2, 3, 0x1234, 0xFFFE])
def test_clear_credit_register_not_on_meter_is_range(register: int) -> None:
    m = meter(credit_units=10)
    out = m.enter_token(token(ClearCreditToken(tid=TID0, value=register)), 1.0)
    assert out.result is R.RANGE and m.credit_wh == 1000 and m.tid_memory == []


@pytest.mark.parametrize("register", [0, 0xFFFF])
def test_clear_credit_clears_the_register(register: int) -> None:
    m = meter(credit_units=10)
    out = m.enter_token(token(ClearCreditToken(tid=TID0, value=register)), 1.0)
    assert out.result is R.ACCEPT and out.credit_delta_wh == -1000 and m.credit_wh == 0
    assert not m.relay_closed and m.relay_reason == "credit"


def test_initial_tid_memory_is_trimmed_to_depth() -> None:
    m = meter(profile(tid_memory_depth=3), tid_memory=[5, 1, 4, 3, 2])
    assert m.tid_memory == [3, 4, 5]

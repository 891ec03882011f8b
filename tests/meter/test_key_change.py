"""Key change token sets (sts-notes 10; bench-notes 4.5 rollover regression cases)."""

from __future__ import annotations

import itertools

import pytest

from hil.meter.events import EventName, names
from hil.sts.dkga import derive_decoder_key
from hil.sts.keys import DecoderKey
from hil.sts.tid import tid_from_datetime
from tests.meter.helpers import (
    INFO,
    KEY,
    PAN,
    TID0,
    VK02,
    R,
    credit,
    info,
    kct,
    key_for,
    meter,
    profile,
    results,
)

NEW = info(krn=2, ken=200)  # same base date, new key revision


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))), ids=str)
def test_key_change_sections_in_either_order(order: tuple[int, ...]) -> None:
    sections = kct(NEW)
    m = meter()
    got = results(m, [sections[i] for i in order])
    assert got == [R.KCT1, R.KCT1, R.KCT1, R.KCT2]
    assert m.key_info == NEW
    assert m.enter_token(credit(TID0, key=key_for(NEW)), 2.0).result is R.ACCEPT


def test_key_change_applied_only_when_complete() -> None:
    sections = kct(NEW)
    m = meter()
    assert results(m, sections[:3]) == [R.KCT1] * 3
    assert m.key_info == INFO and m.kct_pending == [3, 4, 8]
    # still the old key: old-key credit accepted, new-key credit fails its CRC
    assert m.enter_token(credit(TID0, key=key_for(NEW)), 1.1).result is R.CRC
    assert m.enter_token(credit(TID0), 1.2).result is R.ACCEPT
    assert m.enter_token(sections[3], 1.3).result is R.KCT2
    assert m.kct_pending == []
    assert m.enter_token(credit(TID0 + 1), 1.4).result is R.CRC  # old key gone


def test_kct_pending_event_names_held_and_missing_sections() -> None:
    m = meter()
    out = m.enter_token(kct(NEW)[1], 1.0)
    pending = [e for e in out.events if e.name == EventName.KCT_PENDING]
    assert pending[0].data == {"have": [4], "missing": [3, 8, 9]}


def test_repeated_section_replaces_the_held_copy() -> None:
    sections = kct(NEW)
    m = meter()
    assert results(m, [sections[0], sections[0], sections[1], sections[2], sections[3]]) == [
        R.KCT1,
        R.KCT1,
        R.KCT1,
        R.KCT1,
        R.KCT2,
    ]


def test_partial_key_change_times_out() -> None:
    sections = kct(NEW)
    m = meter()
    m.enter_token(sections[0], 1.0)
    m.enter_token(sections[1], 1.5)  # the timeout runs from the first section
    events = m.advance(1.0 + m.profile.kct_timeout_s)
    assert names(events) == ["KCT_TIMEOUT"] and events[0].data == {"sections": [3, 4]}
    assert events[0].at == 1.0 + m.profile.kct_timeout_s
    assert m.kct_pending == []
    assert results(m, sections[2:], at=2.0 + m.profile.kct_timeout_s) == [R.KCT1, R.KCT1]
    assert m.key_info == INFO


def test_partial_key_change_lost_on_power_cycle() -> None:
    sections = kct(NEW)
    m = meter()
    assert results(m, sections[:2]) == [R.KCT1, R.KCT1]
    fail = m.power_off(1.1)
    assert fail[-1].data["kct_sections"] == [3, 4]
    m.power_on(1.2)
    assert m.kct_pending == []
    assert results(m, sections[2:], at=2.0) == [R.KCT1, R.KCT1]
    assert m.key_info == INFO


def test_partial_key_change_kept_across_power_cycle_when_profile_says() -> None:
    sections = kct(NEW)
    m = meter(profile(kct_lost_on_power_cycle=False))
    results(m, sections[:2])
    m.power_off(1.1)
    m.power_on(1.2)
    assert results(m, sections[2:], at=2.0) == [R.KCT1, R.KCT2]


def test_64_bit_key_change_needs_two_sections_and_resets_sgc() -> None:
    old = info(ea=7, dkga=2, sgc=123456)
    new = info(ea=7, dkga=2, sgc=123456, krn=2)
    old_key = DecoderKey(derive_decoder_key(VK02, PAN, old), 7)
    m = meter(key_info=old)
    sections = kct(new, old_key)
    assert len(sections) == 2
    assert results(m, sections[::-1]) == [R.KCT1, R.KCT2]
    # a 2-section change carries no SGC: the readable SGC becomes 0 (bench-notes 4.5)
    assert m.key_info.sgc == 0 and m.key_info.krn == 2 and m.key_info.ea == 7
    new_key = DecoderKey(derive_decoder_key(VK02, PAN, new), 7)
    assert m.enter_token(credit(TID0, key=new_key), 2.0).result is R.ACCEPT


def test_128_bit_sections_on_a_64_bit_meter_are_function() -> None:
    old = info(ea=7, dkga=2, sgc=123456)
    old_key = DecoderKey(derive_decoder_key(VK02, PAN, old), 7)
    m = meter(key_info=old)
    section3 = kct(NEW, old_key)  # a 128-bit set encrypted under the 64-bit key
    assert m.enter_token(section3[2], 1.0).result is R.FUNCTION


def test_rollover_clears_tid_memory_and_moves_base_date() -> None:
    old = info(base_year=1993)
    new = info(base_year=2014, krn=2)
    m = meter(key_info=old, credit_units=50)
    old_key = key_for(old)
    results(m, [credit(TID0, key=old_key), credit(TID0 + 1, key=old_key)])
    assert m.tid_memory == [TID0, TID0 + 1]
    credit_before = m.credit_wh
    assert results(m, kct(new, old_key, rollover=True), at=2.0) == [R.KCT1] * 3 + [R.KCT2]
    assert m.tid_memory == []
    assert m.key_info.base_year == 2014 and m.key_info.krn == 2
    assert m.credit_wh == credit_before  # credit kept
    assert m.info()["base_date"] == 2014


def test_rollover_from_2014_moves_to_2035() -> None:
    on_2014 = info(base_year=2014)
    m = meter(key_info=on_2014)
    got = results(m, kct(info(base_year=2035, krn=3), key_for(on_2014), rollover=True))
    assert got[-1] is R.KCT2
    assert m.key_info.base_year == 2035


def test_rollover_past_the_last_base_date_is_range() -> None:
    last = info(base_year=2035)
    m = meter(key_info=last)
    got = results(m, kct(info(base_year=2035, krn=2), key_for(last), rollover=True))
    assert got == [R.KCT1] * 3 + [R.RANGE]
    assert m.key_info == last and m.kct_pending == []


def test_new_base_date_credit_refused_before_key_change_accepted_after() -> None:
    from datetime import UTC, datetime

    old = info(base_year=1993)
    new = info(base_year=2014, krn=2)
    m = meter(key_info=old)
    old_key, new_key = key_for(old), key_for(new)
    # a 1993-base token issued just before the rollover, entered before the key change
    late_1993 = tid_from_datetime(datetime(2024, 11, 20, tzinfo=UTC), 1993)
    assert m.enter_token(credit(late_1993, key=old_key), 1.0).result is R.ACCEPT
    now_2014 = tid_from_datetime(datetime(2025, 1, 10, tzinfo=UTC), 2014)
    fresh = credit(now_2014, key=new_key)
    assert m.enter_token(fresh, 2.0).result is R.CRC  # before the KCTs
    results(m, kct(new, old_key, rollover=True), at=3.0)
    assert m.enter_token(fresh, 4.0).result is R.ACCEPT  # after them
    assert m.enter_token(fresh, 5.0).result is R.USED  # and a replay is Used
    # old-base tokens: old key -> CRC
    assert m.enter_token(credit(late_1993 + 1, key=old_key), 6.0).result is R.CRC


def test_key_change_to_dctk_is_key_type() -> None:
    m = meter()
    got = results(m, kct(NEW, kt=3))
    assert got == [R.KCT1] * 3 + [R.KEY_TYPE]
    assert m.key_info == INFO and m.kct_pending == []


def test_other_key_type_changes_are_allowed() -> None:
    ddtk = info(kt=1, krn=2)
    m = meter()
    assert results(m, kct(ddtk))[-1] is R.KCT2
    assert m.key_info.kt == 1
    # now under a default key: credit refused
    assert m.enter_token(credit(TID0, key=key_for(ddtk)), 2.0).result is R.DDTK


@pytest.mark.parametrize(("field", "value"), [("krn", 0), ("krn", 12), ("ti", 100)])
def test_key_change_with_out_of_range_field_is_range(field: str, value: int) -> None:
    m = meter()
    assert results(m, kct(NEW, **{field: value}))[-1] is R.RANGE
    assert m.key_info == INFO


def test_expired_key_can_still_load_a_new_key() -> None:
    expired = info(ken=0)
    m = meter(key_info=expired)
    old_key = key_for(expired)
    assert m.enter_token(credit(TID0, key=old_key), 1.0).result is R.KEY_EXPIRED
    assert results(m, kct(NEW, old_key), at=2.0)[-1] is R.KCT2
    assert m.key_info.ken == 200


def test_key_change_updates_ken_only_with_key_expiry() -> None:
    m = meter(profile(key_expiry=False))
    results(m, kct(NEW))
    assert m.key_info.ken == INFO.ken and m.key_info.krn == 2


def test_same_key_can_be_reinstalled() -> None:
    m = meter()
    assert results(m, kct(INFO))[-1] is R.KCT2
    assert m.key_info == INFO
    assert m.enter_token(credit(TID0, key=KEY), 2.0).result is R.ACCEPT


def test_key_change_sequence_does_not_trip_lockout() -> None:
    m = meter()
    bad = credit(TID0, key=key_for(info(krn=9)))
    results(m, [bad, bad])  # two rejects: one short of the lockout
    results(m, kct(NEW), at=2.0)
    assert m.consecutive_rejects == 0 and m.locked_out_until is None


def test_dctk_refused_when_section_1_comes_last() -> None:
    # KT is carried by section 1 only: entered last, it completes the set and is refused
    # there (sts-notes 10: a keypad meter refuses a DCTK, Key type).
    dctk = info(krn=2, kt=3)
    m = meter()
    got = results(m, list(reversed(kct(dctk))))
    assert got == [R.KCT1] * 3 + [R.KEY_TYPE]
    assert m.key_info == INFO and m.kct_pending == []
    assert m.enter_token(credit(TID0), 2.0).result is R.ACCEPT  # the old key is in force
    assert m.enter_token(credit(TID0 + 1, key=key_for(dctk)), 2.1).result is R.CRC


def test_defect_accepts_illegal_key_type() -> None:
    dctk = info(krn=2, kt=3)
    m = meter(defects={"accepts_illegal_key_type"})
    assert results(m, kct(dctk))[-1] is R.KCT2
    assert m.key_info.kt == 3
    assert m.enter_token(credit(TID0, key=key_for(dctk)), 2.0).result is R.ACCEPT

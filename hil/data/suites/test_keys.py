"""Key register: key change sets, key expiry, DDTK, TID rollover."""

import dataclasses
import time

import pytest

from hil.conformance.steps import check_state, inject


def _change(rig, tokens, oracle, evidence, new, order=None, rollover=False):
    # Sections go by the virtual carrier where there is one: the set's rules do not depend
    # on the entry path, which every single-token test already covers.
    via = "virtual_carrier" if rig.has("virtual_carrier") else None
    for case in tokens.key_change(new, order=order, rollover=rollover):
        inject(rig, oracle, evidence, case, via=via)


def _orders(sections: int) -> list[tuple[int, ...]]:
    forward = tuple(range(1, sections + 1))
    return [forward, tuple(reversed(forward))]


@pytest.mark.clause("KCT-SET")
@pytest.mark.parametrize("backwards", [False, True], ids=["in-order", "reverse-order"])
def test_key_change_in_either_order(rig, tokens, oracle, evidence, backwards):
    new = dataclasses.replace(tokens.info, krn=tokens.info.krn % 9 + 1)
    sections = 4 if tokens.info.key_bits == 128 else 2
    order = _orders(sections)[backwards]
    _change(rig, tokens, oracle, evidence, new, order=order)
    assert int(rig.info(refresh=True)["krn"]) == new.krn
    fresh = tokens.with_key(new)
    inject(rig, oracle, evidence, fresh.credit(20))  # new key works
    inject(rig, oracle, evidence, tokens.credit(20))  # old key does not
    check_state(rig, oracle, evidence)


@pytest.mark.clause("KCT-SET")
def test_key_change_applies_only_when_complete(rig, tokens, oracle, evidence, bulk):
    new = dataclasses.replace(tokens.info, krn=tokens.info.krn % 9 + 1)
    cases = tokens.key_change(new)
    for case in cases[:-1]:
        inject(rig, oracle, evidence, case, via=bulk)
    inject(rig, oracle, evidence, tokens.credit(20))  # still the old key
    inject(rig, oracle, evidence, cases[-1], via=bulk)
    inject(rig, oracle, evidence, tokens.with_key(new).credit(20))
    check_state(rig, oracle, evidence)


@pytest.mark.clause("KCT-TIMEOUT")
def test_partial_key_change_times_out(rig, tokens, oracle, evidence, bulk):
    new = dataclasses.replace(tokens.info, krn=tokens.info.krn % 9 + 1)
    cases = tokens.key_change(new)
    inject(rig, oracle, evidence, cases[0], via=bulk)
    wait = rig.profile.kct_timeout_s * 1.2
    evidence.note(f"waiting {wait:g} s (meter time) for the key change window to close")
    with rig.accelerate(max(1.0, rig.profile.kct_timeout_s / 2)):
        time.sleep(wait / rig.speed)
    for case in cases[1:]:  # the first section was forgotten: the set is incomplete again
        inject(rig, oracle, evidence, case, via=bulk)
    inject(rig, oracle, evidence, tokens.credit(20))  # old key still in force
    check_state(rig, oracle, evidence)


@pytest.mark.clause("KCT-POWER")
@pytest.mark.requires("power_control")
def test_partial_key_change_lost_on_power_cycle(rig, tokens, oracle, evidence, bulk):
    new = dataclasses.replace(tokens.info, krn=tokens.info.krn % 9 + 1)
    cases = tokens.key_change(new)
    inject(rig, oracle, evidence, cases[0], via=bulk)
    rig.power_cycle()
    oracle.power_cycle()
    for case in cases[1:]:
        inject(rig, oracle, evidence, case, via=bulk)
    inject(rig, oracle, evidence, tokens.credit(20))
    check_state(rig, oracle, evidence)


@pytest.mark.clause("KEY-EXPIRY")
def test_token_past_key_expiry_is_refused(rig, tokens, oracle, evidence):
    tid_now = tokens.cursor
    ken = (tid_now >> 16) - 1  # the new key expired one TID epoch ago
    new = dataclasses.replace(tokens.info, krn=tokens.info.krn % 9 + 1, ken=ken)
    _change(rig, tokens, oracle, evidence, new)
    fresh = tokens.with_key(new)
    inject(rig, oracle, evidence, fresh.credit(20))  # TID past KEN: KeyExpired
    inject(rig, oracle, evidence, fresh.credit(20, tid=(ken << 16) + 5))  # within KEN: Accept
    check_state(rig, oracle, evidence)


@pytest.mark.clause("KEY-DDTK")
def test_credit_under_default_key_is_refused(rig, tokens, oracle, evidence):
    new = dataclasses.replace(tokens.info, krn=tokens.info.krn % 9 + 1, kt=1)
    _change(rig, tokens, oracle, evidence, new)
    ddtk = tokens.with_key(new)
    inject(rig, oracle, evidence, ddtk.credit(20))  # DDTK
    inject(rig, oracle, evidence, ddtk.power_limit(5000))  # management still accepted
    check_state(rig, oracle, evidence)


NEXT_BASE = {1993: 2014, 2014: 2035}


@pytest.mark.clause("TID-ROLLOVER", "KCT-SET", "TID-USED")
@pytest.mark.parametrize("backwards", [False, True], ids=["in-order", "reverse-order"])
def test_tid_rollover_key_change(rig, tokens, oracle, evidence, backwards, bulk):
    """The regression cases of the 2024 rollover campaign (bench-notes 4.5)."""
    base = tokens.info.base_year
    if base not in NEXT_BASE:
        pytest.skip(f"meter is on base date {base}: no later base date to roll over to")
    old_credit = tokens.credit(50)
    inject(rig, oracle, evidence, old_credit, via=bulk)
    inject(rig, oracle, evidence, tokens.credit(50), via=bulk)
    new = dataclasses.replace(tokens.info, krn=tokens.info.krn % 9 + 1, base_year=NEXT_BASE[base])
    after = tokens.with_key(new, tid_start=1000)  # TIDs count from the new base date
    early = after.credit(30)
    inject(rig, oracle, evidence, early)  # refused before the key change
    order = _orders(4 if tokens.info.key_bits == 128 else 2)[backwards]
    _change(rig, tokens, oracle, evidence, new, order=order, rollover=True)
    info = rig.info(refresh=True)
    assert int(info["base_date"]) == new.base_year, info
    check_state(rig, oracle, evidence, "after rollover (credit kept, TID memory empty)")
    inject(rig, oracle, evidence, old_credit)  # a pre-rollover token stays refused
    inject(rig, oracle, evidence, early)  # now accepted...
    inject(rig, oracle, evidence, early)  # ...once
    check_state(rig, oracle, evidence)

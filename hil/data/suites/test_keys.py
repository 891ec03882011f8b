"""Key register: key change sets, key expiry, DDTK, TID rollover."""

import pytest


def _via(session):
    # Sections go by the virtual carrier where there is one: the set's rules do not depend
    # on the entry path, which every single-token test already covers.
    return "virtual_carrier" if session.rig.has("virtual_carrier") else None


def _orders(sections: int) -> list[tuple[int, ...]]:
    forward = tuple(range(1, sections + 1))
    return [forward, tuple(reversed(forward))]


def _sections(session) -> int:
    return 4 if session.tokens.info.key_bits == 128 else 2


@pytest.mark.clause("KCT-SET")
@pytest.mark.parametrize("backwards", [False, True], ids=["in-order", "reverse-order"])
def test_key_change_in_either_order(session, backwards):
    old = session.tokens
    new = session.next_key()
    fresh = session.change_key(new, order=_orders(_sections(session))[backwards],
                               via=_via(session))  # fmt: skip
    krn = int(session.rig.info(refresh=True)["krn"])
    session.check(None, "key revision in INFO after the set", expected=new.krn, observed=krn,
                  ok=krn == new.krn)  # fmt: skip
    session.inject(fresh.credit(20))  # new key works
    session.inject(old.credit(20))  # old key does not
    session.check_state()


@pytest.mark.clause("KCT-SET")
def test_key_change_applies_only_when_complete(session, bulk):
    new = session.next_key()
    cases = session.keys.key_change(new)
    for case in cases[:-1]:
        session.inject(case, via=bulk)
    session.inject(session.tokens.credit(20))  # still the old key
    session.inject(cases[-1], via=bulk)
    session.inject(session.tokens.credit(20))  # now the new one
    session.check_state()


@pytest.mark.clause("KCT-TIMEOUT")
def test_partial_key_change_times_out(session, bulk):
    new = session.next_key()
    cases = session.keys.key_change(new)
    session.inject(cases[0], via=bulk)
    session.let_time_pass(session.rig.profile.kct_timeout_s * 1.2)
    for case in cases[1:]:  # the first section was forgotten: the set is incomplete again
        session.inject(case, via=bulk)
    session.inject(session.tokens.credit(20))  # old key still in force
    session.check_state()


@pytest.mark.clause("KCT-POWER")
@pytest.mark.requires("power_control")
def test_partial_key_change_lost_on_power_cycle(session, bulk):
    new = session.next_key()
    cases = session.keys.key_change(new)
    session.inject(cases[0], via=bulk)
    session.power_cycle()
    for case in cases[1:]:
        session.inject(case, via=bulk)
    session.inject(session.tokens.credit(20))
    session.check_state()


@pytest.mark.clause("KEY-EXPIRY")
def test_token_past_key_expiry_is_refused(session):
    ken = (session.tokens.cursor >> 16) - 1  # the new key expired one TID epoch ago
    fresh = session.change_key(session.next_key(ken=ken), via=_via(session))
    session.inject(fresh.credit(20))  # TID past KEN: KeyExpired
    session.inject(fresh.credit(20, tid=(ken << 16) + 5))  # within KEN: Accept
    session.check_state()


@pytest.mark.clause("KEY-DDTK")
def test_credit_under_default_key_is_refused(session):
    ddtk = session.change_key(session.next_key(kt=1), via=_via(session))
    session.inject(ddtk.credit(20))  # DDTK
    session.inject(ddtk.power_limit(5000))  # management still accepted
    session.check_state()


NEXT_BASE = {1993: 2014, 2014: 2035}


@pytest.mark.clause("TID-ROLLOVER", "KCT-SET", "TID-USED")
@pytest.mark.parametrize("backwards", [False, True], ids=["in-order", "reverse-order"])
def test_tid_rollover_key_change(session, backwards, bulk):
    """The regression cases of the 2024 rollover campaign (bench-notes 4.5)."""
    tokens = session.tokens
    base = tokens.info.base_year
    if base not in NEXT_BASE:
        pytest.skip(f"meter is on base date {base}: no later base date to roll over to")
    old_credit = tokens.credit(50)
    session.inject(old_credit, via=bulk)
    session.inject(tokens.credit(50), via=bulk)
    new = session.next_key(base_year=NEXT_BASE[base])
    early = tokens.with_key(new, tid_start=1000).credit(30)  # TIDs count from the new base
    session.inject(early, requirement="TID-ROLLOVER")  # refused before the key change
    session.change_key(new, order=_orders(_sections(session))[backwards], rollover=True,
                       via=_via(session))  # fmt: skip
    shown = int(session.rig.info(refresh=True)["base_date"])
    session.check("TID-ROLLOVER", "base date in INFO after the rollover",
                  expected=new.base_year, observed=shown, ok=shown == new.base_year)  # fmt: skip
    session.check_state("after rollover (credit kept, TID memory empty)", "TID-ROLLOVER")
    session.inject(old_credit, requirement="TID-ROLLOVER")  # a pre-rollover token stays refused
    session.inject(early, requirement="TID-ROLLOVER")  # now accepted...
    session.inject(early)  # ...once
    session.check_state(requirement="TID-ROLLOVER")

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
@pytest.mark.cost(key_changes=1, tokens=2)
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
@pytest.mark.cost(key_changes=1, tokens=2)
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
@pytest.mark.cost(key_changes=1, kct_timeouts=1.2, tokens=1)
@pytest.mark.long
def test_partial_key_change_times_out(session, bulk):
    new = session.next_key()
    cases = session.keys.key_change(new)
    session.inject(cases[0], via=bulk)
    session.let_time_pass(session.rig.profile.kct_timeout_s * 1.2)
    for case in cases[1:]:  # the first section was forgotten: the set is incomplete again
        session.inject(case, via=bulk, if_refused="KCT-SET")
    session.inject(session.tokens.credit(20))  # old key still in force
    session.check_state()


@pytest.mark.clause("KCT-POWER")
@pytest.mark.requires("power_control")
@pytest.mark.cost(key_changes=1, power_cycles=1, tokens=1)
def test_partial_key_change_lost_on_power_cycle(session, bulk):
    new = session.next_key()
    cases = session.keys.key_change(new)
    session.inject(cases[0], via=bulk)
    session.power_cycle()
    for case in cases[1:]:
        session.inject(case, via=bulk, if_refused="KCT-SET")
    session.inject(session.tokens.credit(20))
    session.check_state()


@pytest.mark.clause("KEY-EXPIRY")
@pytest.mark.cost(key_changes=1, tokens=2)
def test_token_past_key_expiry_is_refused(session):
    ken = (session.tokens.cursor >> 16) - 1  # the new key expired one TID epoch ago
    fresh = session.change_key(session.next_key(ken=ken), via=_via(session))
    session.inject(fresh.credit(20))  # TID past KEN: KeyExpired
    session.inject(fresh.credit(20, tid=(ken << 16) + 5))  # within KEN: Accept
    session.check_state()


@pytest.mark.clause("KEY-DDTK")
@pytest.mark.cost(key_changes=1, tokens=2)
def test_credit_under_default_key_is_refused(session):
    ddtk = session.change_key(session.next_key(kt=1), via=_via(session))
    session.inject(ddtk.credit(20))  # DDTK
    session.inject(ddtk.power_limit(5000))  # management still accepted
    session.check_state()


NEXT_BASE = {1993: 2014, 2014: 2035}


@pytest.mark.clause("TID-ROLLOVER", "KCT-SET", "TID-USED")
@pytest.mark.cost(bulk=2, key_changes=1, tokens=4)
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


@pytest.mark.clause("KEY-TYPE", "KCT-SET")
@pytest.mark.cost(tokens=3, key_changes=1)
def test_key_change_to_a_dctk_is_refused(session, check_key_register):
    """A DCTK (KT 3) is for magnetic-card meters; a keypad meter refuses a key change to one
    (sts-notes 10, §6.5.2.3.5): Key type (result 5), the key register unchanged and the old
    key in force. Section 1 carries the new KT, so it goes last: whether the meter judges the
    KT when section 1 arrives or when the set is complete, that last section is refused."""
    old = session.tokens
    session.inject(old.credit(20))
    dctk = session.next_key(kt=3)
    session.change_key(dctk, order=_orders(_sections(session))[1], via=_via(session))
    check_key_register("after the refused key change", "KEY-TYPE")
    session.inject(old.credit(20), requirement="KEY-TYPE")  # the old key still works
    session.inject(old.with_key(dctk).credit(20), requirement="KEY-TYPE")  # never installed: CRC
    session.check_state(requirement="KEY-TYPE")


@pytest.mark.clause("KEY-READBACK")
@pytest.mark.cost(key_changes=2, bulk=4, tokens=1)
def test_key_register_reads_back_after_each_change(session, check_key_register, bulk):
    """INFO's key register after each key change holds the set's values (sts-notes 10: KRN,
    KT, TI and KEN replaced together; a 128-bit set also carries the SGC), and neither a
    partial set nor a section under a key the meter no longer holds changes it. KT stays
    the meter's own: the key-type change rules (§6.5.2.4) are not public, and the one
    refused change is KEY-TYPE's test. KEN stays at or above the TIDs issued next."""
    check_key_register("at the start", "KEY-READBACK")
    original = session.tokens  # the key the meter holds now, superseded below
    info = original.info
    epoch = session.keys.cursor >> 16  # the top byte of the TIDs the next tokens carry
    sgc = (info.sgc + 1) % 1_000_000 if info.key_bits == 128 else info.sgc
    first = session.next_key(ti=(info.ti + 1) % 100, sgc=sgc,
                             ken=254 if info.ken != 254 and epoch < 254 else 255)  # fmt: skip
    fresh = session.change_key(first, via=_via(session))  # its sections judge KCT-SET
    check_key_register("after the first key change", "KEY-READBACK")
    session.inject(fresh.credit(20))  # the new key is in force
    second = session.next_key(ti=info.ti, ken=255)
    session.change_key(second, order=_orders(_sections(session))[1], via=_via(session))
    check_key_register("after the second key change", "KEY-READBACK")
    # A set entered in part: the register keeps the second set's values.
    partial = session.keys.key_change(session.next_key(ti=(info.ti + 2) % 100))
    for case in partial[:-1]:
        session.inject(case, via=bulk)
    check_key_register("after a partial key change set", "KEY-READBACK")
    # A section made under the key of two changes ago: CRC, and nothing changes.
    stale = original.key_change(session.next_key(ti=(info.ti + 3) % 100))[0]
    session.inject(stale, via=bulk, requirement="KEY-READBACK")
    check_key_register("after a section under a superseded key", "KEY-READBACK")
    session.check_state(requirement="KEY-READBACK")

"""Supply control and power failures: relay at zero credit, new credit, atomic tokens, what a
power cycle must keep, lockout.

Waits come from physics and what the rig declares (capabilities.load_max_w): credit runs
out after energy / power; nothing here relies on a simulator's clock.
"""

import pytest

from hil.conformance.session import TIMING_MARGIN_S
from hil.errors import DeviceError


@pytest.mark.clause("RELAY-ZERO-CREDIT", "RELAY-NEW-CREDIT")
@pytest.mark.requires("load_control")
@pytest.mark.cost(tokens=2, credit_out_kwh=0.1)
@pytest.mark.long
def test_relay_opens_at_zero_credit_and_closes_on_new_credit(session):
    session.inject(session.tokens.credit(1))  # 0.1 kWh: the smallest amount, the shortest wait
    session.run_credit_out(requirement="RELAY-ZERO-CREDIT")
    session.check_state("credit used up under load", "RELAY-ZERO-CREDIT")
    if session.rig.has("relay_sensing"):
        session.sense_relay(False, "RELAY-ZERO-CREDIT")
    session.set_load(0)
    session.inject(session.tokens.credit(10), requirement="RELAY-NEW-CREDIT")
    if session.rig.has("relay_sensing"):
        session.sense_relay(True, "RELAY-NEW-CREDIT")


@pytest.mark.clause("POWER-ENTRY")
@pytest.mark.requires("power_control", "keypad")
@pytest.mark.cost(keys=12, power_cycles=1, tokens=1)
def test_power_failure_during_entry_changes_nothing(session):
    case = session.tokens.credit(100)
    session.rig.keypad.type_keys(case.digits[:12])
    session.power_cycle()
    session.check_state("after the interrupted entry")
    session.inject(case)  # the whole token is accepted once afterwards
    session.check_state()


# Where in its processing a meter commits credit and TID is its own business, so the cut
# sweeps the processing time: early, half-way and late, each on a fresh token.
CUT_POINTS = (0.25, 0.5, 0.75)


@pytest.mark.clause("POWER-ATOMIC", "TID-USED")
@pytest.mark.requires("power_control", "keypad")
@pytest.mark.cost(tokens=2 * len(CUT_POINTS), power_cycles=len(CUT_POINTS))
@pytest.mark.long
def test_token_interrupted_by_power_failure_is_applied_at_most_once(session):
    """The supply is cut through the AC source at points through the meter's processing time
    after ENTER (docs/conformance.md): each token must then count in full or not at all, and
    entering it again must leave it counted exactly once."""
    rig, oracle = session.rig, session.oracle
    window_s = rig.profile.processing_s / rig.speed
    jitter_s = rig.config.capabilities.supply_cut_jitter_s
    if window_s < 4 * jitter_s:
        pytest.skip(
            f"the meter processes a token in {window_s * 1000:g} ms, too short to aim "
            f"a supply cut at (this rig's AC source: ±{jitter_s * 1000:g} ms); a "
            "triggered AC source (capabilities.supply_cut_jitter_s) makes it possible"
        )
    inside = 0
    for fraction in CUT_POINTS:
        case = session.tokens.credit(100)
        before = rig.read_credit()
        cut = rig.cut_power_during_processing(case.digits, fraction)
        inside += cut < window_s
        applied = rig.read_credit() - before
        session.note(f"supply cut {cut * 1000:.1f} ms after ENTER (processing "
                     f"{window_s * 1000:g} ms); credit then {applied:+.3f} kWh")  # fmt: skip
        whole = session.credit.change_ok(10.0, applied)
        nothing = session.credit.change_ok(0.0, applied)
        session.check("POWER-ATOMIC", f"credit after a cut {fraction:.0%} into processing (kWh)",
                      expected="+0.000 or +10.000", observed=f"{applied:+.3f}",
                      ok=whole or nothing, tolerance=session.credit.describe())  # fmt: skip
        if whole:  # applied before the failure: the re-entry below must be Used
            oracle.expect(case.digits)
        oracle.power_cycle()
        # Accepted again after it was applied: the credit and its TID were not stored together.
        session.inject(case, requirement="POWER-ATOMIC")
        total = rig.read_credit() - before
        session.check("POWER-ATOMIC", "credit after entering the token again (kWh)",
                      expected="+10.000", observed=f"{total:+.3f}",
                      ok=session.credit.change_ok(10.0, total),
                      tolerance=session.credit.describe())  # fmt: skip
        # The cut token was judged above; a TID memory emptied by the power cycle is the
        # retention rule's failure.
        session.check_state("after the cut and the re-entry", "NV-RETENTION")
    if not inside:  # every cut came after processing ended: nothing was tested
        raise DeviceError(
            f"no supply cut landed inside the meter's {window_s * 1000:g} ms "
            "of processing: the AC source or keypad answers too slowly; set "
            "capabilities.supply_cut_jitter_s to what the bench achieves"
        )


@pytest.mark.clause("LOCKOUT")
@pytest.mark.cost(bulk=6, lockouts=2, locked=1)
@pytest.mark.long
def test_repeated_rejects_lock_entry_with_doubling_back_off(session, bulk):
    rig = session.rig
    policy = rig.profile.lockout
    for _ in range(policy.after_rejects):
        session.inject(session.tokens.wrong_meter(), via=bulk)
    first = rig.read_lockout()
    session.note(f"after {policy.after_rejects} rejects: {dict(first)}")
    session.check(None, f"token entry locked after {policy.after_rejects} rejects",
                  expected="locked", observed="locked" if first["active"] else "not locked",
                  ok=bool(first["active"]))  # fmt: skip
    session.inject(session.tokens.credit(10), via=bulk)  # locked: Lockout
    session.let_time_pass(float(rig.read_lockout()["remaining_s"]) + 0.1)
    session.inject(session.tokens.wrong_meter(), via=bulk)  # one more: the lock doubles
    second = rig.read_lockout()
    session.note(f"after one more reject: {dict(second)}")
    remaining = float(second["remaining_s"])
    session.check(None, "next lockout doubles", expected=f"about {2 * policy.base_s:g} s",
                  observed=f"{remaining:g} s" if second["active"] else "not locked",
                  ok=bool(second["active"]) and remaining > policy.base_s * 1.5)  # fmt: skip
    session.let_time_pass(remaining + 0.1)
    session.inject(session.tokens.credit(10), via=bulk)  # unlocked; an accept resets
    session.check_state()


# What a meter stores survives a power cycle: credit and TID committed together (bench-notes
# 3.1), the TID memory that makes a replay Used (sts-notes 11), the key register a key change
# installed (sts-notes 10) and the power limit. rig.power_cycle() waits for the meter's
# POWER_UP, so the meter did restart; the cycle is through the AC source, as on a real bench.


@pytest.mark.clause("NV-RETENTION", "TID-USED", "KCT-SET")
@pytest.mark.requires("power_control")
@pytest.mark.cost(tokens=5, key_changes=1, power_cycles=1)
@pytest.mark.long
def test_credit_tids_and_key_survive_a_power_cycle(session, bulk, check_key_register):
    session.inject(session.tokens.credit(20))
    # A key the meter was not built with, so a meter that reloads its factory key shows.
    fresh = session.change_key(session.next_key(), via=bulk)
    case = fresh.credit(100)
    session.inject(case)
    session.inject(case)  # Used before the cycle: the replay rule itself is TID-USED's
    check_key_register("before the supply cycle", "KCT-SET")
    session.power_cycle()
    session.check_state("after the supply cycle", "NV-RETENTION")
    check_key_register("after the supply cycle", "NV-RETENTION")
    session.inject(case, requirement="NV-RETENTION")  # still Used
    session.inject(fresh.credit(20), requirement="NV-RETENTION")  # the new key still in force
    session.check_state(requirement="NV-RETENTION")


@pytest.mark.clause("NV-RETENTION", "MPL")
@pytest.mark.requires("power_control", "load_control")
@pytest.mark.cost(tokens=2, power_cycles=1)
def test_power_limit_survives_a_power_cycle(session):
    """The limit is first seen to trip (MPL), then the supply is cycled with the load off
    and the relay closed, and the same load must trip it again."""
    rig = session.rig
    session.inject(session.tokens.credit(1000))
    session.inject(session.tokens.power_limit(1000))
    session.set_load(2000)
    session.await_relay(False, timeout_s=5.0, requirement="MPL",
                        what="relay opens above the power limit before the cycle")  # fmt: skip
    session.set_load(0)
    # The meter retries the supply after its declared retry time (real-meters 6: over-power
    # trip with retries); with the load gone the retry holds.
    retry_s = rig.profile.power_limit_retry_s / rig.speed
    session.await_relay(True, timeout_s=retry_s + TIMING_MARGIN_S, requirement="MPL",
                        what="relay recloses after the retry time, the load off")  # fmt: skip
    session.power_cycle()
    session.check_state("after the supply cycle", "NV-RETENTION")
    session.set_load(2000)
    session.await_relay(False, timeout_s=5.0, requirement="NV-RETENTION",
                        what="relay opens above the power limit after the cycle")  # fmt: skip
    session.check_state("above the power limit after the cycle", "NV-RETENTION")

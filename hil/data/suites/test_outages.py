"""What outages, tampers and over-power trips must leave as they were: tamper held until
ClearTamper, the over-power latch, stored values and the meter clock through a long outage;
and the Range rule for a register the meter does not have.

Outage lengths come from the timing profile (long_outage_s) and the rig's clock rate; retry
times from the profile (power_limit_retry_s) and the meter file (supply.trip_retries).
"""

import time

import pytest

from hil.conformance.outcome import BenchCannot, NotApplicable
from hil.conformance.session import TIMING_MARGIN_S
from hil.rig.drivers.probe import NotOffered

CLOCK_TOLERANCE_S = 2.0  # the clock's 1 s resolution, read twice


@pytest.mark.clause("TAMPER-DETECT")
@pytest.mark.requires("fault_injection", "power_control")
@pytest.mark.cost(tokens=3, power_cycles=1)
def test_tamper_holds_the_relay_open_through_power_and_credit_until_cleared(session):
    session.inject(session.tokens.credit(1000))
    session.tamper()
    session.await_relay(False, timeout_s=5.0, requirement="TAMPER-DETECT",
                        what="relay opens on tamper")  # fmt: skip
    session.check_state("tampered", "TAMPER-DETECT")
    session.power_cycle()
    # Only the relay is judged after the cycle: what else a cycle must keep is NV-RETENTION's.
    closed, reason = session.rig.read_relay()
    session.check("TAMPER-DETECT", "tampered, after a supply cycle: load relay",
                  expected="open (tamper)", observed=f"{'closed' if closed else 'open'} "
                  f"({reason or 'no reason'})", ok=not closed)  # fmt: skip
    session.inject(session.tokens.credit(100), requirement="TAMPER-DETECT")
    session.inject(session.tokens.clear_tamper(), requirement="CLEAR-TAMPER")
    session.await_relay(True, timeout_s=5.0, requirement="CLEAR-TAMPER",
                        what="relay closes after ClearTamperCondition")  # fmt: skip


@pytest.mark.clause("RECONNECT-POLICY", "MPL")
@pytest.mark.requires("load_control")
@pytest.mark.long
@pytest.mark.cost(tokens=2, keys=1, wait_s=5.0)
def test_power_limit_trip_latches_after_its_retries_until_a_key_press(session):
    session.require_function("supply:trip_retries")
    rig = session.rig
    retries = rig.profile.trip_retries
    retry_s = rig.profile.power_limit_retry_s
    session.inject(session.tokens.credit(1000))
    session.inject(session.tokens.power_limit(1000))
    session.set_load(2000)
    session.await_relay(False, timeout_s=5.0, requirement="MPL",
                        what="relay opens above the power limit")  # fmt: skip
    # Every retry finds the load still there and trips again; after the last it latches.
    session.let_time_pass(retries * retry_s + TIMING_MARGIN_S * rig.speed)
    session.set_load(0)
    session.let_time_pass(retry_s + TIMING_MARGIN_S * rig.speed)
    session.check_state(f"{retries} retries later, the load gone", "RECONNECT-POLICY")
    session.press_keys(["ENTER"], "a key press resets the latch", confirm=False,
                       oracle_sees=True)  # fmt: skip
    session.await_relay(True, timeout_s=5.0, requirement="RECONNECT-POLICY",
                        what="relay recloses after the key press")  # fmt: skip
    session.check_state("after the key press", "RECONNECT-POLICY")


@pytest.mark.clause("NV-LONG-OUTAGE")
@pytest.mark.requires("power_control")
@pytest.mark.long
@pytest.mark.cost(tokens=4, power_cycles=1, wait_s=3.0)
def test_credit_and_tids_survive_a_long_outage(session):
    rig = session.rig
    case = session.tokens.credit(100)
    session.inject(case)
    session.inject(case)  # Used before the outage: the replay rule itself is TID-USED's
    off_s = rig.profile.long_outage_s / rig.speed
    session.power_cycle(off_s=off_s)
    session.check_state(f"after {off_s:g} s without supply", "NV-LONG-OUTAGE")
    session.inject(case, requirement="NV-LONG-OUTAGE")  # still Used
    session.inject(session.tokens.credit(10), requirement="NV-LONG-OUTAGE")
    session.check_state(requirement="NV-LONG-OUTAGE")


@pytest.mark.clause("CLOCK-RETENTION")
@pytest.mark.requires("power_control")
@pytest.mark.long
@pytest.mark.cost(power_cycles=1, wait_s=5.0)
def test_meter_clock_runs_through_an_outage(session):
    session.require_function("clock:battery")
    rig = session.rig
    try:
        before = rig.read_clock()
    except NotOffered:
        raise BenchCannot("the probe does not read the meter clock (CLOCK GET)") from None
    start = time.monotonic()
    # Long enough that a clock stopped while the supply was off is seen beyond the tolerance.
    off_s = max(3 * CLOCK_TOLERANCE_S, rig.profile.long_outage_s) / rig.speed
    session.power_cycle(off_s=off_s)
    after = rig.read_clock()
    elapsed = (time.monotonic() - start) * rig.speed
    ran = (after - before).total_seconds()
    session.check("CLOCK-RETENTION", f"meter clock advance over a {off_s:g} s outage (s)",
                  expected=f"{elapsed:.0f}", observed=f"{ran:.0f}",
                  ok=abs(ran - elapsed) <= CLOCK_TOLERANCE_S,
                  tolerance=f"+/- {CLOCK_TOLERANCE_S:g} s")  # fmt: skip


@pytest.mark.clause("RANGE")
@pytest.mark.cost(tokens=3)
def test_clear_credit_of_a_register_the_meter_lacks_is_refused_as_range(session):
    kinds = session.rig.profile.credit_kinds
    missing = next((k for k in (1, 2, 3) if k not in kinds), None)
    if missing is None:
        raise NotApplicable("the meter has every credit register (0-3): none is missing")
    session.inject(session.tokens.credit(100))
    session.inject(session.tokens.clear_credit(register=missing), requirement="RANGE")
    session.check_state("after ClearCredit of a missing register", "RANGE")

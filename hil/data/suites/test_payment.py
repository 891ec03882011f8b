"""Payment functions meters add to token processing (IEC 62055-31; real-meters §6): the
low-credit warning, emergency credit and its repayment, friendly (non-disconnect) hours.

Each is declared per meter model in its meter file (``payment:``); a meter that does not
declare one is not judged on it (not applicable). Amounts and hours come from that file;
waits come from energy / power at the rig's largest load, as in test_supply.
"""

from datetime import timedelta

import pytest

from hil.conformance.session import TIMING_MARGIN_S


def _units(wh: int) -> int:
    """A credit amount in token units (0.1 kWh), rounded up."""
    return -(-wh // 100)


@pytest.mark.clause("LOW-CREDIT")
@pytest.mark.cost(tokens=4)
def test_low_credit_warning_is_on_below_the_threshold_only(session):
    session.require_function("payment:low_credit")
    threshold = _units(session.rig.profile.low_credit_wh)
    session.inject(session.tokens.clear_credit())
    session.check_credit_status("at zero credit", "LOW-CREDIT")
    if threshold > 1:
        session.inject(session.tokens.credit(threshold - 1))
        session.check_credit_status("0.1 kWh below the threshold", "LOW-CREDIT")
    session.inject(session.tokens.credit(1 if threshold > 1 else threshold))
    session.check_credit_status("at the threshold", "LOW-CREDIT")
    session.inject(session.tokens.clear_credit())
    session.check_credit_status("cleared again", "LOW-CREDIT")


@pytest.mark.clause("EMERGENCY-CREDIT")
@pytest.mark.requires("keypad")
@pytest.mark.cost(tokens=3, keys=12)
def test_emergency_credit_only_below_its_threshold_and_once_until_repaid(session):
    session.require_function("payment:emergency_credit")
    profile = session.rig.profile
    session.inject(session.tokens.clear_credit())
    session.inject(session.tokens.credit(_units(profile.emergency_below_wh)))
    session.request_emergency()  # at the threshold: refused, nothing changes
    session.check_state("asked at the threshold", "EMERGENCY-CREDIT")
    session.inject(session.tokens.clear_credit())
    session.request_emergency()  # at zero credit: granted
    session.check_state("asked at zero credit", "EMERGENCY-CREDIT")
    if profile.emergency_credit_wh < profile.emergency_below_wh:
        session.request_emergency()  # still below the threshold, but owed: refused
        session.check_state("asked again while it is owed", "EMERGENCY-CREDIT")
    else:
        session.note("the amount granted reaches the threshold: a second request is"
                     " refused by the threshold alone, so 'once until repaid' is not told"
                     " apart")  # fmt: skip
    session.check_credit_status("after the requests", "EMERGENCY-CREDIT")


@pytest.mark.clause("EMERGENCY-REPAY")
@pytest.mark.requires("keypad")
@pytest.mark.cost(tokens=4, keys=6)
def test_emergency_credit_is_repaid_from_the_next_purchases(session):
    session.require_function("payment:emergency_credit")
    owed_units = _units(session.rig.profile.emergency_credit_wh)
    session.inject(session.tokens.clear_credit())
    session.request_emergency()
    session.check_state("emergency credit granted", "EMERGENCY-CREDIT")
    # A purchase smaller than what is owed goes wholly to the repayment (when it can be).
    if owed_units > 1:
        session.inject(session.tokens.credit(owed_units // 2), requirement="EMERGENCY-REPAY")
    session.inject(session.tokens.credit(100), requirement="EMERGENCY-REPAY")
    session.check_state("after the purchases", "EMERGENCY-REPAY")
    session.check_credit_status("after the purchases", "EMERGENCY-REPAY")


@pytest.mark.clause("FRIENDLY-CREDIT")
@pytest.mark.requires("load_control")
@pytest.mark.long
@pytest.mark.cost(tokens=2, credit_out_kwh=0.1, wait_s=8.0)
def test_no_cut_off_inside_friendly_hours_and_a_cut_off_when_they_end(session):
    """The meter clock is set shortly before the friendly hours end, the credit runs out
    inside them (the relay must stay closed), and the relay must open when they end."""
    session.require_function("payment:friendly_hours")
    rig = session.rig
    caps = rig.config.capabilities
    error = caps.metering_error_pct / 100
    run_out_s = 0.1 * 3.6e6 / caps.load_max_w * (1 + error)  # 0.1 kWh at the largest load
    lead_s = run_out_s + 2 * TIMING_MARGIN_S + 2.0  # meter seconds left of the hours
    clock = rig.read_clock()
    end = clock.replace(hour=rig.profile.friendly_hours[1], minute=0, second=0, microsecond=0)
    session.inject(session.tokens.clear_credit())
    session.inject(session.tokens.credit(1))
    session.set_meter_clock(end - timedelta(seconds=lead_s))
    session.set_load(caps.load_max_w)
    session.let_time_pass(run_out_s + TIMING_MARGIN_S)
    session.check_state("credit used up inside the friendly hours", "FRIENDLY-CREDIT")
    left_s = lead_s - run_out_s - TIMING_MARGIN_S
    waited = session.await_relay(False, timeout_s=(left_s / rig.speed) + TIMING_MARGIN_S,
                                 requirement="FRIENDLY-CREDIT",
                                 what="relay opens when the friendly hours end")  # fmt: skip
    session.check("FRIENDLY-CREDIT", "relay stayed closed until the friendly hours ended",
                  expected=f"after at least {max(0.0, left_s / rig.speed - TIMING_MARGIN_S):.1f} s",
                  observed=f"after {waited:.1f} s",
                  ok=waited is not None and waited >= left_s / rig.speed - TIMING_MARGIN_S,
                  tolerance=f"{TIMING_MARGIN_S:g} s margin")  # fmt: skip
    session.set_load(0)
    session.check_state("after the friendly hours", "FRIENDLY-CREDIT")

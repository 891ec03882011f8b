"""Payment functions beyond token processing (real-meters §6, IEC 62055-31): emergency credit,
the low-credit warning, friendly (non-disconnect) hours, the over-power trip latch, the token
and event logs, the meter clock and long outages. Each test states one rule of a conforming
meter; the rules come from the reference notes, not from the model's code.
"""

from __future__ import annotations

from typing import Any

import pytest

from hil.meter.events import EventName, names
from hil.meter.logs import EventEntry, TokenEntry
from hil.meter.model import CLOCK_START, MeterModel, MeterOffError
from hil.meter.profile import MeterProfile
from hil.sts.tokens import ClearTamperToken
from tests.meter.helpers import TID0, R, credit, info, key_for, meter, profile, token, type_token

HOUR = 3600.0
DAY0 = CLOCK_START - 10 * HOUR  # 2026-01-01T00:00Z: CLOCK_START is 10:00 that day

# Emergency credit of 2 kWh, only while the credit is below 5 kWh (more than the grant, so a
# second request right after the first is still below the threshold), short code 99.
EC = profile(emergency_credit_wh=2_000, emergency_below_wh=5_000, emergency_code="99")


def relay_events(events: list) -> list[tuple[float, bool, str]]:
    return [
        (e.at, e.data["closed"], e.data["reason"])
        for e in events
        if e.name == EventName.RELAY_CHANGED
    ]


def emergency_events(events: list) -> list[dict]:
    return [e.data for e in events if e.name == EventName.EMERGENCY_CREDIT]


# -- emergency credit -----------------------------------------------------------------------


def test_emergency_credit_granted_below_the_threshold() -> None:
    m = meter(EC, credit_wh=500)
    events = m.request_emergency(1.0)
    assert emergency_events(events) == [{"granted_wh": 2_000}]
    assert m.credit_wh == 2_500 and m.emergency_owed_wh == 2_000


def test_emergency_credit_granted_once_until_repaid() -> None:
    m = meter(EC, credit_wh=500)
    m.request_emergency(1.0)
    events = m.request_emergency(2.0)  # 2.5 kWh: still below 5 kWh, but owed
    assert [e["granted_wh"] for e in emergency_events(events)] == [0]
    assert "owed" in emergency_events(events)[0]["reason"]
    assert m.credit_wh == 2_500 and m.emergency_owed_wh == 2_000


@pytest.mark.parametrize("start_wh", [5_000, 5_001, 50_000], ids=["at", "just-above", "above"])
def test_emergency_credit_refused_at_or_above_the_threshold(start_wh: int) -> None:
    m = meter(EC, credit_wh=start_wh)
    events = m.request_emergency(1.0)
    assert [e["granted_wh"] for e in emergency_events(events)] == [0]
    assert "threshold" in emergency_events(events)[0]["reason"]
    assert m.credit_wh == start_wh and m.emergency_owed_wh == 0
    assert EventName.CREDIT_CHANGED not in names(events)


def test_emergency_credit_refused_on_a_meter_without_it() -> None:
    m = meter()
    events = m.request_emergency(1.0)
    assert [e["granted_wh"] for e in emergency_events(events)] == [0]
    assert m.credit_wh == 0 and not m.relay_closed


def test_emergency_credit_recloses_a_relay_open_for_credit() -> None:
    m = meter(EC)
    assert m.relay_reason == "credit"
    events = m.request_emergency(1.0)
    assert relay_events(events) == [(1.0, True, "")]


def test_emergency_credit_by_the_short_code_on_the_keypad() -> None:
    m = meter(EC)
    t = type_token(m, "99", 1.0)
    assert m.credit_wh == 0 and m.processing  # taken like any entry, decided after processing
    events = m.advance(t + m.profile.processing_s)
    assert emergency_events(events) == [{"granted_wh": 2_000}]
    assert m.credit_wh == 2_000 and m.relay_closed
    assert EventName.TOKEN_RESULT not in names(events)  # a short code, not a token
    assert m.last_result is None and m.consecutive_rejects == 0


def test_the_short_code_is_a_token_entry_on_a_meter_without_emergency_credit() -> None:
    m = meter()
    type_token(m, "99", 1.0)
    m.advance(2.0)
    assert m.last_result is not None and m.last_result.result is R.FORMAT
    assert m.credit_wh == 0


def test_emergency_credit_request_while_off_raises() -> None:
    m = meter(EC)
    m.power_off(1.0)
    with pytest.raises(MeterOffError):
        m.request_emergency(2.0)


def test_emergency_credit_repaid_from_the_next_purchase() -> None:
    m = meter(EC)
    m.request_emergency(1.0)
    m.set_load(HOUR, 1.0)  # 1 Wh a second
    m.advance(501.0)
    before, owed = m.credit_wh, m.emergency_owed_wh
    assert (before, owed) == (1_500, 2_000)
    m.set_load(0.0, 501.0)
    out = m.enter_token(credit(TID0), 502.0)  # 10 kWh
    assert out.result is R.ACCEPT
    assert m.credit_wh == before + 10_000 - owed
    assert out.credit_delta_wh == 10_000 - owed
    assert m.emergency_owed_wh == 0
    # the purchase after that is added in full
    out = m.enter_token(credit(TID0 + 1), 503.0)
    assert out.credit_delta_wh == 10_000 and m.credit_wh == before + 20_000 - owed


def test_a_purchase_smaller_than_what_is_owed_goes_all_to_the_debt() -> None:
    m = meter(EC)
    m.request_emergency(1.0)
    m.set_load(HOUR, 1.0)
    m.advance(2_100.0)  # the 2 kWh of emergency credit used up
    assert m.credit_wh == 0 and m.relay_reason == "credit"
    out = m.enter_token(credit(TID0, amount=5), 2_101.0)  # 0.5 kWh
    assert out.result is R.ACCEPT and out.credit_delta_wh == 0
    assert m.credit_wh == 0 and m.emergency_owed_wh == 1_500
    assert m.relay_reason == "credit"  # nothing to supply from
    out = m.enter_token(credit(TID0 + 1), 2_102.0)  # 10 kWh: the rest of the debt first
    assert out.credit_delta_wh == 10_000 - 1_500
    assert m.credit_wh == 8_500 and m.emergency_owed_wh == 0 and m.relay_closed


def test_emergency_credit_available_again_once_repaid() -> None:
    m = meter(EC)
    m.request_emergency(1.0)
    m.enter_token(credit(TID0, amount=20), 2.0)  # 2 kWh: exactly the debt
    assert (m.credit_wh, m.emergency_owed_wh) == (2_000, 0)
    events = m.request_emergency(3.0)
    assert emergency_events(events) == [{"granted_wh": 2_000}]
    assert (m.credit_wh, m.emergency_owed_wh) == (4_000, 2_000)


def test_emergency_debt_kept_through_a_power_cycle() -> None:
    m = meter(EC)
    m.request_emergency(1.0)
    m.power_off(2.0)
    m.power_on(3.0)
    assert m.emergency_owed_wh == 2_000
    assert [e["granted_wh"] for e in emergency_events(m.request_emergency(4.0))] == [0]
    out = m.enter_token(credit(TID0), 5.0)
    assert out.credit_delta_wh == 8_000


def test_factory_reset_forgets_the_emergency_debt() -> None:
    m = meter(EC)
    m.request_emergency(1.0)
    m.factory_reset(2.0)
    assert m.emergency_owed_wh == 0 and m.credit_wh == 0


# -- low-credit warning ---------------------------------------------------------------------

LOW = profile(low_credit_wh=5_000)


@pytest.mark.parametrize(
    ("credit_wh", "warned"), [(0, True), (4_999, True), (5_000, False), (80_000, False)]
)
def test_low_credit_warning_below_the_threshold(credit_wh: int, warned: bool) -> None:
    assert meter(LOW, credit_wh=credit_wh).low_credit is warned


def test_low_credit_warning_comes_on_with_use_and_goes_off_with_a_purchase() -> None:
    m = meter(LOW, credit_wh=5_001)
    assert not m.low_credit
    m.set_load(HOUR, 0.0)
    m.advance(1.5)
    assert m.credit_wh == 5_000 and not m.low_credit
    m.advance(2.5)
    assert m.credit_wh == 4_999 and m.low_credit
    m.set_load(0.0, 2.5)
    m.enter_token(credit(TID0), 3.0)
    assert not m.low_credit


def test_no_low_credit_warning_when_not_declared() -> None:
    assert not meter(credit_wh=0).low_credit and not meter(credit_wh=1).low_credit


# -- friendly (non-disconnect) hours --------------------------------------------------------


def friendly(hours: tuple[int, int], clock_hour: float, **kwargs: Any) -> MeterModel:
    """A meter with friendly ``hours`` whose clock shows ``clock_hour`` at model time 0."""
    prof = profile(friendly_hours=hours)
    return meter(prof, clock_start=DAY0 + clock_hour * HOUR, **kwargs)


def run_out(m: MeterModel) -> None:
    """Empty 100 Wh of credit at 1 Wh a second (credit gone at t = 100 s)."""
    m.set_load(HOUR, 0.0)
    m.advance(150.0)
    assert m.credit_wh == 0


def test_friendly_hours_across_midnight_hold_off_the_cut_off_until_their_end() -> None:
    m = friendly((17, 8), 20.0, credit_units=1)
    run_out(m)
    assert m.relay_closed and m.relay_reason == ""
    m.advance(5 * HOUR)  # 01:00 next day: still inside the hours
    assert m.relay_closed
    end = 12 * HOUR  # 08:00 next day
    assert m.next_deadline == pytest.approx(end)
    m.advance(end - 0.001)
    assert m.relay_closed
    due = m.next_deadline
    assert due is not None
    events = m.advance(due)
    assert relay_events(events) == [(pytest.approx(end), False, "credit")]
    assert m.clock() % 86_400 == pytest.approx(8 * HOUR)


def test_friendly_hours_inside_one_day() -> None:
    m = friendly((9, 17), 10.0, credit_units=1)
    run_out(m)
    assert m.relay_closed
    end = 7 * HOUR  # 17:00 the same day
    assert m.next_deadline == pytest.approx(end)
    events = m.advance(end + 10.0)
    assert relay_events(events) == [(pytest.approx(end), False, "credit")]
    assert m.relay_reason == "credit" and m.next_deadline is None


def test_zero_credit_outside_friendly_hours_cuts_off_at_once() -> None:
    m = friendly((9, 17), 17.0, credit_units=1)  # the hours have just ended
    m.set_load(HOUR, 0.0)
    events = m.advance(150.0)
    assert relay_events(events) == [(pytest.approx(100.0), False, "credit")]


def test_a_relay_open_before_the_hours_start_stays_open() -> None:
    m = friendly((17, 8), 15.0, credit_units=1)
    run_out(m)
    assert m.relay_reason == "credit"
    events = m.advance(3 * HOUR)  # 18:00: inside the hours
    assert relay_events(events) == [] and m.relay_reason == "credit"
    assert m.next_deadline is None


def test_setting_the_clock_into_the_hours_does_not_reclose_and_out_of_them_cuts_off() -> None:
    m = friendly((17, 8), 15.0, credit_units=1)
    run_out(m)
    assert relay_events(m.set_clock(DAY0 + 20 * HOUR, 200.0)) == []
    assert m.relay_reason == "credit"
    held = friendly((17, 8), 20.0, credit_units=1)
    run_out(held)
    events = held.set_clock(DAY0 + 12 * HOUR, 200.0)
    assert relay_events(events) == [(200.0, False, "credit")]


def test_a_purchase_inside_the_hours_ends_the_hold_off() -> None:
    m = friendly((17, 8), 20.0, credit_units=1)
    run_out(m)
    m.set_load(0.0, 150.0)
    m.enter_token(credit(TID0), 200.0)
    assert m.credit_wh == 10_000 and m.relay_closed
    assert m.next_deadline is None  # no load: nothing falls due
    m.advance(13 * HOUR)  # past 08:00: credit, so still closed
    assert m.relay_closed


def test_friendly_hours_do_not_hold_off_tamper() -> None:
    m = friendly((17, 8), 20.0, credit_units=1)
    run_out(m)
    events = m.tamper(200.0)
    assert relay_events(events) == [(200.0, False, "tamper")]


def test_a_power_limit_trip_inside_the_hours_recloses_at_its_retry() -> None:
    # Friendly hours hold off the cut-off for credit; a relay opened by the power limit (not
    # for credit) recloses at the retry once the load is back under the limit.
    m = friendly((17, 8), 20.0, credit_units=1, power_limit_w=5_000)
    run_out(m)
    m.set_load(6_000.0, 200.0)
    assert m.relay_reason == "power_limit"
    m.set_load(1_000.0, 200.1)
    events = m.advance(200.0 + 2 * m.profile.power_limit_retry_s)
    assert relay_events(events) == [(pytest.approx(200.6), True, "")]
    assert m.relay_closed


# -- over-power trip: retries, then latch ---------------------------------------------------

RETRIES = profile(trip_retries=3)


def overloaded(prof: MeterProfile = RETRIES) -> MeterModel:
    m = meter(prof, credit_units=1000, power_limit_w=1000)
    events = m.set_load(1500.0, 1.0)
    assert relay_events(events) == [(1.0, False, "power_limit")]
    return m


def retry(m: MeterModel, times: int = 1) -> None:
    """Let ``times`` retries of the power-limit trip fall due."""
    for _ in range(times):
        due = m.next_deadline
        assert due is not None
        m.advance(due)


def test_trip_latches_after_the_declared_retries() -> None:
    m = overloaded()
    retry(m, 2)
    assert not m.trip_latched and m.next_deadline is not None
    retry(m, 1)  # the third retry trips again: latched
    assert m.trip_latched and m.relay_reason == "power_limit"
    assert m.next_deadline is None  # no more retries
    m.set_load(500.0, 10.0)  # load back under the limit: the latch holds
    events = m.advance(100.0)
    assert relay_events(events) == [] and not m.relay_closed


def test_a_key_press_clears_the_latch_and_is_consumed() -> None:
    m = overloaded()
    retry(m, 3)
    m.set_load(500.0, 10.0)
    events = m.press_key("5", 11.0)
    key = [e.data for e in events if e.name == EventName.KEY]
    assert key == [{"key": "5", "accepted": False, "entry": 0, "reason": "trip_latch_reset"}]
    assert relay_events(events) == [(11.0, True, "")]
    assert not m.trip_latched and m.entry == ""
    m.press_key("5", 11.1)  # the next key is an ordinary key again
    assert m.entry == "5"


def test_a_key_press_with_the_load_still_over_retries_afresh() -> None:
    m = overloaded()
    retry(m, 3)
    events = m.press_key("5", 11.0)  # still 1500 W: closes, trips again at once
    assert not m.trip_latched and m.relay_reason == "power_limit"
    assert EventName.KEY in names(events)
    retry(m, 2)
    assert not m.trip_latched  # three new retries before it latches again
    retry(m, 1)
    assert m.trip_latched


def test_trips_are_counted_afresh_once_the_relay_stays_closed() -> None:
    m = overloaded()
    retry(m, 2)  # tripped, retried twice and tripped again each time
    m.set_load(500.0, m.now + 0.1)
    retry(m, 1)  # the third retry finds the load under the limit: closed
    assert m.relay_closed and not m.trip_latched
    m.set_load(1500.0, 5.0)  # a new overload: three retries again
    retry(m, 2)
    assert not m.trip_latched and not m.relay_closed
    retry(m, 1)
    assert m.trip_latched


def test_a_power_cycle_clears_the_latch() -> None:
    m = overloaded()
    retry(m, 3)
    m.power_off(10.0)
    m.set_load(500.0, 10.5)
    events = m.power_on(11.0)
    assert not m.trip_latched and relay_events(events) == [(11.0, True, "")]


def test_a_power_cycle_clears_the_trip_count() -> None:
    m = overloaded()
    retry(m, 2)
    m.power_off(10.0)
    m.power_on(11.0)  # still 1500 W: trips at once, the first trip of a new count
    assert not m.trip_latched and m.relay_reason == "power_limit"
    retry(m, 2)
    assert not m.trip_latched
    retry(m, 1)
    assert m.trip_latched


def test_without_declared_retries_the_trip_never_latches() -> None:
    m = overloaded(profile())
    retry(m, 20)
    assert not m.trip_latched and m.next_deadline is not None


# -- token and event logs -------------------------------------------------------------------

BAD = credit(TID0 + 99, key=key_for(info(krn=7)))  # another meter's key: CRC error here


def test_token_log_keeps_the_last_tokens_oldest_first() -> None:
    m = meter(profile(token_log_depth=3))
    m.enter_token(credit(TID0), 1.0)
    m.enter_token(credit(TID0), 2.0)  # Used
    m.enter_token("1234", 3.0)  # Format
    m.enter_token(credit(TID0 + 1), 4.0)
    m.enter_token(token(ClearTamperToken(tid=TID0 + 2)), 5.0)
    assert m.token_log == [
        TokenEntry(R.FORMAT, None, None, None),
        TokenEntry(R.ACCEPT, 0, 0, TID0 + 1),
        TokenEntry(R.ACCEPT, 2, 5, TID0 + 2),
    ]
    assert [e.describe() for e in m.token_log][1] == f"Accept TID {TID0 + 1}"


def test_token_log_has_keypad_tokens_once_and_no_not_ready() -> None:
    m = meter(profile(token_log_depth=10))
    m.submit_token(credit(TID0), 1.0)
    m.submit_token(credit(TID0 + 1), 1.01)  # still processing: Not ready, dropped
    m.advance(2.0)
    t = type_token(m, credit(TID0 + 2), 2.0)
    m.advance(t + 1.0)
    m.advance(t + 2.0)
    assert [(e.result, e.tid) for e in m.token_log] == [(R.ACCEPT, TID0), (R.ACCEPT, TID0 + 2)]


def test_token_log_has_rejected_tokens() -> None:
    m = meter(profile(token_log_depth=10))
    m.enter_token(BAD, 1.0)
    assert [e.result for e in m.token_log] == [R.CRC]


def test_event_log_keeps_supply_tamper_and_relay_events_oldest_first() -> None:
    m = meter(profile(event_log_depth=4))
    m.enter_token(credit(TID0), 1.0)  # relay closes
    m.tamper(2.0)
    m.enter_token(token(ClearTamperToken(tid=TID0 + 1)), 3.0)
    m.power_off(4.0)
    m.power_on(5.0)
    m.press_key("1", 6.0)  # keys, tokens and credit are not in the event log
    assert [e.describe() for e in m.event_log] == [
        "RELAY_CHANGED open tamper",
        "RELAY_CHANGED closed",
        "POWER_FAIL",
        "POWER_UP",
    ]


def test_event_log_has_what_fell_due_on_its_own() -> None:
    m = meter(profile(event_log_depth=10), credit_units=1)
    m.set_load(HOUR, 0.0)
    m.advance(200.0)
    assert m.event_log == [EventEntry("RELAY_CHANGED", "open credit")]


def test_logs_are_kept_through_power_cycles() -> None:
    m = meter(profile(token_log_depth=5, event_log_depth=5))
    m.enter_token(credit(TID0), 1.0)
    m.power_off(2.0)
    m.power_on(2.0 + 10 * m.profile.long_outage_s)
    assert [(e.result, e.tid) for e in m.token_log] == [(R.ACCEPT, TID0)]
    assert [e.name for e in m.event_log] == ["RELAY_CHANGED", "POWER_FAIL", "POWER_UP"]


def test_logs_keep_nothing_when_not_declared() -> None:
    m = meter()
    m.enter_token(credit(TID0), 1.0)
    m.tamper(2.0)
    assert m.token_log == [] and m.event_log == []


def test_factory_reset_clears_the_logs() -> None:
    m = meter(profile(token_log_depth=5, event_log_depth=5), credit_units=100)
    m.enter_token(credit(TID0), 1.0)
    m.power_off(2.0)
    m.power_on(3.0)
    assert len(m.token_log) == 1 and len(m.event_log) == 2
    m.factory_reset(4.0)  # back to 10 kWh: the relay stays closed
    assert m.token_log == [] and m.event_log == []


def test_factory_reset_leaves_nothing_from_before_it_in_the_logs() -> None:
    # What fell due before the reset (here credit running out at t = 100 s) is history the
    # reset clears, even when the reset call is the one that reports it.
    m = meter(profile(event_log_depth=5))
    m.enter_token(credit(TID0, amount=1), 0.0)  # 100 Wh
    m.set_load(HOUR, 0.0)
    m.factory_reset(300.0)  # credit back to the initial 0: the relay stays open
    assert m.relay_reason == "credit"
    assert m.event_log == []


# -- the meter clock and long outages -------------------------------------------------------


def test_meter_clock_follows_model_time_and_can_be_set() -> None:
    m = meter()
    assert m.clock() == CLOCK_START and m.clock(60.0) == CLOCK_START + 60.0
    m.set_clock(DAY0 + 86_400.0, 10.0)
    assert m.clock() == DAY0 + 86_400.0
    m.advance(70.0)
    assert m.clock() == DAY0 + 86_400.0 + 60.0


def test_meter_clock_runs_through_an_outage() -> None:
    m = meter()
    m.power_off(1.0)
    m.power_on(1.0 + 10 * m.profile.long_outage_s)
    assert m.clock() == CLOCK_START + 1.0 + 10 * m.profile.long_outage_s


def test_friendly_hours_end_on_time_after_an_outage() -> None:
    m = friendly((17, 8), 20.0, credit_units=1)
    run_out(m)
    m.power_off(HOUR)
    m.power_on(11 * HOUR)  # 07:00 next day
    assert m.relay_closed
    assert m.next_deadline == pytest.approx(12 * HOUR)


def test_a_long_outage_keeps_every_stored_value() -> None:
    m = meter(EC, tid_memory=[TID0 - 5])
    m.request_emergency(1.0)
    m.enter_token(credit(TID0, amount=5), 2.0)
    m.tamper(3.0)
    before = (m.credit_wh, m.tid_memory, m.emergency_owed_wh, m.tamper_active)
    m.power_off(4.0)
    m.power_on(4.0 + 100 * m.profile.long_outage_s)
    assert (m.credit_wh, m.tid_memory, m.emergency_owed_wh, m.tamper_active) == before
    assert m.relay_reason == "tamper"


def test_defect_forgets_credit_only_in_a_long_outage() -> None:
    for off_s, kept in ((1.0, True), (3.0, False)):  # fast profile: long_outage_s = 3 s
        m = meter(defects={"forgets_credit_in_long_outage"})
        m.enter_token(credit(TID0), 1.0)
        m.power_off(2.0)
        m.power_on(2.0 + off_s)
        assert (m.credit_wh, m.tid_memory) == ((10_000, [TID0]) if kept else (0, [])), off_s

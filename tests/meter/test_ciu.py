"""The CIU model with its link and meters (hil.meter.ciu, hil.meter.split).

Each test names the rule of docs/split-meters.md it checks: tokens reach the paired meter
only, the CIU never shows a false accept, retries never enter a token twice, pairing by
number, link faults shown, the CIU's own power and settings.
"""

from __future__ import annotations

import dataclasses

import pytest

from hil.meter.ciu import CiuEventName, CiuLinkState, CiuModel, CiuProfile, Screen
from hil.meter.events import Event
from hil.meter.link import Link, LinkSpec
from hil.meter.model import MeterModel
from hil.meter.split import SplitSystem
from hil.sts.dkga import derive_decoder_key
from hil.sts.identity import MeterPan
from hil.sts.keys import DecoderKey
from hil.sts.luhn import luhn_check_digit
from tests.meter.helpers import FAST, INFO, KEY, PAN, TID0, VK04, R, credit

PAN_B = MeterPan.from_drn("0123456789" + str(luhn_check_digit("0123456789")))
KEY_B = DecoderKey(derive_decoder_key(VK04, PAN_B, INFO), INFO.ea)
A, B = PAN.drn, PAN_B.drn
LAT = 0.01  # link latency
PROC = FAST.processing_s
ROUND = 2 * LAT + PROC  # ENTER to the meter's answer on the CIU
LINK = LinkSpec(latency_s=LAT, reply_timeout_s=ROUND + 0.1, retries=2)
CIU = CiuProfile(inter_digit_timeout_s=0.5, result_hold_s=0.05)
PERIOD = 0.01  # between key presses
SHOWN = ROUND + 0.01  # the answer is on the CIU's screen
SETTLE = ROUND + CIU.result_hold_s + 0.01  # the answer was shown and the hold is over


def system(
    link: LinkSpec = LINK, ciu: CiuProfile = CIU, *, seed: int = 0, paired: str | None = A, **kw
) -> SplitSystem:
    meters = [MeterModel(PAN, INFO, KEY, FAST), MeterModel(PAN_B, INFO, KEY_B, FAST)]
    return SplitSystem(CiuModel(ciu, link, paired=paired), Link(link, seed=seed), meters, **kw)


def enter(sys: SplitSystem, digits: str, at: float) -> tuple[list[Event], float]:
    """Type an entry and let the answer come back; returns the events and the time after."""
    events, t = sys.type_entry(digits, at, PERIOD)
    events += sys.advance(t + SETTLE)
    return events, t + SETTLE


def ciu_results(events: list[Event]) -> list[R]:
    return [R(e.data["result"]) for e in events if e.name == CiuEventName.RESULT]


def named(events: list[Event], name: str) -> list[Event]:
    return [e for e in events if e.name == name]


# --------------------------------------------------------------- tokens go to the paired meter


def test_a_token_reaches_the_paired_meter_only() -> None:
    sys = system()
    events, _ = enter(sys, credit(TID0, 100), 1.0)
    assert ciu_results(events) == [R.ACCEPT]
    assert sys.meter(A).credit_wh == 10_000 and sys.meter(A).tid_memory == [TID0]
    assert sys.meter(B).credit_wh == 0 and sys.meter(B).tid_memory == []
    assert sys.ciu.display.credit_wh == 10_000
    assert named(events, CiuEventName.TONE)[-1].data["tone"] == "accept"


def test_a_token_for_meter_b_while_paired_with_a_is_crc_on_a_and_changes_nothing_on_b() -> None:
    sys = system()
    events, t = sys.type_entry(credit(TID0, 100, KEY_B), 1.0, PERIOD)
    events += sys.advance(t + SHOWN)
    assert ciu_results(events) == [R.CRC]
    assert sys.ciu.display.screen is Screen.RESULT and sys.ciu.display.result is R.CRC
    assert named(events, CiuEventName.TONE)[-1].data["tone"] == "reject"
    assert sys.meter(A).credit_wh == 0 and sys.meter(A).consecutive_rejects == 1
    b = sys.meter(B)  # advanced with the system: it heard the frame and ignored it
    assert (b.credit_wh, b.tid_memory, b.consecutive_rejects, b.last_result) == (0, [], 0, None)


def test_two_meters_on_one_ciu_are_credited_in_interleaved_order() -> None:
    sys = system()
    t = 1.0
    plan = [(A, credit(TID0, 10)), (B, credit(TID0, 20, KEY_B)), (A, credit(TID0 + 1, 30)),
            (B, credit(TID0 + 1, 40, KEY_B)), (A, credit(TID0 + 2, 50))]  # fmt: skip
    for number, digits in plan:
        events, t = enter(sys, "800" + number, t)
        assert sys.ciu.paired == number and named(events, CiuEventName.PAIRED)
        events, t = enter(sys, digits, t)
        assert ciu_results(events) == [R.ACCEPT]
    assert sys.meter(A).credit_wh == 9_000 and sys.meter(A).tid_memory == [TID0, TID0 + 1, TID0 + 2]
    assert sys.meter(B).credit_wh == 6_000 and sys.meter(B).tid_memory == [TID0, TID0 + 1]


def test_an_entry_without_a_pairing_is_refused_by_the_ciu() -> None:
    sys = system(paired=None)
    events, _ = enter(sys, credit(TID0), 1.0)
    assert ciu_results(events) == []
    assert named(events, CiuEventName.COMMS_FAILURE)[0].data["reason"] == "not_paired"
    assert sys.link.stats.sent == 0


# --------------------------------------------------------------- pairing


def test_pairing_by_number_is_answered_ok_and_the_show_code_shows_it() -> None:
    sys = system(paired=None)
    events, t = sys.type_entry("800" + B, 1.0, PERIOD)
    events += sys.advance(t + 2 * LAT + 0.01)
    assert sys.ciu.paired == B
    assert sys.ciu.display.screen is Screen.PAIR_OK and sys.ciu.display.number == B
    events, t = sys.type_entry("801", t + SETTLE + 0.01, PERIOD)
    assert sys.ciu.display.screen is Screen.NUMBER and sys.ciu.display.number == B


def test_pairing_a_number_nobody_answers_keeps_the_old_pairing() -> None:
    sys = system()
    other = "1234567890" + str(luhn_check_digit("1234567890"))
    events, t = sys.type_entry("800" + other, 1.0, PERIOD)
    events += sys.advance(t + 3.0)
    assert sys.ciu.paired == A
    assert named(events, CiuEventName.PAIR_FAILED)[0].data["reason"] == "no_answer"
    assert sys.ciu.link_state is CiuLinkState.NO_COMMUNICATION


def test_a_number_with_a_wrong_check_digit_is_refused_without_asking_the_link() -> None:
    sys = system()
    bad = A[:-1] + str((int(A[-1]) + 1) % 10)
    events, _ = enter(sys, "800" + bad, 1.0)
    assert named(events, CiuEventName.PAIR_FAILED)[0].data["reason"] == "check_digit"
    assert sys.link.stats.sent == 0 and sys.ciu.paired == A


def test_a_13_digit_number_pairs_too() -> None:
    body = "000012345678"
    pan = MeterPan.from_drn(body + str(luhn_check_digit(body)))
    key = DecoderKey(derive_decoder_key(VK04, pan, INFO), INFO.ea)
    meters = [MeterModel(pan, INFO, key, FAST)]
    sys = SplitSystem(CiuModel(CIU, LINK), Link(LINK), meters)
    enter(sys, "800" + pan.drn, 1.0)
    assert sys.ciu.paired == pan.drn and len(pan.drn) == 13
    events, _ = enter(sys, credit(TID0, 100, key), 2.0)
    assert ciu_results(events) == [R.ACCEPT]


# --------------------------------------------------------------- link faults: never a false accept


def test_cut_after_enter_before_the_meter_hears_then_reentry_accepts_once() -> None:
    sys = system()
    token = credit(TID0, 100)
    events, t = sys.type_entry(token, 1.0, PERIOD)
    events += sys.cut(t + 0.001)  # the TOKEN frame is still on the wire
    events += sys.advance(t + 2.0)
    assert ciu_results(events) == []
    assert [e.data["reason"] for e in named(events, CiuEventName.COMMS_FAILURE)] == ["no_answer"]
    assert [e.data["try"] for e in named(events, CiuEventName.SENT)] == [1, 2, 3]
    assert sys.ciu.link_state is CiuLinkState.NO_COMMUNICATION
    assert sys.meter(A).credit_wh == 0
    sys.restore(t + 2.0)
    events, _ = enter(sys, token, t + 2.1)
    assert ciu_results(events) == [R.ACCEPT]
    assert sys.ciu.link_state is CiuLinkState.OK
    assert sys.meter(A).credit_wh == 10_000


def test_cut_while_the_meter_processes_then_reentry_gives_used() -> None:
    sys = system()
    token = credit(TID0, 100)
    events, t = sys.type_entry(token, 1.0, PERIOD)
    events += sys.cut(t + LAT + PROC / 2)  # the meter has the token and is deciding
    events += sys.advance(t + 2.0)
    assert ciu_results(events) == [] and named(events, CiuEventName.COMMS_FAILURE)
    assert sys.meter(A).credit_wh == 10_000  # applied: only re-entry can tell the customer
    sys.restore(t + 2.0)
    events, _ = enter(sys, token, t + 2.1)
    assert ciu_results(events) == [R.USED]
    assert sys.meter(A).credit_wh == 10_000


def test_a_lost_answer_is_retried_and_the_meter_answers_from_its_cache() -> None:
    sys = system()
    events, t = sys.type_entry(credit(TID0, 100), 1.0, PERIOD)
    sys.advance(t + LAT + PROC + 0.001)  # the meter has decided; its RESULT is on the wire
    sys.cut(t + LAT + PROC + 0.002)
    sys.restore(t + ROUND + 0.01)
    events += sys.advance(t + 1.0)
    assert ciu_results(events) == [R.ACCEPT]  # from the retry, not Used
    assert [e.data["try"] for e in named(events, CiuEventName.SENT)] == [1, 2]
    assert sys.meter(A).tid_memory == [TID0] and sys.meter(A).credit_wh == 10_000


@pytest.mark.parametrize("seed", range(25))
def test_on_a_lossy_link_the_ciu_shows_accept_only_when_the_meter_accepted(seed: int) -> None:
    sys = system(link=dataclasses.replace(LINK, retries=1, loss=0.4, garble=0.2), seed=seed)
    token = credit(TID0, 100)
    events, t = sys.type_entry(token, 1.0, PERIOD)
    events += sys.advance(t + 1.0)
    shown = ciu_results(events)
    failed = named(events, CiuEventName.COMMS_FAILURE)
    assert len(shown) + len(failed) == 1
    if shown:
        assert shown == [R.ACCEPT] and sys.meter(A).credit_wh == 10_000
    assert sys.meter(A).credit_wh in (0, 10_000)  # never twice


def test_a_shorted_link_is_shown_and_nothing_is_credited() -> None:
    sys = system()
    events = sys.short(0.5)
    assert sys.ciu.link_state is CiuLinkState.SHORT and sys.ciu.display.link == "short"
    events, t = enter(sys, credit(TID0, 100), 1.0)
    assert named(events, CiuEventName.COMMS_FAILURE)[0].data["reason"] == "short"
    assert sys.link.stats.sent == 0 and sys.meter(A).credit_wh == 0
    sys.restore(t)
    assert sys.ciu.link_state is CiuLinkState.OK


def test_a_short_during_a_request_fails_it_at_once() -> None:
    sys = system()
    events, t = sys.type_entry(credit(TID0, 100), 1.0, PERIOD)
    events += sys.short(t + 0.001)
    assert named(events, CiuEventName.COMMS_FAILURE)[0].data["reason"] == "short"
    assert sys.ciu.display.screen is Screen.COMMS_FAILURE


# --------------------------------------------------------------- keypad


def test_keys_are_ignored_while_waiting_and_during_the_result() -> None:
    sys = system()
    events, t = sys.type_entry(credit(TID0, 100), 1.0, PERIOD)
    events = sys.press_key("5", t + 0.01)
    assert named(events, CiuEventName.KEY)[-1].data["reason"] == "waiting"
    events = sys.advance(t + SHOWN)
    assert ciu_results(events) == [R.ACCEPT]
    events = sys.press_key("5", t + SHOWN)
    assert named(events, CiuEventName.KEY)[-1].data["reason"] == "result_hold"


def test_back_timeout_and_the_21st_digit() -> None:
    sys = system()
    sys.type_entry("", 0.0, PERIOD)  # ENTER on nothing is ignored
    for i, key in enumerate("123"):
        sys.press_key(key, 1.0 + i * PERIOD)
    sys.press_key("BACK", 1.05)
    assert sys.ciu.display.entry == "12"
    events = sys.advance(2.0)
    assert named(events, CiuEventName.ENTRY_TIMEOUT)[0].data["digits"] == "12"
    assert sys.ciu.display.screen is Screen.CREDIT
    for i in range(21):
        events = sys.press_key("7", 3.0 + i * PERIOD)
    assert named(events, CiuEventName.KEY)[-1].data["reason"] == "full"


def test_a_short_entry_is_forwarded_and_the_meter_says_format() -> None:
    sys = system()
    events, _ = enter(sys, "12345", 1.0)
    assert ciu_results(events) == [R.FORMAT]


def test_auto_submit_at_20() -> None:
    sys = system(ciu=dataclasses.replace(CIU, auto_submit_at_20=True))
    t = 1.0
    for key in credit(TID0, 100):
        sys.press_key(key, t)
        t += PERIOD
    assert ciu_results(sys.advance(t + SETTLE)) == [R.ACCEPT]


# --------------------------------------------------------------- display follows the meter


def test_the_credit_shown_is_refreshed_by_polling_after_consumption() -> None:
    sys = system(ciu=dataclasses.replace(CIU, poll_s=1.0))
    _, t = enter(sys, credit(TID0, 100), 0.1)
    sys.meter(A).set_load(3600.0, t)  # 1 Wh per second
    sys.advance(t + 10.5)
    shown, now = sys.ciu.display.credit_wh, sys.meter(A).credit_wh
    assert shown is not None and shown < 10_000
    assert 0 <= shown - now <= 1  # one poll period of consumption at most


# --------------------------------------------------------------- the CIU's own power


def test_a_power_loss_drops_the_entry_and_reverts_volatile_settings() -> None:
    sys = system()
    sys.ciu.set_setting("low_credit_alarm_wh", 5_000, 0.5)
    enter(sys, credit(TID0, 1), 1.0)
    assert sys.ciu.display.low_credit  # 100 Wh < 5 kWh
    sys.press_key("1", 2.0)
    events = sys.ciu_supply(False, 2.05)
    assert named(events, CiuEventName.POWER_FAIL)[0].data["lost"]["entry"] == "1"
    assert sys.ciu.display.screen is Screen.OFF
    assert named(sys.press_key("2", 2.1), CiuEventName.KEY) == []
    sys.ciu_supply(True, 3.0)
    assert sys.ciu.settings == {"low_credit_alarm_wh": 0} and sys.ciu.paired == A


def test_non_volatile_settings_survive_a_power_loss() -> None:
    sys = system(ciu=dataclasses.replace(CIU, settings_volatile=False))
    sys.ciu.set_setting("low_credit_alarm_wh", 5_000, 0.5)
    sys.ciu_supply(False, 1.0)
    sys.ciu_supply(True, 2.0)
    assert sys.ciu.settings == {"low_credit_alarm_wh": 5_000}


def test_a_load_side_ciu_goes_dark_at_zero_credit_unless_it_has_a_battery() -> None:
    dark = system(supply="load_side", supply_meter=A)
    dark.advance(0.1)
    assert not dark.ciu.powered  # the meter's relay is open at zero credit
    events, _ = enter(dark, credit(TID0, 100), 1.0)
    assert ciu_results(events) == [] and dark.meter(A).credit_wh == 0

    lit = system(ciu=dataclasses.replace(CIU, battery_backup=True), supply="load_side",
                 supply_meter=A)  # fmt: skip
    events, _ = enter(lit, credit(TID0, 100), 1.0)
    assert ciu_results(events) == [R.ACCEPT] and lit.meter(A).relay_closed


def test_a_link_fed_ciu_goes_dark_when_the_cable_is_cut() -> None:
    sys = system(supply="link")
    sys.cut(1.0)
    assert not sys.ciu.powered
    sys.restore(2.0)
    assert sys.ciu.powered


# --------------------------------------------------------------- determinism


def test_the_same_history_gives_the_same_events() -> None:
    def run(seed: int) -> list[tuple[str, float]]:
        sys = system(link=dataclasses.replace(LINK, loss=0.3, garble=0.1), seed=seed)
        events, t = sys.type_entry(credit(TID0, 100), 1.0, PERIOD)
        events += sys.advance(t + 2.0)
        events += enter(sys, credit(TID0 + 1, 100), t + 2.0)[0]
        return [(str(e.name), e.at) for e in events]

    assert run(5) == run(5)


def test_a_meter_end_answers_version_and_refuses_unknown_verbs() -> None:
    from hil.meter.link import Delivery, Frame
    from hil.meter.split import MeterEnd

    end = MeterEnd(MeterModel(PAN, INFO, KEY, FAST))
    end.receive(Delivery(Frame("CIU", A, 1, "VERSION"), 1.0, False), 1.0)
    end.receive(Delivery(Frame("CIU", A, 2, "DANCE"), 1.0, False), 1.0)
    end.receive(Delivery(Frame("CIU", B, 3, "VERSION"), 1.0, False), 1.0)  # not its number
    end.receive(Delivery(Frame("CIU", A, 4, "VERSION"), 1.0, True), 1.0)  # garbled
    answers = [(f.seq, f.kind, f.body) for _, f in end.take_frames()]
    assert answers == [(1, "VERSION", {"protocol": 1}), (2, "ERR", {"code": 1, "text": "unknown"})]

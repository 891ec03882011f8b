"""The split defect profiles (hil.meter.split_defects) in the CIU model: each breaks its one
rule of docs/split-meters.md, shown beside the conforming CIU doing the same thing."""

from __future__ import annotations

import dataclasses

import pytest

from hil.errors import ConfigError
from hil.meter.ciu import CiuEventName, CiuLinkState, CiuModel, Screen
from hil.meter.link import Link
from hil.meter.model import MeterModel
from hil.meter.split import SplitSystem
from hil.meter.split_defects import (
    SPLIT_DEFECTS,
    SplitDefect,
    parse_split_defect,
    parse_split_defects,
)
from tests.meter.helpers import FAST, INFO, KEY, PAN, TID0, R, credit
from tests.meter.test_ciu import CIU, KEY_B, LINK, PAN_B, PERIOD, A, B, ciu_results, enter, named

D = SplitDefect


def system(*defects: SplitDefect, poll_s: float | None = None) -> SplitSystem:
    meters = [MeterModel(PAN, INFO, KEY, FAST), MeterModel(PAN_B, INFO, KEY_B, FAST)]
    profile = dataclasses.replace(CIU, poll_s=poll_s)
    ciu = CiuModel(profile, LINK, paired=A, defects=frozenset(defects))
    return SplitSystem(ciu, Link(LINK, seed=0), meters)


def test_every_defect_has_a_description_and_a_clause() -> None:
    assert set(SPLIT_DEFECTS) == set(SplitDefect)
    for defect in SplitDefect:
        assert defect.description and "split" in defect.clause.lower()


def test_parse_names_and_refuse_an_integrated_defect_in_one_line() -> None:
    assert parse_split_defect(None) == frozenset() == parse_split_defect("conforming")
    assert parse_split_defect("CIU_STALE_CREDIT") == {D.CIU_STALE_CREDIT}
    assert parse_split_defects(["ciu_stale_credit", "none"]) == {D.CIU_STALE_CREDIT}
    with pytest.raises(ConfigError) as info:
        parse_split_defect("accepts_replays")
    assert "\n" not in str(info.value) and "ciu_keeps_old_pairing" in str(info.value)


@pytest.mark.parametrize("defects", [(), (D.CIU_KEEPS_OLD_PAIRING,)])
def test_keeps_old_pairing_says_ok_but_routes_to_the_first_meter(
    defects: tuple[SplitDefect, ...],
) -> None:
    sys = system(*defects)
    events, t = enter(sys, "800" + B, 1.0)
    assert named(events, CiuEventName.PAIRED) and sys.ciu.paired == B  # both say OK
    events, _ = enter(sys, credit(TID0, 100, KEY_B), t)
    if defects:
        assert sys.ciu.routed_to == A and ciu_results(events) == [R.CRC]  # A judged it
        assert sys.meter(B).credit_wh == 0
    else:
        assert sys.ciu.routed_to == B and ciu_results(events) == [R.ACCEPT]
        assert sys.meter(B).credit_wh == 10_000


@pytest.mark.parametrize("defects", [(), (D.CIU_FALSE_ACCEPT_ON_TIMEOUT,)])
def test_false_accept_on_timeout_shows_accept_for_silence(
    defects: tuple[SplitDefect, ...],
) -> None:
    sys = system(*defects)
    sys.cut(0.5)
    events, t = sys.type_entry(credit(TID0, 100), 1.0, PERIOD)
    events += sys.advance(t + 2.0)
    failures = named(events, CiuEventName.COMMS_FAILURE)
    if defects:
        assert ciu_results(events) == [R.ACCEPT] and not failures
    else:
        assert ciu_results(events) == [] and failures[0].data["reason"] == "no_answer"
    assert sys.meter(A).credit_wh == 0  # the meter never heard it either way


@pytest.mark.parametrize("defects", [(), (D.CIU_NO_SHORT_INDICATION,)])
def test_no_short_indication_leaves_the_link_shown_ok(defects: tuple[SplitDefect, ...]) -> None:
    sys = system(*defects)
    sys.short(0.5)
    shown = sys.ciu.link_state
    events, t = sys.type_entry(credit(TID0, 100), 1.0, PERIOD)
    events += sys.advance(t + 2.0)
    reason = named(events, CiuEventName.COMMS_FAILURE)[0].data["reason"]
    if defects:
        assert (shown, reason) == (CiuLinkState.OK, "no_answer")
    else:
        assert (shown, reason) == (CiuLinkState.SHORT, "short")
    assert sys.meter(A).credit_wh == 0


@pytest.mark.parametrize("defects", [(), (D.CIU_STALE_CREDIT,)])
def test_stale_credit_keeps_the_first_credit_after_tokens_and_polls(
    defects: tuple[SplitDefect, ...],
) -> None:
    sys = system(*defects, poll_s=1.0)
    _, t = enter(sys, credit(TID0, 100), 0.1)
    events, t = enter(sys, credit(TID0 + 1, 100), t)
    assert ciu_results(events) == [R.ACCEPT] and sys.meter(A).credit_wh == 20_000
    sys.meter(A).set_load(3600.0, t)  # 1 Wh per second
    sys.advance(t + 5.5)
    shown = sys.ciu.display.credit_wh
    if defects:
        assert shown == 10_000  # the first report, never refreshed
    else:
        assert shown is not None and 0 <= shown - sys.meter(A).credit_wh <= 1


@pytest.mark.parametrize("defects", [(), (D.CIU_RESTARTS_SEQ_ON_PAIRING,)])
def test_restarting_seq_at_pairing_gets_a_new_token_answered_from_the_cache(
    defects: tuple[SplitDefect, ...],
) -> None:
    sys = system(*defects)
    t = 1.0
    plan = [(A, credit(TID0, 10)), (B, credit(TID0, 20, KEY_B)), (A, credit(TID0 + 1, 30)),
            (B, credit(TID0 + 1, 40, KEY_B))]  # fmt: skip
    shown = []
    for number, digits in plan:
        if sys.ciu.paired != number:
            _, t = enter(sys, "800" + number, t)
        events, t = enter(sys, digits, t)
        shown += ciu_results(events)
    assert shown == [R.ACCEPT] * 4  # the defective CIU shows Accept for all four too
    if defects:
        # B's second token got B's first answer (same seq): never entered.
        assert sys.meter(B).tid_memory == [TID0] and sys.meter(B).credit_wh == 2_000
    else:
        assert sys.meter(B).tid_memory == [TID0, TID0 + 1] and sys.meter(B).credit_wh == 6_000
    assert sys.meter(A).tid_memory == [TID0, TID0 + 1]


def test_the_show_code_pushes_the_number_it_shows() -> None:
    sys = system()
    events, _ = sys.type_entry("801", 1.0, PERIOD)
    assert sys.ciu.display.screen is Screen.NUMBER
    assert [e.data["number"] for e in named(events, CiuEventName.NUMBER)] == [A]

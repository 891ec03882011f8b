"""Split meters (issue #14): tokens typed on the CIU, judged on every meter behind it.

Opt-in: the file name is outside pytest's ``test_*.py`` pattern, so a default ``hil run``
does not collect it; ``hil run --suite split --rig split-sim`` does. It needs a split rig
(``ciu:``, ``meters:``, ``link:``; docs/split-meters.md) with at least two meters, and opens
it with ``hil.rig.split_rig.SplitRig`` (the integrated ``rig`` fixture is not used).

Every judgement is a ``Check`` judged by ``Evidence.judge``: a failed check fails the test
(its requirement), a bench fault is an error. The verdict, the requirement ids and the
evidence are attached to the test for the journal, as for the integrated suites.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from hil.conformance.checks import Check, CheckOutcome, CreditRule
from hil.conformance.evidence import Evidence
from hil.conformance.outcome import outcome_of
from hil.meter.results import TokenResult
from hil.paths import DEFAULT_RIG, resolve_rig
from hil.pytest_plugin import journal_rig
from hil.rig.config import rig_topology
from hil.rig.split_rig import SplitRig
from hil.rig.split_units import CiuOutcome, MeterHandle
from hil.sts import CreditToken, codec

TID = 6_000_000  # every test starts from RESET STATE: an empty TID memory on each meter
UNITS = 256  # 25.6 kWh
CREDIT_RESOLUTION_KWH = 0.1  # the coarsest the probe contract allows


@pytest.fixture(scope="module")
def split_rig(request: pytest.FixtureRequest) -> Iterator[SplitRig]:
    path = resolve_rig(request.config.getoption("rig", None) or DEFAULT_RIG)
    if rig_topology(path) != "split":
        pytest.skip(f"{path} is not a split rig (ciu:, meters:, link:): use --rig split-sim")
    with SplitRig.open(
        path,
        speed=request.config.getoption("rig_speed", None),
        defect=request.config.getoption("defect", None),  # a split defect: the CIU's
    ) as rig:
        if len(rig.meters) < 2:
            pytest.skip(f"rig {rig.name} has one meter: these checks need two behind one CIU")
        journal_rig(rig, request.config.getoption("defect", None))
        yield rig


@pytest.fixture
def rig(split_rig: SplitRig) -> SplitRig:
    split_rig.reset_state()
    return split_rig


@contextmanager
def judged(request: pytest.FixtureRequest) -> Iterator[Evidence]:
    """The test's evidence; on the way out its verdict, requirement ids and evidence are
    attached to the test, where the journal reads them."""
    marker = request.node.get_closest_marker("clause")
    clauses = list(marker.args) if marker else []
    evidence = Evidence()
    verdict = "pass"
    try:
        yield evidence
    except pytest.skip.Exception:
        verdict = "skip"  # the bench cannot do it: no verdict on the meter
        raise
    except BaseException as exc:
        verdict = outcome_of(exc)
        raise
    finally:
        props = request.node.user_properties
        props.append(("hil_clauses", json.dumps(clauses)))
        props.append(("hil_evidence", json.dumps(evidence.as_dict())))
        props.append(("hil_verdict", verdict))


def token(meter: MeterHandle, tid: int = TID) -> str:
    return codec.encode(CreditToken(tid, 0, UNITS), meter.decoder_key)


def others(rig: SplitRig, paired: MeterHandle) -> list[MeterHandle]:
    return [m for m in rig.meters.values() if m is not paired]


def paired(rig: SplitRig) -> MeterHandle:
    meter = rig.paired_meter
    if meter is None:
        pytest.skip(f"rig {rig.name}: the CIU is paired with no meter (set ciu.paired)")
    return meter


def shown(outcome: CiuOutcome) -> str:
    if outcome.result is None:
        return f"communication failure ({outcome.comms_failure})"
    return outcome.result.label


def untouched(requirement: str, meter: MeterHandle, credit: float, tids: list[int]) -> list[Check]:
    """That meter's credit and TID memory are as they were."""
    now_credit, now_tids = meter.read_credit(), meter.read_tid_memory()
    return [
        Check(requirement, f"{meter.name}: credit", f"{credit:g} kWh (unchanged)",
              f"{now_credit:g} kWh", outcome="pass" if now_credit == credit else "fail"),
        Check(requirement, f"{meter.name}: TID memory", f"{tids} (unchanged)", f"{now_tids}",
              outcome="pass" if now_tids == tids else "fail"),
    ]  # fmt: skip


def snapshot(meters: list[MeterHandle]) -> dict[str, tuple[float, list[int]]]:
    return {m.name: (m.read_credit(), m.read_tid_memory()) for m in meters}


def scene(
    rig: SplitRig,
) -> tuple[MeterHandle, list[MeterHandle], dict[str, tuple[float, list[int]]]]:
    """The paired meter, the others, and every meter's credit and TID memory before."""
    target = paired(rig)
    rest = others(rig, target)
    return target, rest, snapshot([target, *rest])


@pytest.mark.clause("SPLIT-ROUTING")
def test_token_typed_on_the_ciu_reaches_the_paired_meter_only(
    rig: SplitRig, request: pytest.FixtureRequest
) -> None:
    with judged(request) as evidence:
        target, rest, before = scene(rig)
        digits = token(target)
        evidence.note(f"paired with {target.name} ({target.number}); token TID {TID}")
        outcome = rig.ciu.enter_token(digits)
        credit = target.read_credit()
        delta = credit - before[target.name][0]
        rule = CreditRule(CREDIT_RESOLUTION_KWH)
        checks = [
            Check("SPLIT-ROUTING", "CIU: result shown for a token for the paired meter",
                  TokenResult.ACCEPT.label, shown(outcome),
                  outcome="pass" if outcome.result is TokenResult.ACCEPT else "fail"),
            Check("SPLIT-ROUTING", f"{target.name}: credit added", f"{UNITS / 10:g} kWh",
                  f"{delta:g} kWh", rule.describe(),
                  outcome="pass" if rule.change_ok(UNITS / 10, delta) else "fail"),
            Check("SPLIT-ROUTING", f"{target.name}: TID in memory", f"{TID} stored",
                  f"{target.read_tid_memory()}",
                  outcome="pass" if TID in target.read_tid_memory() else "fail"),
        ]  # fmt: skip
        for meter in rest:
            checks += untouched("SPLIT-ROUTING", meter, *before[meter.name])
        evidence.judge(checks)


@pytest.mark.clause("SPLIT-FOREIGN-TOKEN")
def test_token_for_another_meter_is_refused_by_the_paired_one_and_changes_nothing(
    rig: SplitRig, request: pytest.FixtureRequest
) -> None:
    with judged(request) as evidence:
        target, rest, before = scene(rig)
        owner = rest[0]  # the token is made for this meter's key
        result_before = owner.read_token_result()
        evidence.note(
            f"paired with {target.name}; token made for {owner.name} ({owner.number}), TID {TID}"
        )
        outcome = rig.ciu.enter_token(token(owner))
        result_after = owner.read_token_result()
        checks = [
            Check("SPLIT-FOREIGN-TOKEN", f"CIU: result shown for {owner.name}'s token",
                  TokenResult.CRC.label, shown(outcome),
                  outcome="pass" if outcome.result is TokenResult.CRC else "fail"),
            Check("SPLIT-FOREIGN-TOKEN", f"{owner.name}: tokens processed (n)",
                  f"{result_before['n']} (never saw it)", f"{result_after['n']}",
                  outcome="pass" if result_after["n"] == result_before["n"] else "fail"),
        ]  # fmt: skip
        for meter in [target, *rest]:
            checks += untouched("SPLIT-FOREIGN-TOKEN", meter, *before[meter.name])
        evidence.judge(checks)


# -- helpers of the tests below ---------------------------------------------------------------

RULE = CreditRule(CREDIT_RESOLUTION_KWH)
TOKEN_KWH = UNITS / 10
LINK_SETTLE_S = 2.0  # wall seconds for a relay change to show on the CIU's link state
CUT_ATTEMPTS = 3  # tries to land the cut between ENTER and the meter's answer


def verdict(ok: bool) -> CheckOutcome:
    return "pass" if ok else "fail"


def shown_as(requirement: str, what: str, outcome: CiuOutcome, expected: TokenResult) -> Check:
    """The CIU showed the meter's result ``expected`` (not a failure, not another result)."""
    return Check(requirement, what, expected.label, shown(outcome),
                 outcome=verdict(outcome.result is expected))  # fmt: skip


def credited(
    requirement: str, meter: MeterHandle, before_kwh: float, kwh: float, tids: list[int]
) -> list[Check]:
    """``meter``'s credit rose by ``kwh`` since ``before_kwh`` and its TID memory is
    exactly ``tids`` (its own tokens and nothing else)."""
    delta = meter.read_credit() - before_kwh
    memory = meter.read_tid_memory()
    return [
        Check(requirement, f"{meter.name}: credit added", f"{kwh:g} kWh", f"{delta:g} kWh",
              RULE.describe(), outcome=verdict(RULE.change_ok(kwh, delta))),
        Check(requirement, f"{meter.name}: TID memory", f"{sorted(tids)} (exactly)",
              f"{memory}", outcome=verdict(memory == sorted(tids))),
    ]  # fmt: skip


def paired_as(requirement: str, rig: SplitRig, meter: MeterHandle) -> list[Check]:
    """Pair the CIU with ``meter`` by its number; it answers OK and shows that number."""
    out = rig.ciu.pair(meter.number)
    number = rig.ciu.show_paired()
    return [
        Check(requirement, f"CIU: pairing with {meter.name} ({meter.number})", "OK",
              "OK" if out.paired else f"failed ({out.reason or 'other number'})",
              outcome=verdict(out.paired)),
        Check(requirement, "CIU: number shown by the show code", meter.number,
              str(number), outcome=verdict(number == meter.number)),
    ]  # fmt: skip


def link_shown(rig: SplitRig, wanted: str, timeout_s: float = LINK_SETTLE_S) -> str:
    """The CIU's link state once it is ``wanted`` or ``timeout_s`` has passed."""
    deadline = time.monotonic() + timeout_s
    while (state := rig.ciu.link_state()) != wanted and time.monotonic() < deadline:
        time.sleep(0.01)
    return state


def kwh(credit_wh: int | None) -> str:
    return "nothing" if credit_wh is None else f"{credit_wh / 1000:g} kWh"


def display_matches(
    requirement: str, what: str, credit_wh: int | None, meter: MeterHandle
) -> Check:
    """The credit the CIU shows is the meter's: the probe reads it rounded down to its
    resolution, the CIU shows the register the meter sent (whole Wh)."""
    reading = meter.read_credit()
    ok = credit_wh is not None and RULE.reading_ok(credit_wh / 1000, reading)
    return Check(requirement, what, f"{reading:g} kWh ({meter.name}'s probe)", kwh(credit_wh),
                 RULE.describe(), outcome=verdict(ok))  # fmt: skip


# -- SPLIT-PAIRING --------------------------------------------------------------------------


@pytest.mark.clause("SPLIT-PAIRING")
def test_re_pairing_by_number_shows_the_number_and_sends_tokens_to_the_new_meter_only(
    rig: SplitRig, request: pytest.FixtureRequest
) -> None:
    """Pair with the other meter by its number, then back: each time the CIU answers OK,
    its show code shows the new number, and a token typed next reaches the new meter only
    (the old one's credit and TID memory stay as they were)."""
    with judged(request) as evidence:
        first, rest, before = scene(rig)
        second = rest[0]
        evidence.note(f"paired with {first.name}; re-pairing with {second.name}, then back")
        checks = paired_as("SPLIT-PAIRING", rig, second)
        outcome = rig.ciu.enter_token(token(second, TID))
        checks.append(shown_as("SPLIT-PAIRING", f"CIU: result of {second.name}'s token "
                               "after re-pairing", outcome, TokenResult.ACCEPT))  # fmt: skip
        checks += credited("SPLIT-PAIRING", second, before[second.name][0], TOKEN_KWH, [TID])
        checks += untouched("SPLIT-PAIRING", first, *before[first.name])
        after = snapshot([second])
        checks += paired_as("SPLIT-PAIRING", rig, first)
        outcome = rig.ciu.enter_token(token(first, TID + 1))
        checks.append(shown_as("SPLIT-PAIRING", f"CIU: result of {first.name}'s token after "
                               "pairing back", outcome, TokenResult.ACCEPT))  # fmt: skip
        checks += credited("SPLIT-PAIRING", first, before[first.name][0], TOKEN_KWH, [TID + 1])
        checks += untouched("SPLIT-PAIRING", second, *after[second.name])
        evidence.judge(checks)


# -- SPLIT-LINK-CUT -------------------------------------------------------------------------


@pytest.mark.clause("SPLIT-LINK-CUT")
def test_link_cut_shows_a_comms_failure_and_re_entry_credits_exactly_once(
    rig: SplitRig, request: pytest.FixtureRequest
) -> None:
    """Two cuts. (1) During entry, before ENTER: the request dies on the line, so the CIU
    must show a communication failure (never Accept), the meter has nothing; after the link
    returns, re-entry is Accept once and then Used. (2) After ENTER, before the meter
    answers: still a failure on the CIU; whether the meter applied it is read on its own
    probe, and re-entry gives Used if it did, Accept if it did not; the credit is the
    token's amount once either way. If the meter answers before the relay lands (a fast
    simulated meter), the attempt is repeated with a new token, up to 3 times."""
    with judged(request) as evidence:
        target, rest, before = scene(rig)
        req = "SPLIT-LINK-CUT"
        digits = token(target, TID)
        outcome = rig.ciu.enter_token(digits, before_enter=rig.cut_link)
        checks = [
            Check(req, "CIU: shown for a token sent into a cut link",
                  "communication failure (no_answer)", shown(outcome),
                  outcome=verdict(outcome.result is None
                                  and outcome.comms_failure == "no_answer")),
            Check(req, "CIU: link state shown", "no_communication", rig.ciu.link_state(),
                  outcome=verdict(rig.ciu.link_state() == "no_communication")),
        ]  # fmt: skip
        checks += untouched(req, target, *before[target.name])
        rig.restore_link()
        checks.append(shown_as(req, "CIU: re-entry after the link returned", rig.ciu.enter_token(
            digits), TokenResult.ACCEPT))  # fmt: skip
        checks.append(shown_as(req, "CIU: the same token once more", rig.ciu.enter_token(
            digits), TokenResult.USED))  # fmt: skip
        checks += credited(req, target, before[target.name][0], TOKEN_KWH, [TID])
        mid = snapshot([target])[target.name]
        for attempt in range(1, CUT_ATTEMPTS + 1):
            tid = TID + attempt
            digits = token(target, tid)
            outcome = rig.ciu.enter_token(digits, after_enter=rig.cut_link)
            applied = tid in target.read_tid_memory()
            if outcome.result is not None:
                # The answer beat the relay: judge that it was real, restore, try again.
                checks.append(Check(req, f"CIU: answer shown before the cut (attempt {attempt})",
                                    "the meter's own result (it stored the TID)",
                                    f"{shown(outcome)}; TID stored: {applied}",
                                    outcome=verdict(not outcome.accepted or applied)))  # fmt: skip
                rig.restore_link()
                mid = snapshot([target])[target.name]
                continue
            evidence.note(f"cut after ENTER landed on attempt {attempt}; the meter "
                          f"{'had' if applied else 'had not'} applied the token")  # fmt: skip
            delta = target.read_credit() - mid[0]
            checks.append(Check(req, "CIU: shown for a token cut off after ENTER",
                                "communication failure (no_answer)", shown(outcome),
                                outcome=verdict(outcome.comms_failure == "no_answer")))  # fmt: skip
            checks.append(Check(req, f"{target.name}: credit while the link is cut",
                                f"{TOKEN_KWH if applied else 0:g} kWh (TID stored: {applied})",
                                f"{delta:g} kWh", RULE.describe(),
                                outcome=verdict(RULE.change_ok(TOKEN_KWH if applied else 0,
                                                               delta))))  # fmt: skip
            rig.restore_link()
            again = rig.ciu.enter_token(digits)
            checks.append(
                shown_as(
                    req,
                    "CIU: re-entry after the link returned",
                    again,
                    TokenResult.USED if applied else TokenResult.ACCEPT,
                )
            )
            checks += credited(req, target, mid[0], TOKEN_KWH, [*mid[1], tid])
            break
        else:
            evidence.note(f"the meter answered before the cut in all {CUT_ATTEMPTS} attempts: "
                          "the after-ENTER case was not reached on this bench")  # fmt: skip
        for meter in rest:
            checks += untouched(req, meter, *before[meter.name])
        evidence.judge(checks)


# -- SPLIT-LINK-SHORT -----------------------------------------------------------------------


@pytest.mark.clause("SPLIT-LINK-SHORT")
def test_link_short_is_shown_and_nothing_is_credited(
    rig: SplitRig, request: pytest.FixtureRequest
) -> None:
    """Short the link: the CIU shows the short-circuit state (sensed on the line, without
    a request), a token typed then fails with reason short and reaches no meter; when the
    short is removed the CIU shows the link ok and the same token is accepted once."""
    with judged(request) as evidence:
        target, rest, before = scene(rig)
        req = "SPLIT-LINK-SHORT"
        digits = token(target, TID)
        rig.short_link()
        state = link_shown(rig, "short")
        outcome = rig.ciu.enter_token(digits)
        display = rig.ciu.display()
        checks = [
            Check(req, "CIU: link state shown once the link is shorted", "short", state,
                  outcome=verdict(state == "short")),
            Check(req, "CIU: shown for a token typed into the short",
                  "communication failure (short)", shown(outcome),
                  outcome=verdict(outcome.result is None and outcome.comms_failure == "short")),
            Check(req, "CIU: display's link state after the token", "short", display.link,
                  outcome=verdict(display.link == "short")),
        ]  # fmt: skip
        for meter in [target, *rest]:
            checks += untouched(req, meter, *before[meter.name])
        rig.restore_link()
        state = link_shown(rig, "ok")
        checks.append(Check(req, "CIU: link state once the short is removed", "ok", state,
                            outcome=verdict(state == "ok")))  # fmt: skip
        checks.append(shown_as(req, "CIU: the same token after the short", rig.ciu.enter_token(
            digits), TokenResult.ACCEPT))  # fmt: skip
        checks += credited(req, target, before[target.name][0], TOKEN_KWH, [TID])
        evidence.note(f"token TID {TID} for {target.name}, typed with the link shorted")
        evidence.judge(checks)


# -- SPLIT-DISPLAY --------------------------------------------------------------------------


@pytest.mark.clause("SPLIT-DISPLAY")
def test_ciu_display_shows_the_meters_result_and_credit(
    rig: SplitRig, request: pytest.FixtureRequest
) -> None:
    """Three tokens (two credits, then the second again): after each, the result the CIU
    shows is the one the meter reports on its probe, and the credit with the result and on
    the idle screen is the meter's. The simulated split bench has no load on its meters yet
    (docs/split-meters.md), so the refresh after consumption is not judged here: the display
    is judged after tokens only."""
    with judged(request) as evidence:
        target, _rest, _before = scene(rig)
        req = "SPLIT-DISPLAY"
        checks: list[Check] = []
        steps = [(TID, TokenResult.ACCEPT), (TID + 1, TokenResult.ACCEPT),
                 (TID + 1, TokenResult.USED)]  # fmt: skip
        for n, (tid, expected) in enumerate(steps, 1):
            outcome = rig.ciu.enter_token(token(target, tid))
            meter_result = target.read_token_result()
            code = meter_result["code"]
            checks.append(Check(req, f"CIU: result shown for token {n} (TID {tid})",
                                f"{expected.label} ({target.name} reports {meter_result['name']})",
                                shown(outcome),
                                outcome=verdict(outcome.result is expected
                                                and outcome.result == code)))  # fmt: skip
            checks.append(display_matches(req, f"CIU: credit shown with result {n}",
                                          outcome.credit_wh, target))  # fmt: skip
            rig.ciu.settle()
            idle = rig.ciu.display()
            checks.append(display_matches(req, f"CIU: credit on the idle screen after token {n}",
                                          idle.credit_wh, target))  # fmt: skip
        evidence.note(f"tokens for {target.name}: TIDs {TID}, {TID + 1}, {TID + 1} again; "
                      "consumption not judged (no load on the simulated split bench)")  # fmt: skip
        evidence.judge(checks)


# -- SPLIT-INTERLEAVED ----------------------------------------------------------------------


@pytest.mark.clause("SPLIT-INTERLEAVED")
def test_two_meters_credited_in_interleaved_order_each_by_its_own_tokens(
    rig: SplitRig, request: pytest.FixtureRequest
) -> None:
    """Tokens for two meters in the order A, B, A, B, re-pairing before each: every token
    is accepted, and at the end each meter holds exactly its own two tokens' credit and
    TIDs (nothing of the other's, nothing lost)."""
    with judged(request) as evidence:
        a, rest, before = scene(rig)
        b = rest[0]
        req = "SPLIT-INTERLEAVED"
        order = [(a, TID), (b, TID + 1), (a, TID + 2), (b, TID + 3)]
        checks: list[Check] = []
        current = a
        for meter, tid in order:
            if meter is not current:
                out = rig.ciu.pair(meter.number)
                checks.append(Check(req, f"CIU: pairing with {meter.name}", "OK",
                                    "OK" if out.paired else f"failed ({out.reason})",
                                    outcome=verdict(out.paired)))  # fmt: skip
                current = meter
            outcome = rig.ciu.enter_token(token(meter, tid))
            checks.append(shown_as(req, f"CIU: result of {meter.name}'s token TID {tid}",
                                   outcome, TokenResult.ACCEPT))  # fmt: skip
        evidence.note("order: " + ", ".join(f"{m.name} TID {t}" for m, t in order))
        for meter in (a, b):
            own = [t for m, t in order if m is meter]
            checks += credited(req, meter, before[meter.name][0], len(own) * TOKEN_KWH, own)
        for meter in rest[1:]:
            checks += untouched(req, meter, *before[meter.name])
        evidence.judge(checks)


# -- SPLIT-CIU-POWER ------------------------------------------------------------------------

SUPPLY_SETTLE_S = 10.0  # wall seconds for the CIU to go dark, or come back, after its relay
ALARM = "low_credit_alarm_wh"  # the CIU-local setting the readback can set


@pytest.mark.clause("SPLIT-CIU-POWER")
def test_ciu_power_loss_loses_the_entry_keeps_the_pairing_and_settings_as_declared(
    rig: SplitRig, request: pytest.FixtureRequest
) -> None:
    """Set the CIU's local low-credit alarm, key half a token, cut the CIU's own supply
    (ciu.supply_channel), key the whole token on the dark CIU, restore the supply. A CIU
    without a battery must have gone dark, lost the half entry and sent nothing; a battery
    CIU stays up. Once back, it is paired with the same meter, its alarm is the default
    again when declared volatile (kept otherwise), and the token typed then is accepted
    once by the paired meter only: the meter saw exactly one token."""
    with judged(request) as evidence:
        if not rig.can_cut_ciu_supply:
            pytest.skip(f"rig {rig.name} cannot cut its CIU's supply: set ciu.supply_channel")
        target, rest, before = scene(rig)
        req = "SPLIT-CIU-POWER"
        declared = rig.ciu.config
        dark_expected = not declared.battery_backup
        digits = token(target, TID)
        paired_before = rig.ciu.paired
        seen_before = int(target.read_token_result()["n"] or 0)
        default = rig.ciu.settings().get(ALARM, "")
        alarm = str(int(default or 0) + 5000)
        settable = rig.ciu.set_setting(ALARM, int(alarm))
        if dark_expected:
            rig.ciu.press_keys(list(digits[:10]))  # half an entry, then the supply goes
        rig.cut_ciu_supply()
        shown = rig.ciu.wait_powered(not dark_expected, SUPPLY_SETTLE_S)
        checks = [
            Check(
                req,
                "CIU: powered once its own supply is cut",
                "no (dark)" if dark_expected else "yes (battery_backup)",
                "yes" if shown.powered else "no",
                outcome=verdict(shown.powered != dark_expected),
            ),
        ]
        if dark_expected:
            rig.ciu.press_keys([*digits, "ENTER"], confirm=False)  # typed on the dark CIU
        rig.restore_ciu_supply()
        up = rig.ciu.wait_powered(True, SUPPLY_SETTLE_S)
        checks.append(
            Check(
                req,
                "CIU: powered once its supply is back",
                "yes",
                "yes" if up.powered else "no",
                outcome=verdict(up.powered),
            )
        )
        rig.ciu.settle()
        if dark_expected:
            entry = rig.ciu.display().entry
            checks.append(
                Check(
                    req,
                    "CIU: the half entry after the power loss",
                    "none (lost)",
                    entry or "none",
                    outcome=verdict(entry == ""),
                )
            )
        paired_after = rig.ciu.paired
        checks.append(
            Check(
                req,
                "CIU: paired number after the power loss",
                f"{paired_before} (kept)",
                str(paired_after),
                outcome=verdict(paired_after == paired_before),
            )
        )
        if settable:
            reverts = dark_expected and declared.settings_volatile
            want = default if reverts else alarm
            got = rig.ciu.settings().get(ALARM, "")
            checks.append(
                Check(
                    req,
                    f"CIU: {ALARM} after the power loss (set to {alarm})",
                    f"{want} ({'the default: declared volatile' if reverts else 'kept'})",
                    got,
                    outcome=verdict(got == want),
                )
            )
        else:
            evidence.note("the CIU readback offers no SET SETTING: local settings not judged")
        outcome = rig.ciu.enter_token(digits)
        checks.append(
            shown_as(req, "CIU: the token typed once the CIU is back", outcome, TokenResult.ACCEPT)
        )
        checks += credited(req, target, before[target.name][0], TOKEN_KWH, [TID])
        seen = int(target.read_token_result()["n"] or 0) - seen_before
        checks.append(
            Check(
                req,
                f"{target.name}: tokens processed",
                "1 (the one typed once the CIU was back)",
                str(seen),
                outcome=verdict(seen == 1),
            )
        )
        for meter in rest:
            checks += untouched(req, meter, *before[meter.name])
        evidence.note(
            f"token TID {TID} for {target.name}; CIU battery_backup="
            f"{declared.battery_backup}, settings_volatile={declared.settings_volatile}"
        )
        evidence.judge(checks)


# -- SPLIT-LOCKOUT --------------------------------------------------------------------------


def rejects(requirement: str, meter: MeterHandle, expected: int, when: str) -> Check:
    """``meter``'s reject counter (GET LOCKOUT ``rejects``) is ``expected``."""
    got = int(meter.read_lockout()["rejects"])
    return Check(requirement, f"{meter.name}: rejects counted {when}", str(expected), str(got),
                 outcome=verdict(got == expected))  # fmt: skip


@pytest.mark.clause("SPLIT-LOCKOUT")
def test_rejects_are_counted_on_each_meter_and_survive_re_pairing(
    rig: SplitRig, request: pytest.FixtureRequest
) -> None:
    """The meter judges, so the meter counts (the CIU does not decrypt). Key N-1 tokens
    made for the other meter (N: the paired meter's lockout.after_rejects): each is one
    reject on the paired meter. Pair with the other meter and key one of the first
    meter's tokens there: one reject on it, and the first meter's count unchanged. Pair
    back: the first meter's count is still N-1; one more reject makes N, and it locks.
    Judged on the counters each meter's probe reports, so the lock's length (seconds on a
    fast profile, minutes on a real meter) does not matter."""
    with judged(request) as evidence:
        a, rest, _before = scene(rig)
        b = rest[0]
        req = "SPLIT-LOCKOUT"
        n = a.profile.lockout.after_rejects
        tid = iter(range(TID, TID + n + 2))
        evidence.note(f"{a.name} locks after {n} rejects; tokens for the other meter's key")
        checks = [rejects(req, m, 0, "at the start") for m in (a, b)]
        for i in range(n - 1):
            outcome = rig.ciu.enter_token(token(b, next(tid)))
            checks.append(shown_as(req, f"CIU: {a.name}'s answer to foreign token {i + 1}",
                                   outcome, TokenResult.CRC))  # fmt: skip
        checks.append(rejects(req, a, n - 1, f"after {n - 1} foreign tokens"))
        checks += paired_as("SPLIT-PAIRING", rig, b)
        outcome = rig.ciu.enter_token(token(a, next(tid)))
        checks.append(shown_as(req, f"CIU: {b.name}'s answer to {a.name}'s token", outcome,
                               TokenResult.CRC))  # fmt: skip
        checks.append(rejects(req, b, 1, f"after one foreign token on {b.name}"))
        checks.append(rejects(req, a, n - 1, f"while the CIU is paired with {b.name}"))
        checks += paired_as("SPLIT-PAIRING", rig, a)
        checks.append(rejects(req, a, n - 1, f"after pairing back with {a.name}"))
        rig.ciu.enter_token(token(b, next(tid)))
        lock = a.read_lockout()
        got, state = int(lock["rejects"]), "locked" if lock["active"] else "not locked"
        last = f"{a.name}: rejects counted after one more foreign token"
        checks.append(Check(req, last, f"{n} (locks)", f"{got} ({state})",
                            outcome=verdict(got == n)))  # fmt: skip
        evidence.judge(checks)

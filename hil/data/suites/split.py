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
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from hil.conformance.checks import Check, CreditRule
from hil.conformance.evidence import Evidence
from hil.conformance.outcome import outcome_of
from hil.meter.results import TokenResult
from hil.paths import DEFAULT_RIG, resolve_rig
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
    with SplitRig.open(path, speed=request.config.getoption("rig_speed", None)) as rig:
        if len(rig.meters) < 2:
            pytest.skip(f"rig {rig.name} has one meter: these checks need two behind one CIU")
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

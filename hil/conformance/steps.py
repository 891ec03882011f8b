"""The one way a suite injects a token: predict, enter, read back, compare, record."""

from __future__ import annotations

from hil.conformance.evidence import Evidence
from hil.conformance.factory import Case
from hil.conformance.oracle import Expectation, Oracle
from hil.errors import ReplyTimeout
from hil.rig.rig import Rig, TokenOutcome

CREDIT_TOLERANCE_KWH = 0.0015  # register resolution (0.001 kWh) plus rounding


class ConformanceFailure(AssertionError):
    """The meter did something the standard does not allow (a *fail* verdict)."""


def inject(
    rig: Rig,
    oracle: Oracle,
    evidence: Evidence,
    case: Case,
    *,
    via: str | None = None,
    check_relay: bool = True,
) -> TokenOutcome:
    """Enter ``case`` once and check result code, credit change and relay against the oracle."""
    before = rig.read_credit()
    observed = rig.enter_token(case.digits, via=via)
    # Asked when the result arrives: the meter decided at the end of entry, not its start.
    expected: Expectation = oracle.expect(case.digits)
    after = rig.read_credit()
    relay_closed, _reason = rig.read_relay()
    delta = after - before
    problems = []
    if observed.result != expected.result:
        problems.append(f"answered {observed.result.label} (code {int(observed.result)})")
    if abs(delta - expected.credit_delta_wh / 1000) > CREDIT_TOLERANCE_KWH:
        problems.append(f"changed credit by {delta:+.3f} kWh")
    if check_relay and relay_closed != expected.relay_closed:
        problems.append(f"left the relay {'closed' if relay_closed else 'open'}")
    evidence.record(
        case, expected, observed, delta, relay_closed, ok=not problems, credit_kwh=after
    )
    if problems:
        raise ConformanceFailure(
            f"{case.label}: the meter {', '.join(problems)}; a conforming meter: "
            f"{expected.describe()} ({expected.detail or 'IEC 62055-41'})"
        )
    return observed


def check_state(rig: Rig, oracle: Oracle, evidence: Evidence, what: str = "state") -> None:
    """Compare credit, relay and TID memory with the oracle (after tokens or time passing)."""
    oracle.advance()
    model = oracle.model
    credit = rig.read_credit()
    relay_closed, reason = rig.read_relay()
    tids = rig.read_tid_memory()
    problems = []
    if abs(credit - model.credit_wh / 1000) > CREDIT_TOLERANCE_KWH:
        problems.append(f"credit {credit:.3f} kWh (expected {model.credit_wh / 1000:.3f})")
    if relay_closed != model.relay_closed:
        problems.append(
            f"relay {'closed' if relay_closed else 'open'} ({reason or 'no reason'}),"
            f" expected {'closed' if model.relay_closed else 'open'}"
            f" ({model.relay_reason or 'no reason'})"
        )
    if tids != model.tid_memory:
        problems.append(
            f"TID memory holds {len(tids)} TIDs, expected {len(model.tid_memory)}"
            + (f" (first difference at {_first_diff(tids, model.tid_memory)})")
        )
    evidence.note(
        f"{what}: credit {credit:.3f} kWh, relay {'closed' if relay_closed else 'open'},"
        f" {len(tids)} TIDs in memory" + ("" if not problems else " - MISMATCH")
    )
    if problems:
        raise ConformanceFailure(f"{what}: the meter shows {'; '.join(problems)}")


def _first_diff(a: list[int], b: list[int]) -> str:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return f"position {i}: {x} vs {y}"
    return f"position {min(len(a), len(b))}"


def await_meter_event(
    rig: Rig,
    oracle: Oracle,
    evidence: Evidence,
    name: str,
    *,
    timeout_s: float = 5.0,
    **fields: str,
) -> None:
    """Wait for an event the *meter* must produce. If it never comes, that is the meter's
    failure (checked against the oracle), not a bench fault."""
    try:
        rig.wait_for(name, timeout_s=timeout_s, **fields)
    except ReplyTimeout:
        wanted = " ".join(f"{k}={v}" for k, v in fields.items())
        check_state(rig, oracle, evidence, f"no {name} {wanted} within {timeout_s:g} s")
        raise ConformanceFailure(
            f"the meter never reported {name} {wanted} within {timeout_s:g} s, although its "
            "state matches the oracle: it must report state changes on its probe"
        ) from None

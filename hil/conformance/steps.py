"""The one way a suite injects a token: predict, enter, read back, compare, record."""

from __future__ import annotations

from hil.conformance.evidence import Evidence
from hil.conformance.factory import Case
from hil.conformance.oracle import Expectation, Oracle
from hil.rig.rig import Rig, TokenOutcome

CREDIT_TOLERANCE_KWH = 0.0015  # register resolution (0.001 kWh) plus rounding


class ConformanceFailure(AssertionError):
    """The meter did something the standard does not allow (a *fail* verdict)."""


def inject(rig: Rig, oracle: Oracle, evidence: Evidence, case: Case, *,
           via: str | None = None, check_relay: bool = True) -> TokenOutcome:  # fmt: skip
    """Enter ``case`` once and check result code, credit change and relay against the oracle."""
    before = rig.read_credit()
    expected: Expectation = oracle.expect(case.digits)
    observed = rig.enter_token(case.digits, via=via)
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
    evidence.record(case, expected, observed, delta, relay_closed, ok=not problems)
    if problems:
        raise ConformanceFailure(
            f"{case.label}: the meter {', '.join(problems)}; a conforming meter: "
            f"{expected.describe()} ({expected.detail or 'IEC 62055-41'})"
        )
    return observed

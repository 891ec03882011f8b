"""Evidence: what each test injected, what a conforming meter must do, what the meter did.

A test records one ``Step`` per token and one ``Check`` per judgement; the front ends
journal them with the test, and the run record and the compliance report are built from
them. Steps carry token digits, class, subclass and TID, never key values.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from hil.conformance.checks import Check, CheckFailed
from hil.conformance.factory import Case
from hil.conformance.oracle import Expectation
from hil.rig.readback import Reading
from hil.rig.rig import TokenOutcome


@dataclass
class Step:
    label: str
    token: str
    token_class: int | None
    subclass: int | None
    tid: int | None
    expected_result: str
    observed_result: str
    expected_credit_delta_kwh: float
    observed_credit_delta_kwh: float
    expected_relay: str
    observed_relay: str
    elapsed_s: float
    ok: bool
    credit_kwh: float = 0.0  # credit after the token, for the credit-over-time plot
    at: str = ""  # wall-clock time (UTC, ISO 8601) of the result
    mismatches: list[str] = field(default_factory=list)  # result / credit / relay, as judged

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Evidence:
    steps: list[Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    readings: list[Reading] = field(default_factory=list)  # operator answers, display frames

    def judge(self, checks: list[Check], message: str = "") -> None:
        """Record ``checks``; if any failed, raise ``CheckFailed`` (the test fails)."""
        self.checks.extend(checks)
        failed = [c for c in checks if not c.passed]
        if failed:
            raise CheckFailed(message or "; ".join(_say(c) for c in failed), failed)

    def as_dict(self) -> dict[str, Any]:
        return {
            "steps": [s.as_dict() for s in self.steps],
            "notes": self.notes,
            "checks": [c.as_dict() for c in self.checks],
            "readings": [r.as_dict() for r in self.readings],
        }

    def record(
        self,
        case: Case,
        expected: Expectation,
        observed: TokenOutcome,
        credit_delta_kwh: float,
        relay_closed: bool,
        ok: bool,
        credit_kwh: float = 0.0,
        mismatches: list[str] | None = None,
    ) -> Step:
        token = case.token
        step = Step(
            label=case.label,
            token=case.digits,
            token_class=getattr(token, "token_class", observed.token_class),
            subclass=getattr(token, "subclass", observed.subclass),
            tid=case.tid if case.tid is not None else observed.tid,
            expected_result=expected.result.label,
            observed_result=observed.result.label,
            expected_credit_delta_kwh=expected.credit_delta_wh / 1000,
            observed_credit_delta_kwh=round(credit_delta_kwh, 3),
            expected_relay="closed" if expected.relay_closed else "open",
            observed_relay="closed" if relay_closed else "open",
            elapsed_s=round(observed.elapsed_s, 3),
            ok=ok,
            credit_kwh=round(credit_kwh, 3),
            at=datetime.now(UTC).isoformat(timespec="milliseconds"),
            mismatches=list(mismatches or []),
        )
        self.steps.append(step)
        return step

    def note(self, text: str) -> None:
        self.notes.append(text)


def _say(check: Check) -> str:
    return f"{check.what}: observed {check.observed}, expected {check.expected}"

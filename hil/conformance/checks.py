"""Checks: every judgement of the meter, recorded as data where it is made.

A check names the requirement it judges, what was looked at, the expected and the observed
value, the tolerance it was judged with and its outcome. It is judged once, here; the report
renders checks and never judges again. A failed check raises ``CheckFailed``: the only
exception that makes a test *fail* (``hil.conformance.outcome``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

CheckOutcome = Literal["pass", "fail"]
_EPS_KWH = 1e-6  # float noise in readings such as "12.345"


@dataclass(frozen=True)
class Check:
    requirement: str
    what: str
    expected: str
    observed: str
    tolerance: str = ""
    outcome: CheckOutcome = "pass"

    @property
    def passed(self) -> bool:
        return self.outcome == "pass"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class CheckFailed(AssertionError):
    """The meter failed a check: a *fail* verdict for the check's requirement."""

    def __init__(self, message: str, checks: list[Check]) -> None:
        super().__init__(message)
        self.checks = checks


@dataclass(frozen=True)
class CreditRule:
    """How a credit reading compares with the exact value a conforming meter holds.

    The probe contract (docs/probe-protocol.md) says a meter reports its register rounded
    down to a whole multiple of its declared resolution. So a reading ``v`` of an exact
    ``x`` lies in ``(x - resolution, x]``; a change between two readings is exact when the
    change itself is a whole number of resolution steps (token amounts are), else within one
    step. ``slack_kwh`` widens both for energy used while a load was on.
    """

    resolution_kwh: float

    def reading_ok(self, exact_kwh: float, reading_kwh: float, slack_kwh: float = 0.0) -> bool:
        low = exact_kwh - self.resolution_kwh - slack_kwh - _EPS_KWH
        return low < reading_kwh <= exact_kwh + slack_kwh + _EPS_KWH

    def change_ok(self, exact_kwh: float, observed_kwh: float, slack_kwh: float = 0.0) -> bool:
        steps = exact_kwh / self.resolution_kwh
        whole = abs(steps - round(steps)) < 1e-6
        allowed = slack_kwh + (0.0 if whole and not slack_kwh else self.resolution_kwh)
        return abs(observed_kwh - exact_kwh) <= allowed + _EPS_KWH

    def describe(self, slack_kwh: float = 0.0) -> str:
        text = f"reading rounded down to {self.resolution_kwh:g} kWh"
        return text + (f", +/- {slack_kwh:.4f} kWh used under load" if slack_kwh else "")

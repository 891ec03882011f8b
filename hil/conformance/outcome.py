"""The outcome rule, one for every front end (pytest plugin, Robot listener, run record).

Only a failed check of the meter is a *fail*. Every other way a test can end badly (a
bench fault, a configuration error, a harness bug, a timeout, an interruption) is an
*error*: it says nothing about the meter. A selected test that never ran is *not run*,
never a failure. A run is PASS only when every selected test ran and passed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from hil.conformance.checks import CheckFailed
from hil.errors import BenchCannot

TestOutcome = Literal["pass", "fail", "error", "skip", "not_run"]
RunVerdict = Literal["pass", "fail", "error", "incomplete"]
RequirementOutcome = Literal["pass", "fail", "error", "not_run", "not_applicable", "not_covered"]
TEST_OUTCOMES: tuple[str, ...] = ("pass", "fail", "error", "skip", "not_run")
__all__ = ["NOT_APPLICABLE", "TEST_OUTCOMES", "BenchCannot", "Judged", "NotApplicable",
           "RequirementOutcome", "RunVerdict", "Tally", "TestOutcome", "outcome_of",
           "requirement_outcome", "run_verdict"]  # fmt: skip
NOT_APPLICABLE = "not applicable: "  # how a skip for an undeclared function's reason starts


class NotApplicable(Exception):
    """The test is of a function the meter does not declare (its meter file): it does not
    apply to this meter. Front ends record it as a skip marked not applicable, unlike a skip
    for a feature the bench lacks."""

    def __init__(self, reason: str) -> None:
        super().__init__(NOT_APPLICABLE + reason)
        self.reason = reason


def outcome_of(exc: BaseException | None) -> TestOutcome:
    """The outcome of a test body that raised ``exc`` (None: it returned)."""
    if exc is None:
        return "pass"
    if isinstance(exc, CheckFailed):
        return "fail"
    return "error"


@dataclass(frozen=True)
class Tally:
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    not_run: int = 0

    @property
    def ran(self) -> int:
        return self.passed + self.failed + self.errors


def run_verdict(
    tally: Tally,
    *,
    finished: bool,
    covered: int | None = None,
    total: int | None = None,
) -> tuple[RunVerdict, str]:
    """The run's verdict and the label a report shows for it.

    ``finished``: the run reached its end (not interrupted, not killed). ``covered`` and
    ``total``: requirements the run judged and the catalogue's size, for a subset's label.
    """
    complete = finished and tally.not_run == 0
    if tally.failed:
        return "fail", "FAIL" if complete else "FAIL (incomplete)"
    if not complete:
        return "incomplete", "INCOMPLETE"
    if tally.errors or not tally.ran:
        return "error", "ERROR"
    if covered is not None and total and covered < total:
        return "pass", f"PASS (subset: {covered} of {total} requirements)"
    return "pass", "PASS"


@dataclass(frozen=True)
class Judged:
    """What one test says about one requirement: its outcome and the outcomes of the checks
    it made for that requirement (empty for a journal from before checks)."""

    outcome: str
    checks: tuple[str, ...] = ()
    has_checks: bool = False  # the test recorded checks at all (for any requirement)


def requirement_outcome(tests: Iterable[Judged]) -> RequirementOutcome:
    """A requirement's verdict from the tests that cover it.

    A test fails a requirement only through a failed check carrying its id; a test that
    stopped on another requirement's failed check did not finish judging this one (not
    run). Worst first: fail, error, pass, not run; then not applicable when its tests were
    skipped because the meter does not declare the function; not covered when no test ran
    for it (none, or skipped for want of a bench feature).
    """
    seen: set[str] = set()
    for t in tests:
        if "fail" in t.checks:
            seen.add("fail")
        elif t.outcome == "fail" and not t.has_checks:
            seen.add("fail")  # an old journal: the test's verdict is all there is
        elif t.outcome in ("fail", "not_run"):
            seen.add("not_run")
        elif t.outcome in ("pass", "error", "not_applicable"):
            seen.add(t.outcome)
    for verdict in ("fail", "error", "pass", "not_run", "not_applicable"):
        if verdict in seen:
            return verdict  # type: ignore[return-value]
    return "not_covered"

"""Compare two run records: what broke, what was fixed, what changed speed.

Tests are matched by ``case`` (the test id without the rig label), so a run on one meter
compares with a run on another; when either run has several rigs they are matched by rig
and case. A test id that occurs more than once in a run counts by its last result.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from hil.report.record import BAD, Counts, Coverage, RunRecord, TestRecord

SHIFT_RATIO = 0.20  # a timing shift is more than 20% ...
SHIFT_SECONDS = 0.5  # ... and more than 0.5 s


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunSummary(_Model):
    start: datetime | None = None
    verdict: str
    partial: bool
    meters: list[str]  # "rig:serial firmware x"
    counts: Counts
    coverage: Coverage


class TestChange(_Model):
    __test__: ClassVar[bool] = False  # not a pytest test class

    key: str
    name: str
    before: str | None  # verdict in run A (None: not in A)
    after: str | None  # verdict in run B (None: not in B)
    clauses: list[str] = []
    message: str = ""  # run B's failure message (run A's for fixed tests)


class TimingShift(_Model):
    key: str
    name: str
    before_s: float
    after_s: float
    delta_s: float
    percent: float | None


class MeanShift(_Model):
    before_s: float | None = None
    after_s: float | None = None
    delta_s: float | None = None
    percent: float | None = None


class RequirementChange(_Model):
    id: str
    before: str
    after: str


class RunDiff(_Model):
    a: RunSummary
    b: RunSummary
    new_failures: list[TestChange] = []
    fixed: list[TestChange] = []
    still_failing: list[TestChange] = []
    other_changes: list[TestChange] = []
    added: list[TestChange] = []
    removed: list[TestChange] = []
    timing_shifts: list[TimingShift] = []
    token_entry_mean: MeanShift = MeanShift()
    requirement_changes: list[RequirementChange] = []

    @property
    def changed(self) -> bool:
        return bool(
            self.new_failures
            or self.fixed
            or self.other_changes
            or self.added
            or self.removed
            or self.timing_shifts
            or self.requirement_changes
            or self.a.verdict != self.b.verdict
        )


def _summary(record: RunRecord) -> RunSummary:
    return RunSummary(
        start=record.run.start,
        verdict=record.verdict,
        partial=record.partial,
        meters=[f"{r.id}" + (f" firmware {r.firmware}" if r.firmware else "") for r in record.rigs],
        counts=record.counts,
        coverage=record.coverage,
    )


def _keyed(record: RunRecord, by_rig: bool) -> dict[str, TestRecord]:
    return {(f"{t.rig} {t.case}" if by_rig else t.case): t for t in record.tests}


def _change(key: str, a: TestRecord | None, b: TestRecord | None) -> TestChange:
    latest = b or a
    assert latest is not None
    message = (b.message if b and b.verdict in BAD else "") or (a.message if a else "")
    return TestChange(
        key=key,
        name=latest.name,
        before=a.verdict if a else None,
        after=b.verdict if b else None,
        clauses=latest.clauses,
        message=message,
    )


def diff_runs(a: RunRecord, b: RunRecord) -> RunDiff:
    """What changed from run ``a`` (before) to run ``b`` (after)."""
    by_rig = len(a.rigs) > 1 or len(b.rigs) > 1
    tests_a, tests_b = _keyed(a, by_rig), _keyed(b, by_rig)
    diff = RunDiff(a=_summary(a), b=_summary(b))
    for key, tb in tests_b.items():
        ta = tests_a.get(key)
        if ta is None:
            diff.added.append(_change(key, None, tb))
            if tb.verdict in BAD:
                diff.new_failures.append(_change(key, None, tb))
            continue
        bad_a, bad_b = ta.verdict in BAD, tb.verdict in BAD
        if bad_b and not bad_a:
            diff.new_failures.append(_change(key, ta, tb))
        elif bad_a and bad_b:
            diff.still_failing.append(_change(key, ta, tb))
        elif bad_a and tb.verdict == "pass":
            diff.fixed.append(_change(key, ta, tb))
        elif ta.verdict != tb.verdict:
            diff.other_changes.append(_change(key, ta, tb))  # to or from skip
        if (
            ta.duration_s is not None
            and tb.duration_s is not None
            and "skip"
            not in (
                ta.verdict,
                tb.verdict,
            )
        ):
            delta = tb.duration_s - ta.duration_s
            if abs(delta) > SHIFT_SECONDS and abs(delta) > SHIFT_RATIO * ta.duration_s:
                diff.timing_shifts.append(
                    TimingShift(
                        key=key,
                        name=tb.name,
                        before_s=ta.duration_s,
                        after_s=tb.duration_s,
                        delta_s=round(delta, 3),
                        percent=round(100 * delta / ta.duration_s, 1) if ta.duration_s else None,
                    )
                )
    diff.removed = [_change(k, t, None) for k, t in tests_a.items() if k not in tests_b]
    diff.timing_shifts.sort(key=lambda s: -abs(s.delta_s))

    mean_a, mean_b = a.timing.token_entry.mean_s, b.timing.token_entry.mean_s
    if mean_a is not None or mean_b is not None:
        delta = None if mean_a is None or mean_b is None else round(mean_b - mean_a, 4)
        diff.token_entry_mean = MeanShift(
            before_s=mean_a,
            after_s=mean_b,
            delta_s=delta,
            percent=round(100 * delta / mean_a, 1) if delta is not None and mean_a else None,
        )

    rows_a = {r.id: r.verdict for r in a.requirements}
    rows_b = {r.id: r.verdict for r in b.requirements}
    for rid in dict.fromkeys([*rows_a, *rows_b]):
        before, after = rows_a.get(rid, "not_covered"), rows_b.get(rid, "not_covered")
        if before != after:
            diff.requirement_changes.append(RequirementChange(id=rid, before=before, after=after))
    return diff


# --- text -------------------------------------------------------------------------------


def _verdict(summary: RunSummary) -> str:
    return summary.verdict.upper() + (" (PARTIAL)" if summary.partial else "")


def _run_line(label: str, summary: RunSummary) -> str:
    when = summary.start.strftime("%Y-%m-%d %H:%M UTC") if summary.start else "unknown time"
    meters = "; ".join(summary.meters) or "no rig"
    c = summary.counts
    return (
        f"{label}: {when}, {meters}: {_verdict(summary)} - {c.total} tests "
        f"({c.passed} passed, {c.failed} failed, {c.errors} errors, {c.skipped} skipped), "
        f"coverage {summary.coverage.covered}/{summary.coverage.total}"
    )


def _verdicts(change: TestChange) -> str:
    return f"{change.before or 'absent'} -> {change.after or 'absent'}"


def format_diff(diff: RunDiff, *, width: int = 100) -> str:
    """The diff as plain text for a terminal."""
    out = [_run_line("A", diff.a), _run_line("B", diff.b), ""]
    if diff.a.verdict != diff.b.verdict or diff.a.partial != diff.b.partial:
        out.append(f"Overall verdict: {_verdict(diff.a)} -> {_verdict(diff.b)}")
    else:
        out.append(f"Overall verdict unchanged: {_verdict(diff.b)}")

    def section(title: str, changes: list[TestChange], show_message: bool = False) -> None:
        if not changes:
            out.append(f"{title}: none")
            return
        out.append("")
        out.append(f"{title} ({len(changes)}):")
        for ch in changes:
            clauses = f"  [{', '.join(ch.clauses)}]" if ch.clauses else ""
            out.append(f"  {_verdicts(ch):<18} {ch.key}{clauses}")
            if show_message and ch.message:
                text = ch.message.splitlines()[0]
                limit = width - 6
                out.append("      " + (text if len(text) <= limit else text[: limit - 3] + "..."))

    section("New failures", diff.new_failures, show_message=True)
    section("Fixed", diff.fixed)
    section("Still failing", diff.still_failing, show_message=True)
    if diff.other_changes:
        section("Other verdict changes", diff.other_changes)
    section("Added tests", diff.added)
    section("Removed tests", diff.removed)

    if diff.requirement_changes:
        out += ["", f"Requirement verdict changes ({len(diff.requirement_changes)}):"]
    else:
        out.append("Requirement verdict changes: none")
    for rc in diff.requirement_changes:
        out.append(f"  {rc.id:<22} {rc.before} -> {rc.after}")

    shifts = f"Timing shifts (>{SHIFT_RATIO:.0%} and >{SHIFT_SECONDS} s)"
    if diff.timing_shifts:
        out += ["", f"{shifts} ({len(diff.timing_shifts)}):"]
    else:
        out.append(f"{shifts}: none")
    for ts in diff.timing_shifts:
        pct = f", {ts.percent:+.0f}%" if ts.percent is not None else ""
        out.append(
            f"  {ts.before_s:7.2f} s -> {ts.after_s:7.2f} s ({ts.delta_s:+.2f} s{pct})  {ts.key}"
        )
    m = diff.token_entry_mean
    if m.before_s is not None and m.after_s is not None:
        pct = f", {m.percent:+.1f}%" if m.percent is not None else ""
        out.append(
            f"Token entry mean: {m.before_s:.3f} s -> {m.after_s:.3f} s ({m.delta_s:+.3f} s{pct})"
        )
    elif m.before_s is not None or m.after_s is not None:
        out.append(
            "Token entry mean: "
            f"{'none' if m.before_s is None else f'{m.before_s:.3f} s'} -> "
            f"{'none' if m.after_s is None else f'{m.after_s:.3f} s'}"
        )
    return "\n".join(out) + "\n"

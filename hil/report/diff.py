"""Compare two run records: what broke, what was fixed, what changed speed.

Tests are matched by ``case`` (the test id without the rig label), so a run on one meter
compares with a run on another. When a case ran on several rigs, its results pair up by rig
id where both runs have that rig, then in rig order (bench1 and bench2 against bench3 and
bench4). A case that occurs more than once on one rig counts by its last result.

A test that did not run (``not_run``) is never a failure: not a new failure, not still
failing. Two runs that share no test, ran different suites, judged against different
requirement catalogues or ran on different kinds of meter are *not comparable*: the diff
says so in a sentence (``RunDiff.not_comparable``).
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
    label: str = ""  # the record's verdict label, e.g. "PASS (subset: 4 of 24 requirements)"
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
    not_comparable: list[str] = []  # sentences: why A and B do not compare
    notes: list[str] = []  # what limits the comparison (suites only in one run, ...)

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
        label=getattr(record, "verdict_label", "") or record.verdict.upper(),
        partial=record.partial,
        meters=[f"{r.id}" + (f" firmware {r.firmware}" if r.firmware else "") for r in record.rigs],
        counts=record.counts,
        coverage=record.coverage,
    )


def _by_case(record: RunRecord) -> dict[str, dict[str | None, TestRecord]]:
    """case -> rig id -> test (the last result of that case on that rig)."""
    out: dict[str, dict[str | None, TestRecord]] = {}
    for t in record.tests:
        out.setdefault(t.case, {})[t.rig] = t
    return out


def _pairs(a: RunRecord, b: RunRecord) -> list[tuple[str, TestRecord | None, TestRecord | None]]:
    """``(key, test in A, test in B)`` for every case of either run, matched by case; a
    case on several rigs pairs by rig id first, then in the order the rigs appear."""
    cases_a, cases_b = _by_case(a), _by_case(b)
    order_a = {r.id: i for i, r in enumerate(a.rigs)}
    order_b = {r.id: i for i, r in enumerate(b.rigs)}
    out: list[tuple[str, TestRecord | None, TestRecord | None]] = []
    for case in dict.fromkeys([*cases_b, *cases_a]):
        in_a, in_b = dict(cases_a.get(case, {})), dict(cases_b.get(case, {}))
        several = len(in_a) > 1 or len(in_b) > 1
        matched = [(rig, in_a.pop(rig), in_b.pop(rig)) for rig in list(in_b) if rig in in_a]
        rest_a = sorted(in_a.items(), key=lambda kv: order_a.get(kv[0], 0))
        rest_b = sorted(in_b.items(), key=lambda kv: order_b.get(kv[0], 0))
        for i in range(max(len(rest_a), len(rest_b))):
            ta = rest_a[i][1] if i < len(rest_a) else None
            tb = rest_b[i][1] if i < len(rest_b) else None
            matched.append(((tb or ta).rig, ta, tb))  # type: ignore[union-attr]
        for rig, ta, tb in matched:
            key = f"{case} on {(rig or '?').split(':')[0]}" if several else case
            out.append((key, ta, tb))
    return out


def _meter_kind(record: RunRecord) -> set[str]:
    """What kind of meter a run tested: the lab file's make and model, else the meter's
    manufacturer code; the simulator is a kind of its own."""
    lab = getattr(record, "lab", None)
    kinds = set()
    for rig in record.rigs:
        if rig.simulated:
            kinds.add("the simulated meter")
        elif lab is not None and not lab.example:
            kinds.add(f"{lab.meter.manufacturer} {lab.meter.model}")
        elif rig.probe_info.get("mfr_code"):
            kinds.add(f"a meter of manufacturer code {rig.probe_info['mfr_code']}")
    return kinds


def _comparability(a: RunRecord, b: RunRecord, shared: int) -> tuple[list[str], list[str]]:
    """(reasons the runs are not comparable, notes on what is compared)."""
    reasons, notes = [], []
    if a.tests and b.tests and not shared:
        reasons.append("the two runs share no test: there is nothing to compare")
    suites_a = {t.module for t in a.tests}
    suites_b = {t.module for t in b.tests}
    if suites_a and suites_b and not suites_a & suites_b:
        reasons.append(
            f"they ran different suites (A: {', '.join(sorted(suites_a))}; "
            f"B: {', '.join(sorted(suites_b))})"
        )
    elif suites_a != suites_b:
        only = sorted(suites_a ^ suites_b)
        notes.append(f"suites in only one run: {', '.join(only)} (tests added or removed)")
    cat_a = {r.id for r in a.requirements if r.in_catalogue}
    cat_b = {r.id for r in b.requirements if r.in_catalogue}
    if cat_a and cat_b and cat_a != cat_b:
        reasons.append(
            f"they were judged against different requirement catalogues ({len(cat_a - cat_b)} "
            f"id(s) only in A, {len(cat_b - cat_a)} only in B)"
        )
    kind_a, kind_b = _meter_kind(a), _meter_kind(b)
    sim_a = {r.simulated for r in a.rigs}
    sim_b = {r.simulated for r in b.rigs}
    if len(sim_a) == len(sim_b) == 1 and sim_a != sim_b:
        reasons.append("one ran on the simulated meter, the other on a real meter")
    elif kind_a and kind_b and not kind_a & kind_b:
        reasons.append(
            f"they tested different kinds of meter (A: {', '.join(sorted(kind_a))}; "
            f"B: {', '.join(sorted(kind_b))})"
        )
    return reasons, notes


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
    diff = RunDiff(a=_summary(a), b=_summary(b))
    pairs = _pairs(a, b)
    diff.not_comparable, diff.notes = _comparability(
        a, b, sum(1 for _, ta, tb in pairs if ta and tb)
    )
    for key, ta, tb in pairs:
        if tb is None:
            assert ta is not None
            diff.removed.append(_change(key, ta, None))
            continue
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
    label = summary.label or summary.verdict.upper()
    return label + (" (PARTIAL)" if summary.partial and "INCOMPLETE" not in label else "")


def _run_line(label: str, summary: RunSummary) -> str:
    when = summary.start.strftime("%Y-%m-%d %H:%M UTC") if summary.start else "unknown time"
    meters = "; ".join(summary.meters) or "no rig"
    c = summary.counts
    not_run = f", {c.not_run} not run" if getattr(c, "not_run", 0) else ""
    return (
        f"{label}: {when}, {meters}: {_verdict(summary)} - {c.total} tests "
        f"({c.passed} passed, {c.failed} failed, {c.errors} errors, {c.skipped} skipped"
        f"{not_run}), coverage {summary.coverage.covered}/{summary.coverage.total}"
    )


def _verdicts(change: TestChange) -> str:
    return f"{change.before or 'absent'} -> {change.after or 'absent'}"


def format_diff(diff: RunDiff, *, width: int = 100) -> str:
    """The diff as plain text for a terminal."""
    out = [_run_line("A", diff.a), _run_line("B", diff.b), ""]
    if diff.not_comparable:
        out.append("These runs are not comparable: " + "; ".join(diff.not_comparable) + ".")
        out.append("")
    for note in diff.notes:
        out.append(f"Note: {note}")
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

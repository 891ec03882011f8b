"""hil.report.diff: what changed between two runs."""

from hil.report.diff import diff_runs, format_diff
from hil.report.record import build_record
from tests.report import synth as S


def _with(events, name, **changes):
    for event in events:
        if event.get("event") == "test" and name in event["nodeid"]:
            event.update(changes)
    return events


def test_identical_runs_have_no_changes():
    a = build_record(S.passing_run())
    diff = diff_runs(a, build_record(S.passing_run()))
    assert not diff.changed
    text = format_diff(diff)
    assert "Overall verdict unchanged: PASS" in text and "New failures: none" in text


def test_new_failure_fixed_still_failing_and_requirement_changes():
    a_events = _with(S.passing_run(), "older_than", verdict="fail", message="old token accepted")
    a_events = _with(a_events, "water", verdict="error", message="probe silent")
    b_events = _with(S.passing_run(), "replayed", verdict="fail", message="replay accepted")
    b_events = _with(b_events, "water", verdict="fail", message="credit not added")
    diff = diff_runs(build_record(a_events), build_record(b_events))
    assert [c.name for c in diff.new_failures] == ["test_replayed_token_is_used"]
    assert diff.new_failures[0].message == "replay accepted"
    assert [(c.name, c.before, c.after) for c in diff.fixed] == [
        ("test_token_older_than_the_memory_is_old", "fail", "pass")
    ]
    assert [(c.name, c.before, c.after) for c in diff.still_failing] == [
        ("test_credit_for_each_register[water]", "error", "fail")
    ]
    changes = {c.id: (c.before, c.after) for c in diff.requirement_changes}
    assert changes == {
        "TID-USED": ("pass", "fail"),
        "TID-OLD": ("fail", "pass"),
        "CREDIT-ACCEPT": ("error", "fail"),
        "CREDIT-FUNCTION": ("error", "fail"),
    }
    text = format_diff(diff)
    assert "New failures (1):" in text and "replay accepted" in text
    assert "fail -> pass" in text and "TID-OLD" in text


def test_added_removed_and_skip_changes():
    a_events = S.passing_run()
    b_events = [e for e in S.passing_run() if "older_than" not in e.get("nodeid", "")]
    b_events.insert(-1, S.finished("test_brand_new", "fail", 7.5, message="nope"))
    b_events = _with(b_events, "water", verdict="skip")
    diff = diff_runs(build_record(a_events), build_record(b_events))
    assert [c.name for c in diff.removed] == ["test_token_older_than_the_memory_is_old"]
    assert [c.name for c in diff.added] == ["test_brand_new"]
    assert [c.name for c in diff.new_failures] == ["test_brand_new"]  # added and failing
    assert [(c.before, c.after) for c in diff.other_changes] == [("pass", "skip")]


def test_timing_shifts_need_20_percent_and_half_a_second():
    a_events = S.passing_run()
    b_events = _with(S.passing_run(), "replayed", duration_s=1.6)  # +0.6 s, +60%
    b_events = _with(b_events, "older_than", duration_s=1.4)  # +0.4 s: too small
    for event in b_events:
        for step in (event.get("evidence") or {}).get("steps", []):
            step["elapsed_s"] += 0.1
    diff = diff_runs(build_record(a_events), build_record(b_events))
    assert [(s.name, s.delta_s, s.percent) for s in diff.timing_shifts] == [
        ("test_replayed_token_is_used", 0.6, 60.0)
    ]
    mean = diff.token_entry_mean
    assert (mean.before_s, mean.after_s) == (0.65, 0.75) and mean.delta_s == 0.1
    assert "Token entry mean: 0.650 s -> 0.750 s (+0.100 s, +15.4%)" in format_diff(diff)


def test_runs_on_different_meters_match_by_case():
    a = build_record(S.passing_run())
    b = build_record(_with(S.passing_run(pan=S.PAN_B, name="bench2"), "replayed", verdict="fail"))
    diff = diff_runs(a, b)
    assert not diff.added and not diff.removed
    assert [c.key for c in diff.new_failures] == ["suites/test_tid.py::test_replayed_token_is_used"]
    assert "bench2:" + S.PAN_B in format_diff(diff)


def test_partial_run_shows_in_the_verdict_line():
    diff = diff_runs(build_record(S.passing_run()), build_record(S.passing_run(end=False)))
    assert f"Overall verdict: {S.SUBSET_LABEL} -> INCOMPLETE" in format_diff(diff)

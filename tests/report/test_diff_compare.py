"""``hil diff``: --fail-on new-failures, tests matched across rigs by test id, runs that are
not comparable, and tests that did not run are never failures."""

import click
import pytest
from click.testing import CliRunner

from hil.report.diff import diff_runs, format_diff
from hil.report.record import build_record
from tests.report import synth as S


def two_rig_run(names: tuple[str, str], pans: tuple[str, str], verdict_b: str = "pass"):
    """One journal per rig (as two xdist workers write them), concatenated."""
    first = S.passing_run(name=names[0], pan=pans[0])
    second = S.passing_run(name=names[1], pan=pans[1], t=20)
    second[2]["verdict"] = verdict_b
    for event in first:
        event["_journal"] = "journal-gw0.jsonl"
    for event in second:
        event["_journal"] = "journal-gw1.jsonl"
    return build_record(first + second)


@pytest.fixture
def hil_diff(tmp_path):
    from hil.cli.report_cmd import diff

    group = click.Group(commands={"diff": diff})

    def run(a_events, b_events, *args):
        S.write_journal(tmp_path / "a" / "journal.jsonl", a_events)
        S.write_journal(tmp_path / "b" / "journal.jsonl", b_events)
        return CliRunner().invoke(group, ["diff", str(tmp_path / "a"), str(tmp_path / "b"), *args])

    return run


def test_fail_on_new_failures_exits_1_only_when_there_are_some(hil_diff):
    same = hil_diff(S.passing_run(), S.passing_run(), "--fail-on", "new-failures")
    assert same.exit_code == 0, same.output
    worse = hil_diff(S.passing_run(), S.failing_run(), "--fail-on", "new-failures")
    assert worse.exit_code == 1 and "New failures (2):" in worse.output
    plain = hil_diff(S.passing_run(), S.failing_run())
    assert plain.exit_code == 0  # without --fail-on, a diff never fails


def test_tests_match_across_rigs_by_test_id_not_rig_label():
    a = two_rig_run(("bench1", "bench2"), (S.PAN, S.PAN_B))
    b = two_rig_run(("bench3", "bench4"), ("600727000000000025", "600727000000000033"), "fail")
    diff = diff_runs(a, b)
    assert diff.added == [] and diff.removed == []  # same cases, other rigs: all matched
    assert [c.key for c in diff.new_failures] == [
        "suites/test_tid.py::test_replayed_token_is_used on bench4"
    ]
    assert diff.not_comparable == []


def test_runs_that_are_not_comparable_say_so_in_a_sentence(hil_diff):
    other_suite = S.passing_run()
    for event in other_suite:
        if event["event"] == "test":
            event["nodeid"] = event["nodeid"].replace("suites/test_", "suites/test_other_")
    diff = diff_runs(build_record(S.passing_run()), build_record(other_suite))
    text = format_diff(diff)
    assert "These runs are not comparable: the two runs share no test" in text
    assert "they ran different suites" in text
    result = hil_diff(S.passing_run(), other_suite, "--fail-on", "new-failures")
    assert result.exit_code == 2 and "not comparable" in result.output.splitlines()[-1]


def test_a_real_meter_and_the_simulator_are_not_comparable():
    real = S.passing_run()
    real[1]["simulated"] = False
    diff = diff_runs(build_record(S.passing_run()), build_record(real))
    assert "one ran on the simulated meter, the other on a real meter" in diff.not_comparable
    other = S.passing_run()
    other[1].update(simulated=False)
    other[1]["probe_info"]["mfr_code"] = "96"
    real[1]["probe_info"]["mfr_code"] = "12"
    diff = diff_runs(build_record(real), build_record(other))
    assert any("different kinds of meter" in r for r in diff.not_comparable)


def test_not_run_tests_are_never_counted_as_failures():
    a, b = S.passing_run(), S.passing_run()
    b[2]["verdict"] = "not_run"
    b.insert(-1, S.finished("test_new_but_unrun", "not_run", 7.5, duration=0.0))
    diff = diff_runs(build_record(a), build_record(b))
    assert diff.new_failures == [] and diff.still_failing == []
    assert [(c.before, c.after) for c in diff.other_changes] == [("pass", "not_run")]
    bad_a = build_record(S.failing_run())
    unrun_b = S.failing_run()
    unrun_b[2]["verdict"] = "not_run"
    diff = diff_runs(bad_a, build_record(unrun_b))
    assert all("replayed" not in c.key for c in diff.fixed + diff.still_failing)
    assert "not run" in format_diff(diff)

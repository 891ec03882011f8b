"""``hil report`` and ``hil diff`` as a user runs them."""

import json

import click
import pytest
from click.testing import CliRunner

from hil.cli.report_cmd import diff, report
from tests.report import synth as S


@pytest.fixture
def run():
    group = click.Group(commands={"report": report, "diff": diff})
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(group, [str(a) for a in args])

    return invoke


def test_commands_are_named_for_the_hil_group():
    assert (report.name, diff.name) == ("report", "diff")


def test_report_renders_into_the_run_directory(run, tmp_path):
    S.write_journal(tmp_path / "journal.jsonl", S.failing_run())
    result = run("report", tmp_path)
    assert result.exit_code == 0, result.output
    for name in ("record.json", "report.html", "junit.xml", "allure-results"):
        assert str(tmp_path / name) in result.output
        assert (tmp_path / name).exists()
    assert "verdict FAIL - 5 tests: 2 passed, 1 failed, 1 errors, 1 skipped" in result.output


def test_report_merges_into_out_and_takes_a_lab_map(run, tmp_path):
    S.write_journal(tmp_path / "a" / "journal.jsonl", S.passing_run())
    S.write_journal(
        tmp_path / "b" / "journal.jsonl", S.passing_run(pan=S.PAN_B, name="bench2", t=30, end=False)
    )
    lab = tmp_path / "lab.yaml"
    lab.write_text("TID-USED: [LAB-7]\n")
    out = tmp_path / "merged"
    result = run("report", tmp_path / "a", tmp_path / "b", "--out", out, "--lab-map", lab)
    assert result.exit_code == 0, result.output
    assert "verdict INCOMPLETE" in result.output and "warning: b/journal.jsonl" in result.output
    record = json.loads((out / "record.json").read_text())
    assert len(record["rigs"]) == 2 and record["lab_map"]
    assert "LAB-7" in (out / "report.html").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing"], "missing: no such run directory"),
        (["empty"], "empty: no journal*.jsonl or */journal*.jsonl in it"),
        (["run", "run"], "several run directories merge into one report: give --out DIR"),
        (["run", "--lab-map", "nolab.yaml"], "nolab.yaml: no such lab map file"),
        (["run", "--lab-map", "badlab.yaml"], "is not a requirement id"),
    ],
)
def test_report_errors_are_one_line(run, tmp_path, args, message):
    (tmp_path / "empty").mkdir()
    S.write_journal(tmp_path / "run" / "journal.jsonl", S.passing_run())
    (tmp_path / "badlab.yaml").write_text("NOT-A-RULE: [x]\n")
    result = run("report", *[tmp_path / a if not a.startswith("-") else a for a in args])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


def test_diff_prints_and_writes_json_and_exits_zero(run, tmp_path):
    S.write_journal(tmp_path / "a" / "journal.jsonl", S.passing_run())
    S.write_journal(tmp_path / "b" / "journal.jsonl", S.failing_run())
    assert run("report", tmp_path / "a").exit_code == 0
    # a record.json on one side, a run directory on the other
    result = run(
        "diff", tmp_path / "a" / "record.json", tmp_path / "b", "--json", tmp_path / "d.json"
    )
    assert result.exit_code == 0, result.output
    assert f"Overall verdict: {S.SUBSET_LABEL} -> FAIL" in result.output
    assert "New failures (2):" in result.output
    data = json.loads((tmp_path / "d.json").read_text())
    assert {c["name"] for c in data["new_failures"]} == {
        "test_replayed_token_is_used",
        "test_token_that_does_not_authenticate_is_refused[wrong-sgc]",
    }


def test_diff_of_a_missing_run_is_one_line(run, tmp_path):
    result = run("diff", tmp_path / "nope", tmp_path)
    assert result.exit_code == 2
    assert result.output.strip() == f"error: {tmp_path / 'nope'}: no such run directory or record"

"""The hash-chained journal: the rule, writers sharing a file, and what ``hil report`` says
when a line was edited, is garbage, or was half-written."""

import hashlib
import json
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from hil.cli.report_cmd import report
from hil.report.journal import (
    GENESIS,
    Journal,
    harness_identity,
    read_journal,
    read_journal_file,
    verify_chain,
)
from hil.report.record import load_run
from tests.report import synth as S


def chained(path: Path, events: list[dict]) -> Path:
    """``events`` written the way the plugin writes them: through Journal, hash-chained."""
    journal = Journal(path)
    for event in events:
        fields = dict(event)
        journal.write(fields.pop("event"), **fields)
    return path


def hil_report(run_dir: Path):
    group = click.Group(commands={"report": report})
    return CliRunner().invoke(group, ["report", str(run_dir)])


def test_every_line_carries_the_chain_by_the_documented_rule(tmp_path):
    path = chained(tmp_path / "journal.jsonl", S.passing_run())
    previous = GENESIS
    for line in path.read_text(encoding="utf-8").splitlines():
        # docs/run-record.md: chain = SHA-256(previous chain + the line without ', "chain": ...')
        body, stated = re.fullmatch(r'(\{.*), "chain": "([0-9a-f]{64})"\}', line).groups()
        assert hashlib.sha256((previous + body + "}").encode()).hexdigest() == stated
        previous = stated
    status = verify_chain(path)
    assert status.chain == "intact" and status.chain_first_bad is None
    assert status.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert "chain" not in read_journal(path)[0]  # readers see the events as written


def test_a_reopened_journal_and_two_writers_on_one_file_keep_one_chain(tmp_path):
    path = tmp_path / "journal.jsonl"
    first, second = Journal(path), Journal(path)
    first.write("run_start", schema="hil-run/1")
    second.write("rig", name="sim")  # another writer appended: first must not reuse its chain
    first.write("test", nodeid="a::b", verdict="pass")
    Journal(path).write("run_end", exit_status=0)  # re-opened on an existing file
    assert verify_chain(path).chain == "intact"
    assert [e["event"] for e in read_journal(path)] == ["run_start", "rig", "test", "run_end"]


def test_each_worker_journal_in_a_run_directory_has_its_own_chain(tmp_path):
    chained(tmp_path / "journal-gw0.jsonl", S.passing_run())
    chained(tmp_path / "journal-gw1.jsonl", S.passing_run(pan=S.PAN_B, name="b2", t=1))
    chained(tmp_path / "robot" / "journal.jsonl", S.passing_run(t=20))
    record = load_run(tmp_path)
    assert [s.chain for s in record.run.sources] == ["intact"] * 3
    result = hil_report(tmp_path)
    assert result.exit_code == 0, result.output
    assert result.output.count("hash chain intact") == 3


@pytest.mark.parametrize("which", ["middle", "last"])
def test_editing_one_line_makes_hil_report_say_the_chain_is_broken(tmp_path, which):
    path = chained(tmp_path / "journal.jsonl", S.failing_run())
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    n = 2 if which == "middle" else len(lines) - 1  # 0-based: the failed test, or run_end
    before = lines[n]
    lines[n] = (
        before.replace('"fail"', '"pass"')
        if which == "middle"
        else before.replace('"exit_status": 1', '"exit_status": 0')
    )
    assert lines[n] != before
    path.write_text("".join(lines), encoding="utf-8")

    result = hil_report(tmp_path)
    assert result.exit_code == 0
    assert f"HASH CHAIN BROKEN at line {n + 1}" in result.output
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert 'id="chain-banner"' in html and f"BROKEN at line {n + 1}" in html
    record = json.loads((tmp_path / "record.json").read_text())
    assert record["run"]["sources"][0]["chain"] == "broken"
    assert any("HASH CHAIN BROKEN" in w for w in record["warnings"])


def test_an_unchained_journal_is_not_called_broken(tmp_path):
    S.write_journal(tmp_path / "journal.jsonl", S.passing_run())  # an older harness's journal
    record = load_run(tmp_path)
    assert record.run.sources[0].chain == "absent"
    assert not any("CHAIN" in w for w in record.warnings)
    assert "not hash-chained" in hil_report(tmp_path).output


def test_a_garbage_line_in_the_middle_is_a_warning_on_the_report(tmp_path):
    events = S.passing_run()
    path = S.write_journal(tmp_path / "journal.jsonl", events[:3])
    with open(path, "a", encoding="utf-8") as f:
        f.write("this is not JSON\n")
        f.writelines(json.dumps(e) + "\n" for e in events[3:])
    record = load_run(tmp_path)
    assert record.run.sources[0].garbage_lines == [4]
    warning = next(w for w in record.warnings if "not JSON" in w)
    assert "line(s) 4" in warning and "damaged or edited" in warning
    assert not any("its last line was half-written" in w for w in record.warnings)
    result = hil_report(tmp_path)  # said on the terminal and on the page
    assert "line(s) 4 are not JSON" in result.output
    assert "line(s) 4 are not JSON" in (tmp_path / "report.html").read_text()


def test_only_a_half_written_last_line_is_benign(tmp_path):
    path = chained(tmp_path / "journal.jsonl", S.passing_run(end=False))
    with open(path, "a", encoding="utf-8") as f:
        f.write('{"event": "test", "nodeid": "suites/test_tid.py::test_x[sim')  # killed here
    journal = read_journal_file(path)
    assert journal.torn_last_line and journal.garbage_lines == []
    assert journal.chain == "intact"  # the chain holds up to the last whole line
    record = load_run(tmp_path)
    assert any("last line was half-written" in w for w in record.warnings)
    assert not any("not JSON" in w or "CHAIN" in w for w in record.warnings)
    # a journal re-opened after such a kill ends the torn line before writing its own
    Journal(path).write("run_end", exit_status=2)
    again = read_journal_file(path)
    assert again.events[-1]["event"] == "run_end" and again.garbage_lines


def test_harness_identity_says_whether_the_work_tree_was_dirty():
    identity = harness_identity()
    assert "dirty" in identity
    assert identity["dirty"] in (True, False) if identity["git_sha"] else identity["dirty"] is None


def test_journal_refuses_a_field_named_chain(tmp_path):
    with pytest.raises(ValueError, match="chain"):
        Journal(tmp_path / "j.jsonl").write("test", chain="x")

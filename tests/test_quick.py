"""`hil run --quick`: the long tests (pytest marker, Robot tag `long`) are left out, exactly
those, and the journal, the record and the console say the selection was quick."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from hil.cli.run_cmd import _robot_filter
from hil.paths import ROBOT_SUITES
from hil.report.journal import read_journal

ENV = {**os.environ, "COLUMNS": "80"}

# The collection `hil run` makes (its pytest arguments, its --quick arguments), in a
# subprocess: a pytest session inside this one would share the plugin's state.
COLLECT = textwrap.dedent("""
    import json
    from pathlib import Path

    from hil.cli.run_cmd import quick_pytest_args
    from hil.paths import DEFAULT_RIG, SUITES
    from hil.run import collect_only, pytest_args

    class Items:
        def pytest_collection_finish(self, session):
            self.ids = [i.nodeid for i in session.items]
            self.long = [i.nodeid for i in session.items if i.get_closest_marker("long")]

    def collect(extra):
        items = Items()
        args = pytest_args(Path("."), DEFAULT_RIG, suites=[str(SUITES)], keyword=None,
                           clauses=[], defect=None)
        collect_only(args + extra, items)
        return items

    full, quick = collect([]), collect(quick_pytest_args(0))
    print(json.dumps({"full": full.ids, "long": full.long, "quick": quick.ids}))
""")


def test_quick_leaves_out_exactly_the_long_marked_pytest_tests():
    out = subprocess.run([sys.executable, "-c", COLLECT], capture_output=True, text=True,
                         timeout=60, env=ENV)  # fmt: skip
    assert out.returncode == 0, out.stderr
    ids = json.loads(out.stdout.splitlines()[-1])
    assert ids["long"], "no pytest test is marked long"
    assert set(ids["full"]) - set(ids["quick"]) == set(ids["long"])
    assert set(ids["quick"]) <= set(ids["full"])
    assert any("test_partial_key_change_times_out" in i for i in ids["long"])
    assert any("test_replayed_token_is_used" in i for i in ids["quick"])


def _dry_run(tmp_path: Path, name: str, **options: object) -> set[str]:
    """The Robot tests a run with these options would run (a dry run: nothing executes)."""
    import robot
    from robot.api import ExecutionResult

    output = tmp_path / f"{name}.xml"
    with open(tmp_path / f"{name}.txt", "w", encoding="utf-8") as log:
        robot.run(str(ROBOT_SUITES), dryrun=True, output=str(output), log=None, report=None,
                  stdout=log, stderr=log, **options)  # fmt: skip
    return {t.longname for t in ExecutionResult(str(output)).suite.all_tests}


def test_quick_excludes_exactly_the_long_tagged_robot_tests(tmp_path):
    from robot.api import TestSuiteBuilder

    suite = TestSuiteBuilder().build(str(ROBOT_SUITES))
    long = {t.longname for t in suite.all_tests if t.tags.match("long")}
    assert long, "no Robot test is tagged long"
    full = _dry_run(tmp_path, "full", **_robot_filter(()))
    quick = _dry_run(tmp_path, "quick", **_robot_filter((), quick=True))
    assert full - quick == long and quick <= full
    # with --clause the include and the exclude both apply
    relay = _dry_run(tmp_path, "relay", **_robot_filter(("RELAY-ZERO-CREDIT", "MPL"), quick=True))
    assert relay == {n for n in full if n.endswith("Relay Opens Above The Maximum Power Limit")}


def test_a_quick_run_records_its_selection_and_passes(tmp_path, monkeypatch):
    monkeypatch.delenv("HIL_PDF", raising=False)  # a quick run writes no PDF by itself
    out = subprocess.run(
        [sys.executable, "-m", "hil", "run", "--out", str(tmp_path), "--quick", "--suite",
         "authentication", "--suite", "tid", "--no-robot", "-k",
         "mistyped or older_than_the_memory"],
        capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "80"},
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert "quick selection: 1 long test left out" in out.stdout
    assert "verdict: PASS" in out.stdout
    (run_dir,) = [d for d in tmp_path.iterdir() if d.is_dir()]
    events = list(read_journal(run_dir / "journal.jsonl"))
    start = next(e for e in events if e["event"] == "run_start")
    assert start["selection"] == {"name": "quick", "left_out": 1, "excluded": "long"}
    tests = [e for e in events if e["event"] == "test"]
    # the long test is outside the selection: not journaled at all, so never "not run"
    assert [t["verdict"] for t in tests] == ["pass"]
    assert tests[0]["nodeid"].endswith("-digit-mistyped]")
    record = json.loads((run_dir / "record.json").read_text())
    assert record["verdict"] == "pass" and record["counts"]["not_run"] == 0
    assert record["run"]["selection"] == {"name": "quick", "left_out": 1, "excluded": "long"}
    assert any(w.startswith("quick selection: 1 long test left out") for w in record["warnings"])
    assert "quick selection: 1 long test left out" in (run_dir / "report.html").read_text()
    assert not (run_dir / "report.pdf").exists()


def test_the_record_of_a_quick_journal_says_so_and_a_full_one_does_not():
    from hil.report.record import build_record
    from tests.report import synth as S

    full = build_record(S.passing_run())
    assert full.run.selection is None
    assert not any("quick selection" in w for w in full.warnings)
    events = S.passing_run()
    events[0] = {**events[0], "selection": {"name": "quick", "left_out": 2, "excluded": "long"}}
    quick = build_record(events)
    assert quick.verdict == full.verdict == "pass"  # left out is not "not run"
    assert quick.run.selection is not None and quick.run.selection.left_out == 2
    assert quick.run.sources[0].selection == quick.run.selection
    assert "quick selection: 2 long tests left out (hil run --quick); not a full " \
           "conformance run" in quick.warnings  # fmt: skip

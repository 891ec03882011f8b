"""The Robot selection hil run plans, and the not-run entries for tests that never reported."""

from __future__ import annotations

from pathlib import Path

from robot.api import TestSuiteBuilder as SuiteBuilder

from hil.paths import ROBOT_SUITES
from hil.report.journal import Journal, read_journal
from hil.robot.selection import UNRUN_JOURNAL, journal_unrun, selected_robot_tests


def test_the_selection_is_robots_own_count_with_clauses_and_quick():
    every, left_out = selected_robot_tests(ROBOT_SUITES)
    assert len(every) == SuiteBuilder().build(str(ROBOT_SUITES)).test_count and left_out == 0
    assert all(nid.startswith("suites/robot/") and ".robot::" in nid for nid in every)
    credit, _ = selected_robot_tests(ROBOT_SUITES, ("CREDIT-ACCEPT",))
    assert credit and set(credit) < set(every)
    assert all("CREDIT-ACCEPT" in clauses for clauses in credit.values())
    quick, long_out = selected_robot_tests(ROBOT_SUITES, quick=True)
    assert len(quick) + long_out == len(every) and set(quick) <= set(every)


def test_only_the_missing_runs_are_journalled_not_run(tmp_path: Path):
    selected = {"suites/robot/a.robot::One": ["A"], "suites/robot/a.robot::Two": ["B"]}
    Journal(tmp_path / "journal-1.jsonl").write("test", nodeid="suites/robot/a.robot::One",
                                                verdict="pass")  # fmt: skip
    missing = journal_unrun(tmp_path, selected, runs=2, why="not run: broke")
    assert sorted(missing) == ["suites/robot/a.robot::One", *["suites/robot/a.robot::Two"] * 2]
    tests = [e for e in read_journal(tmp_path / UNRUN_JOURNAL) if e["event"] == "test"]
    assert [t["verdict"] for t in tests] == ["not_run"] * 3
    assert {t["nodeid"]: t["clauses"] for t in tests}["suites/robot/a.robot::Two"] == ["B"]
    assert journal_unrun(tmp_path, selected, runs=2, why="again") == []  # all accounted for

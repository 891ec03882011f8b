"""Which Robot tests a run selected, and a journal entry for each one that never reported.

A Robot phase that cannot start (no ``robot`` executable for pabot, a crashed process, a
run stopped before the Robot suites) leaves no journal, so without this its tests would
simply be absent and the run could read PASS. Each selected test that did not report is
journalled as *not run*, with the reason, so the record counts it and the verdict is not
PASS.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from robot.api import TestSuiteBuilder

from hil.plan import LONG_MARKER
from hil.report.journal import SCHEMA, Journal, harness_identity, read_journal
from hil.robot.listener import clauses_of, node_id

UNRUN_JOURNAL = "journal-unrun.jsonl"


def selected_robot_tests(suites: Path, clauses: tuple[str, ...] = (),
                         quick: bool = False) -> tuple[dict[str, list[str]], int]:  # fmt: skip
    """({node id: requirement ids} of the selected tests, how many long ones ``quick`` left
    out), by Robot's own tag filter: ``req:<ID>`` for each clause, no long tests if quick."""
    suite = TestSuiteBuilder().build(str(suites))
    if clauses:
        suite.filter(included_tags=[f"req:{c}" for c in clauses])
    every = suite.test_count
    if quick:
        suite.filter(excluded_tags=[LONG_MARKER])
    ids: dict[str, list[str]] = {}
    _walk(suite, ids)
    return ids, every - suite.test_count


def _walk(suite: object, ids: dict[str, list[str]]) -> None:
    for test in getattr(suite, "tests", []):
        ids[node_id(test.source, test.name)] = clauses_of(test.tags)
    for child in getattr(suite, "suites", []):
        _walk(child, ids)


def reported_tests(out: Path) -> Counter[str]:
    """How many times each node id has a ``test`` event in the Robot journals under out."""
    seen: Counter[str] = Counter()
    for journal in sorted(out.glob("journal*.jsonl")):
        for event in read_journal(journal):
            if event.get("event") == "test":
                seen[str(event.get("nodeid"))] += 1
    return seen


def journal_unrun(out: Path, selected: dict[str, list[str]], runs: int, why: str) -> list[str]:
    """Journal each of the ``runs`` runs of every selected test (one per rig with --each)
    that has no ``test`` event as *not run*, into out/journal-unrun.jsonl; the node ids
    so journalled, one per missing run."""
    seen = reported_tests(out) if out.exists() else Counter()
    missing = [nid for nid in selected for _ in range(runs - seen[nid])]
    if not missing:
        return []
    out.mkdir(parents=True, exist_ok=True)
    journal = Journal(out / UNRUN_JOURNAL)
    journal.write("run_start", schema=SCHEMA, harness=harness_identity(), frontend="robot",
                  argv=[], rig_file=None, rig_sha256=None, defect=None)  # fmt: skip
    for nodeid in missing:
        journal.write("test", nodeid=nodeid, verdict="not_run", phase="setup", message=why,
                      clauses=selected[nodeid], evidence=None, duration_s=0.0)  # fmt: skip
    journal.write("run_end", exit_status=0, interrupted=False)
    return missing

"""The Robot Framework front end as a user runs it: `robot suites/robot` against the simulated
bench with the journal and allure listeners, a defect profile the suites must catch, bench
faults reported as errors, and the keyword documentation (libdoc)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from robot.api import ExecutionResult
from robot.libdoc import LibraryDocumentation
from robot.result import TestCase as RobotTest  # not collected by pytest

from hil.paths import CATALOGUE, REPO_ROOT, RIGS
from hil.report.journal import read_journal
from hil.robot.listener import JournalListener, clauses_of, node_id, verdict_and_phase

SUITES = REPO_ROOT / "suites" / "robot"
JOURNAL = "hil.robot.listener.JournalListener"
REQUIREMENTS = {r["id"] for r in yaml.safe_load(CATALOGUE.read_text())["requirements"]}


def _robot(outdir: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "robot", "--outputdir", str(outdir), "--console", "dotted", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _tests(output: Path) -> dict[str, RobotTest]:
    found: dict[str, RobotTest] = {}

    def walk(suite):
        for test in suite.tests:
            found[node_id(test.source, test.name)] = test
        for child in suite.suites:
            walk(child)

    walk(ExecutionResult(str(output)).suite)
    return found


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    """All Robot suites once, with the journal and the allure listeners."""
    out = tmp_path_factory.mktemp("robot")
    start = time.monotonic()
    proc = _robot(
        out,
        "--listener",
        f"{JOURNAL}:{out / 'journal.jsonl'}",
        "--listener",
        f"allure_robotframework:{out / 'allure'}",
        "suites/robot",
    )
    return proc, out, time.monotonic() - start


def test_all_robot_suites_pass_against_the_simulated_bench(full_run):
    proc, out, elapsed = full_run
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    tests = _tests(out / "output.xml")
    assert len(tests) >= 15
    assert {Path(n.split("::")[0]).name for n in tests} == {
        "credit.robot",
        "authentication.robot",
        "key_change.robot",
        "supply.robot",
    }
    assert elapsed < 90, f"the Robot run took {elapsed:.0f} s; keep it under ~60 s"


def test_journal_has_one_test_event_per_robot_test_with_clauses_and_evidence(full_run):
    _, out, _ = full_run
    events = read_journal(out / "journal.jsonl")
    kinds = [e["event"] for e in events]
    assert kinds[0] == "run_start" and kinds[-1] == "run_end"
    assert kinds.count("run_start") == kinds.count("run_end") == 1
    start = events[0]
    assert start["schema"] == "hil-run/1" and start["defect"] is None
    assert Path(start["rig_file"]) == RIGS / "sim.yaml" and len(start["rig_sha256"]) == 64
    assert {"version", "git_sha", "host", "operator"} <= set(start["harness"])
    rigs = [e for e in events if e["event"] == "rig"]
    assert len(rigs) == 1, "one rig event per distinct bench, however many suites reopen it"
    assert rigs[0]["simulated"] and rigs[0]["serial"] == rigs[0]["meter"]["pan"]
    assert "relay_sensing" in rigs[0]["features"] and rigs[0]["instruments"]["dmm"]
    assert events[-1]["exit_status"] == 0

    journaled = [e for e in events if e["event"] == "test"]
    tests = _tests(out / "output.xml")
    assert sorted(e["nodeid"] for e in journaled) == sorted(tests)
    assert all(re.fullmatch(r"suites/robot/\w+\.robot::[^:]+", e["nodeid"]) for e in journaled)
    for event in journaled:
        test = tests[event["nodeid"]]
        assert event["verdict"] == "pass" and event["phase"] == "call", event
        assert event["clauses"], f"{event['nodeid']} has no req: tag"
        assert set(event["clauses"]) <= REQUIREMENTS, event["clauses"]
        assert event["clauses"] == clauses_of(test.tags)
        assert event["message"] == "" and event["started"] and event["duration_s"] > 0
        assert event["probe_log"], "no probe log excerpt"
    steps = [s for e in journaled for s in e["evidence"]["steps"]]
    assert len(steps) >= 30 and all(s["ok"] for s in steps)
    assert all(len(s["token"]) == 20 and s["label"] for s in steps)
    replay = next(e for e in journaled if e["nodeid"].endswith("::Replayed Token Is Used"))
    assert [s["observed_result"] for s in replay["evidence"]["steps"]] == ["Accept", "Used"]
    assert replay["evidence"]["steps"][1]["label"].endswith("entered again")


def test_allure_listener_writes_one_result_per_test(full_run):
    _, out, _ = full_run
    results = [json.loads(p.read_text()) for p in (out / "allure").glob("*-result.json")]
    assert len(results) == len(_tests(out / "output.xml"))
    assert {r["status"] for r in results} == {"passed"}
    for result in results:
        labels = {(label["name"], label["value"]) for label in result["labels"]}
        assert ("rig", "sim") in labels
        assert any(name == "tag" and value.startswith("req:") for name, value in labels)


def test_replay_defect_fails_the_replay_test_with_the_conformance_message(tmp_path):
    journal = tmp_path / "journal.jsonl"
    proc = _robot(
        tmp_path,
        "--variable",
        "DEFECT:accepts_replays",
        "--listener",
        f"{JOURNAL}:{journal}",
        "suites/robot/credit.robot",
    )
    assert proc.returncode == 1, proc.stdout[-3000:]
    tests = _tests(tmp_path / "output.xml")
    failed = {n: t for n, t in tests.items() if t.status == "FAIL"}
    assert list(failed) == ["suites/robot/credit.robot::Replayed Token Is Used"]
    message = next(iter(failed.values())).message
    assert "the meter answered Accept" in message
    assert "a conforming meter: Used" in message
    assert "TID" in message
    events = read_journal(journal)
    assert events[0]["defect"] == "accepts_replays"
    assert next(e for e in events if e["event"] == "rig")["defect"] == "accepts_replays"
    verdicts = {e["nodeid"]: e for e in events if e["event"] == "test"}
    replay = verdicts["suites/robot/credit.robot::Replayed Token Is Used"]
    assert replay["verdict"] == "fail" and replay["message"] == message
    assert replay["clauses"] == ["TID-USED"]
    assert not replay["evidence"]["steps"][-1]["ok"]
    assert events[-1] == {**events[-1], "event": "run_end", "exit_status": 1}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_bench_fault_in_suite_setup_is_an_error_not_a_meter_failure(tmp_path):
    """A bench nobody listens on: every test errors with BENCH FAULT, none is a fail."""
    port = _free_port()
    text = (RIGS / "external-sim.yaml").read_text()
    text = re.sub(r"127\.0\.0\.1(:{1,2})\d+", lambda m: f"127.0.0.1{m.group(1)}{port}", text)
    rig = tmp_path / "dead-bench.yaml"
    rig.write_text(text)
    journal = tmp_path / "journal.jsonl"
    proc = _robot(
        tmp_path,
        "--variable",
        f"RIG:{rig}",
        "--listener",
        f"{JOURNAL}:{journal}",
        "suites/robot/supply.robot",
        timeout=60,
    )
    assert proc.returncode == 2, proc.stdout[-3000:]
    for test in _tests(tmp_path / "output.xml").values():
        assert "BENCH FAULT:" in test.message and "bench-fault" in test.tags
    events = [e for e in read_journal(journal) if e["event"] == "test"]
    assert len(events) == 2
    assert {(e["verdict"], e["phase"]) for e in events} == {("error", "setup")}
    assert all("BENCH FAULT:" in e["message"] for e in events)


def test_bench_fault_during_a_test_is_an_error(tmp_path):
    (tmp_path / "Sabotage.py").write_text(
        "from hil.robot.state import RUN\n\n\ndef stop_simulator():\n    RUN.rig.sim.stop()\n"
    )
    (tmp_path / "fault.robot").write_text(
        "*** Settings ***\n"
        "Library    hil.robot.StsMeter\n"
        "Library    Sabotage.py\n"
        "Suite Setup    Open Rig\n"
        "Suite Teardown    Close Rig\n"
        "Test Setup    Reset Meter\n\n"
        "*** Test Cases ***\n"
        "Bench Dies Mid Test\n"
        "    [Tags]    req:CREDIT-ACCEPT\n"
        "    ${token} =    Generate Credit Token    1\n"
        "    Stop Simulator\n"
        "    Enter Token And Expect    ${token}    Accept\n"
    )
    journal = tmp_path / "journal.jsonl"
    proc = _robot(
        tmp_path / "out",
        "--listener",
        f"{JOURNAL}:{journal}",
        str(tmp_path / "fault.robot"),
        timeout=60,
    )
    assert proc.returncode == 1, proc.stdout[-3000:]
    [test] = _tests(tmp_path / "out" / "output.xml").values()
    assert test.message.startswith("BENCH FAULT:") and "bench-fault" in test.tags
    [event] = [e for e in read_journal(journal) if e["event"] == "test"]
    assert (event["verdict"], event["phase"]) == ("error", "call")
    assert event["clauses"] == ["CREDIT-ACCEPT"]


def test_libdoc_documents_every_keyword(tmp_path):
    html = tmp_path / "robot-keywords.html"
    proc = subprocess.run(
        [sys.executable, "-m", "robot.libdoc", "hil.robot", str(html)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Enter Token And Expect" in html.read_text()
    doc = LibraryDocumentation("hil.robot")
    names = {kw.name for kw in doc.keywords}
    assert {
        "Open Rig",
        "Close Rig",
        "Reset Meter",
        "Generate Credit Token",
        "Generate Replay Of",
        "Generate Wrong Meter Token",
        "Generate Mistyped Token",
        "Generate Key Change Tokens",
        "Generate Test Token",
        "Enter Token",
        "Enter Token And Expect",
        "Token Result Should Be",
        "Credit Should Be",
        "Credit Should Increase By",
        "Relay Should Be Open",
        "Relay Should Be Closed",
        "Relay Should Be Sensed Open",
        "Relay Should Be Sensed Closed",
        "Set Load",
        "Power Cycle Meter",
        "Wait For Meter Event",
    } <= names
    undocumented = [kw.name for kw in doc.keywords if len(kw.doc.strip()) < 20]
    assert not undocumented
    assert doc.scope == "SUITE"
    assert {kw.name for kw in LibraryDocumentation("hil.robot.StsMeter").keywords} == names


# -- the listener's mapping, without running Robot --------------------------------------------
def test_clauses_come_from_req_tags_once_each():
    assert clauses_of(["req:TID-USED", "smoke", "REQ:TID-OLD", "req:TID-USED", "req:"]) == [
        "TID-USED",
        "TID-OLD",
    ]


def test_node_id_is_relative_to_the_repository():
    assert node_id(SUITES / "credit.robot", "Credit Token Is Accepted") == (
        "suites/robot/credit.robot::Credit Token Is Accepted"
    )


def _case(status, message="", tags=(), setup=None):
    test = RobotTest(name="t", status=status, message=message, tags=list(tags))
    if setup:
        test.setup.config(name="Reset Meter", status=setup)
    return test


@pytest.mark.parametrize(
    ("test", "judged", "expected"),
    [
        (_case("PASS"), None, ("pass", "call")),
        # only a failed check of the meter, as the library judged it, is a fail
        (_case("FAIL", "the meter answered Accept"), "fail", ("fail", "call")),
        # a failure the library did not judge (a BuiltIn keyword, a typo) is an error
        (_case("FAIL", "Keyword 'Nope' not found"), None, ("error", "call")),
        (_case("FAIL", "BENCH FAULT: probe", ["bench-fault"]), "error", ("error", "call")),
        (_case("FAIL", "HARNESS ERROR: rig", ["harness-error"]), "error", ("error", "call")),
        (_case("FAIL", "Setup failed:\nx", setup="FAIL"), "fail", ("error", "setup")),
        (_case("FAIL", "Parent suite setup failed:\nx"), None, ("error", "setup")),
        (_case("FAIL", "Teardown failed:\nx"), "fail", ("error", "teardown")),
        (_case("SKIP", "rig sim lacks feature x"), None, ("skip", "call")),
        (_case("NOT RUN"), None, ("not_run", "call")),
    ],
)
def test_verdicts(test, judged, expected):
    assert verdict_and_phase(test, judged) == expected


def test_journal_path_takes_the_process_id(tmp_path):
    listener = JournalListener(str(tmp_path / "journal-{pid}.jsonl"))
    try:
        assert listener.journal.path == tmp_path / f"journal-{os.getpid()}.jsonl"
    finally:
        listener.close()

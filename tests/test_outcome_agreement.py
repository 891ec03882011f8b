"""One outcome rule, seen the same everywhere: generated mini-suites (pytest and Robot) end
in every way a test can end, and the journal, record.json, JUnit XML, allure-results and the
HTML report must all say the same for each test, and the run verdict must follow the rule:
only a failed check of the meter is a fail; a configuration error, a bench fault, a harness
bug, a timeout and an interruption are errors; a test the run never reached is not run."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from hil.paths import RIGS
from hil.report.html import anchors_for
from hil.report.journal import read_journal
from hil.report.record import load_run
from hil.report.render import render_record

# What each renderer calls each outcome (allure: "broken" is an error, never "failed").
ALLURE = {"pass": "passed", "fail": "failed", "error": "broken", "not_run": "skipped"}


def _junit(case: ET.Element) -> str:
    if case.find("failure") is not None:
        return "fail"
    if case.find("error") is not None:
        return "error"
    skipped = case.find("skipped")
    if skipped is not None:
        return "not_run" if skipped.get("message", "").startswith("not run") else "skip"
    return "pass"


def outcomes_everywhere(run_dir: Path) -> tuple[dict[str, dict[str, str]], dict]:
    """{test name: {output: outcome}} over every output of the run, and record.json."""
    record = load_run(run_dir)
    out = run_dir / "rendered"
    render_record(record, out, pdf=False)
    seen: dict[str, dict[str, str]] = {}

    def put(name: str, where: str, outcome: str) -> None:
        seen.setdefault(name, {})[where] = outcome

    def short(nodeid: str) -> str:  # the test's name, without the rig's parameter id
        return re.sub(r"\[.*\]$", "", nodeid.rpartition("::")[2])

    for event in read_journal(run_dir / "journal.jsonl"):
        if event["event"] == "test":
            put(short(event["nodeid"]), "journal", event["verdict"])
    saved = json.loads((out / "record.json").read_text())
    for test in saved["tests"]:
        put(short(test["nodeid"]), "record.json", test["verdict"])
    for case in ET.parse(out / "junit.xml").iter("testcase"):
        put(short(case.get("name", "")), "junit", _junit(case))
    to_outcome = {v: k for k, v in ALLURE.items()}
    for path in (out / "allure-results").glob("*-result.json"):
        result = json.loads(path.read_text())
        put(short(result["name"]), "allure", to_outcome.get(result["status"], result["status"]))
    html = (out / "report.html").read_text()
    for nodeid, anchor in anchors_for(record).items():
        match = re.search(rf'id="{re.escape(anchor)}" data-verdict="(\w+)"', html)
        put(short(nodeid), "html", match.group(1) if match else "missing")
    return seen, saved


def _agree(seen: dict[str, dict[str, str]], expected: dict[str, str]) -> None:
    outputs = {"journal", "record.json", "junit", "allure", "html"}
    assert set(seen) == set(expected), sorted(seen)
    for name, want in expected.items():
        assert seen[name] == dict.fromkeys(outputs, want), (name, seen[name])


# -- pytest ---------------------------------------------------------------------------------

PYTEST_SUITE = """
from hil.errors import BenchFault, ConfigError, ReplyTimeout


def test_passes(session):
    session.check("CREDIT-ACCEPT", "credit (kWh)", expected="1.0", observed="1.0", ok=True)


def test_meter_check_fails(session):
    session.check("TID-USED", "token result", expected="Used", observed="Accept",
                  ok=not {with_failure})


def test_config_error(session):
    raise ConfigError("rig x.yaml lacks power_control")


def test_bench_fault(session):
    raise BenchFault("relay board on /dev/ttyACM9 did not answer")


def test_harness_bug(session):
    {{}}["no such key"]


def test_bare_assert(session):
    assert 1 == 2  # a plain assert is not a check of the meter


def test_timeout(session):
    raise ReplyTimeout("probe: no reply to GET CREDIT within 2 s")


def test_interrupted(session):
    raise KeyboardInterrupt


def test_never_reached(session):
    pass
"""

PYTEST_EXPECTED = {
    "test_passes": "pass",
    "test_config_error": "error",
    "test_bench_fault": "error",
    "test_harness_bug": "error",
    "test_bare_assert": "error",
    "test_timeout": "error",
    "test_interrupted": "error",
    "test_never_reached": "not_run",
}


@pytest.mark.parametrize(
    ("with_failure", "verdict", "label"),
    [(True, "fail", "FAIL (incomplete)"), (False, "incomplete", "INCOMPLETE")],
    ids=["a-check-failed", "no-check-failed"],
)
def test_pytest_outcomes_agree_in_every_output(pytester, with_failure, verdict, label):
    pytester.makepyfile(test_mini=PYTEST_SUITE.format(with_failure=with_failure))
    result = pytester.runpytest_subprocess(
        "--hil-journal", "journal.jsonl", "-p", "no:randomly", "-p", "no:cacheprovider"
    )
    assert result.ret == pytest.ExitCode.INTERRUPTED
    seen, record = outcomes_everywhere(pytester.path)
    expected = {**PYTEST_EXPECTED, "test_meter_check_fails": "fail" if with_failure else "pass"}
    _agree(seen, expected)
    assert (record["verdict"], record["verdict_label"]) == (verdict, label)
    # pytest's own summary counts the same: only the meter's failed check is "failed".
    counts = result.parseoutcomes()
    assert counts.get("failed", 0) == int(with_failure) and counts.get("errors") == 5, counts


# -- Robot Framework ------------------------------------------------------------------------

ROBOT_SUITE = """
*** Settings ***
Library           hil.robot
Library           OperatingSystem
Suite Setup       Open Rig    defect=accepts_replays
Suite Teardown    Close Rig

*** Test Cases ***
Passes
    [Tags]    req:CREDIT-ACCEPT
    ${token}=    Generate Credit Token    1
    Enter Token And Expect    ${token}    Accept

Meter Check Fails
    [Tags]    req:TID-USED
    ${token}=    Generate Credit Token    1
    Enter Token And Expect    ${token}    Accept
    Enter Token And Expect    ${token}    Used

Harness Bug
    Evaluate    {}["no such key"]

Bare Assertion
    Should Be Equal    1    2

Timeout
    [Timeout]    0.3 s
    Sleep    5 s

Config Error
    Open Rig    ${CURDIR}/no-such-rig.yaml

Bench Fault
    Open Rig    ${CURDIR}/nothing-there.yaml

Interrupted
    Evaluate    os.kill(os.getpid(), signal.SIGINT)    modules=os,signal
    Sleep    1 s

Never Reached
    No Operation
"""

ROBOT_EXPECTED = {
    "Passes": "pass",
    "Meter Check Fails": "fail",
    "Harness Bug": "error",
    "Bare Assertion": "error",
    "Timeout": "error",
    "Config Error": "error",
    "Bench Fault": "error",
    "Interrupted": "error",
    "Never Reached": "not_run",
}


def test_robot_outcomes_agree_in_every_output(tmp_path):
    (tmp_path / "mini.robot").write_text(ROBOT_SUITE)
    # A bench whose probe and relay board point at ports nothing listens on.
    rig = (RIGS / "external-sim.yaml").read_text()
    for port in ("7400", "7401", "7402"):
        rig = rig.replace(port, str(int(port) + 97))
    (tmp_path / "nothing-there.yaml").write_text(rig)
    proc = subprocess.run(
        [sys.executable, "-m", "robot", "--outputdir", str(tmp_path / "robot"),
         "--console", "quiet", "--listener",
         f"hil.robot.listener.JournalListener:{tmp_path / 'journal.jsonl'}",
         str(tmp_path / "mini.robot")],
        capture_output=True, text=True, timeout=180, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode != 0, proc.stdout + proc.stderr
    seen, record = outcomes_everywhere(tmp_path)
    _agree(seen, ROBOT_EXPECTED)
    assert (record["verdict"], record["verdict_label"]) == ("fail", "FAIL (incomplete)")
    messages = {t["name"]: t["message"] for t in record["tests"]}
    assert messages["Config Error"].startswith("HARNESS ERROR"), messages["Config Error"]
    assert messages["Bench Fault"].startswith("BENCH FAULT"), messages["Bench Fault"]

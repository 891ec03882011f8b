"""`hil run` as a user stops it: Ctrl-C, SIGTERM, a broken bench found before any test."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hil.paths import RIGS

HIL = [sys.executable, "-m", "hil"]


def _start(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp")}
    (tmp_path / "tmp").mkdir(exist_ok=True)
    return subprocess.Popen([*HIL, "run", "--out", str(tmp_path / "reports"), *args],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)  # fmt: skip


def _record(tmp_path: Path) -> dict:
    (run_dir,) = (tmp_path / "reports").iterdir()
    return json.loads((run_dir / "record.json").read_text())


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupted_run_is_incomplete_and_leaves_nothing_behind(tmp_path, sig):
    proc = _start(tmp_path, "--suite", "tid", "--suite", "keys")
    deadline = time.monotonic() + 60
    lines = []
    for line in proc.stdout:  # wait for the first finished test, then interrupt
        lines.append(line)
        if line.startswith("PASS") or time.monotonic() > deadline:
            break
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=120)
    text = "".join(lines) + out
    assert proc.returncode == 130, text
    assert "interrupted" in text and "INCOMPLETE" in text
    record = _record(tmp_path)
    assert record["verdict"] == "incomplete" and record["verdict_label"] == "INCOMPLETE"
    verdicts = [t["verdict"] for t in record["tests"]]
    assert "pass" in verdicts and "not_run" in verdicts and "fail" not in verdicts
    assert not list((tmp_path / "tmp").glob("hil-sim-*")), "a simulator's temp dir was left"


def _ports_from(text: str, base: int) -> str:
    """external-sim.yaml with its ports (7400-7405, and 7409 where a case points at
    nothing) moved to base..base+9."""
    for offset in range(10):
        text = text.replace(str(7400 + offset), str(base + offset))
    return text


BROKEN = {  # how the bench is broken (on the rig file's own ports) -> what the one line must name
    "nothing-answers": (lambda t: t, "ac source (*IDN?)"),
    "probe-points-at-nothing": (
        lambda t: t.replace("127.0.0.1:7401", "127.0.0.1:7409"), "probe (PING)"),
    "relay-board-missing": (
        lambda t: t.replace('url: "socket://127.0.0.1:7400"', 'url: "/dev/ttyACM97"'),
        "relay board (identify): Numato relay board at /dev/ttyACM97"),
}  # fmt: skip


@pytest.mark.parametrize("how", list(BROKEN))
def test_a_bench_that_cannot_be_opened_stops_before_any_test(tmp_path, how):
    breaks, names = BROKEN[how]
    # Ports of its own per case: under pytest-xdist the cases run at the same time, and
    # "nothing answers" must not find another case's simulator.
    base = 7610 + 10 * list(BROKEN).index(how)
    rig = tmp_path / "broken.yaml"
    rig.write_text(_ports_from(breaks((RIGS / "external-sim.yaml").read_text()), base))
    sim = None
    if how != "nothing-answers":  # the rest of the bench is there: a simulator on base+0..5
        ready = tmp_path / "ready.json"
        sim = subprocess.Popen([*HIL, "sim", "--tcp", "--port-base", str(base), "--ready-file",
                                str(ready)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        deadline = time.monotonic() + 30
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
    try:
        start = time.monotonic()
        proc = _start(tmp_path, "--rig", str(rig))
        out, _ = proc.communicate(timeout=60)
    finally:
        if sim is not None:
            sim.terminate()
            sim.wait(timeout=10)
    assert time.monotonic() - start < 10, "pre-flight must be quick"
    assert proc.returncode == 2, out
    problem = [line for line in out.splitlines() if line.startswith("error:")]
    assert len(problem) == 1 and "hil rig check" in problem[0], out
    assert problem[0].startswith(f"error: {names}"), problem[0]
    assert problem[0].count("check") <= 2, f"the fix is said once: {problem[0]}"
    assert not (tmp_path / "reports").exists(), "no run directory for a run that never began"


def test_an_unset_key_variable_and_a_missing_lab_map_are_found_first(tmp_path, monkeypatch):
    rig = tmp_path / "keyless.yaml"
    rig.write_text(
        (RIGS / "sim.yaml").read_text().replace("{test_key: dkga04}", "{env: HIL_TEST_UNSET_VK}")
    )
    monkeypatch.delenv("HIL_TEST_UNSET_VK", raising=False)
    out = subprocess.run([*HIL, "run", "--rig", str(rig), "--out", str(tmp_path / "r")],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.returncode == 2 and "HIL_TEST_UNSET_VK is not set" in out.stdout + out.stderr
    out = subprocess.run([*HIL, "run", "--lab-map", str(tmp_path / "nope.yaml"),
                          "--out", str(tmp_path / "r")], capture_output=True, text=True,
                         timeout=60)  # fmt: skip
    assert out.returncode == 2 and "nope.yaml" in out.stdout + out.stderr
    out = subprocess.run([*HIL, "run", "-k", "nothing_matches_this", "--out",
                          str(tmp_path / "r")], capture_output=True, text=True,
                         timeout=60)  # fmt: skip
    assert out.returncode == 5 and "no tests selected" in out.stdout
    assert not (tmp_path / "r").exists()


def test_suites_pass_on_a_conforming_meter_not_like_the_builtin_one(tmp_path):
    """sim-strict: real-time clock, credit read out at 0.1 kWh, supply off at start, only the
    mandatory events pushed. The relay test waits energy / power from the rig's declared
    load, the credit checks work at the declared resolution."""
    proc = _start(tmp_path, "--rig", "sim-strict", "--suite", "supply", "--suite", "tid",
                  "--suite", "management")  # fmt: skip
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-3000:]
    record = _record(tmp_path)
    assert record["verdict"] == "pass" and record["verdict_label"].startswith("PASS (subset:")
    assert {t["verdict"] for t in record["tests"]} <= {"pass", "skip"}


def test_ctrl_c_in_the_robot_phase_is_incomplete_and_unrun_tests_are_not_failures(tmp_path):
    proc = _start(tmp_path, "--clause", "AUTH-CRC")  # pytest's 7 tests, then Robot's 7
    deadline = time.monotonic() + 120
    lines = []
    for line in proc.stdout:  # the first Robot test to finish (its id has no test_ module)
        lines.append(line)
        if line.startswith("PASS authentication::") or time.monotonic() > deadline:
            break
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    text = "".join(lines) + out
    assert proc.returncode == 130, text
    record = _record(tmp_path)
    assert record["verdict_label"] == "INCOMPLETE", text
    robot = [t for t in record["tests"] if t["nodeid"].endswith(".robot::" + t["name"])]
    verdicts = [t["verdict"] for t in robot]
    assert verdicts[0] == "pass" and "not_run" in verdicts, verdicts
    assert "fail" not in verdicts, verdicts
    assert not list((tmp_path / "tmp").glob("hil-sim-*")), "a simulator's temp dir was left"

"""`hil rig check` against the self-started simulator and against one started by hand."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

from hil.paths import RIGS

# Every row passed: rig file, key sources, meter file, each device and each keypad key.
ALL_PASSED = re.compile(r"\b(2\d) of \1 checks passed")


def hil(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hil", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "140"},
    )


def test_rig_check_passes_on_the_simulated_rig():
    out = hil("rig", "check", str(RIGS / "sim.yaml"))
    assert out.returncode == 0, out.stdout + out.stderr
    assert ALL_PASSED.search(out.stdout), out.stdout[-2000:]
    assert "registered by the meter" in out.stdout


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


@pytest.fixture
def hand_started_sim():
    if not all(_port_free(p) for p in range(7400, 7406)):
        pytest.skip("ports 7400-7405 are in use on this machine")
    proc = subprocess.Popen(
        [sys.executable, "-m", "hil", "sim", "--tcp", "--port-base", "7400"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 20
    while _port_free(7405):
        assert proc.poll() is None, proc.stdout.read()
        assert time.monotonic() < deadline, "hil sim did not open its ports"
        time.sleep(0.05)
    yield proc
    proc.send_signal(signal.SIGINT)  # Ctrl-C
    assert proc.wait(timeout=10) == 0


def test_rig_check_passes_against_a_hand_started_simulator(hand_started_sim):
    out = hil("rig", "check", str(RIGS / "external-sim.yaml"))
    assert out.returncode == 0, out.stdout + out.stderr
    assert ALL_PASSED.search(out.stdout), out.stdout[-2000:]


def test_rig_check_reports_a_silent_probe_as_a_failed_check(tmp_path):
    rig = tmp_path / "rig.yaml"
    text = (RIGS / "external-sim.yaml").read_text().replace("7401", "7499").replace("74", "75")
    rig.write_text(text)
    start = time.monotonic()
    out = hil("rig", "check", str(rig))
    assert out.returncode != 0
    assert time.monotonic() - start < 30, "a dead bench must not hang the check"
    assert "error:" in out.stderr or "FAIL" in out.stdout

"""`hil sim --rig split-sim.yaml` as a user runs it: a process, a ready file, a signal."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from hil.paths import RIGS
from hil.rig.drivers.probe import ProbeClient

RIG_FILE = RIGS / "split-sim.yaml"


def start(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    ready = tmp_path / "ready.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "hil", "sim", "--rig", str(RIG_FILE), "--ready-file", str(ready),
         *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while not ready.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no ready file"
        time.sleep(0.02)
    return proc, json.loads(ready.read_text())


def test_ready_file_names_every_endpoint_and_sigterm_stops_it(tmp_path: Path) -> None:
    proc, ready = start(tmp_path, "--speed", "5")
    try:
        assert ready["kind"] == "split" and ready["pid"] == proc.pid
        wanted = {"relay_board", "ciu", "control", "meter:house-a", "meter:house-b"}
        assert wanted <= set(ready)
        assert ready["ciu"].startswith("/dev/") and ready["meter:house-b"].startswith("/dev/")
        with ProbeClient(ready["meter:house-b"]) as b:
            assert b.info()["pan"] == "600727012345678977"
        with ProbeClient(ready["ciu"]) as ciu:
            assert ciu.info()["unit"] == "ciu"
        host, port = ready["control"].removeprefix("socket://").rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=2) as conn:
            conn.sendall(b"state\n")
            state = json.loads(conn.makefile().readline().removeprefix("OK "))
        assert state["speed"] == 5.0
        assert set(state["meters"]) == {"house-a", "house-b"}
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=5)
        assert proc.returncode == 0
        assert "hil sim: split rig split-sim" in out and "house-b 01234567897" in out
        assert err.strip().endswith("hil sim: stopped")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_port_base_fixes_the_tcp_ports(tmp_path: Path) -> None:
    proc, ready = start(tmp_path, "--port-base", "47310")
    try:
        assert ready["relay_board"] == "socket://127.0.0.1:47310"
        assert ready["ciu"] == "socket://127.0.0.1:47311"
        assert ready["control"] == "socket://127.0.0.1:47312"
        assert ready["meter:house-a"] == "socket://127.0.0.1:47313"
        assert ready["meter:house-b"] == "socket://127.0.0.1:47314"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=5)


def test_options_the_split_bench_lacks_are_one_line_errors() -> None:
    for args in (["--supply-off"], ["--defect", "accepts_replays"]):
        out = subprocess.run(
            [sys.executable, "-m", "hil", "sim", "--rig", str(RIG_FILE), *args],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert out.returncode == 2, out
        assert out.stderr.startswith("error: ") and out.stderr.strip().count("\n") == 0


def test_a_split_defect_is_carried_by_the_ciu_and_named_in_the_banner(tmp_path: Path) -> None:
    proc, ready = start(tmp_path, "--defect", "ciu_stale_credit", "--speed", "5")
    try:
        host, port = ready["control"].removeprefix("socket://").rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=2) as conn:
            conn.sendall(b"state\n")
            state = json.loads(conn.makefile().readline().removeprefix("OK "))
        assert state["ciu"]["defects"] == ["ciu_stale_credit"]
        proc.send_signal(signal.SIGTERM)
        out, _err = proc.communicate(timeout=5)
        assert "defect ciu_stale_credit" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_an_unknown_split_defect_names_the_known_ones_in_one_line() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "hil", "sim", "--rig", str(RIG_FILE), "--defect", "accepts_replays"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert out.returncode == 2 and out.stderr.strip().count("\n") == 0
    assert "unknown split defect profile 'accepts_replays'" in out.stderr
    assert "ciu_keeps_old_pairing" in out.stderr

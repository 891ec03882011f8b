"""`hil sim` as a user runs it: a separate process, stopped by a signal."""

from __future__ import annotations

import signal
import subprocess
import sys

import pyvisa

from hil.paths import RIGS
from hil.rig.config import load_rig
from hil.rig.sim_launcher import SimProcess


def hil(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hil", *args], capture_output=True, text=True, timeout=timeout
    )


def test_sim_process_serves_and_stops_cleanly_on_sigterm():
    rig, _ = load_rig(RIGS / "sim.yaml")
    sim = SimProcess(RIGS / "sim.yaml", rig)
    addresses = sim.start()
    try:
        assert addresses["probe"].startswith("/dev/")  # a pty by default
        rm = pyvisa.ResourceManager("@py")
        dmm = rm.open_resource(addresses["dmm"], read_termination="\n", write_termination="\n")
        assert dmm.query("*IDN?")
        dmm.close()
        rm.close()
        wired = sim.wired_rig()
        assert wired.resources.probe.url == addresses["probe"]
        sim.process.send_signal(signal.SIGTERM)
        assert sim.process.wait(timeout=5) == 0
        log = sim.log_file.read_text()
        assert "hil sim: meter 600727000000000009" in log
        assert log.strip().endswith("hil sim: stopped")
    finally:
        sim.stop()


def test_list_defects_names_each_clause():
    out = hil("sim", "--list-defects")
    assert out.returncode == 0
    assert "accepts_replays" in out.stdout and "§7.3.8" in out.stdout
    names = {line.split()[0] for line in out.stdout.splitlines() if line.strip()}
    from hil.meter.defects import Defect
    from hil.meter.split_defects import SplitDefect

    assert {d.value for d in (*Defect, *SplitDefect)} <= names


def test_bad_defect_is_one_line_error():
    out = hil("sim", "--defect", "grumpy")
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0
    assert "unknown defect profile 'grumpy'; known: accepts_replays" in out.stderr


def test_bad_rig_file_is_one_line_error(tmp_path):
    rig = tmp_path / "rig.yaml"
    rig.write_text("name: x\nmeter: {pan: '1'}\n")
    out = hil("sim", "--rig", str(rig))
    assert out.returncode == 2
    assert out.stderr.startswith(f"error: {rig}: meter.pan:")
    assert out.stderr.strip().count("\n") == 0


def test_bad_option_is_reported_by_click():
    out = hil("sim", "--speed", "fast")
    assert out.returncode == 2
    assert "'fast' is not a valid float" in out.stderr

"""`hil run` as a user runs it: exit codes, the run directory, a killed run, no key material."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from hil.report.journal import read_journal
from hil.rig.meter_spec import MeterSpec
from hil.run import fit_id
from hil.sts.sample_keys import TEST_METER, TEST_VENDING_KEY_DKGA04

ENV = {**os.environ, "COLUMNS": "80"}


def hil_run(out: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hil", "run", "--out", str(out), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=ENV,
    )


def only_run_dir(out: Path) -> Path:
    dirs = [d for d in out.iterdir() if d.is_dir()]
    assert len(dirs) == 1, dirs
    return dirs[0]


def test_passing_run_writes_a_complete_journal(tmp_path):
    out = hil_run(tmp_path, "--suite", "tid", "-k", "replayed", "--no-robot")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "verdict: PASS" in out.stdout
    run_dir = only_run_dir(tmp_path)
    assert run_dir.name.endswith("-sim")
    events = [e["event"] for e in read_journal(run_dir / "journal.jsonl")]
    assert events == ["run_start", "rig", "test", "run_end"]
    assert (run_dir / "probe.log").stat().st_size > 0


def test_meter_failure_exits_1(tmp_path):
    out = hil_run(
        tmp_path, "--suite", "tid", "-k", "replayed", "--no-robot", "--defect", "accepts_replays"
    )
    assert out.returncode == 1, out.stdout + out.stderr
    assert "a conforming meter: Used (code 10)" in out.stdout


def test_broken_rig_file_exits_2_with_one_line(tmp_path):
    rig = tmp_path / "rig.yaml"
    rig.write_text("name: x\nmeter: {pan: '600727000000000009', sgc: 1, ti: 1, krn: 10}\n")
    out = hil_run(tmp_path / "reports", "--rig", str(rig))
    assert out.returncode == 2
    assert out.stderr.strip() == f"error: {rig}: meter.krn: Input should be less than or equal to 9"


def test_unknown_suite_is_a_usage_error(tmp_path):
    out = hil_run(tmp_path / "reports", "--suite", "nonsense")
    assert out.returncode == 2 and "no suite 'nonsense'; known: authentication" in out.stderr
    assert not (tmp_path / "reports").exists(), "no run directory for a run that never began"


def test_ids_cut_for_a_terminal_keep_their_parameter():
    ids = [f"test_authentication::test_token_that_does_not_authenticate_is_refused[{p}]"
           for p in ("wrong-vending-key", "wrong-meter", "digits-swapped")]  # fmt: skip
    cut = [fit_id(i, 74) for i in ids]
    assert all(len(c) <= 74 for c in cut) and len(set(cut)) == 3, cut
    assert [c.rpartition("[")[2] for c in cut] == ["wrong-vending-key]", "wrong-meter]",
                                                   "digits-swapped]"]  # fmt: skip
    assert fit_id("test_tid::test_x", 74) == "test_tid::test_x"
    assert len(fit_id("x" * 30 + "[" + "p" * 60 + "]", 40)) == 40  # a long id: cut at the end


def test_killed_run_keeps_every_finished_test(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "hil", "run", "--out", str(tmp_path),
                             "--suite", "tid", "--no-robot"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=ENV)  # fmt: skip
    deadline = time.monotonic() + 120
    journal = None
    while time.monotonic() < deadline:
        dirs = [d for d in tmp_path.iterdir() if d.is_dir()] if tmp_path.exists() else []
        journal = dirs[0] / "journal.jsonl" if dirs else None
        if (
            journal
            and journal.exists()
            and sum(e["event"] == "test" for e in read_journal(journal)) >= 2
        ):
            break
        time.sleep(0.2)
    children = subprocess.run(
        ["ps", "-o", "pid=,args=", "--ppid", str(proc.pid)], capture_output=True, text=True
    ).stdout.splitlines()
    sims = [int(line.split()[0]) for line in children if " sim " in line]
    assert sims, f"no simulator child of hil run: {children}"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert journal is not None
    events = read_journal(journal)
    finished = [e for e in events if e["event"] == "test"]
    assert len(finished) >= 2 and events[-1]["event"] != "run_end"
    assert all(e["verdict"] == "pass" for e in finished)
    # `hil report` renders what is there and says it is partial.
    rendered = subprocess.run(
        [sys.executable, "-m", "hil", "report", str(journal.parent)],
        capture_output=True,
        text=True,
        timeout=120,
        env=ENV,
    )
    assert rendered.returncode == 0, rendered.stdout + rendered.stderr
    record = json.loads((journal.parent / "record.json").read_text())
    assert record["run"]["partial"] is True
    # Never PASS: the run did not end, so the verdict is INCOMPLETE (all finished tests passed).
    assert (record["verdict"], record["verdict_label"]) == ("incomplete", "INCOMPLETE")
    assert "INCOMPLETE" in rendered.stdout
    assert {t["nodeid"] for t in record["tests"]} == {e["nodeid"] for e in finished}
    assert "PARTIAL" in (journal.parent / "report.html").read_text()
    # The orphaned simulator notices and stops by itself.
    time.sleep(2)
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(journal.parent) not in ps
    assert not [
        line
        for line in ps.splitlines()
        if "hil sim" in line and "exit-with-parent" in line and str(tmp_path) in line
    ]


def test_no_key_material_in_the_run_directory(tmp_path):
    out = hil_run(tmp_path, "--suite", "keys", "-k", "either_order", "--no-robot")
    assert out.returncode == 0, out.stdout
    secrets = {
        TEST_VENDING_KEY_DKGA04.lower(),
        MeterSpec(**TEST_METER).load_decoder_key().value.hex(),
    }
    for path in only_run_dir(tmp_path).rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace").lower()
            for secret in secrets:
                assert secret not in text, f"key material in {path}"


def test_a_suite_that_cannot_be_collected_is_an_error_not_no_tests(tmp_path):
    broken = tmp_path / "test_broken.py"
    broken.write_text("def test_(:\n")
    out = hil_run(tmp_path / "out", "--suite", str(broken), "--no-robot")
    assert out.returncode == 2, out.stdout + out.stderr
    (line,) = [ln for ln in out.stderr.splitlines() if ln.startswith("error:")]
    assert "a suite cannot be collected" in line and "test_broken.py" in line
    assert "SyntaxError" in line or "invalid syntax" in line
    assert "no tests selected" not in out.stdout and not (tmp_path / "out").exists()


def test_a_split_rig_takes_the_split_suite_and_refuses_the_others_in_one_line(tmp_path):
    for args, named in ((["--suite", "credit"], "--suite credit"), (["--robot"], "--robot")):
        out = hil_run(tmp_path, "--rig", "split-sim", *args)
        assert out.returncode == 2, out.stdout + out.stderr
        error = [ln for ln in out.stderr.splitlines() if ln.startswith("Error:")]
        assert len(error) == 1 and named in error[0] and "split rig" in error[0], out.stderr
    assert not list(tmp_path.iterdir())  # refused before a run directory was made

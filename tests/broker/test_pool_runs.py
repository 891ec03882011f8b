"""Pooled runs on one host: pytest-xdist workers each lease a simulated rig from a local
pool; a rig that cannot be leased, or a lease lost mid-run, gives error verdicts."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from hil.broker import LocalBroker
from hil.cli import main
from hil.errors import ConfigError
from hil.paths import REPO_ROOT, RIGS
from hil.report.journal import read_journal
from hil.rig.binding import bind_rig
from hil.rig.config import load_rig

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def pool(tmp_path: Path) -> Path:
    path = tmp_path / "pool.yaml"
    path.write_text(
        "rigs:\n"
        f"  - {{file: {RIGS / 'sim.yaml'}, name: sim-1, tags: {{model: sim, firmware: '1_0'}}}}\n"
        f"  - {{file: {RIGS / 'sim.yaml'}, name: sim-2, tags: {{model: sim, firmware: '2_0'}}}}\n",
        encoding="utf-8",
    )
    return path


def _pytest(*args: str, **kw: object) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "pytest", "-p", "no:labgrid", "-p", "no:cacheprovider",
           "-p", "no:randomly", "-o", "addopts=", "-q", *args]  # fmt: skip
    return subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **kw)  # type: ignore[call-overload]  # fmt: skip


def _tests(journal: Path) -> list[dict]:
    return [e for e in read_journal(journal) if e["event"] == "test"]


def test_each_xdist_worker_leases_its_own_rig_and_gives_it_back(pool: Path, tmp_path: Path):
    job = _pytest("suites/test_credit.py", "-k", "boundary", "-n", "2", "--pool", str(pool),
                  "--hil-journal", str(tmp_path / "journal.jsonl"))  # fmt: skip
    out, _ = job.communicate(timeout=240)
    assert job.returncode == 0, out
    rigs = {}
    for journal in sorted(tmp_path.glob("journal-gw*.jsonl")):
        events = read_journal(journal)
        start = events[0]
        assert start["lease"]["broker"] == "LocalBroker" and start["worker"] in ("gw0", "gw1")
        rigs[next(e["name"] for e in events if e["event"] == "rig")] = len(_tests(journal))
    assert set(rigs) == {"sim-1", "sim-2"} and sum(rigs.values()) == 8
    ids = [t["nodeid"] for j in tmp_path.glob("journal-gw*.jsonl") for t in _tests(j)]
    assert not [i for i in ids if "[sim" in i]  # no rig label: every worker collects the same
    assert LocalBroker(pool).leases() == []


def test_a_rig_that_cannot_be_leased_gives_error_verdicts_naming_the_holder(
    pool: Path, tmp_path: Path
):
    broker = LocalBroker(pool)
    held = [broker.lease({"model": "sim"}, owner="ci-4711", ttl_s=120) for _ in range(2)]
    try:
        job = _pytest("suites/test_credit.py", "-k", "16384 or 1818624", "--pool", str(pool),
                      "--lease-wait", "0.5", "--hil-journal", str(tmp_path / "j.jsonl"))  # fmt: skip
        out, _ = job.communicate(timeout=120)
    finally:
        for lease in held:
            broker.release(lease)
    assert job.returncode == 1, out  # errors, never a pass
    tests = _tests(tmp_path / "j.jsonl")
    assert [t["verdict"] for t in tests] == ["error", "error"]
    assert (
        "no free rig for any rig after waiting 0.5 s: busy sim-1 (job ci-4711"
        in (tests[0]["message"])
    )
    start = read_journal(tmp_path / "j.jsonl")[0]
    assert "ci-4711" in start["lease"]["error"]


def test_a_lease_lost_mid_run_turns_the_remaining_tests_into_errors(pool: Path, tmp_path: Path):
    journal = tmp_path / "j.jsonl"
    job = _pytest("suites/test_credit.py", "--pool", str(pool), "--pool-tag", "rig=sim-2",
                  "--lease-ttl", "1.5", "--hil-journal", str(journal))  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (journal.exists() and _tests(journal)):  # the first test has finished
            assert time.monotonic() < deadline and job.poll() is None
            time.sleep(0.05)
        lease_file = pool.parent / ".leases" / "sim-2.lease"
        os.remove(lease_file)  # what `hil lab free sim-2 --force` does to a live lease
        out, _ = job.communicate(timeout=120)
    finally:
        if job.poll() is None:
            job.kill()
    assert job.returncode == 1, out
    verdicts = [t["verdict"] for t in _tests(journal)]
    assert verdicts[0] == "pass" and verdicts[-1] == "error" and "fail" not in verdicts
    lost = [t for t in _tests(journal) if t["verdict"] == "error"]
    assert "lease on rig sim-2 lost" in lost[0]["message"]
    assert "is gone (released" in lost[0]["message"]


def test_hil_run_each_runs_everything_on_every_rig_with_pabot_for_robot(pool: Path, tmp_path: Path):
    # no venv on PATH: pabot must start this interpreter's robot, not look for one
    env = {**os.environ, "COLUMNS": "200", "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-m", "hil", "run", "--pool", str(pool), "--each", "--suite", "credit",
         "-k", "16384 or overflow", "--robot", "--out", str(tmp_path / "r")],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=280, env=env,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "2 worker(s), one leased rig each, every test on each rig" in out.stdout
    for rig in ("sim-1", "sim-2"):  # the summary has a row per rig and suite
        for suite in ("test_credit.py", "credit.robot"):
            assert re.search(rf"{rig}\s*│\s*{re.escape(suite)}\s*│\s*\d", out.stdout)
        assert f"PASS {rig} test_credit::test_amount_boundary[16384]" in out.stdout
    (run_dir,) = (tmp_path / "r").iterdir()
    robot_journals = sorted((run_dir / "robot").glob("journal-*.jsonl"))
    robot_rigs = {e["name"] for j in robot_journals for e in read_journal(j)
                  if e["event"] == "rig"}  # fmt: skip
    assert robot_rigs == {"sim-1", "sim-2"}
    robot_tests = [t["nodeid"] for j in robot_journals for t in _tests(j)]
    assert len(robot_tests) == 2 * len(set(robot_tests))  # every Robot test on both rigs
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "sim-1" in html and "sim-2" in html
    assert LocalBroker(pool).leases() == []


def test_a_robot_phase_that_cannot_start_is_never_a_pass(pool: Path, tmp_path: Path):
    env = {**os.environ, "COLUMNS": "200", "ROBOT_OPTIONS": "--no-such-option"}  # robot refuses
    out = subprocess.run(
        [sys.executable, "-m", "hil", "run", "--pool", str(pool), "--suite", "credit",
         "-k", "16384", "--robot", "--clause", "CREDIT-ACCEPT", "--out", str(tmp_path / "r")],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=280, env=env,
    )  # fmt: skip
    assert out.returncode == 2, out.stdout[-3000:] + out.stderr[-2000:]
    assert "error: the Robot phase reported 0 of 2 selected tests" in out.stdout
    assert "verdict: INCOMPLETE" in out.stdout
    (run_dir,) = (tmp_path / "r").iterdir()
    unrun = _tests(run_dir / "robot" / "journal-unrun.jsonl")
    assert {t["verdict"] for t in unrun} == {"not_run"} and len(unrun) == 2
    assert all(t["nodeid"].startswith("suites/robot/") for t in unrun)
    assert all("CREDIT-ACCEPT" in t["clauses"] for t in unrun)
    record = json.loads((run_dir / "record.json").read_text(encoding="utf-8"))
    assert record["verdict"] == "incomplete" and record["counts"]["not_run"] == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-n", "3"], "-n 3: only 2 rig(s)"),
        (["--tag", "firmware=9_9"], "no rig matches firmware=9_9"),
        (["--tag", "firmware"], "--tag 'firmware': write KEY=VALUE"),
        (["-n", "two"], "-n 'two': give a number of workers or auto"),
    ],
)
def test_hil_run_pool_options_are_checked_before_anything_starts(pool, args, message):
    result = CliRunner().invoke(main, ["run", "--pool", str(pool), *args])
    assert result.exit_code == 2 and message in result.output


def test_hil_run_worker_options_need_a_pool():
    result = CliRunner().invoke(main, ["run", "--each"])
    assert result.exit_code == 2 and "need --pool FILE" in result.output


def _lab_rig(tmp_path: Path) -> Path:
    text = (RIGS / "external-sim.yaml").read_text(encoding="utf-8")
    text = text.replace('"socket://127.0.0.1:7400"', "place:board").replace(
        '"socket://127.0.0.1:7401"', "place:probe"
    )
    path = tmp_path / "bench-1.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_place_references_are_bound_to_the_lease_addresses(tmp_path: Path):
    path = _lab_rig(tmp_path)
    config, _ = load_rig(path)
    bound = bind_rig(config, path, name="bench-1",
                     bindings={"board": "rfc2217://h:5001", "probe": "socket://h:5002"})  # fmt: skip
    assert bound.name == "bench-1"
    assert bound.resources.relay_board.url == "rfc2217://h:5001"
    assert bound.resources.probe.url == "socket://h:5002"
    assert bound.resources.keypad == config.resources.keypad


def test_place_references_without_a_lease_or_resource_are_one_line_errors(tmp_path: Path):
    path = _lab_rig(tmp_path)
    config, _ = load_rig(path)
    with pytest.raises(ConfigError, match=r"resources.relay_board.url: place:board is a labgrid "
                       r"place resource; run this rig through its labgrid pool"):  # fmt: skip
        bind_rig(config, path)
    with pytest.raises(ConfigError, match=r"has no serial resource 'probe' \(it has: board\)"):
        bind_rig(config, path, bindings={"board": "socket://h:1"})


def test_the_example_pool_files_are_valid():
    from hil.broker.labgrid import parse_pool
    from hil.broker.local import load_pool
    from hil.yamlfile import read_yaml

    assert [r.name for r in load_pool(RIGS / "pool.example.yaml")] == [
        "sim-1", "sim-2", "external-sim"
    ]  # fmt: skip
    path = RIGS / "lab-pool.example.yaml"
    section = parse_pool(path, read_yaml(path, "pool file")[0])
    assert section.coordinator == "labgrid.lab.example:20408" and section.rigs_dir == "lab"
    assert section.tags == {"bench": "sts"}


def test_a_labgrid_pool_file_with_a_typo_is_a_one_line_error(tmp_path: Path):
    from hil.broker.pool import open_broker

    path = tmp_path / "lab.yaml"
    path.write_text("labgrid:\n  coordinater: h:1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"lab.yaml: labgrid.coordinater: unknown field"):
        open_broker(path)
    path.write_text("racks: []\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"a pool file has a rigs: list .* or a labgrid:"):
        open_broker(path)


def test_an_unreachable_coordinator_is_a_one_line_error(tmp_path: Path):
    if not os.environ.get("CI"):
        pytest.importorskip("labgrid")
    path = tmp_path / "lab.yaml"
    path.write_text("labgrid:\n  coordinator: 127.0.0.1:1\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["lab", "list", "--pool", str(path)])
    assert result.exit_code == 2
    assert result.output.splitlines()[-1].startswith(
        "error: cannot reach the labgrid coordinator at 127.0.0.1:1"
    )
    assert "start labgrid-coordinator there or fix labgrid.coordinator in" in result.output

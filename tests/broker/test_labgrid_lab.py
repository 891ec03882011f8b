"""The labgrid broker against a real coordinator and exporter on loopback, serving two
simulated benches: leases, parallel workers, a killed worker and its recovered lease."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hil.broker import LeaseLost, NoRigAvailable
from hil.broker.pool import open_broker
from hil.paths import REPO_ROOT
from hil.report.journal import read_journal
from tests.broker.loopback_lab import LoopbackLab

pytestmark = pytest.mark.timeout(420)
if not os.environ.get("CI"):  # CI installs labgrid (the test extra): there it must run
    pytest.importorskip("labgrid")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory):
    lab = LoopbackLab(tmp_path_factory.mktemp("lab")).start()
    yield lab
    lab.stop()


def _acquired(lab: LoopbackLab) -> dict[str, str]:
    """labgrid's own view (labgrid-client show): place -> 'acquired:' line."""
    out = {}
    for place in lab.places:
        lines = lab.client("-p", place, "show").splitlines()
        out[place] = next(x.split(":", 1)[1].strip() for x in lines if "acquired:" in x)
    return out


def _assert_all_free(lab: LoopbackLab) -> None:
    assert set(_acquired(lab).values()) == {"None"}
    with open_broker(lab.pool) as broker:
        assert broker.leases() == []
        assert [r.note for r in broker.rigs()] == ["", ""]


def _hil_run(lab: LoopbackLab, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "hil", "run", "--pool", str(lab.pool), "-n", "2",
           "--suite", "credit", "-k", "boundary", "--no-robot", "--lease-wait", "60",
           "--out", str(out), *extra]  # fmt: skip
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=REPO_ROOT, env=env)


def _journal_rigs(run_dir: Path) -> dict[str, int]:
    """rig name -> tests it ran, from the workers' journals."""
    rigs: dict[str, int] = {}
    for journal in sorted(run_dir.glob("journal-gw*.jsonl")):
        events = read_journal(journal)
        name = next(e["name"] for e in events if e["event"] == "rig")
        rigs[name] = rigs.get(name, 0) + sum(e["event"] == "test" for e in events)
    return rigs


def test_lease_renew_and_release_go_through_the_coordinator(lab: LoopbackLab) -> None:
    with open_broker(lab.pool) as broker:
        first = broker.lease({"model": "sim"}, ttl_s=30)
        second = broker.lease({"model": "sim"}, ttl_s=30)
        assert {first.rig, second.rig} == {"sim-a", "sim-b"}
        assert set(first.bindings) == {"relay_board", "probe"}
        assert first.bindings["probe"].startswith("socket://127.0.0.1:")
        assert "None" not in _acquired(lab).values()  # both locked in labgrid itself

        with pytest.raises(NoRigAvailable, match=r"busy sim-\w \(job .* pid \d+\)"):
            broker.lease({"model": "sim"}, wait_s=0.5)
        with pytest.raises(NoRigAvailable, match="no labgrid place matches model=meter-x"):
            broker.lease({"model": "meter-x"})

        renewed = broker.renew(first)
        assert renewed.expires_at >= first.expires_at
        broker.release(first)
        with pytest.raises(LeaseLost):
            broker.renew(first)
        broker.release(second)
        broker.release(second)  # twice is harmless
    _assert_all_free(lab)


def test_a_place_acquired_by_hand_is_never_taken(lab: LoopbackLab) -> None:
    lab.client("-p", "sim-a", "acquire")
    try:
        with open_broker(lab.pool) as broker:
            lease = broker.lease({"model": "sim"}, ttl_s=30)
            assert lease.rig == "sim-b"
            notes = {r.name: r.note for r in broker.rigs()}
            assert notes["sim-a"].startswith("acquired outside hil by ")
            assert broker.recover_stale() == []  # not ours to free
            broker.release(lease)
    finally:
        lab.client("-p", "sim-a", "release")
    _assert_all_free(lab)


def test_two_workers_each_lease_a_place_and_both_are_free_afterwards(
    lab: LoopbackLab, tmp_path: Path
) -> None:
    result = _hil_run(lab, tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "2 worker(s), one leased rig each" in result.stdout
    (run_dir,) = tmp_path.iterdir()
    rigs = _journal_rigs(run_dir)
    assert set(rigs) == {"sim-a", "sim-b"} and sum(rigs.values()) == 8
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "sim-a" in html and "sim-b" in html
    _assert_all_free(lab)


def _wait_for(what: str, check, timeout: float = 60):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_a_killed_worker_leaves_a_lease_that_expires_and_the_next_run_proceeds(
    lab: LoopbackLab, tmp_path: Path
) -> None:
    # Two xdist workers with a 3 s lease; the whole credit suite keeps them busy.
    cmd = [sys.executable, "-m", "pytest", "suites/test_credit.py", "-n", "2",
           "--max-worker-restart", "0", "--pool", str(lab.pool), "--lease-ttl", "3",
           "-p", "no:labgrid", "-p", "no:cacheprovider", "-p", "no:randomly",
           "-o", "addopts=", "-q"]  # fmt: skip
    job = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        with open_broker(lab.pool) as broker:
            leases = _wait_for("both workers to lease", lambda: len(broker.leases()) == 2
                               and broker.leases())  # fmt: skip
            victim = next(x for x in leases if x.rig == "sim-a")
            time.sleep(1)  # mid-run: tests are going on on both rigs (about 4 s each)
            os.kill(int(victim.owner["pid"]), signal.SIGKILL)
            job.communicate(timeout=120)
            assert job.returncode != 0  # the run saw its worker die

            # labgrid's lock stays: the place is still acquired by the dead worker ...
            assert _acquired(lab)["sim-a"] != "None"
            held = {x.rig: x for x in broker.leases()}
            assert held["sim-a"].token == victim.token
            # ... until the harness's expiry passes: then hil lab shows it stale
            _wait_for("the lease to go stale", lambda: broker.leases()[0].stale, timeout=10)
    finally:
        if job.poll() is None:
            job.kill()
            job.wait()
    listing = subprocess.run(
        [sys.executable, "-m", "hil", "lab", "list", "--pool", str(lab.pool), "--json"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    states = {r["rig"]: r["state"] for r in json.loads(listing.stdout)}
    assert states == {"sim-a": "stale", "sim-b": "free"}

    # The next run recovers the stale lease by itself and gets both rigs.
    result = _hil_run(lab, tmp_path / "next")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (run_dir,) = (tmp_path / "next").iterdir()
    assert set(_journal_rigs(run_dir)) == {"sim-a", "sim-b"}
    _assert_all_free(lab)


def test_hil_lab_free_releases_a_named_lease_only_with_force(lab: LoopbackLab) -> None:
    with open_broker(lab.pool) as broker:
        lease = broker.lease({"rig": "sim-b"}, ttl_s=60)
    assert lease.rig == "sim-b"
    hil = [sys.executable, "-m", "hil", "lab", "free", "--pool", str(lab.pool), "sim-b"]
    refused = subprocess.run(hil, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "add --force if that job is gone" in refused.stderr
    freed = subprocess.run([*hil, "--force"], capture_output=True, text=True, timeout=60)
    assert freed.returncode == 0 and "freed sim-b (job" in freed.stdout
    _assert_all_free(lab)

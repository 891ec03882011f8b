"""``hil lab list`` / ``hil lab free`` as a user meets them, and where lease state lives."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from hil.broker import LocalBroker
from hil.broker import local as local_module
from hil.cli import main
from hil.paths import DEFAULT_RIG, REPO_ROOT


@pytest.fixture
def pool(tmp_path: Path) -> Path:
    (tmp_path / "sim.yaml").write_text(DEFAULT_RIG.read_text(encoding="utf-8"), encoding="utf-8")
    path = tmp_path / "pool.yaml"
    path.write_text(
        "rigs:\n  - {file: sim.yaml, name: sim-1}\n  - {file: sim.yaml, name: sim-2}\n",
        encoding="utf-8",
    )
    return path


def hil(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, list(args), env=env)


def test_lab_list_without_a_pool_file_says_how_to_make_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = hil("lab", "list", env={"HIL_POOL": ""})
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: rigs/pool.yaml: no pool file")
    assert "pool.example.yaml" in lines[0] and "--pool FILE" in lines[0]
    assert not (tmp_path / "rigs").exists()


def test_lab_free_of_an_unknown_rig_exits_2_with_one_line(pool):
    result = hil("lab", "free", "--pool", str(pool), "UNKNOWN")
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert lines == [
        f"error: UNKNOWN: no such rig in {pool} (its rigs: sim-1, sim-2); "
        f"see hil lab list --pool {pool}"
    ]


def test_lab_free_of_a_known_rig_that_is_not_leased_is_fine(pool):
    result = hil("lab", "free", "--pool", str(pool), "sim-1")
    assert result.exit_code == 0 and "nothing to free" in result.output


def test_an_unreachable_coordinator_is_one_clean_line_without_a_raw_log_line(tmp_path):
    pytest.importorskip("labgrid")
    path = tmp_path / "lab-pool.yaml"
    path.write_text("labgrid:\n  coordinator: 127.0.0.1:9\n", encoding="utf-8")
    # a fresh process: logging as a user's shell has it (no handler configured)
    done = subprocess.run([str(Path(__import__("sys").executable).with_name("hil")), "lab",
                           "list", "--pool", str(path)], capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert done.returncode == 2
    assert "ERROR:root" not in done.stderr
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert done.stderr.startswith("error: cannot reach the labgrid coordinator")


def test_listing_writes_no_lease_state_and_leasing_writes_it_ignored_by_git(pool):
    broker = LocalBroker(pool)
    assert [r.name for r in broker.rigs()] == ["sim-1", "sim-2"]
    assert not (pool.parent / ".leases").exists()  # lab list writes nothing
    lease = broker.lease(owner="job-1")
    state = pool.parent / ".leases"
    assert (state / f"{lease.rig}.lease").is_file()
    assert (state / ".gitignore").read_text().splitlines()[-1] == "*"
    broker.release(lease)


def test_the_repository_ignores_lease_directories():
    if not (REPO_ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    probe = "hil/data/rigs/.leases/sim.lease"
    done = subprocess.run(["git", "check-ignore", "-q", probe], cwd=REPO_ROOT)
    assert done.returncode == 0


def test_a_pool_in_a_read_only_place_keeps_its_leases_in_the_user_state_dir(
    pool, tmp_path, monkeypatch
):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    real_access = local_module.os.access
    monkeypatch.setattr(local_module.os, "access",
                        lambda path, mode: Path(path) != pool.parent and real_access(path, mode))  # fmt: skip
    broker = LocalBroker(pool)
    lease = broker.lease(owner="job-1")
    assert broker.state_dir.is_relative_to(tmp_path / "state" / "sts-hil" / "leases")
    assert (broker.state_dir / f"{lease.rig}.lease").is_file()
    assert not (pool.parent / ".leases").exists()
    assert [x.token for x in LocalBroker(pool).leases()] == [lease.token]  # every broker agrees
    broker.release(lease)

"""The conformance suites as a user runs them: against the simulated bench, in a shuffled
order (verdicts must not depend on order), and against every defect profile (hil selftest)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys

import pytest

from hil.meter.defects import Defect
from hil.paths import REPO_ROOT
from hil.report.journal import read_journal


def _pytest(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "suites", "-p", "no:cacheprovider", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.timeout(600)  # every suite test on the fast profile: about two minutes
def test_all_suites_pass_against_the_simulated_bench_in_shuffled_order(tmp_path):
    journal = tmp_path / "journal.jsonl"
    seed = str(random.randrange(1 << 30))
    out = _pytest(
        "-q",
        "--random-order-bucket=global",
        f"--random-order-seed={seed}",
        "--hil-journal",
        str(journal),
    )
    assert out.returncode == 0, f"seed {seed}: " + out.stdout[-3000:]
    tests = [e for e in read_journal(journal) if e["event"] == "test"]
    collected = [
        line for line in _pytest("--collect-only", "-q").stdout.splitlines() if "::" in line
    ]
    assert [t["nodeid"] for t in tests] != collected, "the run was not shuffled"
    assert sorted(t["nodeid"] for t in tests) == sorted(collected)
    assert len(tests) >= 40
    assert {t["verdict"] for t in tests} == {"pass"}
    # Every test carries requirement ids, and every injected token left evidence.
    assert all(t["clauses"] for t in tests)
    steps = [s for t in tests for s in (t["evidence"] or {}).get("steps", [])]
    assert len(steps) > 100 and all(s["ok"] for s in steps)
    assert all(len(s["token"]) == 20 for s in steps)


@pytest.mark.timeout(900)  # every defect profile, 6 at a time, each its own tests only
def test_selftest_detects_every_defect_profile(tmp_path):
    """Each defect fails a test of its own requirement. The conforming meter passing every
    suite is the shuffled test above (selftest would run every suite once more)."""
    matrix = tmp_path / "matrix.json"
    profiles = [arg for d in Defect for arg in ("--defect", d.value)]
    out = subprocess.run(
        [sys.executable, "-m", "hil", "selftest", "--quick", "-j", "6", "--json", str(matrix),
         *profiles],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "COLUMNS": "120"},
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    rows = json.loads(matrix.read_text())
    assert {r["profile"] for r in rows} == {d.value for d in Defect}
    for row in rows:
        assert row["ok"], row["profile"]
        assert row["detected_by"], row["profile"]
    assert f"{len(Defect)} of {len(Defect)} profiles as required" in out.stdout

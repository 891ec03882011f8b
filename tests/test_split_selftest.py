"""`hil selftest --rig split-sim`: the split suite against every CIU defect profile
(hil.meter.split_defects). Each defect must fail a test of its own requirement
(requirements.yaml violated_by) and the conforming split bench must pass everything."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from hil.conformance.catalogue import load_catalogue
from hil.meter.split_defects import SplitDefect
from hil.paths import RIGS, SUITES
from hil.selftest import CONFORMING, SPLIT_SUITE, selftest_plan


def test_a_split_rig_selftests_the_split_suite_against_the_cius_defects() -> None:
    profiles, suites = selftest_plan(RIGS / "split-sim.yaml")
    assert profiles == [CONFORMING, *(d.value for d in SplitDefect)] and suites == SPLIT_SUITE
    profiles, suites = selftest_plan(RIGS / "sim.yaml", ["accepts_replays"])
    assert profiles == ["accepts_replays"] and suites == SUITES
    profiles, _ = selftest_plan(RIGS / "sim.yaml", ["none", "accepts_replays", "conforming"])
    assert profiles == [CONFORMING, "accepts_replays"]


def test_every_split_defect_breaks_a_split_requirement() -> None:
    split = {r.id for r in load_catalogue().requirements if r.applies_to == "split"}
    for defect in SplitDefect:
        broken = load_catalogue().violated_by(defect.value)
        assert broken and broken <= split, (defect, broken)


def test_hil_selftest_quick_on_the_split_rig_catches_every_split_defect(tmp_path: Path) -> None:
    out_json = tmp_path / "matrix.json"
    out = subprocess.run(
        [sys.executable, "-m", "hil", "selftest", "--rig", "split-sim", "--quick",
         "--json", str(out_json)],
        capture_output=True, text=True, timeout=240, env={**os.environ, "COLUMNS": "120"},
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    n = len(SplitDefect) + 1
    assert f"{n} of {n} profiles as required" in out.stdout
    rows = {r["profile"]: r for r in json.loads(out_json.read_text())}
    assert set(rows) == {CONFORMING, *(d.value for d in SplitDefect)}
    conforming = rows[CONFORMING]
    assert conforming["ok"] and len(conforming["tests"]) >= 7
    assert all(t["verdict"] == "pass" for t in conforming["tests"])
    for defect in SplitDefect:
        row = rows[defect.value]
        assert row["ok"] and not row["also_failed"], row
        assert row["breaks"] == sorted(load_catalogue().violated_by(defect.value))
        failing = [t for t in row["tests"] if t["verdict"] == "fail"]
        assert failing and all(set(t["clauses"]) <= set(row["breaks"]) for t in failing)


def test_an_integrated_defect_on_the_split_rig_is_a_one_line_error() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "hil", "selftest", "--rig", "split-sim",
         "--defect", "accepts_replays"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 2 and out.stderr.strip().count("\n") == 0, out.stderr
    assert "unknown split defect profile 'accepts_replays'" in out.stderr

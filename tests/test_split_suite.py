"""The opt-in split suite (hil/data/suites/split.py): through `hil run` on the simulated
split bench, and its judging on meters that break the rules (stand-ins, no bench)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from hil.conformance.checks import CheckFailed
from hil.paths import RIGS, SUITES
from hil.report.journal import read_journal


def load_suite() -> ModuleType:
    spec = importlib.util.spec_from_file_location("split_suite", SUITES / "split.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SUITE = load_suite()


def test_hil_run_suite_split_passes_every_split_test_with_its_evidence(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "hil", "run", "--out", str(tmp_path), "--suite", "split",
         "--rig", "split-sim", "--no-robot"],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "COLUMNS": "80", "HIL_PDF": "off"},
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    (journal,) = tmp_path.glob("*/journal.jsonl")
    tests = {e["nodeid"].rsplit("::", 1)[1]: e for e in read_journal(journal)
             if e["event"] == "test"}  # fmt: skip
    routing = tests["test_token_typed_on_the_ciu_reaches_the_paired_meter_only"]
    foreign = tests["test_token_for_another_meter_is_refused_by_the_paired_one_and_changes_nothing"]
    assert routing["clauses"] == ["SPLIT-ROUTING"]
    assert foreign["clauses"] == ["SPLIT-FOREIGN-TOKEN"]
    for test in (routing, foreign):
        assert test["verdict"] == "pass"
        checks = test["evidence"]["checks"]
        assert checks and all(c["outcome"] == "pass" for c in checks)
    whats = [c["what"] for c in routing["evidence"]["checks"]]
    assert "house-b: credit" in whats and "house-b: TID memory" in whats  # the other meter
    shown = next(c for c in foreign["evidence"]["checks"] if c["what"].startswith("CIU"))
    assert shown["observed"] == "CRC"
    new = {"SPLIT-PAIRING", "SPLIT-LINK-CUT", "SPLIT-LINK-SHORT", "SPLIT-DISPLAY",
           "SPLIT-INTERLEAVED", "SPLIT-CIU-POWER", "SPLIT-LOCKOUT"}  # fmt: skip
    by_clause = {c: t for t in tests.values() for c in t["clauses"]}
    assert new <= set(by_clause)
    for clause in new:
        test = by_clause[clause]
        assert test["verdict"] == "pass" and test["evidence"]["checks"], clause
        blamed = {c["requirement"] for c in test["evidence"]["checks"]}
        # Its own requirement, plus SPLIT-PAIRING where the test re-pairs on the way.
        assert clause in blamed and blamed <= {clause, "SPLIT-PAIRING"}, clause
    # The report names the topology and each unit: the CIU, the link and both meters.
    (rig,) = json.loads((journal.parent / "record.json").read_text())["rigs"]
    assert rig["topology"] == "split" and rig["link"]["kind"] == "two_wire"
    assert rig["ciu"]["probe_info.unit"] == "ciu" and rig["ciu"]["paired"] == "house-a"
    units = {u["name"]: u for u in rig["units"]}
    assert set(units) == {"house-a", "house-b"}
    assert units["house-b"]["meter"]["pan"] == "600727012345678977"
    assert units["house-b"]["probe_info"]["pan"] == units["house-b"]["meter"]["pan"]
    assert not any(u["identity_mismatches"] for u in units.values())
    assert rig["counts"]["total"] == len(tests)
    html = (journal.parent / "report.html").read_text()
    assert "Split topology" in html and "Meter house-a" in html and "Meter house-b" in html


class FakeMeter:
    """A meter handle whose readings change between reads, as a mis-routed token would."""

    def __init__(self, name: str, credits: list[float], tids: list[list[int]]) -> None:
        self.name, self._credits, self._tids = name, credits, tids

    def read_credit(self) -> float:
        return self._credits.pop(0)

    def read_tid_memory(self) -> list[int]:
        return self._tids.pop(0)


def fake_request(*clauses: str) -> Any:
    marker = SimpleNamespace(args=clauses)
    node = SimpleNamespace(user_properties=[], get_closest_marker=lambda name: marker)
    return SimpleNamespace(node=node)


def test_a_token_that_reached_the_other_meter_fails_split_routing() -> None:
    other = FakeMeter("house-b", [25.6], [[6_000_000]])
    checks = SUITE.untouched("SPLIT-ROUTING", other, 0.0, [])
    assert [c.outcome for c in checks] == ["fail", "fail"]
    assert checks[0].observed == "25.6 kWh" and checks[1].observed == "[6000000]"
    request = fake_request("SPLIT-ROUTING")
    with pytest.raises(CheckFailed, match="house-b: credit"), SUITE.judged(request) as evidence:
        evidence.judge(checks)
    props = dict(request.node.user_properties)
    assert props["hil_verdict"] == "fail"
    assert json.loads(props["hil_clauses"]) == ["SPLIT-ROUTING"]
    assert len(json.loads(props["hil_evidence"])["checks"]) == 2


def test_a_bench_fault_is_an_error_not_a_meter_failure() -> None:
    request = fake_request("SPLIT-FOREIGN-TOKEN")
    with pytest.raises(TimeoutError), SUITE.judged(request):
        raise TimeoutError("CIU readback silent")
    assert dict(request.node.user_properties)["hil_verdict"] == "error"


def test_an_untouched_meter_passes() -> None:
    meter = FakeMeter("house-a", [3.0], [[1, 2]])
    assert all(c.passed for c in SUITE.untouched("SPLIT-ROUTING", meter, 3.0, [1, 2]))


def split_rig_with(tmp_path: Path, *edits: tuple[str, str]) -> Path:
    text = (RIGS / "split-sim.yaml").read_text()
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / "split-variant.yaml"
    path.write_text(text)
    return path


SUPPLY_LINE = "  supply_channel: 14 "  # the start of the shipped rig's line


@pytest.mark.parametrize(
    ("edits", "verdict"),
    [
        ([("battery_backup: false", "battery_backup: true")], "pass"),
        ([("settings_volatile: true", "settings_volatile: false")], "pass"),
        ([(SUPPLY_LINE, "  # no supply relay ")], "skip"),
    ],
    ids=["battery-backed", "settings-kept", "no-supply-relay"],
)
def test_ciu_power_passes_cius_that_declare_otherwise_and_skips_without_a_supply_relay(
    tmp_path: Path, edits: list[tuple[str, str]], verdict: str
) -> None:
    """Conforming CIUs unlike the shipped one (a battery, settings kept) pass SPLIT-CIU-POWER
    as they declare; a bench that cannot cut the CIU's supply skips it, never fails it."""
    rig = split_rig_with(tmp_path, *edits)
    out = subprocess.run(
        [sys.executable, "-m", "hil", "run", "--out", str(tmp_path / "out"), "--suite",
         "split", "--rig", str(rig), "--no-robot", "-k", "power"],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "COLUMNS": "80", "HIL_PDF": "off"},
    )  # fmt: skip
    # A run whose one test skipped ran nothing: never a PASS (exit 2, verdict ERROR).
    assert out.returncode == (0 if verdict == "pass" else 2), out.stdout + out.stderr
    (journal,) = (tmp_path / "out").glob("*/journal.jsonl")
    (test,) = [e for e in read_journal(journal) if e["event"] == "test"]
    assert test["clauses"] == ["SPLIT-CIU-POWER"] and test["verdict"] == verdict
    if verdict == "pass":
        whats = {c["what"]: c for c in test["evidence"]["checks"]}
        powered = whats["CIU: powered once its own supply is cut"]
        battery = "battery_backup: true" in rig.read_text()
        assert powered["observed"] == ("yes" if battery else "no")
        alarm = next(c for w, c in whats.items() if w.startswith("CIU: low_credit_alarm_wh"))
        assert alarm["observed"] == "5000" and "kept" in alarm["expected"]

"""A faulty bench gives *error* verdicts with a clear message, never a pass, never a hang."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

from hil.paths import REPO_ROOT
from hil.report.journal import read_journal

FAULTY_SUITE = textwrap.dedent("""
    from hil.conformance.steps import inject

    def test_probe_unplugged(rig, tokens, oracle, evidence):
        rig.sim_control("fault probe silent 1")
        inject(rig, oracle, evidence, tokens.credit(10))

    def test_probe_garbled(rig, tokens, oracle, evidence):
        rig.sim_control("fault probe garble 1.0")
        rig.read_credit()

    def test_relay_board_silent(rig, tokens, oracle, evidence):
        rig.sim_control("fault board silent 1")
        inject(rig, oracle, evidence, tokens.credit(10))

    def test_meter_failure_is_still_a_failure(rig, tokens, oracle, evidence):
        rig.sim_control("fault clear")
        assert rig.read_credit() == 1.0, "deliberately false"
""")


def test_bench_faults_are_errors_not_passes_and_never_hang(tmp_path):
    suite = tmp_path / "test_faulty_bench.py"
    suite.write_text(FAULTY_SUITE)
    journal = tmp_path / "journal.jsonl"
    start = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "pytest", str(suite), "-p", "no:cacheprovider",
                          "-p", "no:randomly", "--hil-journal", str(journal), "-rA"],
                         cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)  # fmt: skip
    elapsed = time.monotonic() - start
    verdicts = {e["nodeid"].split("::")[1].split("[")[0]: e
                for e in read_journal(journal) if e["event"] == "test"}  # fmt: skip
    assert {k: v["verdict"] for k, v in verdicts.items()} == {
        "test_probe_unplugged": "error",
        "test_probe_garbled": "error",
        "test_relay_board_silent": "error",
        "test_meter_failure_is_still_a_failure": "fail",
    }, out.stdout[-3000:]
    assert "did not answer" in verdicts["test_probe_unplugged"]["message"]
    assert "no readable reply" in verdicts["test_probe_garbled"]["message"]
    assert "relay board" in verdicts["test_relay_board_silent"]["message"].lower()
    assert "ERROR (bench fault)" in out.stdout
    assert elapsed < 120, f"a faulty bench took {elapsed:.0f} s: a wait is not bounded"

"""A faulty bench gives *error* verdicts with a clear message, never a pass, never a hang."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

from hil.paths import REPO_ROOT
from hil.report.journal import read_journal

FAULTY_SUITE = textwrap.dedent("""
    import pytest
    from hil.errors import ConfigError

    def test_probe_unplugged(session):
        session.rig.sim_control("fault probe silent 1")
        session.inject(session.tokens.credit(10))

    def test_probe_garbled(session):
        session.rig.sim_control("fault probe garble 1.0")
        session.rig.read_credit()

    def test_relay_board_silent(session):
        session.rig.sim_control("fault board silent 1")
        session.inject(session.tokens.credit(10))

    def test_meter_failure_is_still_a_failure(session):
        credit = session.rig.read_credit()
        session.check("CREDIT-ACCEPT", "credit (deliberately false)", expected=1.0,
                      observed=credit, ok=credit == 1.0)

    def test_config_error_is_an_error(session):
        raise ConfigError("rig lacks power_control")

    def test_harness_bug_is_an_error(session):
        {}["missing"]

    def test_bare_assert_is_an_error(session):
        assert session.rig.read_credit() == 1.0, "a bare assert is not a check"

    @pytest.mark.timeout(1)
    def test_timeout_is_an_error(session):
        import time
        time.sleep(5)
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
        "test_config_error_is_an_error": "error",
        "test_harness_bug_is_an_error": "error",
        "test_bare_assert_is_an_error": "error",
        "test_timeout_is_an_error": "error",
    }, out.stdout[-3000:]
    failed = verdicts["test_meter_failure_is_still_a_failure"]["evidence"]["checks"]
    assert [(c["requirement"], c["outcome"]) for c in failed] == [("CREDIT-ACCEPT", "fail")]
    assert "did not answer" in verdicts["test_probe_unplugged"]["message"]
    assert "no readable reply" in verdicts["test_probe_garbled"]["message"]
    assert "relay board" in verdicts["test_relay_board_silent"]["message"].lower()
    assert "ERROR (not a meter failure)" in out.stdout
    assert elapsed < 120, f"a faulty bench took {elapsed:.0f} s: a wait is not bounded"

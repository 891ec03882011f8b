"""The opt-in soak suite (hil/data/suites/soak.py) through `hil run`, as a user runs it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from hil.report.journal import read_journal

SMALL = {"HIL_SOAK_TOKENS": "24", "HIL_SOAK_SEED": "17"}


def hil(tmp_path: Path, *args: str, env: dict[str, str] | None = None):
    return subprocess.run(
        [sys.executable, "-m", "hil", "run", "--out", str(tmp_path), *args],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "COLUMNS": "80", "HIL_PDF": "off", **(env or {})},
    )  # fmt: skip


def soak_test(tmp_path: Path) -> dict:
    (journal,) = tmp_path.glob("*/journal.jsonl")
    (test,) = [e for e in read_journal(journal) if e["event"] == "test"]
    return test


def test_soak_on_a_conforming_meter_passes_and_reports_its_rate(tmp_path):
    out = hil(tmp_path, "--suite", "soak", "--no-robot", env=SMALL)
    assert out.returncode == 0, out.stdout + out.stderr
    test = soak_test(tmp_path)
    assert test["verdict"] == "pass"
    steps = test["evidence"]["steps"]
    assert len(steps) == 24  # every token judged against the oracle
    note = next(n for n in test["evidence"]["notes"] if n.startswith("soak:"))
    rate = float(re.search(r"([\d.]+) tokens/s end to end", note).group(1))
    assert rate > 0
    drawn = dict((k, int(n)) for n, k in re.findall(r"(\d+) (valid|mistyped|foreign|replayed)",
                                                     note))  # fmt: skip
    assert sum(drawn.values()) == 24 and drawn.get("replayed") and drawn.get("foreign")


def test_soak_catches_a_meter_that_credits_a_replay(tmp_path):
    out = hil(tmp_path, "--suite", "soak", "--no-robot", "--defect", "accepts_replays",
              env=SMALL)  # fmt: skip
    assert out.returncode == 1, out.stdout + out.stderr
    test = soak_test(tmp_path)
    assert test["verdict"] == "fail"
    assert "a conforming meter: Used" in test["message"]


def test_a_default_run_leaves_the_soak_out(tmp_path):
    out = subprocess.run([sys.executable, "-m", "hil", "run", "--plan"], capture_output=True,
                         text=True, timeout=120, cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "test_replayed_token_is_used" in out.stdout
    assert "soak" not in out.stdout

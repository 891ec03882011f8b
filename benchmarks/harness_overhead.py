"""Harness overhead on the realistic timing profile, against the plan's physical minimum.

Runs `hil run` (pre-flight, simulated bench, pytest, journal, HTML/JSON/JUnit reports; no
PDF) on the built-in simulated bench switched to hil/data/profiles/realistic.yaml (key press
0.15 s, release 0.15 s, processing 0.5 s, result shown 3 s), over the selection below (at
least 20 tests), and compares its wall time with what `hil run --plan` says the same tests
must take on that rig (hil/plan.py: keypad entry, processing, result display, waits):

    overhead = wall - physical minimum   (interpreter and simulator start-up, readbacks,
                                          checks, pytest, the journal and the reports)

and prints it as a share of the physical minimum (target: <= 2 %).
Run: python benchmarks/harness_overhead.py [--json]   (about 5 minutes)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hil.cli.plan_cmd import bench_for, collect_pytest, plan_total_s
from hil.paths import RIGS, SUITES
from hil.plan import Cost, estimate_run
from hil.report.journal import read_journal
from hil.rig.config import load_rig
from hil.run import pytest_args

SUITE_NAMES = ["authentication", "credit", "tid", "management"]
# Left out: the TID memory fills (3 minutes each here) and tests needing load_control.
KEYWORD = ("not tid_memory_depth and not older_than and not maximum_power_limit "
           "and not clear_tamper")  # fmt: skip
TARGET_PCT = 2.0


def realistic_rig(folder: Path) -> Path:
    rig = folder / "sim-realistic.yaml"
    text = (RIGS / "sim.yaml").read_text(encoding="utf-8")
    if "profile: fast" not in text:
        sys.exit("rigs/sim.yaml no longer names the fast profile: update this benchmark")
    rig.write_text(text.replace("profile: fast", "profile: realistic"), encoding="utf-8")
    return rig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rig = realistic_rig(folder)
        config = load_rig(rig)[0]
        bench = bench_for(config)
        suites = [str(SUITES / f"test_{name}.py") for name in SUITE_NAMES]
        planned = collect_pytest(pytest_args(folder, rig, suites=suites, keyword=KEYWORD,
                                             clauses=[], defect=None), config)  # fmt: skip
        minimum = plan_total_s(bench, planned)
        runs = [t for t in planned if not t.skip]
        estimates = [
            e for e in estimate_run([t.cost or Cost() for t in runs], bench) if e is not None
        ]
        cmd = [sys.executable, "-m", "hil", "run", "--rig", str(rig), "--no-robot",
               "--out", str(folder / "reports"), "-k", KEYWORD]  # fmt: skip
        for name in SUITE_NAMES:
            cmd += ["--suite", name]
        env = {**os.environ, "HIL_PDF": "off", "COLUMNS": "80"}
        start = time.monotonic()
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=folder)
        wall = time.monotonic() - start
        if out.returncode != 0:
            sys.exit(f"the benchmark run failed (exit {out.returncode}):\n{out.stdout[-3000:]}")
        (journal,) = (folder / "reports").glob("*/journal.jsonl")
        tests = [e for e in read_journal(journal) if e["event"] == "test"]
    if len(tests) != len(runs) or len(tests) < 20:
        sys.exit(f"expected {len(runs)} (>= 20) tests, the run journaled {len(tests)}")
    overhead = wall - minimum
    figures = {
        "tests": len(tests),
        "keypad_tokens": sum(e.keypad_tokens for e in estimates),
        "carrier_tokens": sum(e.carrier_tokens for e in estimates),
        "wall_s": round(wall, 2),
        "physical_minimum_s": round(minimum, 2),
        "overhead_s": round(overhead, 2),
        "overhead_pct_of_minimum": round(100 * overhead / minimum, 2),
        "target_pct": TARGET_PCT,
    }
    if opts.json:
        print(json.dumps(figures))
        return
    print(f"tests                  {figures['tests']} (profile realistic, rig {config.name})")
    print(f"tokens                 {figures['keypad_tokens']} keypad, "
          f"{figures['carrier_tokens']} virtual carrier")  # fmt: skip
    print(f"wall time              {wall:8.1f} s  (hil run, start to exit)")
    print(f"physical minimum       {minimum:8.1f} s  (hil run --plan for the same tests)")
    print(f"harness overhead       {overhead:8.1f} s  = {figures['overhead_pct_of_minimum']:.2f} %"
          f" of the physical minimum (target <= {TARGET_PCT:g} %)")  # fmt: skip


if __name__ == "__main__":
    main()

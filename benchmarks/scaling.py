"""Throughput of N simulated rigs against one, with the realistic timing profile.

A bench spends most of its time waiting for the meter (key presses, processing, the result
display), so rigs in parallel should scale almost linearly even on a 2-core machine. This
runs the same keypad-entered conformance tests twice:

    one rig:  pytest --rig <sim, realistic profile>
    N rigs:   pytest -n N --pool <N copies of that rig>   (one pytest-xdist worker per rig)

and prints tests per minute for both and their ratio (target: 4 rigs >= 3.5x one rig). The
wall-clock figure includes start-up (workers, simulators, leases); the steady figure is
from the first test's start to the last test's end in the journals.

The workload is suites/test_authentication.py and suites/test_credit.py, copied
``--copies`` times so there are enough tests to share (20 tests a copy).

Run: python benchmarks/scaling.py [--rigs 4] [--copies 3]   (about 10 minutes)
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from hil.paths import REPO_ROOT, RIGS
from hil.report.journal import read_journal

MODULES = ("test_authentication.py", "test_credit.py")


def build_workload(root: Path, copies: int) -> Path:
    suite = root / "suite"
    suite.mkdir()
    shutil.copy(REPO_ROOT / "suites" / "conftest.py", suite / "conftest.py")
    for n in range(1, copies + 1):
        for module in MODULES:
            stem = module.removesuffix(".py")
            shutil.copy(REPO_ROOT / "suites" / module, suite / f"{stem}_{n}.py")
    return suite


def run(label: str, suite: Path, where: list[str], journal: Path) -> dict[str, float]:
    cmd = [sys.executable, "-m", "pytest", str(suite), "-q", "-o", "addopts=",
           "-p", "no:cacheprovider", "-p", "no:randomly", "-p", "no:labgrid",
           "-p", "no:benchmark", f"--rootdir={suite}", "--hil-journal", str(journal),
           *where]  # fmt: skip
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    print(f"{label}: running ...", flush=True)
    out = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True)
    wall = time.monotonic() - start
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        sys.exit(f"{label}: the run failed:\n{out.stdout[-3000:]}")
    tests = []
    for path in sorted(journal.parent.glob(journal.stem + "*.jsonl")):
        tests += [e for e in read_journal(path) if e["event"] == "test"]
    starts = [datetime.fromisoformat(t["started"]).timestamp() for t in tests]
    ends = [s + t["duration_s"] for s, t in zip(starts, tests, strict=True)]
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    return {"tests": len(tests), "wall": wall, "steady": max(ends) - min(starts), "cpu": cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rigs", type=int, default=4)
    parser.add_argument("--copies", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rig = root / "sim-realistic.yaml"
        rig.write_text(
            (RIGS / "sim.yaml").read_text().replace("profile: fast", "profile: realistic")
        )
        pool = root / "pool.yaml"
        pool.write_text(
            "rigs:\n"
            + "".join(f"  - {{file: {rig}, name: sim-{i}}}\n" for i in range(1, args.rigs + 1))
        )
        suite = build_workload(root, args.copies)
        (root / "one").mkdir()
        (root / "many").mkdir()
        one = run("1 rig", suite, ["--rig", str(rig)], root / "one" / "journal.jsonl")
        many = run(f"{args.rigs} rigs", suite,
                   ["-n", str(args.rigs), "--pool", str(pool)],
                   root / "many" / "journal.jsonl")  # fmt: skip
    print()
    print(f"{'':10} {'tests':>6} {'wall s':>8} {'tests/min':>10} {'steady/min':>11} {'CPU s':>7}")
    for label, r in (("1 rig", one), (f"{args.rigs} rigs", many)):
        print(f"{label:10} {r['tests']:>6} {r['wall']:>8.1f} {60 * r['tests'] / r['wall']:>10.1f} "
              f"{60 * r['tests'] / r['steady']:>11.1f} {r['cpu']:>7.1f}")  # fmt: skip
    ratio_wall = (many["tests"] / many["wall"]) / (one["tests"] / one["wall"])
    ratio_steady = (many["tests"] / many["steady"]) / (one["tests"] / one["steady"])
    print()
    print(f"throughput ratio {args.rigs} rigs / 1 rig: {ratio_wall:.2f}x wall clock "
          f"(start-up included), {ratio_steady:.2f}x steady")  # fmt: skip
    print("target: 4 rigs >= 3.5x one rig")


if __name__ == "__main__":
    main()

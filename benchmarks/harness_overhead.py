"""Harness overhead with the realistic timing profile.

Runs a set of keypad-entered conformance tests against the simulated bench with
hil/data/profiles/realistic.yaml (key press 0.15 s, release 0.15 s, processing 0.5 s, result
shown 3 s), then compares the wall time with the time the keypad and the meter must take:

    required = per token: 21 presses + 20 releases + processing; plus the result display
               before each following token
    overhead = wall - required   (rig start, readbacks, verification, pytest, reports)

Prints the figures and the overhead as a share of the wall time (target: <= 5 %).
Run: python benchmarks/harness_overhead.py   (about 2 minutes)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hil.meter.profile_file import load_profile
from hil.paths import FIXTURES, REPO_ROOT, RIGS
from hil.report.journal import read_journal

TESTS = ["suites/test_authentication.py", "suites/test_tid.py::test_replayed_token_is_used"]


def main() -> None:
    profile = load_profile(FIXTURES / "profiles" / "realistic.yaml")
    k = profile.keypad
    with tempfile.TemporaryDirectory() as tmp:
        rig = Path(tmp) / "sim-realistic.yaml"
        rig.write_text(
            (RIGS / "sim.yaml").read_text().replace("profile: fast", "profile: realistic")
        )
        journal = Path(tmp) / "journal.jsonl"
        start = time.monotonic()
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                *TESTS,
                "-q",
                "-p",
                "no:cacheprovider",
                "--rig",
                str(rig),
                "--hil-journal",
                str(journal),
            ],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
        )
        wall = time.monotonic() - start
        if out.returncode != 0:
            sys.exit(f"the benchmark run failed:\n{out.stdout[-2000:]}")
        tests = [e for e in read_journal(journal) if e["event"] == "test"]
    tokens = sum(len((t["evidence"] or {}).get("steps", [])) for t in tests)
    typing = 21 * k.press_s + 20 * k.release_s + profile.processing_s
    required = tokens * typing + (tokens - 1) * profile.result_hold_s
    overhead = wall - required
    print(f"tests                 {len(tests)}")
    print(f"tokens (keypad)       {tokens}")
    print(f"wall time             {wall:8.1f} s")
    print(
        f"keypad + meter time   {required:8.1f} s  ({typing:.2f} s per token entry,"
        f" {profile.result_hold_s:g} s result display)"
    )
    print(
        f"harness overhead      {overhead:8.1f} s  = {100 * overhead / wall:.1f} % of the run"
        " (target <= 5 %)"
    )


if __name__ == "__main__":
    main()

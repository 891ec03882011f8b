"""Does the harness catch broken meters? Run the suites against every defect profile.

Each profile runs the suites against a simulated meter that breaks one rule. A profile is
*detected* when at least one test fails (a meter failure, not a bench error) whose
requirement is one the profile violates (hil/data/requirements.yaml ``violated_by``), and
*as required* when, in addition, no requirement it does not violate is failed: a failed
check blames the requirement it carries, so a defect must show on its own requirements
only. The conforming meter must pass everything. Runs are separate pytest processes, several at a
time: a conformance run mostly waits on the meter, so they overlap well.

A split rig (``ciu:``, ``meters:``, ``link:``) is self-tested with the split suite against the
CIU's defect profiles (``hil.meter.split_defects``) instead: ``selftest_plan`` picks which.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from hil.conformance.catalogue import Catalogue
from hil.paths import REPO_ROOT, SUITES
from hil.report.journal import read_journal

CONFORMING = "conforming"
SPLIT_SUITE = SUITES / "split.py"  # opt-in: named explicitly, pytest collects it anyway


def selftest_plan(rig: Path | None, names: Sequence[str] = ()) -> tuple[list[str], Path]:
    """The profiles to run and the suites to run them with: on a split rig the split suite
    and the CIU's defects, otherwise every integrated suite and the meter's defects. With no
    ``names``, every defect after the conforming meter; with ``names``, just those (name
    ``conforming`` to include it). An unknown name is a one-line ``ConfigError`` naming the
    known ones for that kind of rig."""
    from hil.meter.split_defects import SplitDefect, parse_split_defect
    from hil.rig.split_preflight import is_split
    from hil.sim.build import parse_defect

    split = rig is not None and is_split(rig)
    if split:
        known, parse, suites = [d.value for d in SplitDefect], parse_split_defect, SPLIT_SUITE
    else:
        from hil.meter.defects import Defect

        known, parse, suites = [d.value for d in Defect], parse_defect, SUITES
    for name in names:
        parse(name)
    if not names:
        return [CONFORMING, *known], suites
    # "none" is the conforming meter too; a name given twice runs once.
    chosen = [CONFORMING if n in ("none", CONFORMING) else n for n in names]
    return list(dict.fromkeys(chosen)), suites


@dataclass
class ProfileRun:
    profile: str
    expected: set[str]  # requirement ids the profile violates
    tests: list[dict] = field(default_factory=list)
    returncode: int = 0
    stderr_tail: str = ""

    @property
    def failed(self) -> list[dict]:
        return [t for t in self.tests if t["verdict"] == "fail"]

    @property
    def errors(self) -> list[dict]:
        return [t for t in self.tests if t["verdict"] == "error"]

    @property
    def detecting(self) -> list[dict]:
        """Failing tests whose requirements include one this profile breaks."""
        return [t for t in self.failed if self.expected & set(t["clauses"])]

    @property
    def failed_requirements(self) -> set[str]:
        """Requirements the failing tests' failed checks blame (a test from before checks:
        all its clauses)."""
        blamed: set[str] = set()
        for test in self.failed:
            checks = (test.get("evidence") or {}).get("checks") or []
            failed = {c["requirement"] for c in checks if c.get("outcome") == "fail"}
            blamed |= failed or set(test["clauses"])
        return blamed

    @property
    def stray(self) -> set[str]:
        """Requirements failed that this profile does not violate (misattribution)."""
        return self.failed_requirements - self.expected

    @property
    def not_judged(self) -> list[str]:
        """Why this rig cannot show the defect: the skip reasons, where no test of the
        profile's requirements ran (each skipped: the readback cannot take the reading, the
        rig lacks the part) and none failed, erred or went unrun. Empty where a test did run
        (a defect that ran undetected is missed, never excused) or the run was cut short."""
        unrun = any(t["verdict"] == "not_run" for t in self.tests)
        if self.profile == CONFORMING or not self.tests or self.failed or self.errors or unrun:
            return []
        if any(self.expected & set(t["clauses"]) for t in self.tests if t["verdict"] != "skip"):
            return []
        reasons = {t.get("message") or "skipped" for t in self.tests if t["verdict"] == "skip"}
        return sorted(reasons)

    @property
    def ok(self) -> bool:
        """As required: the conforming meter passes; a defect is detected on its own
        requirements only, or (``not_judged``) this rig cannot show it at all."""
        if not self.tests:
            return False
        if self.profile == CONFORMING:
            return not self.failed and not self.errors
        return (bool(self.detecting) and not self.stray) or bool(self.not_judged)


def pytest_command(
    profile: str, journal: Path, suites: Path, rig: Path | None, clauses: set[str]
) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        str(suites),
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:randomly",
        "--hil-journal",
        str(journal),
        "-o",
        "addopts=",
    ]
    if profile != CONFORMING:
        cmd += ["--defect", profile]
    if rig is not None:
        cmd += ["--rig", str(rig)]
    for clause in sorted(clauses):
        cmd += ["--clause", clause]
    return cmd


def run_profile(
    profile: str, expected: set[str], *, suites: Path, rig: Path | None, quick: bool
) -> ProfileRun:
    run = ProfileRun(profile, expected)
    with tempfile.TemporaryDirectory(prefix="hil-selftest-") as tmp:
        journal = Path(tmp) / "journal.jsonl"
        clauses = expected if quick and profile != CONFORMING else set()
        proc = subprocess.run(
            pytest_command(profile, journal, suites, rig, clauses),
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            timeout=1800,
        )
        run.returncode = proc.returncode
        lines = (proc.stdout + proc.stderr).strip().splitlines()
        run.stderr_tail = lines[-1] if lines else ""
        if journal.exists():
            run.tests = [e for e in read_journal(journal) if e.get("event") == "test"]
    return run


def run_selftest(
    catalogue: Catalogue,
    profiles: list[str],
    *,
    suites: Path,
    rig: Path | None = None,
    jobs: int = 4,
    quick: bool = False,
    progress: Callable[[ProfileRun], None] | None = None,
) -> list[ProfileRun]:
    def one(profile: str) -> ProfileRun:
        expected = set() if profile == CONFORMING else catalogue.violated_by(profile)
        result = run_profile(profile, expected, suites=suites, rig=rig, quick=quick)
        if progress:
            progress(result)
        return result

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(one, profiles))

"""``hil run``: every suite against a rig, with the journal, reports and a verdict.

Exit status: 0 everything passed, 1 the meter failed a test, 2 the harness or the bench had
an error (a bench fault, a broken rig file, a run that could not start).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hil.paths import SUITES_ROOT, reports_dir

EXIT_PASS, EXIT_FAIL, EXIT_ERROR = 0, 1, 2


def run_dir_for(rig_name: str, root: Path | None = None, now: datetime | None = None) -> Path:
    root = root or reports_dir()
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", rig_name)
    path = root / f"{stamp}-{safe}"
    n = 1
    while path.exists():  # two runs in the same second never share a directory
        n += 1
        path = root / f"{stamp}-{safe}-{n}"
    return path


_RIG_LABEL = re.compile(r"^[A-Za-z0-9_.-]+:\d+(?:-|$)")  # rig name : meter serial


def short_id(nodeid: str) -> str:
    """suites/test_tid.py::test_x[sim:6007...-in-order] -> test_tid::test_x[in-order]
    (pooled runs have no rig label: test_x[in-order] stays as it is)."""
    path, _, name = nodeid.partition("::")
    base, _, params = name.partition("[")
    params = _RIG_LABEL.sub("", params.removesuffix("]"))
    return f"{Path(path).stem}::{base}" + (f"[{params}]" if params else "")


@dataclass
class Tally:
    """Verdict counts as tests finish (fed by the progress plugin)."""

    total: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    by_file: dict[tuple[str, str], Counter[str]] = field(default_factory=dict)  # (rig, file)
    failures: list[tuple[str, str, str, str]] = field(default_factory=list)  # id, verdict, msg, rig

    def add(self, nodeid: str, verdict: str, message: str, rig: str = "") -> None:
        self.counts[verdict] += 1
        self.by_file.setdefault((rig, nodeid.split("::")[0]), Counter())[verdict] += 1
        if verdict in ("fail", "error"):
            self.failures.append((nodeid, verdict, message, rig))

    @property
    def rigs(self) -> list[str]:
        return sorted({rig for rig, _ in self.by_file if rig})

    @property
    def done(self) -> int:
        return sum(self.counts.values())

    def exit_status(self, pytest_status: int) -> int:
        if self.counts["error"] or pytest_status not in (0, 1, 5):
            return EXIT_ERROR
        if self.counts["fail"]:
            return EXIT_FAIL
        return EXIT_PASS if self.done else EXIT_ERROR


class ProgressPlugin:
    """Feeds a Tally and a display callback from pytest hooks: ``show("test", nodeid)``,
    ``show("token", digits)``, ``show("done", "<verdict> <rig or -> <nodeid>")``."""

    def __init__(self, tally: Tally, show: Callable[[str, str], None], each: bool = False):
        self.tally, self.show, self.each = tally, show, each
        self._hooked: object | None = None

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        self.tally.total = len(items)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: object, ids: list[str]) -> None:
        """pytest-xdist: workers collect; with --dist each every worker runs every test."""
        self.tally.total = self.tally.total + len(ids) if self.each else len(ids)

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        self.show("test", nodeid)
        from hil.pytest_plugin import _STATE  # the open rig, to show tokens as they go in

        rig = _STATE.get("rig")
        if rig is not None and rig is not self._hooked:
            rig.token_listeners.append(lambda digits: self.show("token", digits))
            self._hooked = rig

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        from hil.pytest_plugin import _short, _verdict

        final = report.when == "call" or (report.when == "setup" and not report.passed)
        if final or (report.when == "teardown" and report.failed):
            verdict = _verdict(report)
            rig = dict(report.user_properties).get("hil_rig", "")
            self.tally.add(report.nodeid, verdict, _short(report), str(rig))
            self.show("done", f"{verdict} {rig or '-'} {report.nodeid}")


@dataclass(frozen=True)
class PoolRun:
    """How a pooled run spreads: ``workers`` pytest-xdist workers, each leasing one rig of
    ``pool`` with ``tags``; ``each`` runs every test on every worker's rig."""

    pool: Path
    tags: dict[str, str]
    workers: int
    each: bool = False
    lease_wait_s: float | None = None
    rig_names: tuple[str, ...] = ()  # the matching rigs (for --each with Robot)

    def args(self) -> list[str]:
        args = ["--pool", str(self.pool)]
        for key, value in self.tags.items():
            args += ["--pool-tag", f"{key}={value}"]
        if self.lease_wait_s is not None:
            args += ["--lease-wait", f"{self.lease_wait_s:g}"]
        if self.workers > 1 or self.each:
            args += ["-p", "xdist", "-n", str(self.workers),
                     "--dist", "each" if self.each else "load"]  # fmt: skip
        return args


def pytest_args(run_dir: Path, rig: Path | None, *, suites: list[str], keyword: str | None,
                clauses: list[str], defect: str | None,
                pool: PoolRun | None = None) -> list[str]:  # fmt: skip
    where = pool.args() if pool else ["--rig", str(rig)]
    # labgrid's and pytest-benchmark's plugins are not ours to run (and need the terminal)
    quiet = ["no:terminal", "no:cacheprovider", "no:labgrid", "no:benchmark"]
    args = [*suites, *where, "--hil-journal", str(run_dir / "journal.jsonl"),
            "--probe-log", str(run_dir / "probe.log"), *(f"-p{p}" for p in quiet),
            "-o", "addopts=", f"--rootdir={SUITES_ROOT}"]  # fmt: skip
    if keyword:
        args += ["-k", keyword]
    for clause in clauses:
        args += ["--clause", clause]
    if defect:
        args += ["--defect", defect]
    return args


def run_pytest(args: list[str], plugin: ProgressPlugin) -> int:
    return int(pytest.main(args, plugins=[plugin]))

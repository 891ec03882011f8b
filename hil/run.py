"""``hil run``: every suite against a rig, with the journal, reports and a verdict.

Exit status: 0 everything passed, 1 the meter failed a test, 2 the harness or the bench had
an error (a bench fault, a broken rig file, a run that could not start), 5 no test was
selected, 130 the run was interrupted (Ctrl-C, SIGTERM) with no failure.
"""

from __future__ import annotations

import os
import re
import signal
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from hil.paths import SUITES_ROOT, reports_dir

EXIT_PASS, EXIT_FAIL, EXIT_ERROR, EXIT_NO_TESTS, EXIT_INTERRUPTED = 0, 1, 2, 5, 130


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


def fit_id(text: str, width: int) -> str:
    """``text`` in ``width`` columns, cut in the middle of the name so the parameter id
    (``[wrong-vending-key]``) stays readable: five cut ids must not look alike."""
    if len(text) <= width:
        return text
    head, bracket, params = text.partition("[")
    tail = bracket + params
    room = width - len(tail) - 1
    if room < 12:
        return text[: max(1, width - 1)] + "…"
    return head[:room] + "…" + tail


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


class ProgressPlugin:
    """Feeds a Tally and a display callback from pytest hooks: ``show("test", nodeid)``,
    ``show("token", digits)``, ``show("done", "<verdict> <rig or -> <nodeid>")``."""

    def __init__(self, tally: Tally, show: Callable[[str, str], None], each: bool = False):
        self.tally, self.show, self.each = tally, show, each
        self._hooked: object | None = None

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        self.tally.total = max(self.tally.total, len(items))

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: object, ids: list[str]) -> None:
        """pytest-xdist: workers collect; with --dist each every worker runs every test."""
        self.tally.total = self.tally.total + len(ids) if self.each else len(ids)

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        self.show("test", nodeid)
        from hil.pytest_plugin import open_rig  # to show tokens as they go in

        rig = open_rig()
        if rig is not None and rig is not self._hooked:
            rig.token_listeners.append(lambda digits: self.show("token", digits))
            self._hooked = rig

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        from hil.pytest_plugin import short_message, verdict_of

        final = report.when == "call" or (report.when == "setup" and not report.passed)
        if final or (report.when == "teardown" and report.failed):
            verdict = verdict_of(report)
            rig = dict(report.user_properties).get("hil_rig", "")
            self.tally.add(report.nodeid, verdict, short_message(report), str(rig))
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


def run_pytest_quietly(args: list[str], plugins: list[Any]) -> int:
    return int(pytest.main(args, plugins=plugins))


class _Collector:
    def __init__(self) -> None:
        self.ids: list[str] = []

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.ids = [item.nodeid for item in session.items]


def collect_only(args: list[str], plugin: object) -> int:
    """pytest's collection of ``args`` with ``plugin`` (no rig opened, nothing journaled):
    the journal and probe log options are left out. pytest's exit status."""
    probe: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in ("--hil-journal", "--probe-log"):
            skip = True
        else:
            probe.append(arg)
    return run_pytest_quietly([*probe, "--collect-only"], [plugin])


def count_selected(args: list[str]) -> int:
    """How many pytest tests the selection picks (collected only, no rig opened, nothing
    journaled)."""
    collector = _Collector()
    collect_only(args, collector)
    return len(collector.ids)


def count_robot(suites: Path, clauses: tuple[str, ...] | list[str] = ()) -> int:
    """How many Robot tests the run will have (tag ``req:<ID>`` for each --clause)."""
    from robot.api import TestSuiteBuilder

    suite = TestSuiteBuilder().build(str(suites))
    if clauses:
        suite.filter(included_tags=[f"req:{c}" for c in clauses])
    return suite.test_count


def preflight_or_exit(
    rig_file: Path, defect: str | None, console: Any, check: Callable[..., Any] | None = None
) -> str:
    """Check the rig before any test (``check``: a pre-flight as ``hil.rig.preflight``'s,
    which is the default); stop with one line (exit 2) when a part is wrong. Returns the
    rig's name."""
    from hil.rig.preflight import first_problem, preflight

    with console.status(f"pre-flight: checking {rig_file} ..."):
        rows, name = (check or preflight)(rig_file, defect=defect)
    problem = first_problem(rows, rig_file)
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)  # one line, whatever the width
        sys.exit(EXIT_ERROR)
    return name


class Interrupts:
    """Ctrl-C and SIGTERM during a run: the first stops the run where it is (pytest and
    Robot finish the test's cleanup, the report is written, INCOMPLETE); a second one stops
    at once. SIGTERM (a cancelled CI job) counts as the first Ctrl-C."""

    def __init__(self, console: Any) -> None:
        self.console = console
        self.count = 0
        self._saved: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        if self.count > 1:
            os.write(2, b"\nhil run: stopped at once (second interrupt)\n")
            os._exit(EXIT_INTERRUPTED)
        os.write(2, b"\nhil run: interrupted - stopping, writing the report "
                    b"(Ctrl-C again to stop at once)\n")  # fmt: skip
        raise KeyboardInterrupt

    def __enter__(self) -> Interrupts:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._saved[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> bool:
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)
        # An interrupt outside pytest's and Robot's own handling ends here, not in a trace.
        return exc[0] is KeyboardInterrupt

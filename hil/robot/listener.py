"""The run journal for Robot runs (Listener API v3).

    robot --listener hil.robot.listener.JournalListener:reports/journal.jsonl suites/robot

Writes the same events, with the same fields, as the pytest plugin's ``--hil-journal``:
``run_start``, ``rig`` (written by the library when it opens a bench), one ``test`` per
test, ``run_end``; the report layer merges both front ends into one run record.

A test's node id is ``<suite file>::<test name>`` (the file relative to the repository
root), its clauses come from its ``req:<ID>`` tags, its evidence from the library's
keywords. Verdicts follow ``hil.conformance.outcome``, as under pytest: a failed check of
the meter is *fail*; every other failure (bench fault, harness error, a BuiltIn assertion,
a failed setup, an interruption) is *error*; a test Robot never ran is *not run*.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from robot.api.interfaces import ListenerV3
from robot.libraries.BuiltIn import BuiltIn, RobotNotRunningError

from hil.errors import ConfigError
from hil.paths import REPO_ROOT, SUITES_ROOT
from hil.report.journal import SCHEMA, Journal, harness_identity, now_iso
from hil.rig.config import load_rig
from hil.robot.library import resolve_rig_path
from hil.robot.state import RUN

REQUIREMENT_TAG = "req:"


def clauses_of(tags: Any) -> list[str]:
    """Requirement ids from ``req:<ID>`` tags, in tag order, once each."""
    ids: list[str] = []
    for tag in tags:
        if tag.lower().startswith(REQUIREMENT_TAG):
            rid = tag[len(REQUIREMENT_TAG) :].strip()
            if rid and rid not in ids:
                ids.append(rid)
    return ids


def node_id(source: Path | str | None, name: str) -> str:
    """``suites/robot/credit.robot::Credit Token Is Accepted``: the file relative to the
    repository root (else the working directory), as pytest node ids are."""
    if source is None:
        return name
    path = Path(source).resolve()
    for root in (SUITES_ROOT, REPO_ROOT, Path.cwd()):
        try:
            return f"{path.relative_to(root.resolve()).as_posix()}::{name}"
        except ValueError:
            continue
    return f"{path.as_posix()}::{name}"


# What Robot writes on a test it never ran because the run was stopped (Ctrl-C, SIGTERM,
# --exitonfailure), and on the test a signal cut short. After a signal Robot still starts
# every later test, failing its first keyword with the second message at once.
_NOT_RUN = ("Test execution stopped due to a fatal error", "Test execution stopped due to")
_INTERRUPTED = ("Execution terminated by signal",)


class StopWatch:
    """Which tests began after a signal stopped the run (those never ran)."""

    def __init__(self) -> None:
        self._stopped = False
        self._after_stop: set[str] = set()

    def start(self, result: Any) -> None:
        if self._stopped:
            self._after_stop.add(result.full_name)

    def verdict(self, result: Any, judged: str | None) -> tuple[str, str]:
        verdict, phase = verdict_and_phase(
            result, judged, began_stopped=result.full_name in self._after_stop
        )
        if verdict == "not_run" or any(m in (result.message or "") for m in _INTERRUPTED):
            self._stopped = True
        return verdict, phase

    @property
    def stopped(self) -> bool:
        return self._stopped


def verdict_and_phase(
    result: Any, judged: str | None = None, *, began_stopped: bool = False
) -> tuple[str, str]:
    """pass/fail/error/skip/not_run (hil.conformance.outcome) and where it was decided.

    ``judged`` is the library's word for the test: "fail" when a check of the meter failed
    (the only way to a *fail*), "error" for any other exception in its keywords. A failure
    the library did not judge (a BuiltIn keyword, a typo in a suite) is an *error* too.
    ``began_stopped``: the test started after a signal had stopped the run.
    """
    message = result.message or ""
    setup_failed = bool(result.setup) and result.setup.status in ("FAIL", "SKIP")
    if setup_failed or message.startswith("Parent suite setup failed"):
        phase = "setup"
    elif message.startswith("Teardown failed"):
        phase = "teardown"
    else:
        phase = "call"
    if result.status == "NOT RUN" or message.startswith(_NOT_RUN):
        return "not_run", phase
    if began_stopped and message.startswith(_INTERRUPTED):
        return "not_run", phase
    if result.status == "SKIP":
        return "skip", phase
    if result.passed:
        return "pass", phase
    if judged == "fail" and phase == "call" and not message.startswith(_INTERRUPTED):
        return "fail", phase
    return "error", phase


def _variable(name: str) -> Any:
    try:
        return BuiltIn().get_variable_value(name)
    except RobotNotRunningError:
        return None


class JournalListener(ListenerV3):
    """Appends the run journal to ``path`` (default ``reports/robot-journal.jsonl``);
    ``{pid}`` in it becomes the process id, so parallel processes (pabot) each write one.

    ``run_start`` records ``${RIG}`` and ``${DEFECT}`` as given on the command line (the
    variables the suites pass to ``Open Rig``), the default rig when there is none.
    ``run_end``'s ``exit_status`` is Robot's return code: the number of failed tests,
    at most 250.
    """

    def __init__(self, path: str = "reports/robot-journal.jsonl") -> None:
        self.journal = Journal(path.replace("{pid}", str(os.getpid())))
        self._started: dict[str, tuple[str, float]] = {}
        self._run_started = False
        self._stops = StopWatch()
        RUN.journal = self.journal

    def start_suite(self, data: Any, result: Any) -> None:
        if self._run_started:
            return
        self._run_started = True
        RUN.journal = self.journal
        rig_file = resolve_rig_path(_variable("${RIG}"))
        try:
            digest: str | None = load_rig(rig_file)[1]
        except (ConfigError, OSError):
            digest = None
        self.journal.write(
            "run_start",
            schema=SCHEMA,
            harness=harness_identity(),
            rig_file=str(rig_file),
            rig_sha256=digest,
            argv=sys.argv[1:],
            defect=_variable("${DEFECT}") or None,
        )

    def start_test(self, data: Any, result: Any) -> None:
        self._started[result.full_name] = (now_iso(), time.monotonic())  # probe log clock
        self._stops.start(result)

    def end_test(self, data: Any, result: Any) -> None:
        started = self._started.pop(result.full_name, None)
        evidence = RUN.take_evidence(result.full_name)
        rig = RUN.rig
        excerpt = rig.probe_log.excerpt(since=started[1], limit=80) if rig and started else []
        verdict, phase = self._stops.verdict(result, RUN.peek_judgement(result.full_name))
        self.journal.write(
            "test",
            nodeid=node_id(data.source, data.name),
            verdict=verdict,
            phase=phase,
            started=started[0] if started else None,
            duration_s=round(result.elapsed_time.total_seconds(), 3),
            clauses=clauses_of(result.tags),
            evidence=evidence.as_dict() if evidence is not None else None,
            message="" if verdict == "pass" else result.message,
            probe_log=excerpt,
        )

    def end_suite(self, data: Any, result: Any) -> None:
        if data.parent is None:  # the top-level suite: the run is over
            self.journal.write("run_end", exit_status=min(result.statistics.failed, 250),
                               interrupted=self._stops.stopped)  # fmt: skip

    def close(self) -> None:
        if RUN.journal is self.journal:
            RUN.journal = None


class ProgressListener(ListenerV3):
    """Tells ``hil run`` each Robot test's verdict as it ends (same rule as the journal)."""

    def __init__(
        self,
        done: Callable[[str, str, str, str], None],
        show: Callable[[str, str], None] | None = None,
    ) -> None:
        self._done = done
        self._show = show  # ("test", node id) as a test starts, ("token", digits) as one goes in
        self._hooked: object | None = None
        self._stops = StopWatch()

    def start_test(self, data: Any, result: Any) -> None:
        self._stops.start(result)
        if self._show is None:
            return
        self._show("test", node_id(data.source, data.name))
        rig, show = RUN.rig, self._show
        if rig is not None and rig is not self._hooked:
            rig.token_listeners.append(lambda digits: show("token", digits))
            self._hooked = rig

    def end_test(self, data: Any, result: Any) -> None:
        verdict, _ = self._stops.verdict(result, RUN.peek_judgement(result.full_name))
        rig = RUN.rig.name if RUN.rig is not None else ""
        self._done(node_id(data.source, data.name), verdict, result.message or "", rig)

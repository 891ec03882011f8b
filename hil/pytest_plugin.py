"""pytest plugin: ``--rig FILE`` and the fixtures suites use.

Fixtures: ``session`` (a ``ConformanceSession``: the bench, the conforming model, the
tokens and the evidence of one test; what the suites use), and its parts ``rig`` (the bench,
reset to a known state before each test where the meter supports it), ``meter`` (its
identity), ``tokens`` (token case factory), ``oracle`` (what a conforming meter does),
``evidence`` (steps, checks and notes, for the report).
Markers: ``clause("REQ-ID", ...)``, ``requires("feature", ...)``, ``cost(tokens=N, ...)``
(what the test asks of the meter, for ``hil run --plan``: hil/plan.py) and ``long`` (its
waits take minutes on a real bench: ``hil run --quick`` leaves it out).

Verdicts follow ``hil.conformance.outcome``: only a failed check of the meter is a *fail*;
any other exception (bench fault, configuration, harness bug, timeout) is an *error*; a
selected test that never ran (the run was interrupted or stopped) is journaled *not run*.
A rig that cannot be opened stops the session at once (exit 2) instead of erroring every
test. The rig name and meter serial are part of every test id.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from hil.broker.base import parse_tags
from hil.broker.hold import DEFAULT_TTL_S, DEFAULT_WAIT_S, LeaseHold
from hil.conformance.evidence import Evidence
from hil.conformance.factory import TokenFactory
from hil.conformance.oracle import Oracle
from hil.conformance.outcome import BenchCannot, NotApplicable, outcome_of
from hil.conformance.session import ConformanceSession
from hil.errors import ConfigError, HarnessError
from hil.paths import DEFAULT_RIG, resolve_rig
from hil.plan import LONG_MARKER
from hil.report.journal import SCHEMA, Journal, harness_identity, now_iso
from hil.rig.config import RigConfig, load_rig
from hil.rig.meter_spec import MeterSpec
from hil.rig.rig import Rig
from hil.sts.tid import tid_from_datetime

if TYPE_CHECKING:
    from hil.rig.split_rig import SplitRig

_RIG_KEY = pytest.StashKey[RigConfig]()
_STATE: dict[object, Any] = {}  # the session's journal and open rig (one session per process)
_CURSOR_KEY = pytest.StashKey[dict]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hil", "STS meter HIL harness")
    group.addoption("--rig", default=None, help="rig file (default rigs/sim.yaml)")
    group.addoption("--defect", default=None, help="simulated meter defect profile (sim rigs)")
    group.addoption("--rig-speed", type=float, default=None, help="simulator clock speed")
    group.addoption("--probe-log", default=None, help="append the probe log to this file")
    group.addoption(
        "--clause",
        action="append",
        default=[],
        metavar="ID",
        help="run only tests covering this requirement id (repeatable)",
    )
    group.addoption(
        "--pool",
        default=None,
        metavar="FILE",
        help="lease the rig from this pool file (each pytest-xdist worker leases its own)",
    )
    group.addoption(
        "--pool-tag",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="lease only a rig with this tag (repeatable), e.g. model=sim",
    )
    group.addoption(
        "--lease-wait",
        type=float,
        default=DEFAULT_WAIT_S,
        metavar="S",
        help=f"seconds to wait for a free rig (default {DEFAULT_WAIT_S:g})",
    )
    group.addoption(
        "--lease-ttl",
        type=float,
        default=DEFAULT_TTL_S,
        metavar="S",
        help=f"lease expiry unless renewed; a dead job's rig is free after it "
        f"(default {DEFAULT_TTL_S:g})",
    )
    group.addoption(
        "--hil-journal",
        default=None,
        metavar="FILE",
        help="append one JSON line per finished test to FILE (flushed at once)",
    )
    group.addoption(
        "--hil-quick",
        type=int,
        default=None,
        metavar="N",
        help="record in the journal that this is a hil run --quick selection (pass with "
        '-m "not long") and that N long tests were left out',
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "clause(*ids): requirement clauses a test covers")
    config.addinivalue_line("markers", "requires(*features): rig features the test needs")
    config.addinivalue_line(
        "markers", "cost(**counts): what the test asks of the meter (hil.plan, hil run --plan)"
    )
    config.addinivalue_line(
        "markers",
        f"{LONG_MARKER}: a test whose waits come from physics or the meter's timeouts and take "
        "minutes on a real bench; left out by hil run --quick",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wanted = set(config.getoption("clause"))
    if not wanted:
        return
    keep, drop = [], []
    for item in items:
        marker = item.get_closest_marker("clause")
        (keep if marker and wanted & set(marker.args) else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pool_tags(values: list[str]) -> dict[str, str]:
    try:
        return parse_tags(values)
    except ValueError as exc:
        raise pytest.UsageError(f"--pool-tag {exc}, e.g. model=sim") from None


def _pooled(config: pytest.Config) -> bool:
    return bool(config.getoption("pool"))


def _xdist_controller(config: pytest.Config) -> bool:
    """The pytest-xdist process that hands out tests (it runs none, so it leases nothing)."""
    return not hasattr(config, "workerinput") and getattr(config.option, "dist", "no") != "no"


def _worker_id(config: pytest.Config) -> str | None:
    workerinput = getattr(config, "workerinput", None)
    return workerinput.get("workerid") if workerinput else None


def _hold(config: pytest.Config) -> LeaseHold:
    """This process's lease (taken once; a failure is kept and raised for every test)."""
    if "lease_error" in _STATE:
        raise _STATE["lease_error"]
    hold = _STATE.get("hold")
    if hold is None:
        tags = pool_tags(config.getoption("pool_tag"))
        hold = LeaseHold(config.getoption("pool"), tags, ttl_s=config.getoption("lease_ttl"),
                         wait_s=config.getoption("lease_wait"))  # fmt: skip
        try:
            hold.acquire()
        except (HarnessError, OSError) as exc:
            _STATE["lease_error"] = exc
            raise
        _STATE["hold"] = hold
    hold.check()
    return hold


def _rig_path(config: pytest.Config) -> Path:
    if _pooled(config):
        return Path(_hold(config).lease.rig_file)
    return resolve_rig(config.getoption("rig") or DEFAULT_RIG)


def _rig_config(config: pytest.Config) -> RigConfig:
    if _RIG_KEY not in config.stash:
        try:
            rig = load_rig(_rig_path(config))[0]
        except ConfigError as exc:
            raise pytest.UsageError(str(exc)) from None
        if _pooled(config):
            rig = rig.model_copy(update={"name": _hold(config).lease.rig})
        config.stash[_RIG_KEY] = rig
    return config.stash[_RIG_KEY]


def rig_label(rig: RigConfig) -> str:
    return f"{rig.name}:{rig.meter.pan}"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # With a pool the rig is not known at collection (and differs between xdist workers,
    # which must collect the same ids), so ids carry no rig label; the journal has the rig.
    if "_hil_rig" in metafunc.fixturenames and not _pooled(metafunc.config):
        rig = _rig_config(metafunc.config)
        metafunc.parametrize(
            "_hil_rig", [rig_label(rig)], ids=[rig_label(rig)], indirect=True, scope="session"
        )


def pytest_runtest_setup(item: pytest.Item) -> None:
    marker = item.get_closest_marker("requires")
    if marker is None:
        return
    rig = _rig_config(item.config)
    have = [*rig.features, *(["fault_injection"] if rig.simulator else [])]
    missing = [f for f in marker.args if f not in have]
    if missing:
        pytest.skip(f"rig {rig.name} lacks feature {', '.join(missing)}")


@pytest.fixture(scope="session")
def _hil_rig(request: pytest.FixtureRequest) -> Iterator[Rig]:
    config = request.config
    log = _per_worker(config, config.getoption("probe_log"))
    lease = _hold(config).lease if _pooled(config) else None
    try:
        opened = Rig.open(
            _rig_path(config),
            defect=config.getoption("defect"),
            speed=config.getoption("rig_speed"),
            log_path=Path(log) if log else None,
            name=lease.rig if lease else None,
            bindings=lease.bindings if lease else None,
        )
    except (HarnessError, OSError) as exc:
        # Found once, not once per test: every other test would meet the same bench.
        _STATE["stopped"] = f"the rig could not be opened: {exc}"
        pytest.exit(f"hil: {_STATE['stopped']}", returncode=pytest.ExitCode.INTERRUPTED)
    with opened as rig:
        _STATE["rig"] = rig
        journal_rig(rig, config.getoption("defect"))
        yield rig
        _STATE.pop("rig", None)


@pytest.fixture
def rig(_hil_rig: Rig, request: pytest.FixtureRequest) -> Rig:
    """The bench, reset to the meter's factory state (test firmware or simulator)."""
    if _pooled(request.config):
        _hold(request.config).check()  # a lost lease means the rig may be someone else's now
    _hil_rig.reset_state()
    return _hil_rig


@pytest.fixture
def meter(rig: Rig) -> MeterSpec:
    return rig.meter


@pytest.fixture
def tokens(rig: Rig, request: pytest.FixtureRequest) -> TokenFactory:
    """Tokens for the meter under test; TIDs rise across the whole session."""
    spec = rig.meter
    cursor = request.config.stash.setdefault(_CURSOR_KEY, {})
    start = cursor.get("tid") or tid_from_datetime(datetime.now(UTC), spec.base_date)
    vk = (
        spec.vending_key.load("vending key", (160,) if spec.dkga == 4 else (64, 128), rig.base)
        if spec.vending_key
        else None
    )
    factory = TokenFactory(
        spec.meter_pan,
        spec.key_info,
        spec.load_decoder_key(rig.base),
        vending_key=vk,
        tid_start=start,
        sta_tables=spec.tables(rig.base),
    )
    yield factory
    cursor["tid"] = factory.cursor + 10


@pytest.fixture
def evidence(request: pytest.FixtureRequest) -> Iterator[Evidence]:
    ev = Evidence()
    request.node.stash[_EVIDENCE_KEY] = ev
    listeners = getattr(_STATE.get("rig"), "reading_listeners", None)
    if listeners is None:
        yield ev
        return
    listeners.append(ev.readings.append)  # an operator's answers, display frames
    try:
        yield ev
    finally:
        listeners.remove(ev.readings.append)


@pytest.fixture
def session(
    rig: Rig, tokens: TokenFactory, evidence: Evidence, request: pytest.FixtureRequest
) -> ConformanceSession:
    """The test's conformance session; its checks carry the test's requirement ids."""
    marker = request.node.get_closest_marker("clause")
    return ConformanceSession(rig, tokens, evidence, marker.args if marker else ())


@pytest.fixture
def oracle(session: ConformanceSession) -> Oracle:
    """A conforming model in the state the meter reports now (the session's)."""
    return session.oracle


_EVIDENCE_KEY = pytest.StashKey[Evidence]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    rig = _STATE.get("rig")
    if rig is not None:  # which rig ran it: xdist workers each have their own
        report.user_properties.append(("hil_rig", rig.name))
    if call.excinfo is not None and call.excinfo.errisinstance(NotApplicable):
        # A function the meter does not declare: a skip, marked so (not a missing feature).
        report.outcome = "skipped"
        report.longrepr = (str(item.path), item.location[1] or 0, str(call.excinfo.value))
        report.user_properties.append(("hil_not_applicable", call.excinfo.value.reason))
        marker = item.get_closest_marker("clause")  # the requirements it does not apply to
        report.user_properties.append(("hil_clauses", json.dumps(list(marker.args) if marker
                                                                  else [])))  # fmt: skip
    if call.excinfo is not None and call.excinfo.errisinstance(BenchCannot):
        report.outcome = "skipped"  # the bench cannot set the test up: a skip, no verdict
        report.longrepr = (str(item.path), item.location[1] or 0, str(call.excinfo.value))
    if report.skipped or "_hil_rig" not in getattr(item, "fixturenames", ()):
        return  # not a conformance test (the harness's own tests keep pytest's verdicts)
    if call.when == "call":
        marker = item.get_closest_marker("clause")
        clauses = list(marker.args) if marker else []
        report.user_properties.append(("hil_clauses", json.dumps(clauses)))
        ev = item.stash.get(_EVIDENCE_KEY, None)
        if ev is not None:
            report.user_properties.append(("hil_evidence", json.dumps(ev.as_dict())))
        exc = call.excinfo.value if call.excinfo is not None else None
        report.user_properties.append(("hil_verdict", outcome_of(exc)))
    elif report.failed:  # setup or teardown: the bench or the harness, never the meter
        report.user_properties.append(("hil_verdict", "error"))


def verdict_of(report: pytest.TestReport) -> str:
    """pass, fail, error or skip (hil.conformance.outcome), as the journal records it."""
    if report.skipped:
        return "skip"
    verdict = dict(report.user_properties).get("hil_verdict")
    if isinstance(verdict, str):
        return verdict
    return "error" if report.failed else "pass"


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Journal: one line per test once its verdict is known (call, or a failed setup/skip)."""
    journal = _STATE.get("journal")
    if journal is None:
        return
    if (
        report.when == "call"
        or (report.when == "setup" and not report.passed)
        or (report.when == "teardown" and report.failed)
    ):
        props = dict(report.user_properties)
        rig = _STATE.get("rig")
        started = _STATE.pop(("started", report.nodeid), None)
        _STATE.setdefault("journaled", set()).add(report.nodeid)
        excerpt = rig.probe_log.excerpt(since=started[1], limit=80) if rig and started else []
        journal.write(
            "test",
            nodeid=report.nodeid,
            verdict=verdict_of(report),
            phase=report.when,
            started=started[0] if started else None,
            duration_s=round(report.duration, 3),
            clauses=json.loads(props.get("hil_clauses", "[]")),
            evidence=json.loads(props.get("hil_evidence", "null")),
            message=short_message(report),
            probe_log=excerpt,
            **({"not_applicable": True} if "hil_not_applicable" in props else {}),
        )


def pytest_runtest_logstart(nodeid: str, location: tuple[str, int | None, str]) -> None:
    _STATE[("started", nodeid)] = (now_iso(), time.monotonic())  # the probe log's clock
    _STATE["running"] = nodeid


def pytest_runtest_logfinish(nodeid: str, location: tuple[str, int | None, str]) -> None:
    _STATE.pop("running", None)


def pytest_collection_finish(session: pytest.Session) -> None:
    _STATE["selected"] = [item.nodeid for item in session.items]


def short_message(report: pytest.TestReport) -> str:
    if report.passed:
        return ""
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2])
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(report.longrepr)[-500:]
    # "hil.conformance.checks.CheckFailed: x" -> "x"; "hil.errors.ReplyTimeout: y" ->
    # "ReplyTimeout: y": the message is what a reader needs, not the module path.
    text = re.sub(r"^(?:[\w]+\.)+(\w+): ", r"\1: ", text)
    return text.removeprefix("CheckFailed: ")


def _per_worker(config: pytest.Config, path: str | None) -> str | None:
    """``reports/x/journal.jsonl`` -> ``reports/x/journal-gw0.jsonl`` in xdist worker gw0."""
    worker = _worker_id(config)
    if path is None or worker is None:
        return path
    p = Path(path)
    return str(p.with_name(f"{p.stem}-{worker}{p.suffix}"))


def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    if _xdist_controller(config):
        return  # the workers lease, run and journal
    lease_info = None
    if _pooled(config):
        try:  # lease now: the rig is held for the whole session
            lease_info = _hold(config).describe()
        except (HarnessError, OSError) as exc:
            lease_info = {"pool": config.getoption("pool"), "error": str(exc)}
    path = _per_worker(config, config.getoption("hil_journal"))
    if path is None:
        return
    journal = _STATE["journal"] = Journal(path)
    rig_file, digest = None, None
    if lease_info is None or "error" not in lease_info:
        rig_file = _rig_path(config)
        try:
            digest = load_rig(rig_file)[1]
        except ConfigError:
            digest = None
    journal.write(
        "run_start",
        schema=SCHEMA,
        harness=harness_identity(),
        rig_file=str(rig_file) if rig_file else None,
        rig_sha256=digest,
        argv=sys.argv[1:],
        defect=config.getoption("defect"),
        **_selection(config),
        **({"lease": lease_info} if lease_info else {}),
        **({"worker": _worker_id(config)} if _worker_id(config) else {}),
    )


def _selection(config: pytest.Config) -> dict[str, Any]:
    """run_start's ``selection`` of a quick run: a lab must see it was not a full run."""
    left_out = config.getoption("hil_quick")
    if left_out is None:
        return {}
    return {"selection": {"name": "quick", "left_out": left_out, "excluded": LONG_MARKER}}


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Close the journal: the test an interruption stopped is an *error*, every selected
    test that never ran is *not run*, and run_end says whether the run was cut short."""
    journal = _STATE.get("journal")
    if journal is None:
        return
    interrupted = int(exitstatus) == int(pytest.ExitCode.INTERRUPTED)
    why = _STATE.get("stopped") or ("interrupted" if interrupted else "the run stopped early")
    done = _STATE.get("journaled", set())
    running = _STATE.pop("running", None)
    if running is not None and running not in done:
        journal.write("test", nodeid=running, verdict="error", phase="call",
                      message=f"{why} while this test ran")  # fmt: skip
        done.add(running)
    # An xdist worker collects every test but runs only its share: it cannot tell unrun ones.
    selected = [] if _worker_id(session.config) else _STATE.get("selected", [])
    for nodeid in selected:
        if nodeid not in done:
            journal.write("test", nodeid=nodeid, verdict="not_run", phase="setup", message=why)
    journal.write("run_end", exit_status=int(exitstatus), interrupted=interrupted)


def open_rig() -> Rig | None:
    """The rig this process has open (for a progress display), if any."""
    return _STATE.get("rig")


def pytest_unconfigure(config: pytest.Config) -> None:
    """Give the leased rig back (the session's rig is closed by now)."""
    hold = _STATE.pop("hold", None)
    _STATE.pop("lease_error", None)
    if hold is not None:
        hold.release()


def journal_rig(rig: Rig | SplitRig, defect: str | None) -> None:
    """The rig's identity, once, when it opens (no key values). The split suite calls it
    for the split rig it opens itself."""
    journal = _STATE.get("journal")
    if journal is not None:
        journal.write("rig", **rig.identity(defect))


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config):  # type: ignore[no-untyped-def]
    # Collection reports come through here too, and they carry no user_properties.
    if getattr(report, "when", None) != "call" or not report.failed:
        return None
    if dict(report.user_properties).get("hil_verdict") == "error":
        return "error", "E", ("ERROR (not a meter failure)", {"red": True})
    return None

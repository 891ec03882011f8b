"""The run record: one validated document built from the run journal(s).

The journal (``hil.report.journal``) is what a run writes while it runs; the record is what
the renderers read: run and harness identity, the rigs and meters, every test with its
evidence, the requirement matrix, coverage, the overall verdict and timing statistics.
The schema is documented field by field in docs/run-record.md.

Several journals (parallel workers, Robot Framework runs, several run directories) merge
into one record. A journal without ``run_end`` makes the record *partial*.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from hil import __version__
from hil.conformance.catalogue import Catalogue, load_catalogue, load_lab_map
from hil.conformance.outcome import TEST_OUTCOMES, Judged, Tally, requirement_outcome, run_verdict
from hil.errors import HarnessError
from hil.report.journal import read_journal_file
from hil.report.lab import (
    LabInfo,
    editions_for,
    instrument_mismatches,
    lab_from_journal,
    lab_warnings,
    report_number,
)

RECORD_FORMAT = "hil-record/1"
JOURNAL_SCHEMA = "hil-run/1"

Verdict = Literal["pass", "fail", "error", "skip", "not_run"]
RequirementVerdict = Literal["pass", "fail", "error", "not_run", "not_applicable", "not_covered"]
OverallVerdict = Literal["pass", "fail", "error", "incomplete"]
Mismatch = Literal["result", "credit", "relay"]

VERDICTS: tuple[str, ...] = TEST_OUTCOMES
BAD = frozenset({"fail", "error"})
PROBE_LOG_LIMIT = 200  # lines kept per test (the plugin already writes an excerpt)
SLOWEST = 10

# pytest exit statuses; 2-4 mean some tests may not have run.
EXIT_STATUS = {
    0: "all tests passed",
    1: "some tests failed",
    2: "interrupted or collection errors",
    3: "internal error",
    4: "usage error",
    5: "no tests collected",
}
ABNORMAL_EXIT = {k: v for k, v in EXIT_STATUS.items() if k in (2, 3, 4)}


class ReportError(HarnessError):
    """A run directory or journal cannot be read (one-line message)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Harness(_Model):
    version: str | None = None
    git_sha: str | None = None
    python: str | None = None
    host: str | None = None
    operator: str | None = None
    dirty: bool | None = None  # the git work tree had uncommitted changes


class Selection(_Model):
    """A run that left tests out on purpose (``hil run --quick``): not a full run."""

    name: str  # "quick"
    left_out: int = 0  # tests outside the selection (pytest and Robot)
    excluded: str = ""  # the marker / tag left out: "long"


class Source(_Model):
    journal: str
    start: datetime | None = None
    end: datetime | None = None
    partial: bool = False
    exit_status: int | None = None
    interrupted: bool = False
    frontend: str = "pytest"
    harness: Harness | None = None
    rig_file: str | None = None
    rig_sha256: str | None = None
    argv: list[str] = []
    defect: str | None = None
    selection: Selection | None = None
    tests: int = 0
    unreadable_lines: int = 0
    garbage_lines: list[int] = []  # 1-based lines before the last that are not JSON
    sha256: str | None = None  # of the journal file's bytes (None: not read from a file)
    chain: Literal["intact", "broken", "absent"] | None = None  # the hash chain
    chain_first_bad: int | None = None  # 1-based line where the chain first fails
    chain_detail: str = ""


class RunInfo(_Model):
    start: datetime | None = None
    end: datetime | None = None
    duration_s: float | None = None
    partial: bool = False
    exit_status: int | None = None
    harness: Harness | None = None
    operator: str | None = None
    host: str | None = None
    rig_file: str | None = None
    rig_sha256: str | None = None
    argv: list[str] = []
    defect: str | None = None
    selection: Selection | None = None  # the first journal's, when it left tests out
    sources: list[Source] = []


class MeterIdentity(_Model):
    pan: str | None = None
    sgc: str | None = None
    ti: str | None = None
    krn: str | None = None
    kt: str | None = None
    ken: str | None = None
    base_date: str | None = None
    ea: str | None = None
    dkga: str | None = None
    profile: str | None = None


class Instrument(_Model):
    role: str
    idn: str
    manufacturer: str | None = None
    model: str | None = None
    serial: str | None = None
    firmware: str | None = None


class Counts(_Model):
    total: int = 0
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    not_run: int = 0


class UnitInfo(_Model):
    """One meter of a split rig: what the rig file declares and what its probe reports."""

    name: str
    number: str | None = None
    firmware: str | None = None
    meter: MeterIdentity = MeterIdentity()
    probe_info: dict[str, str] = {}
    identity_mismatches: list[str] = []


class RigInfo(_Model):
    id: str
    name: str
    topology: Literal["integrated", "split"] = "integrated"
    ciu: dict[str, str] = {}  # a split rig's CIU: its readback INFO, pairing, supply
    link: dict[str, str] = {}  # a split rig's link: kind and relays
    units: list[UnitInfo] = []  # a split rig's meters
    serial: str | None = None
    simulated: bool = False
    defect: str | None = None
    firmware: str | None = None
    meter: MeterIdentity = MeterIdentity()
    probe_info: dict[str, str] = {}
    instruments: list[Instrument] = []
    features: list[str] = []
    identity_mismatches: list[str] = []
    sources: list[str] = []
    counts: Counts = Counts()


class StepRecord(_Model):
    index: int
    label: str = ""
    token: str = ""
    token_class: int | None = None
    subclass: int | None = None
    tid: int | None = None
    expected_result: str = ""
    observed_result: str = ""
    expected_credit_delta_kwh: float | None = None
    observed_credit_delta_kwh: float | None = None
    expected_relay: str = ""
    observed_relay: str = ""
    elapsed_s: float | None = None
    ok: bool = True
    credit_kwh: float | None = None
    at: datetime | None = None
    mismatches: list[Mismatch] = []


class ReadingRecord(_Model):
    """A reading taken as evidence of its own: an operator's answer, a display frame."""

    what: str
    value: str = ""
    source: str = ""
    by: str = ""
    at: datetime | None = None
    confidence: float | None = None
    image: str = ""


class CheckRecord(_Model):
    """One judgement of the meter, as the test made it (never re-judged here)."""

    requirement: str
    what: str
    expected: str = ""
    observed: str = ""
    tolerance: str = ""
    outcome: Literal["pass", "fail"] = "pass"


class TestRecord(_Model):
    __test__: ClassVar[bool] = False  # not a pytest test class

    nodeid: str
    case: str
    name: str
    module: str
    rig: str | None = None
    source: str = ""
    verdict: Verdict
    phase: str | None = None
    started: datetime | None = None
    ended: datetime | None = None
    duration_s: float | None = None
    clauses: list[str] = []
    steps: list[StepRecord] = []
    checks: list[CheckRecord] = []
    notes: list[str] = []
    readings: list[ReadingRecord] = []
    message: str = ""
    probe_log: list[str] = []
    probe_log_truncated: int = 0
    not_applicable: bool = False  # skipped: the meter does not declare the function


class RequirementRow(_Model):
    id: str
    clause: str = ""
    summary: str = ""
    in_catalogue: bool = True
    tests: list[str] = []
    verdict: RequirementVerdict = "not_covered"
    by_rig: dict[str, RequirementVerdict] = {}
    lab_ids: list[str] = []
    editions: list[str] = []  # the standards' editions its clause cites (standards.yaml)


class Coverage(_Model):
    covered: int = 0
    total: int = 0
    percent: float = 0.0


class Stats(_Model):
    count: int = 0
    mean_s: float | None = None
    p95_s: float | None = None
    max_s: float | None = None


class RigTiming(_Model):
    tests: Stats = Stats()
    token_entry: Stats = Stats()


class SlowTest(_Model):
    nodeid: str
    duration_s: float


class Timing(_Model):
    tests: Stats = Stats()
    token_entry: Stats = Stats()
    by_rig: dict[str, RigTiming] = {}
    slowest: list[SlowTest] = []


class RunRecord(_Model):
    format: Literal["hil-record/1"] = RECORD_FORMAT
    generated_at: datetime
    generated_by: str
    verdict: OverallVerdict
    verdict_label: str = ""
    verdict_reasons: list[str] = []
    partial: bool = False
    run: RunInfo
    counts: Counts
    coverage: Coverage
    rigs: list[RigInfo] = []
    tests: list[TestRecord] = []
    requirements: list[RequirementRow] = []
    lab_map: bool = False
    timing: Timing = Timing()
    warnings: list[str] = []
    report_number: str = ""  # the lab's, or derived from the run start and rigs
    lab: LabInfo | None = None  # the lab file run_start recorded (hil run --lab)
    simulated: bool = False  # some rig is the simulated bench: not a certification result

    def rig(self, rig_id: str | None) -> RigInfo | None:
        return next((r for r in self.rigs if r.id == rig_id), None)

    def tests_for(self, rig_id: str | None) -> list[TestRecord]:
        return [t for t in self.tests if t.rig == rig_id]


# --- redaction --------------------------------------------------------------------------

_HEX_RUN = re.compile(r"(?<![0-9A-Za-z])[0-9A-Fa-f]{16,}(?![0-9A-Za-z])")


def scrub(text: str) -> str:
    """Redact runs of 16+ hex digits that contain a letter: key-shaped text a meter's debug
    output or a command line could leak. Token digits (decimal) are left alone."""

    def repl(match: re.Match[str]) -> str:
        run = match.group(0)
        if run.isdigit():
            return run
        return f"[redacted: {len(run)} hex digits]"

    return _HEX_RUN.sub(repl, text)


# --- helpers ----------------------------------------------------------------------------


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _text(value: Any) -> str | None:
    return None if value is None else scrub(str(value))


def _same_identity(a: str, b: str) -> bool:
    a, b = a.strip(), b.strip()
    if a.isdigit() and b.isdigit():
        return int(a) == int(b)
    return a.lower() == b.lower()


def stats(values: Iterable[float]) -> Stats:
    """count, mean, p95 (nearest rank) and max of ``values``."""
    xs = sorted(v for v in values if v is not None)
    if not xs:
        return Stats()
    rank = max(1, math.ceil(0.95 * len(xs)))
    return Stats(
        count=len(xs),
        mean_s=round(sum(xs) / len(xs), 4),
        p95_s=round(xs[rank - 1], 4),
        max_s=round(xs[-1], 4),
    )


def count(tests: Iterable[TestRecord]) -> Counts:
    c = Counts()
    for t in tests:
        c.total += 1
        if t.verdict == "pass":
            c.passed += 1
        elif t.verdict == "fail":
            c.failed += 1
        elif t.verdict == "error":
            c.errors += 1
        elif t.verdict == "not_run":
            c.not_run += 1
        else:
            c.skipped += 1
    return c


def parse_idn(role: str, idn: Any) -> Instrument:
    text = scrub(str(idn))
    parts = [p.strip() for p in text.split(",")]
    if len(parts) == 4 and all(parts) and not text.startswith("no answer"):
        return Instrument(
            role=role,
            idn=text,
            manufacturer=parts[0],
            model=parts[1],
            serial=parts[2],
            firmware=parts[3],
        )
    return Instrument(role=role, idn=text)


def split_nodeid(nodeid: str, rig_id: str | None) -> tuple[str, str, str]:
    """``(module, name, case)`` of a test id: the rig label is taken out of the parameter
    id so the same case on two meters has the same ``case``.

    ``suites/test_x.py::TestY::test_z[rig-p]`` -> ``suites.test_x.TestY``, ``test_z[p]``;
    ``suites/robot/tid.robot::Replayed Token`` -> ``suites.robot.tid``, ``Replayed Token``.
    """
    file, sep, inner = nodeid.partition("::")
    if sep:
        scope, _, rest = inner.rpartition("::")
        module = file.removesuffix(".py").removesuffix(".robot").replace("/", ".")
        if scope:
            module += "." + scope.replace("::", ".")
        prefix = f"{file}::{scope}::" if scope else f"{file}::"
    else:  # dotted ids: Suite.Sub Suite.Test Name
        module, _, rest = nodeid.rpartition(".")
        prefix = f"{module}." if module else ""
    match = re.fullmatch(r"(.*?)\[(.*)\]", rest, flags=re.S)
    name = rest
    if match and rig_id:
        func, param = match.groups()
        if param == rig_id:
            param = ""
        elif param.startswith(rig_id + "-"):
            param = param[len(rig_id) + 1 :]
        elif ("-" + rig_id) in param:
            param = param.replace("-" + rig_id, "", 1)
        name = f"{func}[{param}]" if param else func
    return module, name, prefix + name


# --- building ---------------------------------------------------------------------------


@dataclass
class _Segment:
    """The events of one journal (one pytest or robot session)."""

    journal: str
    events: list[dict[str, Any]] = field(default_factory=list)
    unreadable_lines: int = 0


def _segments(events: Iterable[Mapping[str, Any]]) -> list[_Segment]:
    segments: list[_Segment] = []
    current: _Segment | None = None
    for event in events:
        if not isinstance(event, Mapping):
            continue
        journal = event.get("_journal")
        if (
            current is None
            or event.get("event") == "run_start"
            or (journal is not None and journal != current.journal)
        ):
            name = journal or ("journal" if not segments else f"journal #{len(segments) + 1}")
            current = _Segment(str(name))
            segments.append(current)
        current.unreadable_lines = max(current.unreadable_lines, event.get("_unreadable", 0))
        current.events.append(dict(event))
    return segments


def _plain(value: Any) -> str | None:
    """Text that is never scrubbed: hashes (git SHA, rig file SHA-256) are not keys."""
    return None if value is None else str(value)


def _harness(data: Any) -> Harness | None:
    if not isinstance(data, Mapping):
        return None
    fields = {k: _text(data.get(k)) for k in Harness.model_fields}
    fields["git_sha"] = _plain(data.get("git_sha"))
    fields["dirty"] = data.get("dirty") if isinstance(data.get("dirty"), bool) else None
    return Harness(**fields)


def _frontend(seg: _Segment, run_start: Mapping[str, Any]) -> str:
    """``pytest`` or ``robot`` (whose ``exit_status`` is its failed-test count, not a
    pytest exit status): named in ``run_start``, else told by its listener or test ids."""
    if run_start.get("frontend"):
        return str(run_start["frontend"])
    argv = run_start.get("argv") if isinstance(run_start.get("argv"), list) else []
    if any("hil.robot" in str(a) for a in argv) or any(
        ".robot::" in str(e.get("nodeid", "")) for e in seg.events if e.get("event") == "test"
    ):
        return "robot"
    return "pytest"


def _source(seg: _Segment) -> Source:
    start = next((e for e in seg.events if e.get("event") == "run_start"), None)
    end = next((e for e in reversed(seg.events) if e.get("event") == "run_end"), None)
    times = [t for t in (_time(e.get("time")) for e in seg.events) if t]
    head = start or {}
    argv = head.get("argv")
    return Source(
        journal=seg.journal,
        start=_time(head.get("time")) or (min(times) if times else None),
        end=_time(end.get("time")) if end else (max(times) if times else None),
        partial=end is None,
        exit_status=_int(end.get("exit_status")) if end else None,
        interrupted=bool(end.get("interrupted")) if end else False,
        frontend=_frontend(seg, head),
        harness=_harness(head.get("harness")),
        rig_file=_text(head.get("rig_file")),
        rig_sha256=_plain(head.get("rig_sha256")),
        argv=[scrub(str(a)) for a in argv] if isinstance(argv, list) else [],
        defect=_text(head.get("defect")),
        selection=_selection(head.get("selection")),
        tests=sum(1 for e in seg.events if e.get("event") == "test"),
        unreadable_lines=seg.unreadable_lines,
    )


def _selection(data: Any) -> Selection | None:
    if not isinstance(data, Mapping) or not data.get("name"):
        return None
    return Selection(name=str(data["name"]), left_out=_int(data.get("left_out")) or 0,
                     excluded=str(data.get("excluded") or ""))  # fmt: skip


def _rig_id(event: Mapping[str, Any]) -> str:
    name = str(event.get("name") or "rig")
    serial = event.get("serial")
    return f"{name}:{serial}" if serial else name


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _identity(data: Mapping[str, Any]) -> tuple[MeterIdentity, dict[str, str], list[str]]:
    """A meter's declared identity, its probe INFO (scrubbed) and where the two differ."""
    meter_data = _mapping(data.get("meter"))
    meter = MeterIdentity(**{k: _text(meter_data.get(k)) for k in MeterIdentity.model_fields})
    probe_info = {str(k): scrub(str(v)) for k, v in _mapping(data.get("probe_info")).items()}
    mismatches = []
    for key in ("pan", "sgc", "ti", "krn", "kt", "ken", "base_date", "ea", "dkga"):
        declared, reported = getattr(meter, key), probe_info.get(key)
        if declared is not None and reported is not None and not _same_identity(declared, reported):
            mismatches.append(f"{key}: rig file {declared}, meter reports {reported}")
    return meter, probe_info, mismatches


def _unit(data: Mapping[str, Any]) -> UnitInfo:
    meter, probe_info, mismatches = _identity(data)
    return UnitInfo(name=str(data.get("name") or "meter"), number=_text(data.get("number")),
                    firmware=probe_info.get("firmware"), meter=meter, probe_info=probe_info,
                    identity_mismatches=mismatches)  # fmt: skip


def _flat(data: Mapping[str, Any]) -> dict[str, str]:
    """A topology part as text fields: nested mappings flattened, None left out."""
    out: dict[str, str] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            out.update({f"{key}.{k}": v for k, v in _flat(value).items()})
        elif value is not None:
            out[str(key)] = scrub(str(value).lower() if isinstance(value, bool) else str(value))
    return out


def _rig(event: Mapping[str, Any], journal: str) -> RigInfo:
    meter, probe_info, mismatches = _identity(event)
    instruments_data = event.get("instruments")
    instruments = (
        [parse_idn(str(role), idn) for role, idn in instruments_data.items()]
        if isinstance(instruments_data, Mapping)
        else []
    )
    features = event.get("features")
    split = event.get("topology") == "split"
    units = event.get("units") if split and isinstance(event.get("units"), list) else []
    return RigInfo(
        id=_rig_id(event),
        name=str(event.get("name") or "rig"),
        topology="split" if split else "integrated",
        ciu=_flat(_mapping(event.get("ciu"))) if split else {},
        link=_flat(_mapping(event.get("link"))) if split else {},
        units=[_unit(u) for u in units if isinstance(u, Mapping)],
        serial=_text(event.get("serial")),
        simulated=bool(event.get("simulated")),
        defect=_text(event.get("defect")),
        firmware=probe_info.get("firmware"),
        meter=meter,
        probe_info=probe_info,
        instruments=instruments,
        features=[str(f) for f in features] if isinstance(features, list) else [],
        identity_mismatches=mismatches,
        sources=[journal],
    )


def _step(index: int, data: Mapping[str, Any]) -> StepRecord:
    expected_delta = _float(data.get("expected_credit_delta_kwh"))
    observed_delta = _float(data.get("observed_credit_delta_kwh"))
    step = StepRecord(
        index=index,
        label=scrub(str(data.get("label") or "")),
        token=str(data.get("token") or ""),
        token_class=_int(data.get("token_class")),
        subclass=_int(data.get("subclass")),
        tid=_int(data.get("tid")),
        expected_result=str(data.get("expected_result") or ""),
        observed_result=str(data.get("observed_result") or ""),
        expected_credit_delta_kwh=expected_delta,
        observed_credit_delta_kwh=observed_delta,
        expected_relay=str(data.get("expected_relay") or ""),
        observed_relay=str(data.get("observed_relay") or ""),
        elapsed_s=_float(data.get("elapsed_s")),
        ok=bool(data.get("ok", True)),
        credit_kwh=_float(data.get("credit_kwh")),
        at=_time(data.get("at")),
    )
    # Which parts differed, as the test judged them (its checks); never re-judged here.
    for part in data.get("mismatches") or []:
        if part in ("result", "credit", "relay"):
            step.mismatches.append(part)
    return step


def _reading(data: Mapping[str, Any]) -> ReadingRecord:
    return ReadingRecord(
        what=str(data.get("what") or "?"),
        value=scrub(str(data.get("value") or "")),
        source=str(data.get("source") or ""),
        by=scrub(str(data.get("by") or "")),
        at=_time(data.get("at")),
        confidence=_float(data.get("confidence")),
        image=Path(str(data.get("image") or "")).name,  # a file beside the report, by name
    )


def _test(event: Mapping[str, Any], rig_id: str | None, journal: str) -> TestRecord:
    nodeid = str(event.get("nodeid") or "?")
    module, name, case = split_nodeid(nodeid, rig_id)
    verdict = event.get("verdict")
    evidence = event.get("evidence") if isinstance(event.get("evidence"), Mapping) else {}
    steps = evidence.get("steps") if isinstance(evidence.get("steps"), list) else []
    notes = evidence.get("notes") if isinstance(evidence.get("notes"), list) else []
    log = event.get("probe_log") if isinstance(event.get("probe_log"), list) else []
    clauses = event.get("clauses") if isinstance(event.get("clauses"), list) else []
    checks = evidence.get("checks") if isinstance(evidence.get("checks"), list) else []
    readings = evidence.get("readings") if isinstance(evidence.get("readings"), list) else []
    ended = _time(event.get("time"))
    duration = _float(event.get("duration_s"))
    return TestRecord(
        nodeid=nodeid,
        case=case,
        name=name,
        module=module,
        rig=rig_id,
        source=journal,
        verdict=verdict if verdict in VERDICTS else "error",
        phase=_text(event.get("phase")),
        started=_time(event.get("started")),
        ended=ended,
        duration_s=duration,
        clauses=[str(c) for c in clauses],
        steps=[_step(i, s) for i, s in enumerate(steps, 1) if isinstance(s, Mapping)],
        checks=[_check(c) for c in checks if isinstance(c, Mapping)],
        notes=[scrub(str(n)) for n in notes],
        readings=[_reading(r) for r in readings if isinstance(r, Mapping)],
        message=scrub(str(event.get("message") or "")),
        probe_log=[scrub(str(line)) for line in log[-PROBE_LOG_LIMIT:]],
        probe_log_truncated=max(0, len(log) - PROBE_LOG_LIMIT),
        not_applicable=verdict == "skip" and event.get("not_applicable") is True,
    )


def _check(data: Mapping[str, Any]) -> CheckRecord:
    return CheckRecord(
        requirement=str(data.get("requirement") or ""),
        what=scrub(str(data.get("what") or "")),
        expected=scrub(str(data.get("expected") or "")),
        observed=scrub(str(data.get("observed") or "")),
        tolerance=str(data.get("tolerance") or ""),
        outcome="fail" if data.get("outcome") == "fail" else "pass",
    )


def _test_rig(event: Mapping[str, Any], seen: list[str], all_rigs: list[str]) -> str | None:
    """The rig a test ran on: the one whose label is in its id, else the journal's latest
    rig before the test, else the journal's only rig."""
    nodeid = str(event.get("nodeid") or "")
    for rig_id in seen + all_rigs:
        if rig_id in nodeid:
            return rig_id
    if seen:
        return seen[-1]
    return all_rigs[0] if all_rigs else None


def build_record(
    events: Iterable[Mapping[str, Any]],
    *,
    catalogue: Catalogue | None = None,
    lab_map: Mapping[str, Sequence[str]] | None = None,
) -> RunRecord:
    """The run record of one journal's events, or of several journals concatenated (each
    begins with ``run_start``; ``load_run`` tags events with their file as ``_journal``)."""
    catalogue = catalogue or load_catalogue()
    segments = _segments(events)
    warnings: list[str] = []
    sources = [_source(seg) for seg in segments]
    _file_facts(segments, sources)

    rigs: dict[str, RigInfo] = {}
    tests: list[TestRecord] = []
    seen_tests: set[tuple[str, str]] = set()
    duplicates = 0
    for seg in segments:
        seg_rigs = [_rig_id(e) for e in seg.events if e.get("event") == "rig"]
        seen: list[str] = []
        for event in seg.events:
            kind = event.get("event")
            if kind == "rig":
                rig = _rig(event, seg.journal)
                if rig.id in rigs:
                    known = rigs[rig.id]
                    if seg.journal not in known.sources:
                        known.sources.append(seg.journal)
                else:
                    rigs[rig.id] = rig
                seen.append(rig.id)
            elif kind == "test":
                nodeid = str(event.get("nodeid") or "?")
                key = (nodeid, str(event.get("started") or event.get("time")))
                if key in seen_tests:
                    duplicates += 1
                    continue
                seen_tests.add(key)
                tests.append(_test(event, _test_rig(event, seen, seg_rigs), seg.journal))

    order = {id(t): i for i, t in enumerate(tests)}
    epoch = datetime.min.replace(tzinfo=UTC)
    tests.sort(key=lambda t: (t.started or t.ended or epoch, order[id(t)]))

    rig_list = list(rigs.values())
    for rig in rig_list:
        rig.counts = count(t for t in tests if t.rig == rig.id)

    requirements = _matrix(catalogue, tests, rig_list, lab_map or {})
    # A requirement that does not apply to this meter is neither covered nor missing.
    in_cat = [r for r in requirements if r.in_catalogue and r.verdict != "not_applicable"]
    covered = sum(1 for r in in_cat if r.verdict != "not_covered")
    coverage = Coverage(
        covered=covered,
        total=len(in_cat),
        percent=round(100 * covered / len(in_cat), 1) if in_cat else 0.0,
    )

    counts = count(tests)
    partial = any(s.partial for s in sources) or not sources
    verdict, label, reasons = _verdict(counts, sources, coverage)

    # warnings a reader must see
    for s in sources:
        if s.partial:
            warnings.append(
                f"{s.journal}: no run_end - the run did not finish (killed or power lost); "
                f"{s.tests} finished test(s) recorded"
            )
        if s.garbage_lines:
            lines = ", ".join(str(n) for n in s.garbage_lines)
            warnings.append(
                f"{s.journal}: line(s) {lines} are not JSON and were skipped: the journal was "
                "damaged or edited (only a half-written last line is expected, from a kill)"
            )
        if s.unreadable_lines > len(s.garbage_lines):
            warnings.append(
                f"{s.journal}: its last line was half-written when the run stopped; skipped"
            )
        if s.chain == "broken":
            warnings.append(
                f"{s.journal}: HASH CHAIN BROKEN at line {s.chain_first_bad}: "
                f"{s.chain_detail}; this journal may have been edited"
            )
        if s.harness is None:
            warnings.append(f"{s.journal}: no run_start - harness identity unknown")
    selection = next((s.selection for s in sources if s.selection), None)
    if selection is not None:  # deselected tests are outside the run, not "not run"
        warnings.append(
            f"{selection.name} selection: {selection.left_out} {selection.excluded} "
            f"test{'' if selection.left_out == 1 else 's'} left out (hil run --quick); "
            "not a full conformance run"
        )
    if duplicates:
        warnings.append(f"{duplicates} duplicate test event(s) dropped (same nodeid and start)")
    shas = {s.harness.git_sha for s in sources if s.harness and s.harness.git_sha}
    if len(shas) > 1:
        warnings.append(f"merged runs come from different harness commits: {sorted(shas)}")
    for rig in rig_list:
        for mismatch in rig.identity_mismatches:
            warnings.append(f"rig {rig.id}: meter identity differs from the rig file: {mismatch}")
        for unit in rig.units:
            for mismatch in unit.identity_mismatches:
                warnings.append(
                    f"rig {rig.id}: meter {unit.name}'s identity differs from the rig file: "
                    f"{mismatch}"
                )
    unknown = [r.id for r in requirements if not r.in_catalogue]
    if unknown:
        warnings.append(f"tests cite requirement ids not in the catalogue: {', '.join(unknown)}")
    orphans = sum(1 for t in tests if t.rig is None)
    if orphans:
        warnings.append(f"{orphans} test(s) have no rig event in their journal")

    starts = [s.start for s in sources if s.start]
    ends = [s.end for s in sources if s.end]
    start, end = (min(starts) if starts else None), (max(ends) if ends else None)
    first = next((s for s in sources if s.harness), sources[0] if sources else None)
    statuses = [s.exit_status for s in sources if s.exit_status is not None]
    run = RunInfo(
        start=start,
        end=end,
        duration_s=round((end - start).total_seconds(), 3) if start and end else None,
        partial=partial,
        exit_status=None if partial or not statuses else max(statuses),
        harness=first.harness if first else None,
        operator=first.harness.operator if first and first.harness else None,
        host=first.harness.host if first and first.harness else None,
        rig_file=first.rig_file if first else None,
        rig_sha256=first.rig_sha256 if first else None,
        argv=first.argv if first else [],
        defect=first.defect if first else None,
        selection=selection,
        sources=sources,
    )
    lab, lab_notes = _lab(segments, start, rig_list)
    warnings.extend(lab_notes)
    for row in requirements:
        row.editions = editions_for(row.clause, lab.editions if lab else None)
    return RunRecord(
        generated_at=datetime.now(UTC),
        generated_by=f"hil {__version__}",
        verdict=verdict,
        verdict_label=label,
        verdict_reasons=reasons,
        report_number=report_number(lab, start, [r.id for r in rig_list]),
        lab=lab,
        simulated=any(r.simulated for r in rig_list),
        partial=partial,
        run=run,
        counts=counts,
        coverage=coverage,
        rigs=rig_list,
        tests=tests,
        requirements=requirements,
        lab_map=bool(lab_map),
        timing=_timing(tests, rig_list),
        warnings=warnings,
    )


def _verdict(
    counts: Counts, sources: list[Source], coverage: Coverage
) -> tuple[OverallVerdict, str, list[str]]:
    """The run's verdict by hil.conformance.outcome.run_verdict: FAIL when a check of the
    meter failed (FAIL (incomplete) if the run was cut short), INCOMPLETE for an interrupted
    or killed run, ERROR for errors, PASS only when every selected test ran and passed."""
    reasons: list[str] = []
    if counts.failed:
        reasons.append(f"{counts.failed} test(s) failed: the meter did not conform")
    if counts.errors:
        reasons.append(f"{counts.errors} test(s) ended in a bench or harness error")
    if counts.not_run:
        reasons.append(f"{counts.not_run} selected test(s) did not run")
    # pytest's exit status 2 is an interrupt (Ctrl-C, or pytest.exit) even when the
    # journal's run_end has no interrupted flag, as in journals older than the flag.
    cut = [s for s in sources if s.partial or s.interrupted or _pytest_interrupted(s)]
    for s in cut:
        how = ("was interrupted" if s.interrupted or _pytest_interrupted(s)
               else "did not finish (killed or power lost)")  # fmt: skip
        reasons.append(f"{s.journal}: the run {how}")
    abnormal = [s for s in sources if s.frontend == "pytest" and s.exit_status in (3, 4)]
    for s in abnormal:
        reasons.append(
            f"{s.journal}: pytest exit status {s.exit_status} "
            f"({ABNORMAL_EXIT[s.exit_status or 0]}): some tests may not have run"
        )
    tally = Tally(counts.passed, counts.failed, counts.errors + len(abnormal), counts.skipped,
                  counts.not_run)  # fmt: skip
    if not tally.ran:
        reasons.append("no test ran")
    verdict, label = run_verdict(tally, finished=bool(sources) and not cut,
                                 covered=coverage.covered, total=coverage.total)  # fmt: skip
    return verdict, label, reasons


def _pytest_interrupted(source: Source) -> bool:
    return source.frontend == "pytest" and source.exit_status == 2


def _matrix(
    catalogue: Catalogue,
    tests: list[TestRecord],
    rigs: list[RigInfo],
    lab_map: Mapping[str, Sequence[str]],
) -> list[RequirementRow]:
    rows: dict[str, RequirementRow] = {
        r.id: RequirementRow(
            id=r.id, clause=r.clause, summary=r.summary, lab_ids=list(lab_map.get(r.id, []))
        )
        for r in catalogue.requirements
    }
    for test in tests:
        # A test speaks for the requirements it is tagged with, and against any other one a
        # check of it failed (a relay left closed at zero credit, seen by a CRC test, fails
        # RELAY-ZERO-CREDIT; its passing side glances are not listed as coverage).
        failed = [c.requirement for c in test.checks if c.outcome == "fail"]
        judged = dict.fromkeys([*test.clauses, *failed])
        for clause in judged:
            row = rows.get(clause)
            if row is None:
                row = rows[clause] = RequirementRow(
                    id=clause, in_catalogue=False, summary="(not in the requirement catalogue)"
                )
            row.tests.append(test.nodeid)
    verdict_of = {}
    for test in tests:
        verdict_of.setdefault(test.nodeid, []).append(test)
    split_bench = any("link_control" in rig.features for rig in rigs)
    split_only = {r.id for r in catalogue.requirements if r.applies_to == "split"}
    for row in rows.values():
        covering = [t for nodeid in dict.fromkeys(row.tests) for t in verdict_of[nodeid]]
        row.tests = list(dict.fromkeys(row.tests))
        row.verdict = requirement_outcome(_judged(t, row.id) for t in covering)
        if row.verdict == "not_covered" and row.id in split_only and not split_bench:
            row.verdict = "not_applicable"  # a split meter's rule, on an integrated meter
        if len(rigs) > 1:
            row.by_rig = {
                rig.id: requirement_outcome(_judged(t, row.id) for t in covering if t.rig == rig.id)
                for rig in rigs
            }
    return list(rows.values())


def _judged(test: TestRecord, requirement: str) -> Judged:
    own = tuple(c.outcome for c in test.checks if c.requirement == requirement)
    outcome = "not_applicable" if test.not_applicable else test.verdict
    return Judged(outcome, own, bool(test.checks))


def _timing(tests: list[TestRecord], rigs: list[RigInfo]) -> Timing:
    def entry_times(ts: Iterable[TestRecord]) -> list[float]:
        return [s.elapsed_s for t in ts for s in t.steps if s.elapsed_s is not None]

    def durations(ts: Iterable[TestRecord]) -> list[float]:
        return [t.duration_s for t in ts if t.duration_s is not None and t.verdict != "skip"]

    by_rig = {
        rig.id: RigTiming(
            tests=stats(durations(t for t in tests if t.rig == rig.id)),
            token_entry=stats(entry_times(t for t in tests if t.rig == rig.id)),
        )
        for rig in rigs
    }
    timed = sorted(
        (t for t in tests if t.duration_s is not None), key=lambda t: -(t.duration_s or 0)
    )
    return Timing(
        tests=stats(durations(tests)),
        token_entry=stats(entry_times(tests)),
        by_rig=by_rig,
        slowest=[SlowTest(nodeid=t.nodeid, duration_s=t.duration_s or 0) for t in timed[:SLOWEST]],
    )


def _file_facts(segments: list[_Segment], sources: list[Source]) -> None:
    """Copy what ``read_events`` learnt from each journal file onto its source."""
    for seg, source in zip(segments, sources, strict=True):
        facts = seg.events[0].get("_file") if seg.events else None
        if isinstance(facts, Mapping):
            source.garbage_lines = list(facts.get("garbage_lines") or [])
            source.sha256 = facts.get("sha256")
            source.chain = facts.get("chain")
            source.chain_first_bad = facts.get("chain_first_bad")
            source.chain_detail = str(facts.get("chain_detail") or "")


def _lab(
    segments: list[_Segment], start: datetime | None, rigs: list[RigInfo]
) -> tuple[LabInfo | None, list[str]]:
    """The lab file the journals' run_start recorded, and the warnings it brings: past
    calibration due dates (on the run's start day), example data, instrument serials that
    differ from the bench's *IDN? answers, different lab files in merged journals."""
    labs: list[LabInfo] = []
    notes: list[str] = []
    for seg in segments:
        head = next((e for e in seg.events if e.get("event") == "run_start"), None)
        if head is None or "lab" not in head:
            continue
        lab, problem = lab_from_journal(head.get("lab"))
        if problem:
            notes.append(f"{seg.journal}: {problem}")
        if lab is not None and all(lab.sha256 != known.sha256 for known in labs):
            labs.append(lab)
    if not labs:
        return None, notes
    lab = labs[0]
    if len(labs) > 1:
        notes.append(
            f"merged journals name {len(labs)} different lab files; the report shows "
            f"{lab.file or 'the first'}"
        )
    notes += lab_warnings(lab, on=start.date() if start else None)
    answered = [(i.role, i.serial) for r in rigs for i in r.instruments]
    notes += instrument_mismatches(lab, answered)
    return lab, notes


# --- loading ----------------------------------------------------------------------------


def find_journals(run_dir: Path) -> list[Path]:
    """``journal*.jsonl`` and ``*/journal*.jsonl`` of a run directory (or the file itself):
    one per pytest(-xdist worker) session and Robot (pabot) process."""
    if run_dir.is_file():
        return [run_dir]
    found = {*run_dir.glob("journal*.jsonl"), *run_dir.glob("*/journal*.jsonl")}
    return sorted(p for p in found if p.is_file())


def read_events(path: Path, name: str | None = None) -> list[dict[str, Any]]:
    """A journal's events tagged with their file (``_journal``) and, on the first event,
    how many unreadable lines were skipped (``_unreadable``)."""
    try:
        journal = read_journal_file(path)
    except OSError as exc:
        raise ReportError(f"{path}: cannot read ({exc.strerror})") from None
    events = journal.events
    label = name or path.name
    for event in events:
        event["_journal"] = label
    if events:
        events[0]["_unreadable"] = journal.unreadable
        # what the file's bytes say (hash, chain, garbage lines): Source fields
        events[0]["_file"] = {
            "garbage_lines": journal.garbage_lines,
            "sha256": journal.sha256,
            "chain": journal.chain,
            "chain_first_bad": journal.chain_first_bad,
            "chain_detail": journal.chain_detail,
        }
    return events


def _lab_map(lab_map: Path | Mapping[str, Sequence[str]] | None, catalogue: Catalogue):
    if lab_map is None or isinstance(lab_map, Mapping):
        return lab_map
    return load_lab_map(Path(lab_map), catalogue)


def load_runs(
    run_dirs: Sequence[Path],
    *,
    lab_map: Path | Mapping[str, Sequence[str]] | None = None,
    catalogue: Catalogue | None = None,
) -> RunRecord:
    """One record merging every journal of every run directory."""
    catalogue = catalogue or load_catalogue()
    events: list[dict[str, Any]] = []
    for run_dir in run_dirs:
        run_dir = Path(run_dir)
        if not run_dir.exists():
            raise ReportError(f"{run_dir}: no such run directory")
        journals = find_journals(run_dir)
        if not journals:
            raise ReportError(f"{run_dir}: no journal*.jsonl or */journal*.jsonl in it")
        base = run_dir if run_dir.is_dir() else run_dir.parent
        for journal in journals:
            name = journal.relative_to(base).as_posix()
            if len(run_dirs) > 1:
                name = f"{base.name}/{name}"
            events.extend(read_events(journal, name))
    return build_record(events, catalogue=catalogue, lab_map=_lab_map(lab_map, catalogue))


def load_run(
    run_dir: Path,
    *,
    lab_map: Path | Mapping[str, Sequence[str]] | None = None,
    catalogue: Catalogue | None = None,
) -> RunRecord:
    """The record of one run directory (all its journals merged)."""
    return load_runs([Path(run_dir)], lab_map=lab_map, catalogue=catalogue)


def load_record(path: Path) -> RunRecord:
    """A run record from ``record.json``, a journal, or a run directory."""
    path = Path(path)
    if path.is_file() and path.suffix == ".json":
        try:
            return RunRecord.model_validate_json(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ReportError(f"{path}: cannot read ({exc.strerror})") from None
        except ValueError as exc:
            first = str(exc).splitlines()[0]
            raise ReportError(f"{path}: not a run record ({first})") from None
    if path.is_dir() and not find_journals(path) and (path / "record.json").is_file():
        return load_record(path / "record.json")
    return load_run(path)

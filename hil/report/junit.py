"""JUnit XML for CI: one ``<testsuite>`` per rig.

``fail`` -> ``<failure>``, ``error`` (a bench or harness fault) -> ``<error>``, ``skip`` ->
``<skipped>``. Suite properties carry the rig, meter identity and harness identity; each
test case carries its requirement ids as the ``clauses`` property. A partial run gets one
extra errored test case (``hil.run`` / ``run completed``) so CI never shows it green.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from hil.report.record import RigInfo, RunRecord, TestRecord

# Characters XML 1.0 cannot hold (garbled bytes in a probe log must not break the file).
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(text: str) -> str:
    return _INVALID_XML.sub(lambda m: f"\\x{ord(m.group(0)):02x}", text)


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, {k: xml_text(v) for k, v in attrs.items()})
    if text:
        element.text = xml_text(text)
    return element


def _seconds(value: float | None) -> str:
    return f"{value or 0.0:.3f}"


def _failure_text(test: TestRecord) -> str:
    lines = [test.message] if test.message else []
    for s in test.steps:
        if s.ok:
            continue
        lines.append(
            f"step {s.index} {s.label}: token {s.token}: expected {s.expected_result}, "
            f"{s.expected_credit_delta_kwh if s.expected_credit_delta_kwh is not None else '?'}"
            f" kWh, relay {s.expected_relay}; observed {s.observed_result}, "
            f"{s.observed_credit_delta_kwh if s.observed_credit_delta_kwh is not None else '?'}"
            f" kWh, relay {s.observed_relay}"
        )
    lines += [f"note: {n}" for n in test.notes]
    lines += [f"reading: {r.what} = {r.value} ({r.by or r.source})" for r in test.readings]
    return "\n".join(lines)


def _properties(parent: ET.Element, props: list[tuple[str, str | None]]) -> None:
    element = _sub(parent, "properties")
    for name, value in props:
        if value is not None:
            _sub(element, "property", name=name, value=str(value))


def _suite_props(record: RunRecord, rig: RigInfo | None) -> list[tuple[str, str | None]]:
    harness = record.run.harness
    props: list[tuple[str, str | None]] = []
    if rig is not None:
        props += [
            ("rig", rig.name),
            ("meter_serial", rig.serial),
            ("firmware", rig.firmware),
            ("simulated", str(rig.simulated).lower()),
            ("defect", rig.defect),
        ]
        props += [(f"meter_{k}", v) for k, v in rig.meter.model_dump().items() if k != "pan"]
        props += [(f"instrument_{i.role}", i.idn) for i in rig.instruments]
    props += [
        ("harness_version", harness.version if harness else None),
        ("git_sha", harness.git_sha if harness else None),
        ("operator", record.run.operator),
        ("rig_file", record.run.rig_file),
        ("rig_sha256", record.run.rig_sha256),
        ("overall_verdict", record.verdict),
        ("verdict_label", getattr(record, "verdict_label", "") or record.verdict.upper()),
        ("report_number", getattr(record, "report_number", "") or None),
        (
            "git_dirty",
            None if harness is None or harness.dirty is None else str(harness.dirty).lower(),
        ),
        ("simulated", str(getattr(record, "simulated", False)).lower()),
        ("partial", str(record.partial).lower()),
    ]
    return props


def _case(suite: ET.Element, test: TestRecord) -> None:
    module = test.module or "tests"
    case = _sub(
        suite,
        "testcase",
        classname=module,
        name=test.nodeid.rpartition("::")[2] or test.name,
        time=_seconds(test.duration_s),
    )
    if "::" in test.nodeid:
        case.set("file", xml_text(test.nodeid.partition("::")[0]))
    _properties(case, [("clauses", ",".join(test.clauses)), ("rig", test.rig)])
    first_line = test.message.splitlines()[0] if test.message else ""
    if test.verdict == "fail":
        _sub(
            case,
            "failure",
            _failure_text(test),
            message=first_line or "non-conformance",
            type="ConformanceFailure",
        )
    elif test.verdict == "error":
        _sub(
            case,
            "error",
            _failure_text(test),
            message=first_line or "bench or harness error",
            type="BenchFault",
        )
    elif test.verdict == "skip":
        _sub(case, "skipped", message=first_line or "skipped")
    elif test.verdict == "not_run":  # selected but never ran: not a failure, not a pass
        _sub(case, "skipped", message="not run: " + (first_line or "the run stopped first"))
    if test.probe_log:
        _sub(case, "system-out", "\n".join(test.probe_log))


def _count(suite: ET.Element, tests: list[TestRecord], extra_errors: int = 0) -> None:
    suite.set("tests", str(len(tests) + extra_errors))
    suite.set("failures", str(sum(t.verdict == "fail" for t in tests)))
    suite.set("errors", str(sum(t.verdict == "error" for t in tests) + extra_errors))
    suite.set("skipped", str(sum(t.verdict in ("skip", "not_run") for t in tests)))
    suite.set("time", _seconds(sum(t.duration_s or 0 for t in tests)))


def junit_xml(record: RunRecord) -> ET.ElementTree:
    root = ET.Element("testsuites", {"name": "hil"})
    groups: dict[str | None, list[TestRecord]] = {r.id: [] for r in record.rigs}
    for test in record.tests:
        groups.setdefault(test.rig, []).append(test)
    host = record.run.host or ""
    for rig_id, tests in groups.items():
        rig = record.rig(rig_id)
        suite = _sub(root, "testsuite", name=rig_id or "unknown rig", hostname=host)
        if record.run.start:
            suite.set("timestamp", record.run.start.isoformat(timespec="seconds"))
        _properties(suite, _suite_props(record, rig))
        for test in tests:
            _case(suite, test)
        _count(suite, tests)
    if record.partial:
        suite = _sub(root, "testsuite", name="hil.run", hostname=host)
        case = _sub(suite, "testcase", classname="hil.run", name="run completed", time="0.000")
        _sub(
            case,
            "error",
            "; ".join(record.warnings),
            type="PartialRun",
            message="the run did not finish (no run_end in its journal)",
        )
        _count(suite, [], extra_errors=1)
    _count(root, record.tests, extra_errors=1 if record.partial else 0)
    ET.indent(root)
    return ET.ElementTree(root)


def write_junit(record: RunRecord, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    junit_xml(record).write(tmp, encoding="utf-8", xml_declaration=True)
    tmp.replace(path)
    return path

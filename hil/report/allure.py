"""allure-results from a run record, with the ``allure_commons`` model.

One ``<uuid>-result.json`` per test: status (``error`` -> ``broken``), start/stop, labels
(suites, ``feature`` = requirement ids, ``tag`` = clauses, ``host``), parameters, one step per
token from the evidence, and the probe log excerpt and evidence as attachments.

The rig name and meter serial are parameters that are *not* excluded, so they are part of
the ``historyId``: the same test on two meters stays two results instead of collapsing into
retries of one (allure-python #329/#430). The uuids derive from the test's identity and
start time, so re-rendering a run rewrites the same files and merging directories of
several hosts is a copy.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from pathlib import Path

from allure_commons.model2 import (
    Attachment,
    Label,
    Parameter,
    Status,
    StatusDetails,
    TestResult,
    TestStepResult,
)
from allure_commons.utils import md5
from attr import asdict

from hil.report.record import RunRecord, StepRecord, TestRecord

STATUS = {
    "pass": Status.PASSED,
    "fail": Status.FAILED,
    "error": Status.BROKEN,
    "skip": Status.SKIPPED,
    "not_run": Status.SKIPPED,  # selected but never ran: never a failure
}
NAMESPACE = uuid.UUID("5d1f3f7e-6a43-4f0e-9a59-3c1b6f0c2e11")  # hil allure results
OUR_FILES = ("-result.json", "-container.json", "-attachment.txt", "-attachment.json")
CATEGORIES = [
    {
        "name": "Meter non-conformance",
        "matchedStatuses": ["failed"],
        "description": "The meter did something IEC 62055-41 does not allow.",
    },
    {
        "name": "Bench or harness fault",
        "matchedStatuses": ["broken"],
        "description": "The bench misbehaved; not a verdict on the meter.",
    },
]


def _ms(value: datetime | None) -> int | None:
    return None if value is None else round(value.timestamp() * 1000)


def _dump(item: object) -> dict:
    return asdict(item, filter=lambda _, v: v or v is False)


def full_name(test: TestRecord) -> str:
    """``package.module#function`` (allure-pytest's form), without the parameter id."""
    func = test.name.split("[")[0]
    return f"{test.module}#{func}" if test.module else func


def _case_param(test: TestRecord) -> str | None:
    _, bracket, param = test.name.partition("[")
    return param[:-1] if bracket else None


def _step(step: StepRecord, test_start: int | None) -> TestStepResult:
    stop = _ms(step.at)
    start = stop - round((step.elapsed_s or 0) * 1000) if stop is not None else test_start
    expected = (
        f"{step.expected_result}, {step.expected_credit_delta_kwh:+.3f} kWh, "
        f"relay {step.expected_relay}"
        if step.expected_credit_delta_kwh is not None
        else f"{step.expected_result}, relay {step.expected_relay}"
    )
    observed = (
        f"{step.observed_result}, {step.observed_credit_delta_kwh:+.3f} kWh, "
        f"relay {step.observed_relay}"
        if step.observed_credit_delta_kwh is not None
        else f"{step.observed_result}, relay {step.observed_relay}"
    )
    token = " ".join(step.token[i : i + 4] for i in range(0, len(step.token), 4))
    params = [
        Parameter(name="token", value=token),
        Parameter(name="class/subclass", value=f"{step.token_class}/{step.subclass}"),
        Parameter(name="TID", value=str(step.tid)),
        Parameter(name="expected", value=expected),
        Parameter(name="observed", value=observed),
        Parameter(name="credit after (kWh)", value=f"{step.credit_kwh}"),
        Parameter(name="entry (s)", value=f"{step.elapsed_s}"),
    ]
    return TestStepResult(
        name=f"{step.index}. {step.label}: {token}",
        status=Status.PASSED if step.ok else Status.FAILED,
        statusDetails=None
        if step.ok
        else StatusDetails(message=f"expected {expected}; observed {observed}"),
        stage="finished",
        start=start,
        stop=stop,
        parameters=params,
    )


def allure_results(record: RunRecord) -> list[tuple[dict, dict[str, str]]]:
    """``[(result JSON, {attachment file name: text})]`` for every test of the record."""
    requirements = {r.id: r for r in record.requirements}
    clauses = {r.id: r.clause for r in record.requirements if r.clause}
    out = []
    for test in record.tests:
        rig = record.rig(test.rig)
        source = next((s for s in record.run.sources if s.journal == test.source), None)
        host = (source.harness.host if source and source.harness else None) or record.run.host
        stop = _ms(test.ended)
        start = _ms(test.started)
        if start is None and stop is not None:
            start = stop - round((test.duration_s or 0) * 1000)
        seed = f"{test.source}|{test.nodeid}|{test.started or test.ended}"
        result_uuid = str(uuid.uuid5(NAMESPACE, seed))
        name = full_name(test)

        params = [
            Parameter(name="rig", value=rig.name if rig else (test.rig or "unknown")),
            Parameter(name="meter serial", value=(rig.serial if rig else None) or "unknown"),
        ]
        case = _case_param(test)
        if case:
            params.append(Parameter(name="case", value=case))
        if rig and rig.firmware:
            params.append(Parameter(name="firmware", value=rig.firmware, excluded=True))

        labels = [
            Label(name="parentSuite", value=test.module.split(".")[0] or "suites"),
            Label(name="suite", value=test.module or "tests"),
            Label(name="subSuite", value=test.rig or "unknown rig"),
            Label(name="framework", value="hil"),
            Label(name="thread", value=test.rig or "unknown rig"),
        ]
        if host:
            labels.append(Label(name="host", value=host))
        labels += [Label(name="feature", value=c) for c in test.clauses]
        tags = dict.fromkeys(clauses[c] for c in test.clauses if c in clauses)
        labels += [Label(name="tag", value=t) for t in tags]

        attachments: dict[str, str] = {}
        files = []
        if test.probe_log:
            file = f"{uuid.uuid5(NAMESPACE, seed + '|probe')}-attachment.txt"
            attachments[file] = "\n".join(test.probe_log) + "\n"
            files.append(Attachment(name="probe log excerpt", source=file, type="text/plain"))
        if test.steps or test.notes or test.readings:
            file = f"{uuid.uuid5(NAMESPACE, seed + '|evidence')}-attachment.json"
            evidence = {
                "steps": [s.model_dump(mode="json") for s in test.steps],
                "notes": test.notes,
                "readings": [r.model_dump(mode="json") for r in test.readings],
            }
            attachments[file] = json.dumps(evidence, indent=2)
            files.append(Attachment(name="evidence", source=file, type="application/json"))

        description = "\n".join(
            f"{c}: {requirements[c].summary}" for c in test.clauses if c in requirements
        )
        trace = "\n".join(
            [f"step {s.index} {s.label}: not conforming" for s in test.steps if not s.ok]
            + [f"note: {n}" for n in test.notes]
        )
        result = TestResult(
            uuid=result_uuid,
            historyId=md5(
                name, *(p.value for p in sorted(params, key=lambda p: p.name) if not p.excluded)
            ),
            testCaseId=md5(name),
            fullName=name,
            name=test.name,
            titlePath=[test.module, test.rig or "unknown rig"],
            status=STATUS.get(test.verdict, Status.BROKEN),
            statusDetails=StatusDetails(message=test.message or None, trace=trace or None)
            if test.message or trace
            else None,
            stage="finished",
            description=description or None,
            start=start,
            stop=stop,
            labels=labels,
            parameters=params,
            steps=[_step(s, start) for s in test.steps],
            attachments=files,
        )
        out.append((_dump(result), attachments))
    return out


def _properties(record: RunRecord) -> str:
    def esc(text: str) -> str:
        text = text.replace("\\", "\\\\").replace("\n", "\\n")
        return "".join(c if ord(c) < 128 else f"\\u{ord(c):04x}" for c in text)

    lines = []
    harness = record.run.harness
    pairs = [
        (
            "verdict",
            (getattr(record, "verdict_label", "") or record.verdict)
            + (" (partial run)" if record.partial else ""),
        ),
        ("report_number", getattr(record, "report_number", "") or None),
        ("harness", f"hil {harness.version}" if harness else None),
        ("git_sha", harness.git_sha if harness else None),
        ("operator", record.run.operator),
        ("host", record.run.host),
        ("rig_file_sha256", record.run.rig_sha256),
    ]
    for rig in record.rigs:
        key = rig.name.replace(" ", "_")
        pairs += [
            (f"{key}.meter_serial", rig.serial),
            (f"{key}.firmware", rig.firmware),
            (
                f"{key}.sgc_ti_krn_kt_ken",
                f"{rig.meter.sgc}/{rig.meter.ti}/{rig.meter.krn}/{rig.meter.kt}/{rig.meter.ken}",
            ),
        ]
    for key, value in pairs:
        if value is not None:
            lines.append(f"{esc(key).replace(':', '_').replace('=', '_')}={esc(str(value))}")
    return "\n".join(lines) + "\n"


def write_allure(record: RunRecord, out_dir: Path) -> Path:
    """Write allure-results into ``out_dir`` (our earlier files there are replaced; other
    files are left alone)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.iterdir():
        if old.is_file() and old.name.endswith(OUR_FILES):
            old.unlink()
    for result, attachments in allure_results(record):
        for name, text in attachments.items():
            (out_dir / name).write_text(text, encoding="utf-8")
        path = out_dir / f"{result['uuid']}-result.json"
        path.write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")
    (out_dir / "environment.properties").write_text(_properties(record), encoding="utf-8")
    (out_dir / "categories.json").write_text(json.dumps(CATEGORIES, indent=2), encoding="utf-8")
    return out_dir

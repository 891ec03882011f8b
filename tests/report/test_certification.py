"""The certification report: the lab file, report number, editions, approval block, journal
hashes, dirty harness, simulated banner, verdict label, not-run tests and checks."""

import json
import re
from datetime import UTC, date, datetime
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from hil.cli import main
from hil.cli.report_cmd import report
from hil.errors import ConfigError
from hil.report.html import render_html, step_label
from hil.report.journal import Journal
from hil.report.lab import (
    editions_for,
    journal_lab,
    lab_warnings,
    load_lab,
    parse_lab,
    report_number,
)
from hil.report.record import build_record, load_run
from tests.report import synth as S

EXAMPLE = Path(__file__).resolve().parents[2] / "fixtures" / "labs" / "example-lab.yaml"
LAB = {
    "laboratory": {"name": "Acme Test Lab", "accreditation": {"body": "SANAS", "number": "T0999"}},
    "operator": "Grace Hopper",
    "sample_id": "S-42",
    "meter": {"manufacturer": "Acme Meters", "model": "PM-7"},
    "report_number": "ACME-2026-0042",
    "approval": {"prepared_by": "Grace Hopper"},
    "instruments": [
        {"role": "dmm", "model": "DMM", "serial": "SIM0002", "cal_due": "2026-01-31"},
        {"role": "ac_source", "model": "AC-SOURCE", "serial": "OTHER-1", "cal_due": "2030-01-01"},
    ],
}


def lab_file(tmp_path: Path, data: dict | None = None) -> Path:
    path = tmp_path / "lab.yaml"
    path.write_text(json.dumps(data or LAB), encoding="utf-8")  # JSON is YAML
    return path


def with_lab(events: list[dict], path: Path) -> list[dict]:
    events[0]["lab"] = journal_lab(path)
    return events


# --- the lab file ---------------------------------------------------------------------


def test_the_example_lab_file_is_valid_and_says_it_is_example_data():
    lab = load_lab(EXAMPLE)
    assert lab.example and lab.laboratory.accreditation.number and lab.instruments
    assert "EXAMPLE DATA" in EXAMPLE.read_text()
    warnings = lab_warnings(lab, on=date(2026, 3, 2))
    assert any("example data" in w for w in warnings)
    assert any("dmm" in w and "2026-01-31" in w for w in warnings)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d.pop("sample_id"), "sample_id: missing; add it, e.g. sample_id: S-2026-0001"),
        (
            lambda d: d["laboratory"]["accreditation"].pop("number"),
            "laboratory.accreditation.number: missing; add it, e.g. number: T0000",
        ),
        (
            lambda d: d["instruments"][0].update(cal_due="31/01/2026"),
            "instruments.0.cal_due: not a date; write YYYY-MM-DD",
        ),
        (
            lambda d: d.update(colour="red"),
            "colour: unknown field; accepted here: example, laboratory",
        ),
        (lambda d: d.update(operator=""), "operator: empty; give a value"),
    ],
)
def test_lab_file_errors_are_one_line_naming_the_field_and_the_fix(tmp_path, change, expected):
    data = json.loads(json.dumps(LAB))
    change(data)
    with pytest.raises(ConfigError) as err:
        load_lab(lab_file(tmp_path, data))
    message = str(err.value)
    assert "\n" not in message and message.startswith(str(tmp_path / "lab.yaml"))
    assert expected in message


def test_a_lab_file_that_is_not_a_mapping_or_missing_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match="a lab file is a mapping"):
        parse_lab(["x"], "lab.yaml")
    with pytest.raises(ConfigError, match="no such lab file"):
        load_lab(tmp_path / "nope.yaml")


def test_a_past_calibration_due_date_is_a_warning_and_today_is_not_past(tmp_path):
    lab = load_lab(lab_file(tmp_path))
    assert lab_warnings(lab, on=date(2026, 1, 31)) == []
    (warning,) = lab_warnings(lab, on=date(2026, 2, 1))
    assert "instrument dmm" in warning and "calibration was due 2026-01-31" in warning


def test_hil_run_checks_the_lab_file_before_making_a_run_directory(tmp_path):
    bad = lab_file(tmp_path, {**LAB, "operator": ""})
    out = tmp_path / "reports"
    result = CliRunner().invoke(main, ["run", "--lab", str(bad), "--out", str(out)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "operator: empty" in lines[0]
    assert not out.exists()


def test_hil_run_says_a_calibration_is_overdue_before_the_first_test(tmp_path):
    out = tmp_path / "reports"
    args = ["run", "--lab", str(lab_file(tmp_path)), "--out", str(out), "--suite", "tid",
            "-k", "replayed", "--no-robot"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    warned = next(i for i, line in enumerate(lines) if "calibration was due 2026-01-31" in line)
    first = next(i for i, line in enumerate(lines) if line.startswith("PASS "))
    assert warned < first and "dmm" in lines[warned], result.output


def test_run_start_records_the_lab_file_named_by_hil_lab(tmp_path, monkeypatch):
    monkeypatch.setenv("HIL_LAB", str(lab_file(tmp_path)))
    journal = Journal(tmp_path / "run" / "journal.jsonl")
    for event in S.passing_run():
        fields = dict(event)
        journal.write(fields.pop("event"), **fields)
    record = load_run(tmp_path / "run")  # the report is rebuilt from the journal alone
    assert record.lab is not None and record.lab.laboratory.name == "Acme Test Lab"
    assert record.lab.sha256 and record.lab.file.endswith("lab.yaml")


# --- the record ------------------------------------------------------------------------


def test_report_number_is_the_labs_or_derived_deterministically():
    start = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)
    derived = report_number(None, start, ["sim:1", "bench:2"])
    assert re.fullmatch(r"HIL-20260302-090000-[0-9A-F]{4}", derived)
    assert derived == report_number(None, start, ["bench:2", "sim:1"])  # order-independent
    assert derived != report_number(None, start, ["sim:1"])
    assert (
        build_record(S.passing_run()).report_number == build_record(S.passing_run()).report_number
    )


def test_record_carries_lab_number_editions_and_lab_warnings(tmp_path):
    record = build_record(with_lab(S.passing_run(), lab_file(tmp_path)))
    assert record.report_number == "ACME-2026-0042"
    assert record.simulated
    row = next(r for r in record.requirements if r.id == "TID-USED")
    assert row.editions == ["IEC 62055-41:2018"]
    # the run started 2026-03-02: the dmm's calibration was due before it
    assert any("calibration was due 2026-01-31" in w for w in record.warnings)
    # the lab file's ac_source serial is not the one the bench's instrument answers
    assert any("ac_source" in w and "SIM0001" in w for w in record.warnings)


def test_editions_come_from_the_table_and_a_lab_may_override_them():
    assert editions_for("IEC 62055-41 §7.3.8 TID validation") == ["IEC 62055-41:2018"]
    assert editions_for("IEC 62055-31 supply control") == ["IEC 62055-31:2022"]
    assert editions_for("IEC 62055-41 §7.3.8", {"IEC 62055-41": "IEC 62055-41:2014"}) == [
        "IEC 62055-41:2014"
    ]
    assert editions_for("bench practice") == []


# --- the page --------------------------------------------------------------------------


def test_html_carries_every_certification_field(tmp_path):
    events = with_lab(S.passing_run(), lab_file(tmp_path))
    events[0]["harness"]["dirty"] = True
    path = S.write_journal(tmp_path / "run" / "journal.jsonl", events)
    html = render_html(load_run(path.parent))
    for text in ("ACME-2026-0042", "Acme Test Lab", "SANAS T0999", "Grace Hopper", "S-42",
                 "Acme Meters PM-7", "IEC 62055-41:2018", "PAST DUE", "Prepared by",
                 "Reviewed by", 'id="dirty-tree"', 'id="simulated-banner"',
                 "Simulated bench: not a certification result"):  # fmt: skip
        assert text in html, text
    footer = html[html.index("<footer>") :]
    digest = load_run(path.parent).run.sources[0].sha256
    assert digest and digest in footer
    assert html.count('class="sign"') == 4  # signature and date lines, left blank


def test_badge_shows_the_verdict_label_and_incomplete_is_never_green():
    record = build_record(S.passing_run(end=False))
    assert record.verdict == "incomplete"
    html = render_html(record)
    badge = re.search(
        r'<div class="verdict ([^"]+)" id="overall-verdict">\s*<span[^>]*>([^<]+)<', html
    )
    assert badge.group(1) == "v-incomplete" and badge.group(2) == "INCOMPLETE"
    subset = render_html(build_record(S.passing_run()))
    assert S.SUBSET_LABEL in subset and "v-pass subset" in subset


def test_not_run_tests_show_as_not_run_never_as_fail():
    events = S.passing_run()
    events.insert(-1, {**S.finished("test_unrun_case", "not_run", 7.5, duration=0.0),
                       "message": "the run stopped early"})  # fmt: skip
    record = build_record(events)
    html = render_html(record)
    test_html = html[html.index('<section id="tests">') : html.index('<section id="timing">')]
    block = test_html[test_html.index("test_unrun_case") - 600 : test_html.index("test_unrun_case")]
    assert "NOT RUN" in block and "FAIL" not in block
    assert 'data-filter="not_run"' in html


def test_checks_render_as_a_table_as_the_test_judged_them():
    events = S.failing_run()
    events[2]["evidence"]["checks"] = [
        {"requirement": "TID-USED", "what": "result of the replayed token", "expected": "Used",
         "observed": "Accept", "tolerance": "", "outcome": "fail"},
        {"requirement": "TID-USED", "what": "credit change", "expected": "+0.0 kWh",
         "observed": "+0.0 kWh", "tolerance": "±0.0015 kWh", "outcome": "pass"},
    ]  # fmt: skip
    html = render_html(build_record(events))
    table = html[html.index('<table class="grid checks">') :]
    table = table[: table.index("</table>")]
    for cell in ("Requirement", "Tolerance", "result of the replayed token", "±0.0015 kWh",
                 '<td class="mismatch">Accept</td>'):  # fmt: skip
        assert cell in table


def test_registers_in_their_own_units_and_probe_labels_in_words():
    events = S.passing_run()
    water = events[4]["evidence"]["steps"][0]
    water.update(subclass=1, label="credit 10 (subclass 1)")
    record = build_record(events)
    html = render_html(record)
    step = next(t for t in record.tests if "water" in t.name).steps[0]
    assert step_label(step) == "water credit 10 m³"
    assert "water credit 10 m³" in html
    assert "Probe:" not in html and "Probe protocol version" in html
    assert "Electricity credit change (kWh)" in html


def test_run_plots_share_one_credit_axis_start_at_zero_and_have_captions_in_words():
    pytest_part = S.passing_run()
    robot_part = S.passing_run(t=30)
    for event in robot_part:
        event["_journal"] = "robot/journal.jsonl"
        if event["event"] == "test":
            event["nodeid"] = "suites/robot/tid.robot::" + event["nodeid"].split("::")[1]
    for event in pytest_part:
        event["_journal"] = "journal.jsonl"
    robot_part[3]["evidence"]["steps"][0]["credit_kwh"] = 50.0  # a larger credit in one part
    html = render_html(build_record(pytest_part + robot_part))
    plots = re.findall(r'<svg class="credit-plot".*?</svg>', html, flags=re.S)[:2]
    assert len(plots) == 2

    def y_ticks(svg: str) -> list[str]:
        return re.findall(r'text-anchor="end" class="tick">([^<]+)<', svg)

    assert y_ticks(plots[0]) == y_ticks(plots[1])  # one credit scale for both parts
    for svg in plots:
        assert re.search(r'text-anchor="middle" class="tick">0<', svg)  # time from 0
    captions = re.findall(r"<figcaption>([^<]+)</figcaption>", html)
    assert captions[0].startswith("Pytest suites on rig sim, meter ")
    assert captions[1].startswith("Robot Framework suites on rig sim, meter ")


# --- hil report on what is not a run ---------------------------------------------------


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: (d / "notes.txt").write_text("hello"), "no journal*.jsonl"),
        (lambda d: (d / "journal.jsonl").write_text('{"hello": 1}\nnot json\n'), "not a hil run"),
        (lambda d: (d / "journal.jsonl").write_bytes(b"\x00\xff\xfe garbage"), "not a hil run"),
    ],
)
def test_report_on_a_directory_that_is_not_a_run_writes_nothing(tmp_path, make, message):
    make(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    group = click.Group(commands={"report": report})
    result = CliRunner().invoke(group, ["report", str(tmp_path)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_report_on_a_file_that_is_not_a_journal_writes_nothing_beside_it(tmp_path):
    notes = tmp_path / "README.md"
    notes.write_text("# notes\n")
    group = click.Group(commands={"report": report})
    result = CliRunner().invoke(group, ["report", str(notes)])
    assert result.exit_code == 2 and "not a run journal" in result.output
    assert [p.name for p in tmp_path.iterdir()] == ["README.md"]


def test_junit_and_allure_show_not_run_tests_as_skipped_never_failed(tmp_path):
    import xml.etree.ElementTree as ET

    from hil.report.allure import write_allure
    from hil.report.junit import write_junit

    events = S.passing_run()
    events.insert(-1, S.finished("test_unrun_case", "not_run", 7.5, duration=0.0))
    record = build_record(events)
    root = ET.parse(write_junit(record, tmp_path / "junit.xml")).getroot()
    (case,) = [c for c in root.iter("testcase") if "test_unrun_case" in c.get("name")]
    assert case.find("skipped").get("message").startswith("not run")
    assert root.get("failures") == "0"
    results = write_allure(record, tmp_path / "allure")
    statuses = {
        json.loads(p.read_text())["name"]: json.loads(p.read_text())["status"]
        for p in results.glob("*-result.json")
    }
    assert statuses["test_unrun_case"] == "skipped"

"""Building the run record from journals: verdicts, partial runs, merging, the matrix."""

import json
import re
from pathlib import Path

import pytest

from hil.conformance.catalogue import load_catalogue
from hil.report import record as record_module
from hil.report.record import (
    ReportError,
    RunRecord,
    build_record,
    load_record,
    load_run,
    load_runs,
    scrub,
    split_nodeid,
    stats,
)
from tests.report import synth as S

DOCS = Path(__file__).resolve().parents[2] / "docs" / "run-record.md"


def row(record: RunRecord, rid: str):
    return next(r for r in record.requirements if r.id == rid)


def test_passing_run_identity_counts_and_verdict():
    record = build_record(S.passing_run())
    assert record.verdict == "pass" and not record.partial and record.verdict_reasons == []
    assert (record.counts.total, record.counts.passed, record.counts.skipped) == (4, 3, 1)
    assert record.run.exit_status == 0 and record.run.duration_s == 8.0
    assert record.run.harness.git_sha == "a" * 40 and record.run.operator == "ada"
    assert record.run.host == "bench-pc" and record.run.rig_sha256 == "b" * 64
    (rig,) = record.rigs
    assert rig.id == f"sim:{S.PAN}" and rig.serial == S.PAN and rig.firmware == "sim-1.0"
    assert (rig.meter.sgc, rig.meter.ti, rig.meter.krn, rig.meter.kt) == ("123457", "01", "1", "2")
    assert (rig.meter.ken, rig.meter.base_date, rig.meter.ea, rig.meter.dkga) == (
        "255",
        "2014",
        "11",
        "04",
    )
    dmm = next(i for i in rig.instruments if i.role == "dmm")
    assert (dmm.manufacturer, dmm.model, dmm.serial, dmm.firmware) == (
        "HIL-SIM",
        "DMM",
        "SIM0002",
        "1.0",
    )
    load = next(i for i in rig.instruments if i.role == "load")
    assert load.model is None and load.idn.startswith("no answer")
    assert all(t.rig == rig.id for t in record.tests)


def test_test_ids_lose_the_rig_label_in_name_and_case():
    record = build_record(S.passing_run())
    water = next(t for t in record.tests if "water" in t.nodeid)
    assert (
        water.nodeid == f"suites/test_credit.py::test_credit_for_each_register[sim:{S.PAN}-water]"
    )
    assert water.name == "test_credit_for_each_register[water]"
    assert water.case == "suites/test_credit.py::test_credit_for_each_register[water]"
    assert water.module == "suites.test_credit"
    assert split_nodeid("suites/robot/tid.robot::Replayed Token Is Used", "sim:1") == (
        "suites.robot.tid",
        "Replayed Token Is Used",
        "suites/robot/tid.robot::Replayed Token Is Used",
    )
    assert split_nodeid("suites/test_x.py::TestY::test_z[sim:1-a-b]", "sim:1") == (
        "suites.test_x.TestY",
        "test_z[a-b]",
        "suites/test_x.py::TestY::test_z[a-b]",
    )
    assert split_nodeid("Suites.Tid.Replayed Token", None) == (
        "Suites.Tid",
        "Replayed Token",
        "Suites.Tid.Replayed Token",
    )


def test_steps_keep_evidence_and_flag_mismatching_columns():
    record = build_record(S.failing_run())
    replay = next(t for t in record.tests if "replayed" in t.nodeid)
    assert replay.verdict == "fail" and "Accept" in replay.message
    first, second = replay.steps
    assert first.ok and first.mismatches == [] and first.index == 1
    assert not second.ok and second.mismatches == ["result", "credit"]
    assert second.token == "70463515115801706925" and second.credit_kwh == 10.0
    assert second.at is not None and second.elapsed_s == 0.65


def test_failure_wins_over_error_and_error_over_pass():
    assert build_record(S.failing_run()).verdict == "fail"
    errored = [e for e in S.failing_run() if "replayed" not in e.get("nodeid", "")]
    record = build_record(errored)
    assert record.verdict == "error"
    assert record.verdict_reasons == ["1 test(s) ended in a bench or harness error"]


def test_requirement_matrix_rules():
    from hil.conformance.outcome import Judged, requirement_outcome

    def rv(verdicts):
        return requirement_outcome(Judged(v) for v in verdicts)

    assert rv([]) == "not_covered"
    assert rv(["skip", "skip"]) == "not_covered"
    assert rv(["pass", "skip"]) == "pass"
    assert rv(["pass", "error"]) == "error"
    assert rv(["error", "fail", "pass"]) == "fail"
    # a test that failed another requirement's check does not fail this one
    other = Judged("fail", ("pass",), True)
    assert requirement_outcome([other]) == "not_run"
    assert requirement_outcome([Judged("fail", ("fail",), True)]) == "fail"

    record = build_record(S.failing_run())
    assert row(record, "TID-USED").verdict == "fail"
    assert row(record, "TID-OLD").verdict == "pass"
    assert row(record, "AUTH-CRC").verdict == "error"
    kct = row(record, "KCT-POWER")
    assert kct.verdict == "not_covered" and len(kct.tests) == 1  # skipped: listed, not covering
    assert row(record, "MPL").verdict == "not_covered" and row(record, "MPL").tests == []
    catalogue = load_catalogue()
    assert [r.id for r in record.requirements] == [r.id for r in catalogue.requirements]
    covered = {"TID-USED", "TID-OLD", "AUTH-CRC", "CREDIT-ACCEPT", "CREDIT-FUNCTION"}
    assert record.coverage.covered == len(covered)
    assert record.coverage.total == S.APPLICABLE
    assert record.coverage.percent == round(100 * len(covered) / S.APPLICABLE, 1)


def test_unknown_requirement_ids_get_a_row_and_a_warning():
    events = S.passing_run()
    events[2]["clauses"] = ["TID-USED", "NOT-A-RULE"]
    record = build_record(events)
    extra = row(record, "NOT-A-RULE")
    assert not extra.in_catalogue and extra.verdict == "pass"
    assert record.coverage.total == S.APPLICABLE
    assert any("NOT-A-RULE" in w for w in record.warnings)


def test_lab_map_ids_land_on_their_rows(tmp_path):
    lab = tmp_path / "lab.yaml"
    lab.write_text("TID-USED: [LAB-017, LAB-018]\nAUTH-CRC: LAB-020\n")
    S.write_journal(tmp_path / "run" / "journal.jsonl", S.passing_run())
    record = load_run(tmp_path / "run", lab_map=lab)
    assert record.lab_map
    assert row(record, "TID-USED").lab_ids == ["LAB-017", "LAB-018"]
    assert row(record, "AUTH-CRC").lab_ids == ["LAB-020"]
    assert row(record, "MPL").lab_ids == []


def test_journal_without_run_end_is_partial(tmp_path):
    path = S.write_journal(tmp_path / "journal.jsonl", S.passing_run(end=False))
    record = load_run(tmp_path)
    assert record.partial and record.run.partial and record.run.exit_status is None
    assert record.verdict == "incomplete"  # never a PASS for a run that did not finish
    assert record.run.end is not None  # the last event written
    assert any("no run_end" in w for w in record.warnings)
    assert path.exists()


def test_half_written_last_line_is_skipped_and_counted(tmp_path):
    S.write_journal(
        tmp_path / "journal.jsonl",
        S.passing_run(end=False),
        tail='{"event": "test", "nodeid": "suites/test_tid.py::test_x[sim',
    )
    record = load_run(tmp_path)
    assert record.counts.total == 4 and record.partial
    assert record.run.sources[0].unreadable_lines == 1
    assert any("last line was half-written" in w for w in record.warnings)


def test_run_with_no_test_is_an_error():
    record = build_record([S.run_start(), S.rig(), S.run_end(2, 5)])
    assert record.verdict == "error" and record.verdict_reasons == ["no test ran"]
    assert record.counts.total == 0 and record.timing.tests.count == 0


def test_interrupted_pytest_run_is_incomplete_but_robot_counts_are_not():
    events = S.passing_run()
    events[-1] = S.run_end(8, 2)  # pytest's exit status 2: interrupted
    record = build_record(events)
    assert record.verdict == "incomplete"
    assert "interrupted" in record.verdict_reasons[0]
    robot = S.passing_run()
    for event in robot:
        if event["event"] == "test":
            event["nodeid"] = "suites/robot/tid.robot::" + event["nodeid"].split("::")[1]
    robot[-1] = S.run_end(8, 2)  # Robot's return code: the number of failed tests
    record = build_record(robot)
    assert record.run.sources[0].frontend == "robot"
    assert record.verdict == "pass"


def test_merging_workers_and_robot_journals_dedupes(tmp_path):
    run = tmp_path / "run"
    S.write_journal(run / "journal-gw0.jsonl", S.passing_run())
    worker = S.passing_run(pan=S.PAN_B, name="sim2", t=0.3)  # xdist: one worker per rig
    worker[2]["verdict"] = "fail"
    S.write_journal(run / "journal-gw1.jsonl", worker)
    S.write_journal(run / "robot" / "journal.jsonl", S.passing_run())  # gw0's events again
    (run / "notes.jsonl").write_text("not a journal\n")
    record = load_run(run)
    assert [s.journal for s in record.run.sources] == [
        "journal-gw0.jsonl",
        "journal-gw1.jsonl",
        "robot/journal.jsonl",
    ]
    # the copy's tests have the same nodeid and start as gw0's: kept once
    assert record.counts.total == 8 and record.counts.failed == 1
    assert any("4 duplicate" in w for w in record.warnings)
    assert [r.id for r in record.rigs] == [f"sim:{S.PAN}", f"sim2:{S.PAN_B}"]
    assert record.rigs[0].sources == ["journal-gw0.jsonl", "robot/journal.jsonl"]
    assert record.verdict == "fail"
    assert [t.rig for t in record.tests].count(f"sim2:{S.PAN_B}") == 4


def test_merging_two_meters_gives_per_rig_sections_and_verdicts(tmp_path):
    S.write_journal(tmp_path / "a" / "journal.jsonl", S.passing_run())
    S.write_journal(
        tmp_path / "b" / "journal.jsonl",
        S.passing_run(pan=S.PAN_B, name="bench2", t=100, firmware="2.4.1"),
    )
    events_b = json.loads((tmp_path / "b" / "journal.jsonl").read_text().splitlines()[2])
    events_b["verdict"] = "fail"
    lines = (tmp_path / "b" / "journal.jsonl").read_text().splitlines()
    lines[2] = json.dumps(events_b)
    (tmp_path / "b" / "journal.jsonl").write_text("\n".join(lines) + "\n")

    record = load_runs([tmp_path / "a", tmp_path / "b"])
    assert [r.id for r in record.rigs] == [f"sim:{S.PAN}", f"bench2:{S.PAN_B}"]
    assert [r.firmware for r in record.rigs] == ["sim-1.0", "2.4.1"]
    assert record.rigs[1].counts.failed == 1 and record.rigs[0].counts.failed == 0
    used = row(record, "TID-USED")
    assert used.verdict == "fail"
    assert used.by_rig == {f"sim:{S.PAN}": "pass", f"bench2:{S.PAN_B}": "fail"}
    assert [s.journal for s in record.run.sources] == ["a/journal.jsonl", "b/journal.jsonl"]
    assert record.run.duration_s == 108.0
    assert set(record.timing.by_rig) == {r.id for r in record.rigs}


def test_identity_mismatch_between_rig_file_and_meter_is_a_warning():
    events = S.passing_run()
    events[1]["probe_info"]["krn"] = "2"
    record = build_record(events)
    assert record.rigs[0].identity_mismatches == ["krn: rig file 1, meter reports 2"]
    assert any("krn" in w for w in record.warnings)


def test_a_split_rig_event_gives_the_topology_and_one_section_per_meter():
    events = S.passing_run()
    one = S.rig()
    other = {**one, "meter": {**one["meter"], "pan": S.PAN_B},
             "probe_info": {**one["probe_info"], "pan": S.PAN_B, "ti": "02"}}  # fmt: skip
    events[1] = {"event": "rig", "time": one["time"], "name": "kiosk", "serial": None,
                 "simulated": False, "topology": "split", "features": ["keypad"],
                 "ciu": {"probe_info": {"firmware": "ciu-2.1"}, "battery_backup": True},
                 "link": {"kind": "rs485", "cut_channel": None},
                 "units": [{"name": "a", "number": "1", **{k: one[k] for k in ("meter", "probe_info")}},
                           {"name": "b", "number": "2", **{k: other[k] for k in ("meter", "probe_info")}}]}  # fmt: skip
    (rig,) = build_record(events).rigs
    assert (rig.id, rig.topology, rig.link) == ("kiosk", "split", {"kind": "rs485"})
    assert rig.ciu == {"probe_info.firmware": "ciu-2.1", "battery_backup": "true"}
    assert [(u.name, u.meter.pan, u.firmware) for u in rig.units] == [
        ("a", S.PAN, "sim-1.0"), ("b", S.PAN_B, "sim-1.0")]  # fmt: skip
    assert rig.units[0].identity_mismatches == []
    assert rig.units[1].identity_mismatches == ["ti: rig file 01, meter reports 02"]
    assert any("meter b's identity" in w for w in build_record(events).warnings)
    assert rig.counts.total > 0  # the tests after it are this rig's


def test_an_integrated_rig_event_has_no_units():
    (rig,) = build_record(S.passing_run()).rigs
    assert rig.topology == "integrated" and rig.units == [] and rig.ciu == {}


def test_timing_statistics():
    assert stats([]).count == 0 and stats([]).mean_s is None
    st = stats([float(x) for x in range(1, 21)])
    assert (st.count, st.mean_s, st.p95_s, st.max_s) == (20, 10.5, 19.0, 20.0)
    record = build_record(S.passing_run())
    # skipped tests do not count; three tests of 1.0 s
    assert record.timing.tests.count == 3 and record.timing.tests.mean_s == 1.0
    assert record.timing.token_entry.count == 4
    assert record.timing.token_entry.max_s == 0.7
    assert record.timing.slowest[0].duration_s == 1.0


def test_key_shaped_text_is_redacted_but_tokens_and_hashes_are_not():
    key = "ABABABABABABABAB949494949494949401234567"
    assert key not in scrub(f"debug: vk={key}")
    assert "[redacted: 40 hex digits]" in scrub(f"vk={key}")
    assert scrub("TOKEN 70463515115801706925*36D1") == "TOKEN 70463515115801706925*36D1"
    events = S.passing_run()
    events[2]["probe_log"] = [f"< ! 9 DEBUG dk={key.lower()}"]
    events[2]["message"] = f"key {key}"
    record = build_record(events)
    text = record.model_dump_json()
    assert key not in text and key.lower() not in text
    assert record.run.harness.git_sha == "a" * 40 and record.run.rig_sha256 == "b" * 64


def test_record_json_round_trips_and_forbids_unknown_fields(tmp_path):
    record = build_record(S.failing_run())
    path = tmp_path / "record.json"
    path.write_text(record.model_dump_json(indent=2))
    again = load_record(path)
    assert again == record
    data = json.loads(path.read_text())
    assert data["format"] == "hil-record/1"
    data["surprise"] = 1
    with pytest.raises(ValueError):
        RunRecord.model_validate(data)
    path.write_text("{}")
    with pytest.raises(ReportError, match="not a run record"):
        load_record(path)


def test_missing_run_directory_and_journal_are_report_errors(tmp_path):
    with pytest.raises(ReportError, match="no such run directory"):
        load_run(tmp_path / "nope")
    with pytest.raises(ReportError, match="no journal"):
        load_run(tmp_path)


def _fields(model, seen=None):
    """Every field name of a pydantic model tree."""
    seen = set() if seen is None else seen
    if model in seen:
        return set()
    seen.add(model)
    names = set()
    for name, info in model.model_fields.items():
        names.add(name)
        for inner in re.findall(r"hil\.report\.record\.(\w+)", str(info.annotation)):
            names |= _fields(getattr(record_module, inner), seen)
    return names


def test_docs_describe_every_record_field():
    doc = DOCS.read_text()
    missing = sorted(n for n in _fields(RunRecord) if f"`{n}`" not in doc)
    assert not missing, f"docs/run-record.md does not describe: {missing}"


def _not_applicable(name: str, clause: str, at: float) -> dict:
    event = S.finished(name, "skip", at, clauses=(clause,), duration=0.0,
                       module="suites/test_management.py", probe_log=[],
                       message="not applicable: meter file 'm' does not declare it")  # fmt: skip
    event["not_applicable"] = True
    return event


def test_requirements_of_undeclared_functions_are_not_applicable():
    from hil.conformance.outcome import Judged, requirement_outcome

    assert requirement_outcome([Judged("not_applicable")]) == "not_applicable"
    assert requirement_outcome([Judged("not_applicable"), Judged("pass")]) == "pass"
    assert requirement_outcome([Judged("not_applicable"), Judged("skip")]) == "not_applicable"
    events = S.passing_run()[:-1]
    events += [
        _not_applicable("test_other_management[set_water_meter_factor]", "MGMT-OTHER", 9),
        _not_applicable("test_each_declared_class1_test[totals]", "CLASS1-EACH", 10),
        S.finished(
            "test_each_declared_class1_test[display]",
            "pass",
            11,
            clauses=("CLASS1-EACH",),
            module="suites/test_management.py",
        ),
        S.run_end(12, 0),
    ]
    record = build_record(events)
    assert row(record, "MGMT-OTHER").verdict == "not_applicable"
    assert len(row(record, "MGMT-OTHER").tests) == 1
    assert row(record, "CLASS1-EACH").verdict == "pass"
    # a skip for a feature the bench lacks stays "not covered", and is no not-applicable test
    assert row(record, "KCT-POWER").verdict == "not_covered"
    tests = {t.name: t for t in record.tests}
    assert tests["test_partial_key_change_lost_on_power_cycle"].not_applicable is False
    assert record.verdict == "pass"


def test_not_applicable_is_shown_in_the_html_matrix(tmp_path):
    from hil.report.html import render_html

    events = S.passing_run()[:-1]
    events += [_not_applicable("test_other_management[x]", "MGMT-OTHER", 9), S.run_end(12, 0)]
    record = build_record(events)
    html = render_html(record)
    inapplicable = [r.id for r in record.requirements if r.verdict == "not_applicable"]
    assert "MGMT-OTHER" in inapplicable and f"{len(inapplicable)} not applicable" in html
    assert "Not applicable (the meter does not declare the function)" in html


def test_split_meter_rules_are_not_applicable_on_an_integrated_bench():
    record = build_record(S.passing_run())
    verdicts = {row.id: row.verdict for row in record.requirements}
    split = [rid for rid in verdicts if rid.startswith("SPLIT-")]
    assert len(split) >= 2 and {verdicts[rid] for rid in split} == {"not_applicable"}
    assert verdicts["LOCKOUT"] == "not_covered"  # an integrated rule this run did not test
    # neither covered nor missing: the coverage counts only what applies
    assert record.coverage.total == len(verdicts) - len(split)

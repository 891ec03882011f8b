"""The renderers: HTML, JUnit XML, allure-results, and render_run writing them all."""

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from hil.report.allure import write_allure
from hil.report.html import credit_plot, group_token, render_html
from hil.report.junit import write_junit
from hil.report.record import build_record, load_record
from hil.report.render import render_run
from tests.report import synth as S

HOSTILE = '<script>alert("x")</script> & "quotes"'


def outputs_text(paths: dict[str, Path]) -> str:
    """Everything render_run wrote, as one string."""
    files = [p for p in paths.values() if p.is_file()]
    files += [f for f in paths["allure"].iterdir() if f.is_file()]
    return "\n".join(f.read_text(encoding="utf-8") for f in files)


def test_render_run_writes_every_output_into_the_run_directory(tmp_path):
    S.write_journal(tmp_path / "journal.jsonl", S.failing_run())
    paths = render_run([tmp_path], tmp_path)
    assert paths == {
        "record": tmp_path / "record.json",
        "html": tmp_path / "report.html",
        "junit": tmp_path / "junit.xml",
        "allure": tmp_path / "allure-results",
    }
    assert load_record(paths["record"]).verdict == "fail"
    again = render_run([tmp_path], tmp_path)  # re-rendering replaces, never duplicates
    assert len(list(again["allure"].glob("*-result.json"))) == 5
    assert not list(tmp_path.glob("*.tmp"))


def test_html_is_self_contained_with_header_matrix_and_plot():
    html = render_html(build_record(S.failing_run()))
    assert html.startswith("<!DOCTYPE html>")
    assert not re.search(r'(src|href)="(https?:)?//', html), "no network resources"
    assert "<link" not in html and "@import" not in html
    assert 'id="overall-verdict"' in html and ">FAIL<" in html
    assert 'id="requirement-matrix"' in html and 'id="req-TID-USED"' in html
    assert html.count('class="credit-plot"') == 2  # the run, and the two-token test
    assert "7046 3515 1158 0170 6925" in html  # token digits grouped 4-4-4-4-4
    assert 'class="mismatch"' in html and "≠ Accept" in html
    assert "Bench or harness fault" in html and "ReplyTimeout" in html
    assert "Probe log excerpt" in html
    for ident in (S.PAN, "sim-1.0", "123457", "SIM0002", "a" * 40, "ada", "bench-pc"):
        assert ident in html
    assert "PARTIAL RUN" not in html


def test_partial_run_is_marked_in_the_html():
    html = render_html(build_record(S.passing_run(end=False)))
    assert "PARTIAL RUN" in html and 'role="alert"' in html
    assert "<title>INCOMPLETE (PARTIAL RUN)" in html


def test_html_escapes_everything_from_the_journal():
    events = S.failing_run()
    events[2]["message"] = HOSTILE
    events[2]["evidence"]["notes"] = [HOSTILE]
    events[2]["probe_log"] = [HOSTILE]
    events[2]["evidence"]["steps"][0]["label"] = HOSTILE
    events[1]["instruments"]["dmm"] = HOSTILE
    events[0]["argv"] = [HOSTILE]
    html = render_html(build_record(events))
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html


def test_credit_plot_is_svg_with_a_ring_where_a_conforming_meter_would_be():
    record = build_record(S.failing_run())
    replay = next(t for t in record.tests if "replayed" in t.nodeid)
    svg = credit_plot([replay], {replay.nodeid: "t1"}, title="plot <1>")
    root = ET.fromstring(str(svg))  # well-formed XML
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == f"{ns}svg"
    assert root.find(f"{ns}title").text == "plot <1>"
    assert len(root.findall(f".//{ns}circle[@class='bad']")) == 1
    assert len(root.findall(f".//{ns}circle[@class='expected']")) == 1
    assert root.findall(f".//{ns}rect[@class='relay-closed']")
    assert credit_plot([], {}, title="none") is None


def test_credit_plot_switches_to_a_log_scale_for_an_overflow_sized_credit():
    events = S.passing_run()
    events[3]["evidence"]["steps"][0]["credit_kwh"] = 180_000.0
    events[3]["evidence"]["steps"][0]["observed_credit_delta_kwh"] = 180_000.0
    record = build_record(events)
    svg = str(credit_plot(record.tests, {}, title="run"))
    assert "log scale" in svg and ">100k<" in svg


def test_group_token():
    assert group_token("70463515115801706925") == "7046 3515 1158 0170 6925"
    assert group_token("123") == "123"


def test_junit_counts_and_properties(tmp_path):
    record = build_record(S.failing_run())
    root = ET.parse(write_junit(record, tmp_path / "junit.xml")).getroot()
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors"), root.get("skipped")) == (
        "5",
        "1",
        "1",
        "1",
    )
    (suite,) = root.findall("testsuite")
    assert suite.get("name") == f"sim:{S.PAN}" and suite.get("tests") == "5"
    props = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert props["rig"] == "sim" and props["meter_serial"] == S.PAN
    assert props["firmware"] == "sim-1.0" and props["git_sha"] == "a" * 40
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    replay = cases[f"test_replayed_token_is_used[sim:{S.PAN}]"]
    assert replay.get("classname") == "suites.test_tid" and replay.get("time") == "1.400"
    assert replay.find("failure") is not None and "observed Accept" in replay.find("failure").text
    clauses = {p.get("name"): p.get("value") for p in replay.find("properties")}
    assert clauses["clauses"] == "TID-USED"
    error = cases[f"test_token_that_does_not_authenticate_is_refused[sim:{S.PAN}-wrong-sgc]"]
    assert error.find("error") is not None and error.find("failure") is None
    skipped = [c for c in cases.values() if c.find("skipped") is not None]
    assert len(skipped) == 1


def test_junit_per_rig_suites_and_a_partial_run_error(tmp_path):
    events = S.passing_run() + S.passing_run(pan=S.PAN_B, name="bench2", t=20, end=False)
    root = ET.parse(write_junit(build_record(events), tmp_path / "j.xml")).getroot()
    names = [s.get("name") for s in root.findall("testsuite")]
    assert names == [f"sim:{S.PAN}", f"bench2:{S.PAN_B}", "hil.run"]
    assert root.get("tests") == "9" and root.get("errors") == "1"
    run = root.find("testsuite[@name='hil.run']/testcase")
    assert run.get("name") == "run completed" and run.find("error") is not None


def test_junit_survives_control_characters_in_the_probe_log(tmp_path):
    events = S.failing_run()
    events[2]["probe_log"] = ["< 7 OK cr\x00edit=\x1b[5\x07"]
    path = write_junit(build_record(events), tmp_path / "junit.xml")
    out = ET.parse(path).getroot().find(".//system-out").text
    assert "\\x00" in out and "\\x1b" in out


def test_allure_results_are_json_with_rig_and_meter_parameters(tmp_path):
    events = S.failing_run()
    out = write_allure(build_record(events), tmp_path / "allure-results")
    results = [json.loads(p.read_text()) for p in out.glob("*-result.json")]
    assert len(results) == 5
    by_name = {r["name"]: r for r in results}
    replay = by_name["test_replayed_token_is_used"]
    assert (
        replay["status"] == "failed"
        and replay["fullName"] == "suites.test_tid#test_replayed_token_is_used"
    )
    assert replay["stop"] - replay["start"] == 1400
    params = {p["name"]: p for p in replay["parameters"]}
    assert params["rig"]["value"] == "sim" and not params["rig"].get("excluded")
    assert params["meter serial"]["value"] == S.PAN and not params["meter serial"].get("excluded")
    assert params["firmware"]["excluded"] is True
    labels = [(lb["name"], lb["value"]) for lb in replay["labels"]]
    assert ("feature", "TID-USED") in labels and ("host", "bench-pc") in labels
    assert ("tag", "IEC 62055-41 §7.3.8 TID validation (Used)") in labels
    assert ("suite", "suites.test_tid") in labels
    assert [s["status"] for s in replay["steps"]] == ["passed", "failed"]
    assert "7046 3515 1158 0170 6925" in replay["steps"][1]["name"]
    kinds = {a["name"]: a for a in replay["attachments"]}
    assert (out / kinds["probe log excerpt"]["source"]).read_text().startswith("2026-03-02")
    assert json.loads((out / kinds["evidence"]["source"]).read_text())["steps"][1]["ok"] is False
    assert (
        by_name["test_token_that_does_not_authenticate_is_refused[wrong-sgc]"]["status"] == "broken"
    )
    assert by_name["test_partial_key_change_lost_on_power_cycle"]["status"] == "skipped"
    assert "sim.meter_serial=" + S.PAN in (out / "environment.properties").read_text()
    assert json.loads((out / "categories.json").read_text())[1]["matchedStatuses"] == ["broken"]


def test_allure_keeps_the_same_test_on_two_meters_apart(tmp_path):
    events = S.passing_run() + S.passing_run(pan=S.PAN_B, name="bench2", t=20)
    out = write_allure(build_record(events), tmp_path / "allure-results")
    results = [json.loads(p.read_text()) for p in out.glob("*-result.json")]
    assert len(results) == 8
    assert len({r["uuid"] for r in results}) == 8
    assert len({r["historyId"] for r in results}) == 8  # never collapsed into retries
    assert len({r["testCaseId"] for r in results}) == 4  # but the same test cases


def test_no_key_material_in_any_output(tmp_path, test_keys):
    events = S.failing_run()
    # a meter whose debug output leaks its keys into the probe log and a failure message
    events[2]["probe_log"].append(f"< ! 12 DEBUG dk={test_keys[1]} vk={test_keys[0]}")
    events[2]["message"] += f" (dk {test_keys[1].upper()})"
    S.write_journal(tmp_path / "journal.jsonl", events)
    text = outputs_text(render_run([tmp_path], tmp_path)).lower()
    for key in test_keys:
        assert key.lower() not in text
    assert "[redacted: 32 hex digits]" in text

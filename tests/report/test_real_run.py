"""A real (small) run on the simulated bench, rendered, then opened in headless Chromium."""

import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from hil.paths import REPO_ROOT
from hil.report.render import render_run

CHROMIUM = shutil.which("chromium")


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    """One test against a meter that accepts replays: a failure with evidence to render."""
    run_dir = tmp_path_factory.mktemp("run")
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "suites/test_tid.py",
        "-k",
        "replayed",
        "-q",
        "-p",
        "no:cacheprovider",
        "-o",
        "addopts=",
        "--defect",
        "accepts_replays",
        "--hil-journal",
        str(run_dir / "journal.jsonl"),
    ]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert (run_dir / "journal.jsonl").exists(), proc.stdout + proc.stderr
    return run_dir, render_run([run_dir], run_dir)


def test_real_run_record_and_outputs(real_run, test_keys):
    run_dir, paths = real_run
    record = json.loads(paths["record"].read_text())
    assert record["verdict"] == "fail" and not record["partial"]
    (test,) = record["tests"]
    assert test["name"] == "test_replayed_token_is_used" and test["clauses"] == ["TID-USED"]
    assert [s["ok"] for s in test["steps"]] == [True, False]
    assert test["probe_log"], "the plugin journals a probe log excerpt"
    (rig,) = record["rigs"]
    assert rig["serial"] == "600727000000000009" and rig["firmware"]
    assert rig["defect"] == "accepts_replays"
    root = ET.parse(paths["junit"]).getroot()
    assert (root.get("tests"), root.get("failures")) == ("1", "1")
    (result,) = [json.loads(p.read_text()) for p in paths["allure"].glob("*-result.json")]
    assert result["status"] == "failed"
    # no key material anywhere in what a run leaves behind
    written = [p for p in run_dir.rglob("*") if p.is_file()]
    text = "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in written).lower()
    for key in test_keys:
        assert key.lower() not in text


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (CI installs it)")
def test_real_run_report_renders_in_a_browser(real_run, tmp_path):
    _, paths = real_run
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--enable-logging=stderr",
        "--v=0",
        "--dump-dom",
        paths["html"].as_uri(),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    dom = proc.stdout
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'data-report-js="ready"' in dom, "the report's script ran to the end"
    assert 'id="requirement-matrix"' in dom and 'id="req-TID-USED"' in dom
    assert '<svg class="credit-plot"' in dom and "<polyline" in dom
    assert 'id="overall-verdict"' in dom and ">FAIL<" in dom
    console = [
        line
        for line in proc.stderr.splitlines()
        if "Uncaught" in line or "ERROR:CONSOLE" in line or ":CONSOLE" in line
    ]
    assert not console, "\n".join(console)

"""report.pdf beside report.html: printed by WeasyPrint or headless Chromium, read back with
pdftotext; without an engine, one warning line saying how to get PDF."""

import json
import shutil
import subprocess

import pytest

from hil.report import pdf as pdf_module
from hil.report.lab import journal_lab
from hil.report.record import load_run
from hil.report.render import render_record
from tests.report import synth as S
from tests.report.test_certification import LAB


@pytest.fixture
def lab_run(tmp_path):
    lab = tmp_path / "lab.yaml"
    lab.write_text(json.dumps(LAB), encoding="utf-8")
    events = S.failing_run()
    events[0]["lab"] = journal_lab(lab)
    S.write_journal(tmp_path / "run" / "journal.jsonl", events)
    return tmp_path / "run"


@pytest.mark.skipif(
    pdf_module.pdf_engine() is None, reason="no PDF engine (WeasyPrint or Chromium)"
)
@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="pdftotext (poppler-utils) absent")
def test_pdf_is_written_beside_the_html_and_reads_back_with_every_field(lab_run):
    record = load_run(lab_run)
    notes: list[str] = []
    paths = render_record(record, lab_run, pdf=True, notes=notes)
    assert notes == [] and paths["pdf"] == lab_run / "report.pdf"
    assert paths["pdf"].read_bytes().startswith(b"%PDF")
    text = subprocess.run(["pdftotext", "-layout", str(paths["pdf"]), "-"], capture_output=True,
                          text=True, check=True).stdout  # fmt: skip
    flat = " ".join(text.split())
    for field in ("ACME-2026-0042", "Acme Test Lab", "SANAS T0999", "Grace Hopper", "S-42",
                  "Acme Meters PM-7", "IEC 62055-41:2018", "PAST DUE", "Prepared by",
                  "Reviewed by", "Simulated bench: not a certification result", "FAIL",
                  "test_replayed_token_is_used"):  # fmt: skip
        assert field in flat, field
    digest = record.run.sources[0].sha256
    assert digest[:32] in flat.replace(" ", "")  # the journal's SHA-256 in the footer
    assert "7046 3515 1158 0170 6925" in flat  # evidence of passing tests is printed too


def test_without_a_pdf_engine_the_report_says_how_to_get_one(lab_run, monkeypatch):
    monkeypatch.setattr(pdf_module, "_weasyprint", lambda: None)
    monkeypatch.setattr(pdf_module, "_chromium", lambda: None)
    notes: list[str] = []
    paths = render_record(load_run(lab_run), lab_run, pdf=True, notes=notes)
    assert "pdf" not in paths and not (lab_run / "report.pdf").exists()
    assert len(notes) == 1 and "pip install 'sts-hil[pdf]'" in notes[0] and "chromium" in notes[0]
    assert (lab_run / "report.html").is_file()


def test_hil_pdf_off_writes_no_pdf(lab_run, monkeypatch):
    monkeypatch.setenv("HIL_PDF", "off")
    notes: list[str] = []
    assert "pdf" not in render_record(load_run(lab_run), lab_run, notes=notes) and notes == []

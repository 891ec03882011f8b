"""Render a run (or several merged) into every output: record.json, report.html,
report.pdf, junit.xml and allure-results/."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hil.report.allure import write_allure
from hil.report.html import render_html, write_html
from hil.report.junit import write_junit
from hil.report.pdf import PdfUnavailable, pdf_enabled, write_pdf
from hil.report.record import RunRecord, load_runs

OUTPUTS = {
    "record": "record.json",
    "html": "report.html",
    "pdf": "report.pdf",
    "junit": "junit.xml",
    "allure": "allure-results",
}


def write_record(record: RunRecord, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(record.model_dump_json(indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def render_record(
    record: RunRecord,
    out_dir: Path,
    *,
    pdf: bool | None = None,
    notes: list[str] | None = None,
) -> dict[str, Path]:
    """Write every output of ``record`` into ``out_dir``; returns ``{kind: path}``.

    ``pdf``: also report.pdf (default: unless ``HIL_PDF=off``); when no PDF engine is
    present, or it fails, there is no ``pdf`` key and ``notes`` gets one line saying why
    and how to get one."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "record": write_record(record, out_dir / OUTPUTS["record"]),
        "html": write_html(record, out_dir / OUTPUTS["html"]),
    }
    if pdf_enabled() if pdf is None else pdf:
        try:
            page = render_html(record, print_mode=True)
            paths["pdf"] = write_pdf(page, out_dir / OUTPUTS["pdf"])
        except PdfUnavailable as exc:
            if notes is not None:
                notes.append(str(exc))
    paths["junit"] = write_junit(record, out_dir / OUTPUTS["junit"])
    paths["allure"] = write_allure(record, out_dir / OUTPUTS["allure"])
    return paths


def render_run(
    run_dirs: Sequence[Path],
    out_dir: Path,
    *,
    lab_map: Path | None = None,
    pdf: bool | None = None,
    notes: list[str] | None = None,
) -> dict[str, Path]:
    """Merge the journals of ``run_dirs`` into one record and write every output into
    ``out_dir`` (for a single run, pass the run directory itself)."""
    record = load_runs([Path(d) for d in run_dirs], lab_map=lab_map)
    return render_record(record, out_dir, pdf=pdf, notes=notes)

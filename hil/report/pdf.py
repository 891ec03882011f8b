"""``report.pdf``: the HTML report printed to PDF, for archives and signatures.

The page is rendered once more in *print mode* (every test and its evidence open, probe
logs left to the HTML and record.json, no script), then printed by the first engine found:

1. WeasyPrint (``pip install 'sts-hil[pdf]'``; needs the Pango libraries, on Debian and
   Ubuntu ``libpango-1.0-0 libpangoft2-1.0-0``), a pure HTML/CSS-to-PDF library;
2. headless Chromium (``chromium``, ``chromium-browser``, ``google-chrome``) where present.

Without either, no PDF is written and the caller gets a one-line reason saying how to get
one. ``HIL_PDF=off`` turns PDF output off (quick local runs, the harness's own tests).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from hil.errors import HarnessError

CHROMIUMS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_TIMEOUT_S = 120
HOW_TO_GET_PDF = (
    "install WeasyPrint (pip install 'sts-hil[pdf]', with apt-get install libpango-1.0-0 "
    "libpangoft2-1.0-0) or Chromium (apt-get install chromium)"
)


class PdfUnavailable(HarnessError):
    """No PDF engine here, or the engine failed (one line: what to install or fix)."""


def pdf_enabled() -> bool:
    return os.environ.get("HIL_PDF", "").strip().lower() not in ("0", "off", "no", "false")


def _weasyprint() -> object | None:
    try:
        import weasyprint  # type: ignore[import-not-found]
    except (ImportError, OSError):  # OSError: the package is there but Pango is not
        return None
    # It logs every CSS rule it does not support (screen-only media queries, SVG fill):
    # noise on a terminal without a logging setup, where Python prints warnings raw.
    for name in ("weasyprint", "fontTools"):
        logging.getLogger(name).setLevel(logging.ERROR)
    return weasyprint


def _chromium() -> str | None:
    return next((path for name in CHROMIUMS if (path := shutil.which(name))), None)


def pdf_engine() -> str | None:
    """``weasyprint``, the Chromium executable, or None."""
    if _weasyprint() is not None:
        return "weasyprint"
    return _chromium()


def write_pdf(html: str, path: Path) -> Path:
    """Print ``html`` (a print-mode page, self-contained) to ``path``; raises
    ``PdfUnavailable`` with how to get PDF output when no engine can."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    weasyprint = _weasyprint()
    if weasyprint is not None:
        try:
            document = weasyprint.HTML(string=html, base_url=str(path.parent))  # type: ignore[attr-defined]
            document.write_pdf(str(tmp))
        except Exception as exc:  # any engine failure is one warning line, never a crash
            tmp.unlink(missing_ok=True)
            raise PdfUnavailable(f"WeasyPrint could not print the report: {exc}") from None
        tmp.replace(path)
        return path
    chromium = _chromium()
    if chromium is None:
        raise PdfUnavailable(f"no PDF written: {HOW_TO_GET_PDF}")
    _print_with_chromium(chromium, html, tmp)
    tmp.replace(path)
    return path


def _print_with_chromium(chromium: str, html: str, out: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="hil-pdf-") as work:
        page = Path(work) / "report.html"
        page.write_text(html, encoding="utf-8")
        cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu",
               f"--user-data-dir={Path(work) / 'profile'}", "--no-pdf-header-footer",
               f"--print-to-pdf={out}", page.as_uri()]  # fmt: skip
        try:
            done = subprocess.run(cmd, capture_output=True, text=True,
                                  timeout=CHROMIUM_TIMEOUT_S)  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PdfUnavailable(f"{chromium} could not print the report ({exc})") from None
        if done.returncode != 0 or not out.is_file() or out.stat().st_size == 0:
            out.unlink(missing_ok=True)
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise PdfUnavailable(f"{chromium} could not print the report: {last}")

"""Settings for all of the harness's own tests."""

import pytest

pytest_plugins = ["pytester"]  # generated mini-suites (tests/test_outcome_agreement.py)


@pytest.fixture(autouse=True)
def _no_pdf_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """PDF printing takes seconds per run (the `hil run` subprocesses inherit this too);
    only tests/report/test_pdf.py asks for a PDF, with render(pdf=True)."""
    monkeypatch.setenv("HIL_PDF", "off")

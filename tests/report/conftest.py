import pytest

from hil.rig.meter_spec import MeterSpec
from hil.sts.sample_keys import TEST_METER, TEST_VENDING_KEY_DKGA04


@pytest.fixture(scope="session")
def test_keys() -> tuple[str, str]:
    """The test meter's vending key and decoder key, as hex: they must never be reported."""
    decoder = MeterSpec(**TEST_METER).load_decoder_key().value.hex()
    return TEST_VENDING_KEY_DKGA04, decoder


@pytest.fixture(autouse=True)
def _no_pdf_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """PDF printing takes seconds; only tests/report/test_pdf.py asks for it (pdf=True)."""
    monkeypatch.setenv("HIL_PDF", "off")

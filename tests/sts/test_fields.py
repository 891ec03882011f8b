"""Field encodings: TID, amount, Luhn/MeterPAN, 20-digit form."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hil.sts.amount import AMOUNT_MAX, OFFSETS, decode_amount, encode_amount
from hil.sts.digits import extract_class, group, insert_class, parse_token, to_digits
from hil.sts.errors import CheckDigitError, FieldError, TokenFormatError
from hil.sts.identity import MeterPan
from hil.sts.tid import TID_MAX, datetime_from_tid, tid_from_datetime


@pytest.mark.parametrize(
    ("when", "base", "tid"),
    [
        (datetime(1996, 3, 25, 13, 55, tzinfo=UTC), 1993, 1698595),
        (datetime(2004, 3, 1, 13, 55, 59, tzinfo=UTC), 1993, 5871715),  # seconds discarded
        (datetime(2014, 1, 1, 8, 10, tzinfo=UTC), 2014, 490),
        (datetime(2024, 11, 24, 20, 15, tzinfo=UTC), 1993, TID_MAX),
        (datetime(2045, 11, 24, 20, 15, tzinfo=UTC), 2014, TID_MAX),
        (datetime(2066, 11, 24, 20, 15, tzinfo=UTC), 2035, TID_MAX),
    ],
)
def test_tid_from_datetime(when, base, tid):
    assert tid_from_datetime(when, base) == tid
    assert datetime_from_tid(tid, base) == when.replace(second=0)


def test_tid_uses_utc_not_local_time():
    local = datetime(1996, 3, 25, 15, 55, tzinfo=timezone(timedelta(hours=2)))
    assert tid_from_datetime(local, 1993) == 1698595


def test_tid_past_24_bits_is_a_clear_error():
    with pytest.raises(FieldError, match="past the last TID of base date 1993"):
        tid_from_datetime(datetime(2024, 11, 24, 20, 16, tzinfo=UTC), 1993)


def test_tid_before_base_date_and_naive_time_are_errors():
    with pytest.raises(FieldError, match="before base date"):
        tid_from_datetime(datetime(2013, 12, 31, tzinfo=UTC), 2014)
    with pytest.raises(FieldError, match="no time zone"):
        tid_from_datetime(datetime(2020, 1, 1), 1993)
    with pytest.raises(FieldError, match="1993, 2014 or 2035"):
        tid_from_datetime(datetime(2020, 1, 1, tzinfo=UTC), 2000)


@given(st.integers(0, TID_MAX), st.sampled_from([1993, 2014, 2035]))
def test_tid_round_trip(tid, base):
    assert tid_from_datetime(datetime_from_tid(tid, base), base) == tid


@pytest.mark.parametrize(
    ("units", "field", "decoded"),
    [
        (0, 0x0000, 0),
        (256, 0x0100, 256),
        (16383, 0x3FFF, 16383),
        (16384, 0x4000, 16384),
        (20000, 0x416A, 20004),
        (180223, 0x8000, 180224),
        (180224, 0x8000, 180224),
        (1818623, 0xC000, 1818624),
        (1818624, 0xC000, 1818624),
        (AMOUNT_MAX, 0xFFFF, 18201624),
    ],
)
def test_amount_boundaries(units, field, decoded):
    assert encode_amount(units) == field
    assert decode_amount(field) == decoded


@given(st.integers(0, AMOUNT_MAX))
def test_amount_rounds_up_to_the_smallest_encodable_value(units):
    field = encode_amount(units)
    value = decode_amount(field)
    assert value >= units
    exponent = field >> 14
    # Never more than one step of the chosen exponent above the request ...
    assert value - units < 10**exponent
    # ... and the smallest exponent whose range holds the value is used.
    assert exponent == 0 or units > OFFSETS[exponent] - 10 ** (exponent - 1)


def test_amount_out_of_range():
    with pytest.raises(FieldError, match="outside"):
        encode_amount(AMOUNT_MAX + 1)
    with pytest.raises(FieldError):
        encode_amount(-1)


def test_meter_pan_from_drn_and_back():
    pan = MeterPan.from_drn("01000000000 08".replace(" ", "")[:13])
    assert pan.digits == "000001000000000082"
    assert MeterPan.parse("600727000000000009").drn == "00000000000"


def test_mistyped_pan_names_the_expected_digit():
    with pytest.raises(CheckDigitError, match="expected 9"):
        MeterPan("600727000000000008")
    with pytest.raises(CheckDigitError, match="DRN 11111111114: check digit .* expected 5"):
        MeterPan.from_drn("11111111114")


def test_drn_length_error():
    with pytest.raises(FieldError, match="11 digits .* or 13 digits"):
        MeterPan.from_drn("123")


@pytest.mark.parametrize(
    "text",
    [
        "51043465443420856213",
        "5104 3465 4434 2085 6213",
        "5104-3465-4434-2085-6213",
        " 51043465443420856213\n",
    ],
)
def test_token_text_forms(text):
    assert parse_token(text) == 0x2C45ED1618406DF95


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("5104346544342085621", "has 19 digits"),
        ("510434654434208562133", "has 21 digits"),
        ("5104 3465 4434 2085 621x", "characters other than digits"),
        ("51043 4654 4342 0856 213", "plain or grouped"),
        ("99999999999999999999", "larger than 66 bits"),
        ("", "plain or grouped"),
    ],
)
def test_malformed_tokens_get_clear_errors(text, message):
    with pytest.raises(TokenFormatError, match=message):
        parse_token(text)


@given(st.integers(0, (1 << 64) - 1), st.integers(0, 3))
def test_class_transposition_round_trip(block, token_class):
    token66 = insert_class(block, token_class)
    assert token66 >> 66 == 0
    assert extract_class(parse_token(to_digits(token66))) == (token_class, block)


def test_group():
    assert group("51043465443420856213") == "5104 3465 4434 2085 6213"

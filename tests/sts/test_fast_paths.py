"""The scalar hot path's shortcuts (issue 17) give the textbook results.

crc_field uses per-byte tables of an affine CRC, encode_amount and CreditToken take a
fast path for common values, and codec.encode inlines the transposition: each is checked
here against the plain, layered definition.
"""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hil.sts import codec
from hil.sts.amount import AMOUNT_MAX, OFFSETS, SCALES, encode_amount
from hil.sts.crc import crc16_register, crc_field
from hil.sts.digits import insert_class, to_digits
from hil.sts.errors import FieldError, UnsupportedError
from hil.sts.keys import DecoderKey
from hil.sts.tid import TID_MAX
from hil.sts.tokens import CreditToken, MeterTestToken

KEY = DecoderKey(bytes.fromhex("F94B6ED353C3BFDB113E2D3A7EA3C41D"), 11)


@given(st.integers(0, 3), st.integers(0, (1 << 48) - 1))
def test_table_crc_equals_the_byte_wise_routine(token_class, body):
    register = crc16_register(((token_class << 48) | body).to_bytes(7, "big"))
    assert crc_field(token_class, body) == ((register & 0xFF) << 8) | (register >> 8)


def _amount_reference(units):
    for e in range(4):
        mantissa = -(-(units - OFFSETS[e]) // SCALES[e])
        if mantissa < 1 << 14:
            return e << 14 | mantissa
    raise AssertionError


@given(st.integers(0, AMOUNT_MAX))
def test_amount_fast_path_equals_the_rule(units):
    assert encode_amount(units) == _amount_reference(units)


@given(st.integers(0, TID_MAX), st.integers(0, 15), st.integers(0, AMOUNT_MAX), st.integers(0, 3))
def test_encode_equals_the_layered_pipeline(tid, rnd, amount, kind):
    token = CreditToken(tid, rnd, amount, kind)
    body = kind << 44 | rnd << 40 | tid << 16 | encode_amount(amount)
    block = KEY.encrypt_block(body << 16 | crc_field(0, body))
    assert codec.encode(token, KEY) == to_digits(insert_class(block, 0))


def test_class1_encode_is_not_encrypted():
    token = MeterTestToken(0xFFFFFFFFF, 0)
    block = codec.data_block(token)
    assert codec.encode(token, None) == to_digits(insert_class(block, 1))


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        ((TID_MAX + 1, 0, 1), FieldError, "TID"),
        ((-1, 0, 1), FieldError, "TID"),
        ((1, 16, 1), FieldError, "RND"),
        ((1, 0, AMOUNT_MAX + 1), FieldError, "amount"),
        ((1, 0, 1.5), FieldError, "amount"),
        ((1, 0, 1, 5), UnsupportedError, "currency"),
        ((1, 0, 1, 9), FieldError, "reserved"),
    ],
)
def test_credit_token_fast_path_still_refuses(args, error, message):
    with pytest.raises(error, match=message):
        CreditToken(*args)

"""Typed tokens: round trips for every type and field range, and the typed errors."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hil.rig.sta_tables import load_sta_tables
from hil.sts import codec
from hil.sts.amount import AMOUNT_MAX, decode_amount, encode_amount
from hil.sts.ea07 import SAMPLE_TABLES
from hil.sts.errors import (
    CrcError,
    FieldError,
    KeyExpiredError,
    MfrCodeError,
    UnsupportedError,
)
from hil.sts.keychange import assemble, key_change_set, sections_needed
from hil.sts.keys import DecoderKey
from hil.sts.tid import TID_MAX
from hil.sts.tokens import (
    ClearCreditToken,
    ClearTamperToken,
    CreditToken,
    MaxPowerLimitToken,
    MeterTestToken,
    PhaseUnbalanceLimitToken,
    TariffRateToken,
    WaterMeterFactorToken,
)

KEYS = {
    7: DecoderKey(bytes.fromhex("0ABC12DEF3456789"), 7),
    9: DecoderKey(bytes.fromhex("0123456789ABCDEF"), 9),
    11: DecoderKey(bytes.fromhex("F94B6ED353C3BFDB113E2D3A7EA3C41D"), 11),
}
tids = st.integers(0, TID_MAX)
rnds = st.integers(0, 15)
amounts = st.integers(0, AMOUNT_MAX)
eas = st.sampled_from(sorted(KEYS))


def _round_trip(token, ea):
    digits = codec.encode(token, KEYS[ea])
    assert len(digits) == 20 and digits.isdigit()
    return codec.decode(digits, KEYS[ea]).token


@given(tids, rnds, amounts, st.integers(0, 3), eas)
def test_credit_round_trip(tid, rnd, amount, kind, ea):
    back = _round_trip(CreditToken(tid, rnd, amount, kind), ea)
    assert back == CreditToken(tid, rnd, decode_amount(encode_amount(amount)), kind)


@given(tids, rnds, amounts, st.sampled_from([MaxPowerLimitToken, PhaseUnbalanceLimitToken]), eas)
def test_power_limit_round_trip(tid, rnd, watts, cls, ea):
    assert _round_trip(cls(tid, rnd, watts), ea) == cls(
        tid, rnd, decode_amount(encode_amount(watts))
    )


@given(
    tids,
    rnds,
    st.integers(0, 0xFFFF),
    eas,
    st.sampled_from([ClearCreditToken, TariffRateToken, ClearTamperToken, WaterMeterFactorToken]),
)
def test_raw_field_tokens_round_trip(tid, rnd, value, ea, cls):
    token = cls(tid, rnd, value)
    assert _round_trip(token, ea) == token


@given(st.booleans(), st.data())
def test_meter_test_token_round_trip(four, data):
    control = data.draw(st.integers(0, (1 << (28 if four else 36)) - 1))
    mfr = data.draw(st.integers(0, 9999 if four else 99))
    token = MeterTestToken(control, mfr, four)
    digits = codec.encode(token, None)
    assert codec.decode(digits, None, mfr_code=mfr).token == token


@settings(max_examples=50)
@given(
    st.binary(min_size=16, max_size=16),
    st.integers(0, 255),
    st.integers(1, 9),
    st.integers(0, 3),
    st.integers(0, 99),
    st.integers(0, (1 << 24) - 1),
    st.booleans(),
)
def test_128_bit_key_change_set_round_trip(new_key, ken, krn, kt, ti, sgc, rollover):
    sections = key_change_set(new_key, ken=ken, krn=krn, kt=kt, ti=ti, sgc=sgc, rollover=rollover)
    assert [s.subclass for s in sections] == [3, 4, 8, 9]
    decoded = {}
    for section in reversed(sections):  # any order
        token = _round_trip(section, 11)
        decoded[token.subclass] = token
    new = assemble(decoded, 128)
    assert (new.key, new.ken, new.krn, new.kt, new.ti, new.sgc, new.rollover) == (
        new_key,
        ken,
        krn,
        kt,
        ti,
        sgc,
        rollover,
    )


@given(
    st.binary(min_size=8, max_size=8),
    st.integers(0, 255),
    st.integers(1, 9),
    st.booleans(),
    st.sampled_from([7, 9]),
)
def test_64_bit_key_change_set_round_trip(new_key, ken, krn, rollover, ea):
    sections = key_change_set(new_key, ken=ken, krn=krn, kt=2, ti=7, sgc=1, rollover=rollover)
    assert [s.subclass for s in sections] == [3, 4]
    decoded = {s.subclass: _round_trip(s, ea) for s in sections}
    new = assemble(decoded, 64)
    assert (new.key, new.ken, new.krn, new.rollover, new.sgc) == (new_key, ken, krn, rollover, None)


def test_incomplete_key_change_set_is_refused():
    sections = key_change_set(bytes(16), ken=1, krn=1, kt=2, ti=1, sgc=1)
    with pytest.raises(FieldError, match=r"missing subclass \[8\]"):
        assemble({3: sections[0], 4: sections[1], 9: sections[3]}, 128)
    assert sections_needed(64) == {3, 4}


def test_wrong_key_is_a_crc_error_not_garbage():
    digits = codec.encode(CreditToken(1000, 3, 256), KEYS[11])
    other = DecoderKey(bytes.fromhex("B208834372EF892EF6E04C28593090D4"), 11)
    with pytest.raises(CrcError, match="mistyped or .* another key"):
        codec.decode(digits, other)


@given(st.integers(0, 19), st.integers(1, 9), st.sampled_from([7, 11]))
def test_one_mistyped_digit_is_a_crc_error(position, delta, ea):
    digits = codec.encode(CreditToken(123456, 5, 100), KEYS[ea])
    typo = digits[:position] + str((int(digits[position]) + delta) % 10) + digits[position + 1 :]
    if int(typo) >> 66:
        return  # not a token at all: parse error, covered elsewhere
    with pytest.raises((CrcError, UnsupportedError)):
        codec.decode(typo, KEYS[ea])


def test_generation_refuses_expired_key():
    with pytest.raises(KeyExpiredError, match="top byte 90 > KEN 85"):
        codec.encode(CreditToken(5916090, 0, 10), KEYS[11], ken=85)
    assert codec.encode(CreditToken(85 << 16 | 0xFFFF, 0, 10), KEYS[11], ken=85)


def test_currency_subclasses_are_refused_clearly():
    with pytest.raises(UnsupportedError, match="CRC_C.*not supported"):
        CreditToken(1, 0, 10, kind=4)


def test_class1_wrong_manufacturer():
    digits = codec.encode(MeterTestToken(3, 12), None)
    with pytest.raises(MfrCodeError, match="manufacturer code 12, this meter is 13"):
        codec.decode(digits, None, mfr_code=13)


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: CreditToken(TID_MAX + 1, 0, 1), "TID"),
        (lambda: CreditToken(1, 16, 1), "RND"),
        (lambda: CreditToken(1, 0, AMOUNT_MAX + 1), "amount"),
        (lambda: CreditToken(1, 0, 1, kind=9), "reserved"),
        (lambda: MeterTestToken(1 << 36, 1), "control"),
        (lambda: MeterTestToken(1, 100), "2 digits"),
        (lambda: ClearCreditToken(1, 0, 0x10000), "register"),
    ],
)
def test_out_of_range_fields(factory, message):
    with pytest.raises((FieldError, UnsupportedError), match=message):
        factory()


def test_decoder_key_repr_hides_the_value():
    key = KEYS[11]
    assert "F94B" not in repr(key).upper() and "secret" in repr(key)


def test_sta_tables_from_file(tmp_path):
    path = tmp_path / "tables.json"
    path.write_text(
        json.dumps(
            {
                "s1": list(SAMPLE_TABLES.s1),
                "s2": list(SAMPLE_TABLES.s2),
                "p": list(SAMPLE_TABLES.p),
                "name": "copy",
            }
        )
    )
    tables = load_sta_tables(path)
    key = DecoderKey(bytes.fromhex("0ABC12DEF3456789"), 7, tables)
    assert key.encrypt_block(0x0B19EB230100C207) == 0xC45ED1619406DF95
    assert "12" not in repr(tables)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "not readable JSON"),
        ('{"s1": [1]}', "keys s1, s2 and p"),
        ('{"s1": [0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0], "s2": [], "p": []}', "permutation of 0..15"),
    ],
)
def test_broken_sta_table_file(tmp_path, content, message):
    path = tmp_path / "t.json"
    path.write_text(content)
    with pytest.raises(FieldError, match=message):
        load_sta_tables(path)

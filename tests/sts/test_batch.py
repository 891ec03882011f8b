"""The batch engine gives the scalar engine's bits, row by row (issue 17).

Ground truth twice over: the known-answer vectors, and the scalar functions on random
inputs (hypothesis) for EA11, EA07 (sample tables and a loaded table file), EA09, DKGA02
and DKGA04, including key changes, class 1 tokens and tokens that must be refused.
"""

import json
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hil.paths import FIXTURES
from hil.rig.sta_tables import load_sta_tables
from hil.sts import batch_ciphers, codec
from hil.sts.amount import AMOUNT_MAX, decode_amount, encode_amount
from hil.sts.batch import (
    CRC,
    FORMAT,
    MFR_CODE,
    OK,
    UNSUPPORTED,
    KeyArray,
    TokenFields,
    decode_amounts,
    decode_many,
    decrypt_many,
    derive_many,
    encode_amounts,
    encode_many,
    encrypt_many,
    parse_tokens,
    token_strings,
)
from hil.sts.crc import crc_field
from hil.sts.digits import parse_token, to_digits
from hil.sts.dkga import derive_decoder_key
from hil.sts.ea07 import SAMPLE_TABLES
from hil.sts.errors import (
    CheckDigitError,
    CrcError,
    FieldError,
    KeyExpiredError,
    MfrCodeError,
    StsError,
    TokenFormatError,
    UnsupportedError,
)
from hil.sts.identity import MeterPan
from hil.sts.keychange import key_change_set
from hil.sts.keys import DecoderKey, KeyInfo
from hil.sts.luhn import luhn_check_digit
from hil.sts.tid import TID_MAX
from hil.sts.tokens import (
    ClearCreditToken,
    ClearTamperToken,
    CreditToken,
    KeyChange1Token,
    KeyChange2Token,
    KeyChange3Token,
    KeyChange4Token,
    MaxPowerLimitToken,
    MeterTestToken,
    PhaseUnbalanceLimitToken,
    TariffRateToken,
    WaterMeterFactorToken,
)

VECTORS = json.loads((FIXTURES / "vectors" / "sts-vectors.json").read_text())
TEST_VK = bytes.fromhex("ABABABABABABABAB949494949494949401234567")  # public test material


def _loaded_tables(tmp_dir):
    """A table set read through the production loader: seeded random permutations."""
    rng = random.Random(62055)
    data = {
        "name": "lab tables (random, test)",
        "s1": rng.sample(range(16), 16),
        "s2": rng.sample(range(16), 16),
        "p": rng.sample(range(64), 64),
    }
    path = tmp_dir / "tables.json"
    path.write_text(json.dumps(data))
    return load_sta_tables(path)


@pytest.fixture(scope="module")
def lab_tables(tmp_path_factory):
    return _loaded_tables(tmp_path_factory.mktemp("sta"))


def _keys(lab_tables=None):
    keys = {
        "ea11": DecoderKey(bytes.fromhex("F94B6ED353C3BFDB113E2D3A7EA3C41D"), 11),
        "ea07-sample": DecoderKey(bytes.fromhex("0ABC12DEF3456789"), 7),
        "ea09": DecoderKey(bytes.fromhex("0123456789ABCDEF"), 9),
    }
    if lab_tables is not None:
        keys["ea07-loaded"] = DecoderKey(bytes.fromhex("0ABC12DEF3456789"), 7, lab_tables)
    return keys


KEY_NAMES = ["ea11", "ea07-sample", "ea07-loaded", "ea09"]


@pytest.fixture(scope="module")
def keys(lab_tables):
    return _keys(lab_tables)


# --- known-answer vectors ----------------------------------------------------------------

TOKEN_KINDS = {"credit", "mpl", "mppul", "clear_credit", "clear_tamper"}


def _vector_key(spec):
    info = KeyInfo(
        sgc=int(spec["sgc"]),
        ti=int(spec["ti"]),
        krn=int(spec["krn"]),
        kt=int(spec["kt"]),
        ken=int(spec.get("ken", 255)),
        ea=int(spec.get("ea", "07")),
        dkga=int(spec.get("dkga", "02")),
        base_year=int(spec.get("base_date_for_dkga04", 1993)),
    )
    keys = derive_many(bytes.fromhex(spec["vk"]), [spec["pan"]], info)
    return keys, info


def _vector_token(vector):
    inputs = vector["inputs"]
    kind = vector["kind"]
    tid, rnd = int(inputs.get("tid", 0)), int(inputs.get("rnd", 0))
    if kind == "credit":
        sub = int(inputs.get("token_subclass", vector.get("token_subclass", 0)))
        return CreditToken(tid, rnd, int(inputs["amount_units_0_1"]), sub)
    if kind == "mpl":
        return MaxPowerLimitToken(tid, rnd, int(inputs["value_watts"]))
    if kind == "mppul":
        return PhaseUnbalanceLimitToken(tid, rnd, int(inputs["value_watts"]))
    if kind == "clear_credit":
        return ClearCreditToken(tid, rnd, int(inputs["register_hex"], 16))
    return ClearTamperToken(tid, rnd, int(inputs.get("field16_hex", "0"), 16))


def _kct_token(vector):
    inputs = vector["inputs"]
    new = inputs["new_key"]
    keys, new_info = _vector_key(new)
    ken = int(inputs.get("kenho", new_info.ken >> 4)) << 4 | int(
        inputs.get("kenlo", new_info.ken & 15)
    )
    sections = key_change_set(
        keys.values[0].tobytes(),
        ken=ken,
        krn=new_info.krn,
        kt=new_info.kt,
        ti=int(inputs.get("ti_field", new["ti"])),
        sgc=int(inputs.get("sgc_field", new["sgc"])),
        rollover=bool(int(inputs.get("ro", 0))),
    )
    return sections[int(vector["kind"][-1]) - 1]


ENCRYPTED_VECTORS = [
    v for v in VECTORS if v["kind"] in TOKEN_KINDS | {"kct1", "kct2", "kct3", "kct4"}
]


@pytest.mark.parametrize("vector", ENCRYPTED_VECTORS, ids=[v["id"] for v in ENCRYPTED_VECTORS])
def test_encrypted_vectors_through_the_batch_path(vector):
    keys, info = _vector_key(vector["inputs"]["key"])
    outputs = vector["outputs"]
    assert keys.values[0].tobytes().hex().upper() == outputs["decoder_key_hex"].upper()
    token = _vector_token(vector) if vector["kind"] in TOKEN_KINDS else _kct_token(vector)
    digits = encode_many(keys, TokenFields.of([token]), ken=info.ken)
    assert digits[0] == outputs["token"]
    decoded = decode_many(keys, [outputs["token"]])
    assert decoded.status[0] == OK
    assert f"{int(decoded.data_block[0]):016X}" == outputs["data_block_hex"].upper()
    assert f"{int(decoded.encrypted_block[0]):016X}" == outputs["encrypted_block_hex"].upper()
    assert decoded.tokens()[0] == codec.decode(outputs["token"], keys[0]).token


CLASS1_VECTORS = [v for v in VECTORS if v["kind"] == "class1"]


def test_class1_vectors_need_no_key():
    tokens = [
        MeterTestToken(
            int(v["inputs"]["control_hex"], 16),
            int(v["inputs"]["mfrcode"]),
            int(v["inputs"]["mfrcode_bits"]) == 16,
        )
        for v in CLASS1_VECTORS
    ]
    digits = encode_many(None, TokenFields.of(tokens))
    assert digits.tolist() == [v["outputs"]["token"] for v in CLASS1_VECTORS]
    decoded = decode_many(None, digits)
    assert decoded.ok.all() and decoded.tokens() == tokens


def test_sta_sample_example_and_misty1_vectors():
    example = next(v for v in VECTORS if v["kind"] == "sta_sample_example")
    key = DecoderKey.from_hex(example["inputs"]["decoder_key_hex"], 7, SAMPLE_TABLES)
    block = int(example["outputs"]["data_block_hex"], 16)
    encrypted = encrypt_many(key, [block])
    assert f"{int(encrypted[0]):016X}" == example["outputs"]["encrypted_block_hex"]
    assert int(decrypt_many(key, encrypted)[0]) == block
    assert decode_many(key, [example["outputs"]["token"]]).data_block[0] == block
    for vector in (v for v in VECTORS if v["kind"] == "misty1"):
        key = DecoderKey.from_hex(vector["inputs"]["key_hex"], 11)
        plain = [int(p, 16) for p in vector["inputs"]["plaintexts"]]
        got = [f"{c:016x}" for c in encrypt_many(key, plain).tolist()]
        assert got == [c.lower() for c in vector["outputs"]["ciphertexts"]]


def test_dkga02_vector_and_dkga04_keys_per_base_date():
    vector = next(v for v in VECTORS if v["kind"] == "dk")
    keys, _ = _vector_key({**vector["inputs"], "ea": "07"})
    assert keys.values[0].tobytes().hex().upper() == vector["outputs"]["decoder_key_hex"].upper()
    for base_year, krn, expected in (
        (1993, 1, "AA4BAA8749C10D27"),
        (2014, 4, "9DC0722C29A6CC0C"),
        (2035, 5, "B08205E074AFC5D6"),
    ):
        info = KeyInfo(sgc=123457, ti=1, krn=krn, kt=2, ea=7, dkga=4, base_year=base_year)
        keys = derive_many(TEST_VK, ["600727000000000009"], info)
        assert keys.values[0].tobytes().hex().upper() == expected


# --- batch == scalar on random inputs ------------------------------------------------------

tids = st.integers(0, TID_MAX)
rnds = st.integers(0, 15)
words = st.integers(0, 0xFFFFFFFF)


@st.composite
def any_token(draw):
    """Any token type the engine makes, with random fields."""
    kind = draw(st.integers(0, 11))
    tid, rnd = draw(tids), draw(rnds)
    if kind == 0:
        return CreditToken(tid, rnd, draw(st.integers(0, AMOUNT_MAX)), draw(st.integers(0, 3)))
    if kind == 1:
        cls = draw(st.sampled_from([MaxPowerLimitToken, PhaseUnbalanceLimitToken]))
        return cls(tid, rnd, draw(st.integers(0, AMOUNT_MAX)))
    if kind == 2:
        cls = draw(
            st.sampled_from(
                [ClearCreditToken, TariffRateToken, ClearTamperToken, WaterMeterFactorToken]
            )
        )
        return cls(tid, rnd, draw(st.integers(0, 0xFFFF)))
    if kind == 3:
        four = draw(st.booleans())
        control = draw(st.integers(0, (1 << (28 if four else 36)) - 1))
        return MeterTestToken(control, draw(st.integers(0, 9999 if four else 99)), four)
    if kind == 4:
        return KeyChange1Token(
            draw(st.integers(0, 15)),
            draw(st.integers(0, 15)),
            draw(st.integers(0, 1)),
            draw(st.integers(0, 3)),
            draw(words),
        )
    if kind == 5:
        return KeyChange2Token(draw(st.integers(0, 15)), draw(st.integers(0, 255)), draw(words))
    if kind == 6:
        cls = draw(st.sampled_from([KeyChange3Token, KeyChange4Token]))
        return cls(draw(st.integers(0, 0xFFF)), draw(words))
    return CreditToken(tid, rnd, draw(st.integers(0, 20000)))  # the common case, more often


@settings(max_examples=60, deadline=None)
@given(st.lists(any_token(), min_size=1, max_size=40), st.sampled_from(KEY_NAMES))
def test_encode_and_decode_many_equal_the_scalar_path(lab_tables, tokens, key_name):
    key = _keys(lab_tables)[key_name]
    digits = encode_many(key, TokenFields.of(tokens))
    assert digits.tolist() == [codec.encode(t, key) for t in tokens]
    decoded = decode_many(key, digits.tolist())
    assert decoded.ok.all()
    for row, text in enumerate(digits.tolist()):
        scalar = codec.decode(text, key)
        assert decoded.decoded(row) == scalar
        assert decoded.tokens()[row] == scalar.token


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(tids, st.integers(0, AMOUNT_MAX), rnds, st.integers(0, 3)), min_size=1),
    st.sampled_from(KEY_NAMES),
)
def test_credit_columns_equal_credit_tokens(lab_tables, rows, key_name):
    key = _keys(lab_tables)[key_name]
    tid, amount, rnd, kind = (np.array(c) for c in zip(*rows, strict=True))
    digits = encode_many(key, TokenFields.credit(tid, amount, rnd, kind))
    assert digits.tolist() == [codec.encode(CreditToken(t, r, a, k), key) for t, a, r, k in rows]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(tids, st.integers(0, AMOUNT_MAX), rnds), min_size=1, max_size=30),
    st.sampled_from(
        [
            MaxPowerLimitToken,
            PhaseUnbalanceLimitToken,
            ClearCreditToken,
            TariffRateToken,
            ClearTamperToken,
            WaterMeterFactorToken,
        ]
    ),
)
def test_tid_token_columns_equal_tokens(keys, rows, token_type):
    key = keys["ea11"]
    limit = AMOUNT_MAX if token_type in (MaxPowerLimitToken, PhaseUnbalanceLimitToken) else 0xFFFF
    rows = [(t, v % (limit + 1), r) for t, v, r in rows]
    tid, value, rnd = (np.array(c) for c in zip(*rows, strict=True))
    digits = encode_many(key, TokenFields.tid_tokens(token_type, tid, value, rnd))
    assert digits.tolist() == [codec.encode(token_type(t, r, v), key) for t, v, r in rows]


def _scalar_outcome(text, key, mfr_code=None):
    try:
        return codec.decode(text, key, mfr_code)
    except StsError as exc:
        return exc


STATUS_OF = {
    TokenFormatError: FORMAT,
    CrcError: CRC,
    UnsupportedError: UNSUPPORTED,
    MfrCodeError: MFR_CODE,
}

token_texts = st.one_of(
    st.integers(0, (1 << 66) - 1).map(lambda v: f"{v:020d}"),  # mostly CRC failures
    st.integers(0, 10**20 - 1).map(lambda v: f"{v:020d}"),  # includes > 66 bits
    st.text(alphabet="0123456789 -x", min_size=0, max_size=26),
    st.integers(0, (1 << 66) - 1).map(
        lambda v: "-".join(f"{v:020d}"[i : i + 4] for i in range(0, 20, 4))
    ),
)


@settings(max_examples=80, deadline=None)
@given(st.lists(token_texts, min_size=1, max_size=30), st.sampled_from(KEY_NAMES))
def test_decode_many_reports_what_the_scalar_decode_raises(lab_tables, texts, key_name):
    key = _keys(lab_tables)[key_name]
    decoded = decode_many(key, texts, mfr_code=7)
    for row, text in enumerate(texts):
        scalar = _scalar_outcome(text, key, 7)
        if isinstance(scalar, StsError):
            expected = STATUS_OF.get(type(scalar), 4)  # 4 = FIELD (FieldError)
            assert decoded.status[row] == expected, (text, scalar)
            error = decoded.error(row)
            assert type(error) is type(scalar) and str(error) == str(scalar)
        else:
            assert decoded.status[row] == OK and decoded.decoded(row) == scalar


@settings(max_examples=40, deadline=None)
@given(st.lists(any_token(), min_size=1, max_size=10), st.data())
def test_mistyped_tokens_are_crc_errors_in_batch_too(keys, tokens, data):
    key = keys["ea11"]
    texts = [codec.encode(t, key) for t in tokens]
    typos = []
    for text in texts:
        i = data.draw(st.integers(0, 19))
        typos.append(
            text[:i] + str((int(text[i]) + data.draw(st.integers(1, 9))) % 10) + text[i + 1 :]
        )
    decoded = decode_many(key, typos)
    for row, text in enumerate(typos):
        scalar = _scalar_outcome(text, key)
        assert (decoded.status[row] == OK) == (not isinstance(scalar, StsError))


# --- many keys: one per row ------------------------------------------------------------------


def _pan(number: int, modern: bool = False) -> str:
    drn = f"{number:012d}" if modern else f"{number % 10**10:010d}"
    drn += str(luhn_check_digit(drn))
    body = ("0000" if modern else "600727") + drn
    return body + str(luhn_check_digit(body))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 10**10 - 1), st.booleans()), min_size=1, max_size=12),
    st.sampled_from([(4, 11), (4, 7), (2, 7)]),
    st.integers(0, 3),
    st.integers(1, 9),
    st.integers(0, 999_999),
    st.sampled_from([1993, 2014, 2035]),
    st.binary(min_size=8, max_size=8),
)
def test_derive_many_equals_derive_decoder_key(pans, algorithm, kt, krn, sgc, base, vk02):
    dkga, ea = algorithm
    info = KeyInfo(sgc=sgc, ti=krn * 7 % 100, krn=krn, kt=kt, ea=ea, dkga=dkga, base_year=base)
    vk = TEST_VK if dkga == 4 else vk02
    texts = [_pan(n, modern) for n, modern in pans]
    keys = derive_many(vk, texts, info)
    assert len(keys) == len(texts)
    for row, text in enumerate(texts):
        assert keys.values[row].tobytes() == derive_decoder_key(vk, MeterPan(text), info)


def test_derive_many_takes_drns_and_names_a_bad_row():
    info = KeyInfo(sgc=123457, ti=1, krn=1, kt=2, ea=11, dkga=4, base_year=2014)
    pan = MeterPan("600727000000000009")
    keys = derive_many(TEST_VK, [pan, pan.drn, "6007 2700 0000 0000 09"], info)
    assert len({keys.values[i].tobytes() for i in range(3)}) == 1
    with pytest.raises(CheckDigitError, match=r"^row 1: MeterPAN 600727000000000008: check digit"):
        derive_many(TEST_VK, [pan, "600727000000000008"], info)
    with pytest.raises(FieldError, match="DKGA04 needs a 160-bit vending key"):
        derive_many(TEST_VK[:8], [pan], info)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.tuples(any_token(), st.binary(min_size=16, max_size=16)), min_size=1, max_size=20),
    st.sampled_from([7, 9, 11]),
)
def test_one_key_per_row_equals_each_key_alone(rows, ea):
    width = 16 if ea == 11 else 8
    scalar_keys = [DecoderKey(raw[:width], ea) for _, raw in rows]
    keys = KeyArray.of(scalar_keys)
    tokens = [t for t, _ in rows]
    digits = encode_many(keys, TokenFields.of(tokens))
    assert digits.tolist() == [codec.encode(t, k) for t, k in zip(tokens, scalar_keys, strict=True)]
    decoded = decode_many(keys, digits)
    assert decoded.ok.all()
    assert decoded.tokens() == [
        codec.decode(d, k).token for d, k in zip(digits.tolist(), scalar_keys, strict=True)
    ]


def test_many_rows_and_per_key_tables_equal_the_scalar_cipher(monkeypatch, keys):
    # Past the threshold a key gets its own FI tables; past 4096 rows EA07 works in chunks.
    monkeypatch.setattr(batch_ciphers, "_FAST_AFTER", 0)
    rng = np.random.default_rng(5)
    blocks = rng.integers(0, 2**63, 9000, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    for name in ("ea11", "ea07-sample"):
        key = DecoderKey(keys[name].value, keys[name].ea)  # a fresh key: no cached state
        encrypted = encrypt_many(key, blocks)
        sample = rng.choice(len(blocks), 300, replace=False)
        assert [int(encrypted[i]) for i in sample] == [
            key.encrypt_block(int(blocks[i])) for i in sample
        ]
        assert (decrypt_many(key, encrypted) == blocks).all()


# --- the pieces ----------------------------------------------------------------------------


@given(st.lists(st.integers(0, AMOUNT_MAX), min_size=1))
def test_amount_fields_equal_the_scalar_encoding(units):
    fields = encode_amounts(units)
    assert fields.tolist() == [encode_amount(u) for u in units]
    assert decode_amounts(fields).tolist() == [decode_amount(f) for f in fields.tolist()]


def test_amount_boundaries_and_errors():
    edges = [0, 16383, 16384, 20000, 180223, 180224, 1818623, 1818624, AMOUNT_MAX]
    assert encode_amounts(edges).tolist() == [encode_amount(u) for u in edges]
    with pytest.raises(FieldError, match=r"^row 1: amount -5 units is outside"):
        encode_amounts([1, -5])
    with pytest.raises(FieldError, match="whole numbers"):
        encode_amounts([1.5])


@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, (1 << 48) - 1)), min_size=1))
def test_crc_fields_equal_crc_field(rows):
    cls = np.array([c for c, _ in rows], dtype=np.uint8)
    body = np.array([b for _, b in rows], dtype=np.uint64)
    assert batch_ciphers.crc_fields(cls, body).tolist() == [crc_field(c, b) for c, b in rows]


@given(st.lists(st.integers(0, (1 << 66) - 1), min_size=1))
def test_token_strings_and_parse_round_trip(values):
    high = np.array([v >> 64 for v in values], dtype=np.uint64)
    low = np.array([v & (2**64 - 1) for v in values], dtype=np.uint64)
    texts = token_strings(high, low)
    assert texts.tolist() == [to_digits(v) for v in values]
    assert token_strings(high, low, "bytes").tolist() == [to_digits(v).encode() for v in values]
    back_high, back_low, bad = parse_tokens(texts)
    assert not bad.any() and (back_high == high).all() and (back_low == low).all()


@given(st.lists(token_texts, min_size=1))
def test_parse_tokens_accepts_what_parse_token_accepts(texts):
    high, low, bad = parse_tokens(texts)
    for row, text in enumerate(texts):
        try:
            value = parse_token(text)
        except TokenFormatError:
            assert bad[row]
        else:
            assert not bad[row] and int(high[row]) << 64 | int(low[row]) == value


# --- refusals ------------------------------------------------------------------------------


def test_bad_rows_are_named():
    with pytest.raises(FieldError, match=r"^row 2: TID 16777216 is outside 0\.\.16777215"):
        TokenFields.credit([1, 2, TID_MAX + 1], 10)
    with pytest.raises(FieldError, match=r"^row 0: RND 16 is outside"):
        TokenFields.credit([1], [1], rnd=16)
    with pytest.raises(UnsupportedError, match=r"^row 1: currency credit"):
        TokenFields.credit([1, 2], 10, kind=[0, 4])
    with pytest.raises(FieldError, match=r"^row 0: credit subclass 9 is reserved"):
        TokenFields.credit([1], 10, kind=9)
    with pytest.raises(FieldError, match=r"^row 0: register 65536 is outside"):
        TokenFields.tid_tokens(ClearCreditToken, [1], 0x10000)
    with pytest.raises(UnsupportedError, match="class 2 subclass 12 is reserved"):
        TokenFields(np.array([2]), np.array([12]), np.array([0], dtype=np.uint64))


def test_key_expiry_and_missing_keys(keys):
    fields = TokenFields.credit([100, 5916090], 10)
    with pytest.raises(KeyExpiredError, match=r"^row 1: key expired: TID 5916090 has top byte 90"):
        encode_many(keys["ea11"], fields, ken=85)
    assert len(encode_many(keys["ea11"], fields, ken=[255, 90])) == 2
    with pytest.raises(ValueError, match="decoder key is required"):
        encode_many(None, fields)
    with pytest.raises(ValueError, match="2 keys for 1 rows"):
        encode_many(KeyArray.of([keys["ea11"], keys["ea11"]]), TokenFields.credit([1], 1))


def test_wrong_key_and_wrong_manufacturer_are_statuses_not_exceptions(keys):
    digits = encode_many(keys["ea11"], TokenFields.credit(np.arange(5), 10))
    other = DecoderKey(bytes(16), 11)
    assert (decode_many(other, digits).status == CRC).all()
    test_token = codec.encode(MeterTestToken(1, 12), None)
    decoded = decode_many(keys["ea11"], [test_token, digits[0]], mfr_code=34)
    assert decoded.status.tolist() == [MFR_CODE, OK]
    with pytest.raises(MfrCodeError, match=r"^row 0: test token is for manufacturer code 12"):
        decoded.raise_first()


def test_key_array_never_shows_its_values(keys):
    array = KeyArray.of([keys["ea11"]])
    assert "F94B" not in repr(array).upper() and "secret" in repr(array)
    assert not array.values.flags.writeable
    assert array[0].value == keys["ea11"].value


def test_empty_batches():
    fields = TokenFields.credit(np.array([], dtype=np.int64), np.array([], dtype=np.int64))
    assert len(fields) == 0 and encode_many(None, fields).shape == (0,)
    assert len(decode_many(None, [])) == 0

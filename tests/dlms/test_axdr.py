"""A-XDR: byte-exact encodings worked out from the rules, round trips, and bad input."""

import contextlib
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hil.dlms import axdr
from hil.dlms.axdr import Data, DataType, DateTime
from hil.dlms.errors import DecodeError, LocalProtocolError

KNOWN = [
    (axdr.null(), "00"),
    (axdr.boolean(True), "03 01"),
    (axdr.boolean(False), "03 00"),
    (axdr.i8(-3), "0f fd"),
    (axdr.i16(-300), "10 fe d4"),
    (axdr.i32(-1), "05 ff ff ff ff"),
    (axdr.i64(-2), "14 ff ff ff ff ff ff ff fe"),
    (axdr.u8(5), "11 05"),
    (axdr.u16(0x1234), "12 12 34"),
    (axdr.u32(2500), "06 00 00 09 c4"),
    (axdr.u64(2**40), "15 00 00 01 00 00 00 00 00"),
    (axdr.enum(3), "16 03"),
    (axdr.octets(b"\x01\x02"), "09 02 01 02"),
    (axdr.octets(b""), "09 00"),
    (axdr.visible("kWh"), "0a 03 6b 57 68"),
    (axdr.utf8("é"), "0c 02 c3 a9"),
    (axdr.bits("10100000"), "04 08 a0"),
    (axdr.bits("101"), "04 03 a0"),  # 3 bits, padded with zeros to a byte
    (axdr.bits(""), "04 00"),
    (axdr.bits("1" * 9), "04 09 ff 80"),
    (axdr.array(axdr.u8(1), axdr.u8(2)), "01 02 11 01 11 02"),
    (axdr.array(), "01 00"),
    (axdr.structure(axdr.enum(3), axdr.bits("")), "02 02 16 03 04 00"),
    (axdr.float32(1.0), "17 3f 80 00 00"),
    (axdr.float64(-2.0), "18 c0 00 00 00 00 00 00 00"),
    (
        axdr.date_time(DateTime(2026, 1, 1, 4, 12, 30, 15, 50, 0, 0)),
        "19 07 ea 01 01 04 0c 1e 0f 32 00 00 00",
    ),
    (Data(DataType.DATE, bytes.fromhex("07ea0101ff")), "1a 07 ea 01 01 ff"),
    (Data(DataType.TIME, bytes.fromhex("0c1e0fff")), "1b 0c 1e 0f ff"),
]


@pytest.mark.parametrize(("value", "wire"), KNOWN, ids=[w[:11] for _, w in KNOWN])
def test_known_encodings(value: Data, wire: str) -> None:
    raw = bytes.fromhex(wire)
    assert value.encode() == raw
    assert axdr.decode_all(raw) == value


def test_long_lengths() -> None:
    assert axdr.octets(b"x" * 127).encode()[:2] == b"\x09\x7f"
    assert axdr.octets(b"x" * 200).encode()[:3] == b"\x09\x81\xc8"
    assert axdr.octets(b"x" * 300).encode()[:4] == b"\x09\x82\x01\x2c"
    for n in (127, 128, 255, 256, 70000):
        value = axdr.octets(b"\xaa" * n)
        assert axdr.decode_all(value.encode()) == value


def test_decode_returns_position() -> None:
    raw = bytes.fromhex("11 05 12 00 01")
    first, pos = axdr.decode(raw)
    second, end = axdr.decode(raw, pos)
    assert (first, second, end) == (axdr.u8(5), axdr.u16(1), 5)


def test_python_values() -> None:
    value = axdr.structure(axdr.visible("kWh"), axdr.i8(-3), axdr.array(axdr.enum(1)))
    assert value.python() == ["kWh", -3, [1]]
    assert value.items[1] == axdr.i8(-3)
    with pytest.raises(TypeError):
        _ = axdr.u8(1).items


def test_boolean_accepts_any_nonzero() -> None:
    assert axdr.decode_all(b"\x03\xff") == axdr.boolean(True)


@pytest.mark.parametrize(
    "wire",
    [
        "",  # no tag
        "11",  # u8 without its byte
        "12 00",  # u16 cut
        "06 00 00 09",  # u32 cut
        "09 05 01 02",  # octet-string shorter than its length
        "09 81",  # long length cut
        "09 85 00 00 00 00 01",  # length of 5 bytes: not allowed
        "01 03 11 01 11 02",  # array of 3 with 2 items
        "01 7f 11 00",  # count far beyond the bytes left: refused before looping
        "02 01",  # structure with its item missing
        "04 09 ff",  # 9 bits need 2 bytes
        "19 07 ea 01",  # date-time cut
        "ff",  # unknown tag
        "13 00",  # compact-array: not supported
        "0a 02 c3 a9",  # visible-string with non-ASCII bytes
    ],
)
def test_truncated_or_corrupt_data_is_a_decode_error(wire: str) -> None:
    with pytest.raises(DecodeError):
        axdr.decode_all(bytes.fromhex(wire))


def test_trailing_bytes_are_an_error() -> None:
    with pytest.raises(DecodeError, match="unexpected bytes"):
        axdr.decode_all(b"\x11\x05\x00")


def test_nesting_is_bounded() -> None:
    deep = b"\x01\x01" * (axdr.MAX_DEPTH + 1) + b"\x00"
    with pytest.raises(DecodeError, match="nesting"):
        axdr.decode_all(deep)
    ok = b"\x01\x01" * (axdr.MAX_DEPTH - 1) + b"\x00"
    assert axdr.decode_all(ok).type is DataType.ARRAY


@pytest.mark.parametrize(
    "value",
    [
        axdr.u8(256),
        axdr.i8(-129),
        axdr.u16(-1),
        axdr.enum(300),
        axdr.u32(2**32),
        Data(DataType.UNSIGNED, "5"),
        Data(DataType.UNSIGNED, True),
        axdr.bits("10x"),
        axdr.visible("é"),
        Data(DataType.OCTET_STRING, "text"),
        Data(DataType.ARRAY, (1, 2)),
        Data(DataType.DATE, b"\x00"),
        Data(DataType.COMPACT_ARRAY, ()),
    ],
)
def test_bad_values_are_refused_on_encode(value: Data) -> None:
    with pytest.raises(LocalProtocolError):
        value.encode()


# -- date-time ----------------------------------------------------------------------------------


def test_date_time_from_and_to_datetime() -> None:
    when = datetime(2026, 3, 29, 1, 59, 58, 120000, tzinfo=timezone(timedelta(hours=2)))
    stamp = DateTime.from_datetime(when)
    assert (stamp.year, stamp.month, stamp.day, stamp.weekday) == (2026, 3, 29, 7)
    assert stamp.deviation == -120  # Blue Book: minutes from local time to UTC
    assert stamp.hundredths == 12
    assert stamp.to_datetime() == when
    assert DateTime.from_bytes(stamp.to_bytes()) == stamp


def test_date_time_naive_is_utc() -> None:
    stamp = DateTime.from_datetime(datetime(2026, 1, 1))
    assert stamp.deviation == 0
    assert stamp.to_datetime() == datetime(2026, 1, 1, tzinfo=UTC)


def test_date_time_unspecified_fields() -> None:
    raw = bytes.fromhex("ffff ff ff ff ff ff ff ff 8000 ff")
    stamp = DateTime.from_bytes(raw)
    assert stamp.deviation == DateTime.NOT_SPECIFIED_DEVIATION
    assert stamp.to_bytes() == raw
    with pytest.raises(ValueError, match="unspecified"):
        stamp.to_datetime()


def test_date_time_wrong_size() -> None:
    with pytest.raises(DecodeError, match="12 bytes"):
        DateTime.from_bytes(b"\x00" * 11)


# -- property tests ---------------------------------------------------------------------------

_INT_RANGES = {
    DataType.INTEGER: (-(2**7), 2**7 - 1),
    DataType.LONG: (-(2**15), 2**15 - 1),
    DataType.DOUBLE_LONG: (-(2**31), 2**31 - 1),
    DataType.LONG64: (-(2**63), 2**63 - 1),
    DataType.UNSIGNED: (0, 2**8 - 1),
    DataType.LONG_UNSIGNED: (0, 2**16 - 1),
    DataType.DOUBLE_LONG_UNSIGNED: (0, 2**32 - 1),
    DataType.LONG64_UNSIGNED: (0, 2**64 - 1),
    DataType.ENUM: (0, 255),
}

scalars = st.one_of(
    st.just(axdr.null()),
    st.booleans().map(axdr.boolean),
    *[st.integers(lo, hi).map(lambda v, t=t: Data(t, v)) for t, (lo, hi) in _INT_RANGES.items()],
    st.binary(max_size=300).map(axdr.octets),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40).map(
        axdr.visible
    ),
    st.text(max_size=20).map(axdr.utf8),
    st.text(alphabet="01", max_size=40).map(axdr.bits),
    st.floats(allow_nan=False, width=32).map(axdr.float32),
    st.floats(allow_nan=False).map(axdr.float64),
    st.builds(
        DateTime,
        st.integers(0, 0xFFFF),
        *[st.integers(0, 255) for _ in range(7)],
        st.integers(-32768, 32767),
        st.integers(0, 255),
    ).map(axdr.date_time),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=6).map(lambda xs: axdr.array(*xs)),
        st.lists(inner, max_size=6).map(lambda xs: axdr.structure(*xs)),
    ),
    max_leaves=30,
)


@given(values)
def test_round_trip(value: Data) -> None:
    raw = value.encode()
    assert axdr.decode_all(raw) == value
    assert axdr.decode_all(raw).encode() == raw


@given(values, st.data())
def test_any_truncation_is_a_decode_error(value: Data, data: st.DataObject) -> None:
    raw = value.encode()
    cut = data.draw(st.integers(0, len(raw) - 1))
    with pytest.raises(DecodeError):
        axdr.decode_all(raw[:cut])


@given(st.binary(max_size=64))
def test_random_bytes_never_crash(raw: bytes) -> None:
    with contextlib.suppress(DecodeError):
        axdr.decode_all(raw)

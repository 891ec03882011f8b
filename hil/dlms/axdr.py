"""A-XDR encoding of COSEM data (IEC 62056-6-2 / Green Book "Data" CHOICE).

Every value is a tag byte followed by its content. Fixed-size types have no length; strings and
arrays carry an A-XDR length: one byte below 0x80, else ``0x80 | n`` and n big-endian bytes.
A bit-string's length counts bits, not bytes.

`Data` pairs a `DataType` with a Python value, so a decoded value encodes back to the same bytes
(a u8 5 and an enum 5 stay apart). Values by type: null None; boolean bool; integers int;
octet-string bytes; visible/utf8-string str; bit-string a str of "0"/"1", first bit first;
array and structure a tuple of `Data`; floats float; date-time `DateTime`; date and time their
raw 5 and 4 bytes. Compact-array is not supported (no prepayment object uses it).

Decoding never trusts a length: a count or size larger than the bytes left is a `DecodeError`,
and nesting is bounded, so a corrupt frame cannot make the decoder allocate or recurse wildly.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from enum import IntEnum
from typing import NamedTuple, Self

from hil.dlms.errors import DecodeError, LocalProtocolError

MAX_DEPTH = 16  # nesting of arrays/structures; real objects need 3 or 4


class DataType(IntEnum):
    NULL_DATA = 0
    ARRAY = 1
    STRUCTURE = 2
    BOOLEAN = 3
    BIT_STRING = 4
    DOUBLE_LONG = 5  # int32
    DOUBLE_LONG_UNSIGNED = 6  # uint32
    OCTET_STRING = 9
    VISIBLE_STRING = 10
    UTF8_STRING = 12
    BCD = 13
    INTEGER = 15  # int8
    LONG = 16  # int16
    UNSIGNED = 17  # uint8
    LONG_UNSIGNED = 18  # uint16
    COMPACT_ARRAY = 19
    LONG64 = 20
    LONG64_UNSIGNED = 21
    ENUM = 22
    FLOAT32 = 23
    FLOAT64 = 24
    DATE_TIME = 25
    DATE = 26
    TIME = 27


# (size, signed) of the fixed-size integer types
_INTS: dict[DataType, tuple[int, bool]] = {
    DataType.INTEGER: (1, True),
    DataType.LONG: (2, True),
    DataType.DOUBLE_LONG: (4, True),
    DataType.LONG64: (8, True),
    DataType.UNSIGNED: (1, False),
    DataType.LONG_UNSIGNED: (2, False),
    DataType.DOUBLE_LONG_UNSIGNED: (4, False),
    DataType.LONG64_UNSIGNED: (8, False),
    DataType.ENUM: (1, False),
    DataType.BCD: (1, True),
}
_RAW_SIZES = {DataType.DATE: 5, DataType.TIME: 4}
INTEGER_TYPES = frozenset(_INTS)  # the types whose value is an int
# tag byte -> type (None: unknown); a tuple index is much cheaper than DataType(tag)
_TYPE_OF: tuple[DataType | None, ...] = tuple(
    DataType(t) if t in DataType._value2member_map_ else None for t in range(256)
)


@dataclass(frozen=True, slots=True)
class DateTime:
    """The 12-byte COSEM date-time, field by field, with the "not specified" values kept.

    Raw values: year 0xFFFF, month/day/weekday/hour/minute/second/hundredths 0xFF and deviation
    -32768 (0x8000) mean "not specified"; month 0xFD/0xFE and day 0xFD/0xFE are the DST and
    last-day markers. `deviation` is minutes from local time to UTC (Blue Book: UTC = local +
    deviation, so UTC+02:00 is -120); `status` is the clock status byte (0xFF not specified).
    """

    year: int
    month: int
    day: int
    weekday: int
    hour: int
    minute: int
    second: int
    hundredths: int = 0
    deviation: int = -32768
    status: int = 0xFF

    NOT_SPECIFIED_DEVIATION = -32768

    def to_bytes(self) -> bytes:
        try:
            return struct.pack(
                ">H7BhB",
                self.year,
                self.month,
                self.day,
                self.weekday,
                self.hour,
                self.minute,
                self.second,
                self.hundredths,
                self.deviation,
                self.status,
            )
        except struct.error as exc:
            raise LocalProtocolError(f"date-time field out of range: {self}") from exc

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        if len(data) != 12:
            raise DecodeError(f"a date-time is 12 bytes, got {len(data)}")
        return cls(*struct.unpack(">H7BhB", data))

    @classmethod
    def from_datetime(cls, when: datetime, *, status: int = 0) -> Self:
        """From an aware datetime (naive ones are taken as UTC)."""
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        offset = when.utcoffset() or timedelta(0)
        return cls(
            when.year,
            when.month,
            when.day,
            when.isoweekday(),
            when.hour,
            when.minute,
            when.second,
            when.microsecond // 10_000,
            -int(offset.total_seconds() // 60),
            status,
        )

    def to_datetime(self) -> datetime:
        """An aware datetime; unspecified deviation is taken as UTC, unspecified hundredths 0."""
        if 0xFF in (self.month, self.day, self.hour, self.minute, self.second) or (
            self.year == 0xFFFF or self.month > 12 or self.day > 31
        ):
            raise ValueError(f"date-time {self} has unspecified or wildcard fields")
        deviation = 0 if self.deviation == self.NOT_SPECIFIED_DEVIATION else self.deviation
        zone = timezone(timedelta(minutes=-deviation))
        hundredths = 0 if self.hundredths == 0xFF else self.hundredths
        return datetime(
            self.year,
            self.month,
            self.day,
            self.hour,
            self.minute,
            self.second,
            hundredths * 10_000,
            tzinfo=zone,
        )


class Data(NamedTuple):
    """One typed COSEM value; build them with the helpers below (`u8`, `octets`, `structure`...).

    A named tuple, not a dataclass: decoding makes one per value, and this is the cheap kind.
    """

    type: DataType
    value: object = None

    def python(self) -> object:
        """The plain Python value: arrays and structures become lists of plain values."""
        if self.type in (DataType.ARRAY, DataType.STRUCTURE):
            return [item.python() for item in self.items]
        return self.value

    @property
    def items(self) -> tuple[Data, ...]:
        if self.type not in (DataType.ARRAY, DataType.STRUCTURE):
            raise TypeError(f"{self.type.name} has no items")
        return self.value  # type: ignore[return-value]

    def encode(self) -> bytes:
        out = bytearray()
        _encode(self, out, 0)
        return bytes(out)

    def __repr__(self) -> str:
        if self.type in (DataType.ARRAY, DataType.STRUCTURE):
            inner = ", ".join(repr(item) for item in self.items)
            return f"{self.type.name.lower()}({inner})"
        return f"{self.type.name.lower()}({self.value!r})"


# -- builders -----------------------------------------------------------------------------------


def null() -> Data:
    return Data(DataType.NULL_DATA, None)


def boolean(value: bool) -> Data:
    return Data(DataType.BOOLEAN, bool(value))


def i8(value: int) -> Data:
    return Data(DataType.INTEGER, value)


def i16(value: int) -> Data:
    return Data(DataType.LONG, value)


def i32(value: int) -> Data:
    return Data(DataType.DOUBLE_LONG, value)


def i64(value: int) -> Data:
    return Data(DataType.LONG64, value)


def u8(value: int) -> Data:
    return Data(DataType.UNSIGNED, value)


def u16(value: int) -> Data:
    return Data(DataType.LONG_UNSIGNED, value)


def u32(value: int) -> Data:
    return Data(DataType.DOUBLE_LONG_UNSIGNED, value)


def u64(value: int) -> Data:
    return Data(DataType.LONG64_UNSIGNED, value)


def enum(value: int) -> Data:
    return Data(DataType.ENUM, value)


def octets(value: bytes) -> Data:
    return Data(DataType.OCTET_STRING, bytes(value))


def visible(value: str) -> Data:
    return Data(DataType.VISIBLE_STRING, value)


def utf8(value: str) -> Data:
    return Data(DataType.UTF8_STRING, value)


def bits(value: str) -> Data:
    """A bit-string from "0"/"1" characters, first bit (bit 0, the MSB of byte 0) first."""
    return Data(DataType.BIT_STRING, value)


def array(*items: Data) -> Data:
    return Data(DataType.ARRAY, tuple(items))


def structure(*items: Data) -> Data:
    return Data(DataType.STRUCTURE, tuple(items))


def float32(value: float) -> Data:
    return Data(DataType.FLOAT32, float(value))


def float64(value: float) -> Data:
    return Data(DataType.FLOAT64, float(value))


def date_time(value: DateTime) -> Data:
    return Data(DataType.DATE_TIME, value)


# -- lengths ------------------------------------------------------------------------------------


def encode_length(n: int, out: bytearray) -> None:
    if n < 0:
        raise LocalProtocolError(f"length must be >= 0, got {n}")
    if n < 0x80:
        out.append(n)
        return
    size = (n.bit_length() + 7) // 8
    if size > 4:
        raise LocalProtocolError(f"length {n} does not fit an A-XDR length")
    out.append(0x80 | size)
    out += n.to_bytes(size, "big")


def decode_length(buf: bytes, pos: int) -> tuple[int, int]:
    """(length, position after it)."""
    if pos >= len(buf):
        raise DecodeError("truncated: length missing")
    first = buf[pos]
    if first < 0x80:
        return first, pos + 1
    size = first & 0x7F
    if size == 0 or size > 4:
        raise DecodeError(f"bad A-XDR length prefix 0x{first:02X}")
    end = pos + 1 + size
    if end > len(buf):
        raise DecodeError("truncated: length cut short")
    return int.from_bytes(buf[pos + 1 : end], "big"), end


# -- encode -------------------------------------------------------------------------------------


def _encode(data: Data, out: bytearray, depth: int) -> None:
    kind, value = data.type, data.value
    out.append(kind)
    sizing = _INTS.get(kind)
    if sizing is not None:
        size, signed = sizing
        if not isinstance(value, int) or isinstance(value, bool):
            raise LocalProtocolError(f"{kind.name} needs an int, got {value!r}")
        try:
            out += value.to_bytes(size, "big", signed=signed)
        except OverflowError:
            raise LocalProtocolError(f"{kind.name}: {value} out of range") from None
    elif kind in (DataType.OCTET_STRING, DataType.VISIBLE_STRING, DataType.UTF8_STRING):
        if kind == DataType.OCTET_STRING:
            if not isinstance(value, bytes | bytearray):
                raise LocalProtocolError(f"octet-string needs bytes, got {value!r}")
            raw = bytes(value)
        elif not isinstance(value, str):
            raise LocalProtocolError(f"{kind.name} needs a str, got {value!r}")
        elif kind == DataType.VISIBLE_STRING:
            try:
                raw = value.encode("ascii")
            except UnicodeEncodeError:
                raise LocalProtocolError(f"visible-string must be ASCII: {value!r}") from None
        else:
            raw = value.encode("utf-8")
        encode_length(len(raw), out)
        out += raw
    elif kind in (DataType.ARRAY, DataType.STRUCTURE):
        if depth >= MAX_DEPTH:
            raise LocalProtocolError(f"nesting deeper than {MAX_DEPTH}")
        if not isinstance(value, tuple | list):
            raise LocalProtocolError(f"{kind.name} needs a tuple of Data, got {value!r}")
        encode_length(len(value), out)
        for item in value:
            if not isinstance(item, Data):
                raise LocalProtocolError(f"{kind.name} item is not Data: {item!r}")
            _encode(item, out, depth + 1)
    elif kind == DataType.NULL_DATA:
        if value is not None:
            raise LocalProtocolError(f"null-data carries no value, got {value!r}")
    elif kind == DataType.BOOLEAN:
        out.append(0x01 if value else 0x00)  # TRUE is any non-zero; 0x01 as meters send it
    elif kind == DataType.BIT_STRING:
        if not isinstance(value, str) or value.strip("01"):
            raise LocalProtocolError(f"bit-string needs a str of 0/1, got {value!r}")
        encode_length(len(value), out)
        padded = value + "0" * (-len(value) % 8)
        out += int(padded, 2).to_bytes(len(padded) // 8, "big") if padded else b""
    elif kind == DataType.FLOAT32:
        out += struct.pack(">f", value)
    elif kind == DataType.FLOAT64:
        out += struct.pack(">d", value)
    elif kind == DataType.DATE_TIME:
        if not isinstance(value, DateTime):
            raise LocalProtocolError(f"date-time needs a DateTime, got {value!r}")
        out += value.to_bytes()
    elif kind in _RAW_SIZES:
        if not isinstance(value, bytes) or len(value) != _RAW_SIZES[kind]:
            raise LocalProtocolError(f"{kind.name} needs {_RAW_SIZES[kind]} bytes, got {value!r}")
        out += value
    else:
        raise LocalProtocolError(f"encoding {kind.name} is not supported")


def encode(data: Data) -> bytes:
    return data.encode()


# -- decode -------------------------------------------------------------------------------------


def decode(buf: bytes, pos: int = 0) -> tuple[Data, int]:
    """One value from `buf` at `pos`: (value, position after it)."""
    return _decode(bytes(buf), pos, 0)


def decode_all(buf: bytes) -> Data:
    """Exactly one value filling `buf`; trailing bytes are an error."""
    data, end = _decode(bytes(buf), 0, 0)
    if end != len(buf):
        raise DecodeError(f"{len(buf) - end} unexpected bytes after the value")
    return data


def _take(buf: bytes, pos: int, n: int, what: str) -> tuple[bytes, int]:
    end = pos + n
    if end > len(buf):
        raise DecodeError(f"truncated {what}: need {n} bytes, {len(buf) - pos} left")
    return buf[pos:end], end


# Module constants: looking up an enum member on its class costs more than the comparison.
_OCTET, _VISIBLE, _UTF8 = DataType.OCTET_STRING, DataType.VISIBLE_STRING, DataType.UTF8_STRING
_ARRAY, _STRUCTURE = DataType.ARRAY, DataType.STRUCTURE
_NULL, _BOOLEAN, _BITS = DataType.NULL_DATA, DataType.BOOLEAN, DataType.BIT_STRING
_F32, _F64, _DATE_TIME = DataType.FLOAT32, DataType.FLOAT64, DataType.DATE_TIME
_INT_SIZES: tuple[tuple[int, bool] | None, ...] = tuple(
    _INTS.get(t) if t is not None else None for t in _TYPE_OF
)
_make = tuple.__new__  # Data(kind, value) without the keyword-handling __new__


def _decode(buf: bytes, pos: int, depth: int) -> tuple[Data, int]:
    end = len(buf)
    if pos >= end:
        raise DecodeError("truncated: data tag missing")
    tag = buf[pos]
    pos += 1
    kind = _TYPE_OF[tag]
    if kind is None:
        raise DecodeError(f"unknown data tag {tag} (0x{tag:02X})")
    sizing = _INT_SIZES[tag]
    if sizing is not None:
        size, signed = sizing
        stop = pos + size
        if stop > end:
            raise DecodeError(f"truncated {kind.name}: need {size} bytes, {end - pos} left")
        return _make(Data, (kind, int.from_bytes(buf[pos:stop], "big", signed=signed))), stop
    if kind is _ARRAY or kind is _STRUCTURE:
        if depth >= MAX_DEPTH:
            raise DecodeError(f"nesting deeper than {MAX_DEPTH}")
        n, pos = decode_length(buf, pos)
        if n > end - pos:  # every item takes at least its tag byte
            raise DecodeError(f"truncated {kind.name}: {n} items announced, {end - pos} bytes")
        items = []
        for _ in range(n):
            item, pos = _decode(buf, pos, depth + 1)
            items.append(item)
        return _make(Data, (kind, tuple(items))), pos
    if kind is _OCTET or kind is _VISIBLE or kind is _UTF8:
        n, pos = decode_length(buf, pos)
        raw, pos = _take(buf, pos, n, kind.name)
        if kind is _OCTET:
            return _make(Data, (kind, raw)), pos
        try:
            text = raw.decode("ascii" if kind is _VISIBLE else "utf-8")
        except UnicodeDecodeError:
            raise DecodeError(f"{kind.name} holds bytes that are not text") from None
        return _make(Data, (kind, text)), pos
    if kind is _NULL:
        return _make(Data, (kind, None)), pos
    if kind is _BOOLEAN:
        raw, pos = _take(buf, pos, 1, "BOOLEAN")
        return _make(Data, (kind, raw[0] != 0)), pos
    if kind is _BITS:
        nbits, pos = decode_length(buf, pos)
        raw, pos = _take(buf, pos, (nbits + 7) // 8, "BIT_STRING")
        text = "".join(f"{byte:08b}" for byte in raw)[:nbits]
        return _make(Data, (kind, text)), pos
    if kind is _F32:
        raw, pos = _take(buf, pos, 4, "FLOAT32")
        return _make(Data, (kind, struct.unpack(">f", raw)[0])), pos
    if kind is _F64:
        raw, pos = _take(buf, pos, 8, "FLOAT64")
        return _make(Data, (kind, struct.unpack(">d", raw)[0])), pos
    if kind is _DATE_TIME:
        raw, pos = _take(buf, pos, 12, "DATE_TIME")
        return _make(Data, (kind, DateTime.from_bytes(raw))), pos
    if kind in _RAW_SIZES:
        raw, pos = _take(buf, pos, _RAW_SIZES[kind], kind.name)
        return _make(Data, (kind, raw)), pos
    raise DecodeError(f"decoding {kind.name} is not supported")

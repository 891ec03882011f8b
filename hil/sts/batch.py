"""The batch token engine: many tokens per call, with numpy (issue 17).

The scalar engine (codec, misty1, ea07, crc, amount, dkga) is the reference. Everything
here computes the same bits for many rows at once, and tests/sts/test_batch.py proves
batch == scalar on random inputs and on the known-answer vectors. Pure: no I/O.

Typical use::

    from hil.sts.batch import TokenFields, decode_many, derive_many, encode_many
    fields = TokenFields.credit(tid=tids, amount=units)      # arrays, 0.1 kWh units
    digits = encode_many(key, fields)                        # array of 20-digit strings
    decoded = decode_many(key, digits)                       # fields + a status per row
    keys = derive_many(vending_key, pans, info)              # one decoder key per meter

Rules the scalar path also keeps:

* Input errors raise the scalar path's exception type with its message, prefixed with
  the row (``row 12: TID ... is outside ...``), so one bad row stops a vending batch.
* Decoding never raises for a bad *token*: each row gets a status (``OK``, ``FORMAT``,
  ``CRC``, ``UNSUPPORTED``, ``FIELD``, ``MFR_CODE``); ``error(i)`` gives the exception the
  scalar ``decode`` raises for that row, message and all.
* Key values are never shown: ``KeyArray`` has no repr of its values.

Speed (benchmarks/token_engine.py): per-row work is numpy over arrays; only the DKGA04
HMAC stays a Python loop over hashlib, which is faster than SHA-256 written in numpy.
"""

from __future__ import annotations

import hashlib
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

try:
    import numpy as np
    import numpy.typing as npt
except ImportError as exc:  # numpy is a dependency; say so plainly if it is missing
    raise ImportError("hil.sts.batch needs numpy: pip install numpy") from exc

from Crypto.Cipher import DES

from hil.sts import batch_ciphers as kernels
from hil.sts.amount import AMOUNT_MAX, OFFSETS, SCALES
from hil.sts.codec import Decoded, decode
from hil.sts.digits import parse_token
from hil.sts.dkga import (
    check_derivation,
    control_block,
    derive_decoder_key,
    dkga04_message_parts,
)
from hil.sts.ea07 import SAMPLE_TABLES, StaTables
from hil.sts.errors import (
    FieldError,
    KeyExpiredError,
    StsError,
    TokenFormatError,
    UnsupportedError,
)
from hil.sts.identity import LEGACY_IIN, MeterPan
from hil.sts.keys import KEY_BITS, DecoderKey, KeyInfo
from hil.sts.misty1 import _expand_key
from hil.sts.tid import TID_MAX
from hil.sts.tokens import (
    CURRENCY_SUBCLASSES,
    CreditToken,
    TidToken,
    Token,
    _AmountToken,
    _RawFieldToken,
    decode_payload,
)

__all__ = [
    "CRC",
    "FIELD",
    "FORMAT",
    "MFR_CODE",
    "OK",
    "STATUS_NAMES",
    "UNSUPPORTED",
    "DecodedBatch",
    "KeyArray",
    "TokenFields",
    "decode_amounts",
    "decode_many",
    "decrypt_many",
    "derive_many",
    "encode_amounts",
    "encode_many",
    "encrypt_many",
    "parse_tokens",
    "token_strings",
]

U8 = npt.NDArray[np.uint8]
U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
ArrayLike = npt.ArrayLike

# Decode status per row.
OK, FORMAT, CRC, UNSUPPORTED, FIELD, MFR_CODE = range(6)
STATUS_NAMES = ("ok", "format", "crc", "unsupported", "field", "mfr_code")

_MASK64 = np.uint64((1 << 64) - 1)
_KEEP = np.uint64(((1 << 64) - 1) & ~(3 << 27))  # block bits that stay in place
_TEN10 = np.uint64(10**10)
_POW10 = np.array([10**i for i in range(9, -1, -1)], dtype=np.uint64)
# Lookup tables indexed [class, subclass] (np.isin is ten times slower on small batches).
_KNOWN = np.zeros((4, 16), dtype=bool)  # a token type exists (decode_payload accepts it)
_KNOWN[0, :4] = _KNOWN[1, :2] = _KNOWN[2, :10] = True
_HAS_TID = np.zeros((4, 16), dtype=bool)  # the type carries RND and TID
_HAS_TID[0, :] = True
_HAS_TID[2, [0, 1, 2, 5, 6, 7]] = True
# 5-digit groups of the 20-digit form, as ASCII codes (uint8 for bytes, uint32 for str).
_GROUPS = np.arange(100_000)[:, None] // np.array([10**i for i in range(4, -1, -1)]) % 10 + 48
_GROUPS_S = _GROUPS.astype(np.uint8)
_GROUPS_U = _GROUPS.astype(np.uint32)
_TEN5 = np.uint64(100_000)


def _row_error(kind: type[StsError], row: int, message: str) -> StsError:
    """The scalar error type, its message prefixed with the row; ``.row`` holds the row."""
    error = kind(f"row {row}: {message}")
    error.row = row  # type: ignore[attr-defined]  # callers map rows to their line numbers
    return error


def _crypt(block: Any, cls: Any, rows_mask: Any, key: Any, n: int, how: str) -> Any:
    """``block`` with the rows in ``rows_mask`` (the encrypted classes) passed through the
    cipher's ``encrypt`` or ``decrypt``; a new array, the input is left as it was."""
    out = block.copy()
    if not rows_mask.any():
        return out
    if key is None:
        row = _first(rows_mask) or 0
        raise ValueError(
            f"row {row}: class {cls[row]} tokens are encrypted: a decoder key is required"
        )
    _check_keys(key, n)
    cipher = _cipher(key)
    if rows_mask.all():
        return getattr(cipher, how)(block)
    rows = np.flatnonzero(rows_mask)
    out[rows] = getattr(cipher.rows(rows), how)(block[rows])
    return out


def _first(mask: npt.NDArray[np.bool_]) -> int | None:
    """The first True row, or None (any() first: the usual case is a clean batch)."""
    if not mask.any():
        return None
    return int(np.argmax(mask))


def _ints(values: ArrayLike, n: int | None, what: str) -> I64:
    """Whole numbers as int64, broadcast to n rows; refuses floats and bools like the scalars."""
    arr = np.asarray(values)
    if arr.size == 0:
        arr = arr.astype(np.int64)  # an empty list is float64 to numpy
    elif arr.dtype == object:  # Python ints too large for int64, or mixed types
        if not all(type(v) is int for v in arr.ravel()):
            raise FieldError(f"{what} must be whole numbers")
        try:
            arr = arr.astype(np.int64)
        except OverflowError:
            raise FieldError(f"{what} values must fit 64 bits") from None
    if arr.dtype.kind not in "iu":
        raise FieldError(f"{what} must be whole numbers (got {arr.dtype} values)")
    if arr.dtype == np.uint64 and arr.size and int(arr.max()) > np.iinfo(np.int64).max:
        row = _first(arr > np.iinfo(np.int64).max)
        raise _row_error(FieldError, row or 0, f"{what} {int(arr.ravel()[row or 0])} is too large")
    out = arr.astype(np.int64, copy=False).reshape(-1)
    if n is not None and out.shape != (n,):
        out = np.broadcast_to(out, (n,))
    return out


def _rows(*columns: ArrayLike) -> int:
    """Rows of a batch: the broadcast length of its columns (scalars repeat)."""
    shape = np.broadcast_shapes(*(np.shape(c) for c in columns))
    if len(shape) > 1:
        raise ValueError("batch columns must be 1-D arrays or scalars")
    return shape[0] if shape else 1


def _check_range(values: I64, low: int, high: int, message: str) -> None:
    """Raise FieldError for the first row outside low..high; message formats {v}."""
    row = _first((values < low) | (values > high))
    if row is not None:
        raise _row_error(FieldError, row, message.format(v=int(values[row])))


# --- amounts ---------------------------------------------------------------------------


def encode_amounts(units: ArrayLike, what: str = "amount") -> npt.NDArray[np.uint16]:
    """The 16-bit amount field of each row (rounded up, as encode_amount)."""
    u = _ints(units, None, what)
    _check_range(u, 0, AMOUNT_MAX, f"{what} {{v}} units is outside 0..{AMOUNT_MAX}")
    # The largest value of exponents 0..2: above it the rounded-up mantissa overflows.
    tops = [((1 << 14) - 1) * SCALES[e] + OFFSETS[e] for e in range(3)]
    e = (u > tops[0]).astype(np.int64) + (u > tops[1]) + (u > tops[2])
    offsets, scales = np.array(OFFSETS)[e], np.array(SCALES)[e]
    mantissa = -((offsets - u) // scales)  # ceiling division: round up
    return ((e << 14) | mantissa).astype(np.uint16)


def decode_amounts(fields: ArrayLike) -> I64:
    """Units represented by each 16-bit amount field (as decode_amount)."""
    f = np.asarray(fields).astype(np.int64)
    e = f >> 14
    return (f & 0x3FFF) * np.array(SCALES)[e] + np.array(OFFSETS)[e]


# --- fields ----------------------------------------------------------------------------


def _payload_status(cls: U8, sub: U8, payload: U64) -> U8:
    """OK, UNSUPPORTED or FIELD per row: what decode_payload would do with the row."""
    low8 = payload & np.uint64(0xFF)
    low16 = payload & np.uint64(0xFFFF)
    bit34 = (payload >> np.uint64(34)) & np.uint64(1)
    class1 = cls == 1
    mfr_ok = np.where(sub == 1, low16 <= 9999, low8 <= 99)
    known = _KNOWN[cls, sub]
    bad_field = (class1 & (sub <= 1) & ~mfr_ok) | ((cls == 2) & (sub == 3) & (bit34 == 1))
    return np.where(known, np.where(bad_field, FIELD, OK), UNSUPPORTED).astype(np.uint8)


def _has_tid(cls: U8, sub: U8) -> npt.NDArray[np.bool_]:
    return _HAS_TID[cls, sub]


@dataclass(frozen=True, eq=False)
class TokenFields:
    """Many tokens as plain fields: class, subclass and 44-bit payload per row.

    Build with ``credit``, ``tid_tokens`` or ``of`` (from Token objects); every row is a
    token type the scalar engine accepts (checked on construction).
    """

    token_class: U8
    subclass: U8
    payload: U64

    def __post_init__(self) -> None:
        arrays = [np.ascontiguousarray(a) for a in (self.token_class, self.subclass)]
        cls, sub = (a.astype(np.uint8) for a in arrays)
        payload = np.ascontiguousarray(self.payload, dtype=np.uint64)
        if not cls.shape == sub.shape == payload.shape or cls.ndim != 1:
            raise ValueError("token_class, subclass and payload must be 1-D arrays of one length")
        if (payload >> np.uint64(44)).any():
            row = _first((payload >> np.uint64(44)) != 0)
            raise _row_error(FieldError, row or 0, "payload is wider than 44 bits")
        bad = _first(_payload_status(cls, sub, payload) != OK)
        if bad is not None:
            try:
                decode_payload(int(cls[bad]), int(sub[bad]), int(payload[bad]))
            except StsError as exc:
                raise _row_error(type(exc), bad, str(exc)) from None
        object.__setattr__(self, "token_class", cls)
        object.__setattr__(self, "subclass", sub)
        object.__setattr__(self, "payload", payload)

    def __len__(self) -> int:
        return int(self.payload.shape[0])

    @property
    def tid(self) -> I64:
        """TID of each row (meaningful where has_tid)."""
        return ((self.payload >> np.uint64(16)) & np.uint64(TID_MAX)).astype(np.int64)

    @property
    def has_tid(self) -> npt.NDArray[np.bool_]:
        return _has_tid(self.token_class, self.subclass)

    @classmethod
    def credit(
        cls, tid: ArrayLike, amount: ArrayLike, rnd: ArrayLike = 0, kind: ArrayLike = 0
    ) -> TokenFields:
        """TransferCredit rows (class 0): amount in 0.1 units, kind 0-3 (the subclass)."""
        n = _rows(tid, amount, rnd, kind)
        amounts = _ints(amount, n, "amount")
        kinds = _ints(kind, n, "credit subclass")
        currency = CURRENCY_SUBCLASSES
        row = _first((kinds >= currency.start) & (kinds < currency.stop))
        if row is not None:
            raise _row_error(
                UnsupportedError,
                row,
                f"currency credit (class 0 subclass {kinds[row]}) needs CRC_C, which is not"
                " published; not supported",
            )
        _check_range(kinds, 0, 3, "credit subclass {v} is reserved; accepted: 0..3")
        field16 = encode_amounts(amounts)
        return cls._tid_rows(0, kinds, tid, rnd, field16)

    @classmethod
    def tid_tokens(
        cls, token_type: type[TidToken], tid: ArrayLike, value: ArrayLike = 0, rnd: ArrayLike = 0
    ) -> TokenFields:
        """Class 2 rows of one TID-carrying type: watts for the limits, else the 16-bit value."""
        if token_type is CreditToken or not issubclass(token_type, _AmountToken | _RawFieldToken):
            raise TypeError(f"tid_tokens takes a class 2 TID token type, not {token_type.__name__}")
        n = _rows(tid, value, rnd)
        if issubclass(token_type, _AmountToken):
            field16 = encode_amounts(_ints(value, n, "watts"), "watts")
        else:
            values = _ints(value, n, token_type._value_name)
            name = token_type._value_name
            _check_range(values, 0, 0xFFFF, f"{name} {{v}} is outside 0..65535 (16 bits)")
            field16 = values
        subs = np.full(n, token_type.subclass, dtype=np.int64)
        return cls._tid_rows(2, subs, tid, rnd, field16)

    @classmethod
    def _tid_rows(
        cls, token_class: int, subs: I64, tid: ArrayLike, rnd: ArrayLike, field16: ArrayLike
    ) -> TokenFields:
        n = subs.shape[0]
        tids = _ints(tid, n, "TID")
        _check_range(tids, 0, TID_MAX, f"TID {{v}} is outside 0..{TID_MAX} (24 bits)")
        rnds = _ints(rnd, n, "RND")
        _check_range(rnds, 0, 15, "RND {v} is outside 0..15 (4 bits)")
        f16 = np.broadcast_to(np.asarray(field16, dtype=np.uint64), (n,))
        payload = (
            (rnds.astype(np.uint64) << np.uint64(40))
            | (tids.astype(np.uint64) << np.uint64(16))
            | f16
        )
        # Every field was range-checked above: skip the general check of __post_init__.
        return _trusted(np.full(n, token_class, dtype=np.uint8), subs.astype(np.uint8), payload)

    @classmethod
    def of(cls, tokens: Iterable[Token]) -> TokenFields:
        """Rows from Token objects (any type, including key changes and class 1)."""
        rows = [(t.token_class, t.subclass, t.payload()) for t in tokens]
        if not rows:
            empty = np.zeros(0, dtype=np.uint8)
            return cls(empty, empty, np.zeros(0, dtype=np.uint64))
        c, s, p = zip(*rows, strict=True)
        return cls(
            np.array(c, dtype=np.uint8), np.array(s, dtype=np.uint8), np.array(p, dtype=np.uint64)
        )

    def tokens(self) -> list[Token]:
        """Token objects, as a meter decodes them (amounts as their encoded value)."""
        return [
            decode_payload(c, s, p)
            for c, s, p in zip(
                self.token_class.tolist(),
                self.subclass.tolist(),
                self.payload.tolist(),
                strict=True,
            )
        ]


def _trusted(token_class: U8, subclass: U8, payload: U64) -> TokenFields:
    """TokenFields from rows the engine built itself and knows to be valid."""
    fields = object.__new__(TokenFields)
    for name, value in (("token_class", token_class), ("subclass", subclass), ("payload", payload)):
        object.__setattr__(fields, name, value)
    return fields


# --- keys ------------------------------------------------------------------------------


class KeyArray:
    """Decoder keys of many meters, one EA (and one EA07 table set). The values are secret."""

    __slots__ = ("__weakref__", "_values", "ea", "sta_tables")

    def __init__(
        self, values: npt.NDArray[np.uint8], ea: int, sta_tables: StaTables = SAMPLE_TABLES
    ) -> None:
        bits = KEY_BITS.get(ea)
        if bits is None:
            raise UnsupportedError(f"EA {ea:02d} is not supported; accepted: 07, 09, 11")
        arr = np.array(values, dtype=np.uint8)
        if arr.ndim != 2 or arr.shape[1] * 8 != bits:
            raise FieldError(f"EA{ea:02d} needs {bits}-bit decoder keys, one per row")
        arr.flags.writeable = False
        self._values, self.ea, self.sta_tables = arr, ea, sta_tables

    @classmethod
    def of(cls, keys: Sequence[DecoderKey]) -> KeyArray:
        """One array from DecoderKey objects of the same EA and tables."""
        if not keys:
            raise ValueError("KeyArray.of needs at least one key")
        ea, tables = keys[0].ea, keys[0].sta_tables
        if any(k.ea != ea or k.sta_tables is not tables for k in keys):
            raise ValueError("all keys of a KeyArray share one EA and one set of EA07 tables")
        raw = np.frombuffer(b"".join(k.value for k in keys), dtype=np.uint8)
        return cls(raw.reshape(len(keys), -1), ea, tables)

    @property
    def values(self) -> npt.NDArray[np.uint8]:
        """The raw keys (read-only): for key-change tokens only; never log or report them."""
        return self._values

    def __len__(self) -> int:
        return int(self._values.shape[0])

    def __getitem__(self, row: int) -> DecoderKey:
        return DecoderKey(self._values[row].tobytes(), self.ea, self.sta_tables)

    def __repr__(self) -> str:
        return f"KeyArray(EA{self.ea:02d}, {len(self)} keys, <secret>)"

    __str__ = __repr__


Cipher = kernels.Misty1Batch | kernels.Ea07Batch | kernels.DesBatch
_CIPHERS: weakref.WeakKeyDictionary[DecoderKey | KeyArray, Cipher] = weakref.WeakKeyDictionary()


def _cipher(key: DecoderKey | KeyArray) -> Cipher:
    """The key's numpy cipher state, built once per key object (key setup is not per call)."""
    cached = _CIPHERS.get(key)
    if cached is not None:
        return cached
    cipher: Cipher
    if isinstance(key, DecoderKey):
        value = key.value
        if key.ea == 11:
            cipher = kernels.Misty1Batch.one(_expand_key(value))
        elif key.ea == 7:
            word = np.array([int.from_bytes(value, "big")], dtype=np.uint64)
            cipher = kernels.Ea07Batch.of(key.sta_tables, word, per_row=False)
        else:
            cipher = kernels.DesBatch([value], per_row=False)
    else:
        values = key.values
        if key.ea == 11:
            cipher = kernels.Misty1Batch.many(values)
        elif key.ea == 7:
            words = np.frombuffer(values.tobytes(), dtype=">u8").astype(np.uint64)
            cipher = kernels.Ea07Batch.of(key.sta_tables, words, per_row=True)
        else:
            cipher = kernels.DesBatch([row.tobytes() for row in values], per_row=True)
    _CIPHERS[key] = cipher
    return cipher


def _check_keys(key: DecoderKey | KeyArray, n: int) -> None:
    if isinstance(key, KeyArray) and len(key) != n:
        raise ValueError(f"{len(key)} keys for {n} rows: give one key, or one key per row")


def encrypt_many(key: DecoderKey | KeyArray, blocks: ArrayLike) -> U64:
    """Each 64-bit block encrypted under the key (or under its row's key)."""
    data = np.ascontiguousarray(blocks, dtype=np.uint64)
    _check_keys(key, data.shape[0])
    return _cipher(key).encrypt(data)


def decrypt_many(key: DecoderKey | KeyArray, blocks: ArrayLike) -> U64:
    """Each 64-bit block decrypted under the key (or under its row's key)."""
    data = np.ascontiguousarray(blocks, dtype=np.uint64)
    _check_keys(key, data.shape[0])
    return _cipher(key).decrypt(data)


def _luhn_ok(digits: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """Luhn check of each row of digits (last column = check digit), as verify_luhn."""
    payload = digits[:, :-1]
    width = payload.shape[1]
    doubled = np.zeros(width, dtype=bool)
    doubled[width - 1 :: -2] = True  # every other digit, starting with the rightmost
    twice = payload * 2
    terms = np.where(doubled, np.where(twice > 9, twice - 9, twice), payload)
    return (10 - terms.sum(axis=1) % 10) % 10 == digits[:, -1]


def _pan_digits(pans: Sequence[MeterPan | str] | npt.NDArray[Any]) -> npt.NDArray[np.int64]:
    """18 digits per meter; DRNs are turned into MeterPANs; bad rows raise the scalar error."""
    texts = [p.digits if isinstance(p, MeterPan) else str(p) for p in pans]
    codes = _codes(np.array(texts, dtype=str) if texts else np.zeros(0, dtype="U18"), 18)
    digits = codes[:, :18].astype(np.int64) - 48
    fast = ((digits >= 0) & (digits <= 9)).all(axis=1) & (codes[:, 18:] == 0).all(axis=1)
    fast &= _luhn_ok(np.where(fast[:, None], digits, 0))
    for row in np.flatnonzero(~fast).tolist():  # DRNs, grouped input, or an error
        try:
            pan = MeterPan.parse(texts[row]).digits
        except StsError as exc:
            raise _row_error(type(exc), row, str(exc)) from None
        digits[row] = np.frombuffer(pan.encode(), dtype=np.uint8).astype(np.int64) - 48
    return digits


def derive_many(
    vending_key: bytes,
    pans: Sequence[MeterPan | str] | npt.NDArray[Any],
    info: KeyInfo,
    sta_tables: StaTables = SAMPLE_TABLES,
) -> KeyArray:
    """Decoder keys of many meters under one vending key and one key identity.

    DKGA04 (HMAC-SHA-256) and DKGA02 (DES) run batched; DKGA01/03 (unverified, no
    vectors) go through the scalar functions row by row.
    """
    check_derivation(vending_key, info)
    digits = _pan_digits(pans)
    n, nbytes = digits.shape[0], KEY_BITS[info.ea] // 8
    if info.dkga == 4:
        out = _dkga04_many(vending_key, digits, info, nbytes)
    elif info.dkga == 2:
        out = _dkga02_many(vending_key, digits, info)
    else:
        texts = ["".join(map(str, row)) for row in digits.tolist()]
        raw = b"".join(derive_decoder_key(vending_key, MeterPan(t), info) for t in texts)
        out = np.frombuffer(raw, dtype=np.uint8).reshape(n, nbytes)
    return KeyArray(out.reshape(n, nbytes), info.ea, sta_tables)


def _dkga04_many(
    vending_key: bytes, digits: npt.NDArray[np.int64], info: KeyInfo, nbytes: int
) -> npt.NDArray[np.uint8]:
    # HMAC by hand so the key blocks are hashed once, then copied per meter (RFC 2104).
    block_key = vending_key if len(vending_key) <= 64 else hashlib.sha256(vending_key).digest()
    block_key = block_key.ljust(64, b"\0")
    inner0 = hashlib.sha256(bytes(b ^ 0x36 for b in block_key))
    outer0 = hashlib.sha256(bytes(b ^ 0x5C for b in block_key))
    head, tail = dkga04_message_parts(info)
    inner0.update(head + bytes([18]))  # LV(MeterPAN) starts with its length, 18, for all
    ascii_pans = (digits + 48).astype(np.uint8).tobytes()
    out = bytearray()
    for start in range(0, len(ascii_pans), 18):
        inner = inner0.copy()
        inner.update(ascii_pans[start : start + 18] + tail)
        outer = outer0.copy()
        outer.update(inner.digest())
        out += outer.digest()[:nbytes]
    return np.frombuffer(bytes(out), dtype=np.uint8).reshape(-1, nbytes)


def _dkga02_many(
    vending_key: bytes, digits: npt.NDArray[np.int64], info: KeyInfo
) -> npt.NDArray[np.uint8]:
    # PAN block: the rightmost 16 of IIN + IAIN = PAN digits 1..16; a DCTK zeroes the IAIN.
    # A PAN that does not start with the legacy IIN is read with IIN 0000 (MeterPan.iin).
    block = digits[:, 1:17].copy()
    legacy = (digits[:, :6] == np.array([int(c) for c in LEGACY_IIN])).all(axis=1)
    block[~legacy, :3] = 0
    if info.kt == 3:
        iain_from = np.where(legacy, len(LEGACY_IIN) - 1, 3)  # block index of the IAIN
        block[np.arange(16)[None, :] >= iain_from[:, None]] = 0
    pan_blocks = (block[:, 0::2] << 4 | block[:, 1::2]).astype(np.uint8)
    d = pan_blocks ^ np.frombuffer(control_block(info), dtype=np.uint8)
    encrypted = DES.new(vending_key, DES.MODE_ECB).encrypt(d.tobytes())
    vk = np.frombuffer(vending_key, dtype=np.uint8)
    return np.frombuffer(encrypted, dtype=np.uint8).reshape(-1, 8) ^ d ^ vk


# --- the 20-digit form -----------------------------------------------------------------


def _insert_class(block: U64, cls: U8) -> tuple[U64, U64]:
    """(bits 65..64, bits 63..0) of each 66-bit token (the scalar insert_class)."""
    high = (block >> np.uint64(27)) & np.uint64(3)
    low = (block & _KEEP) | (cls.astype(np.uint64) << np.uint64(27))
    return high, low


def _extract_class(high: U64, low: U64) -> tuple[U8, U64]:
    cls = ((low >> np.uint64(27)) & np.uint64(3)).astype(np.uint8)
    return cls, (low & _KEEP) | (high << np.uint64(27))


def token_strings(high: U64, low: U64, form: Literal["str", "bytes"] = "str") -> npt.NDArray[Any]:
    """20-digit decimal of each 66-bit number high * 2**64 + low (to_digits)."""
    # 2**64 = 1844674407 * 10**10 + 3709551616: split into two 10-digit halves exactly.
    sum_low = high * np.uint64(3709551616) + low % _TEN10
    carry = sum_low // _TEN10
    low10 = sum_low - carry * _TEN10
    high10 = high * np.uint64(1844674407) + low // _TEN10 + carry
    # Four 5-digit groups from a table, written straight in the output's character codes.
    groups = _GROUPS_S if form == "bytes" else _GROUPS_U
    out = np.empty((low.shape[0], 20), dtype=groups.dtype)
    for i, half in enumerate((high10, low10)):
        upper, lower = np.divmod(half, _TEN5)
        out[:, 10 * i : 10 * i + 5] = groups[upper.astype(np.intp)]
        out[:, 10 * i + 5 : 10 * i + 10] = groups[lower.astype(np.intp)]
    return out.view("S20" if form == "bytes" else "U20").reshape(-1)


def _codes(arr: npt.NDArray[Any], width: int) -> npt.NDArray[Any]:
    """Character codes of each string, one row per string, at least ``width`` columns."""
    n = arr.shape[0]
    if arr.dtype.kind == "U":
        size, view = arr.dtype.itemsize // 4, np.uint32
    elif arr.dtype.kind == "S":
        size, view = arr.dtype.itemsize, np.uint8
    else:
        raise TypeError(f"expected strings, not {arr.dtype} values")
    codes = (
        np.ascontiguousarray(arr).view(view).reshape(n, size) if size else np.zeros((n, 0), view)
    )
    return np.pad(codes, ((0, 0), (0, width - size))) if size < width else codes


def parse_tokens(tokens: ArrayLike) -> tuple[U64, U64, npt.NDArray[np.bool_]]:
    """(high, low, bad) per token text; the forms parse_token accepts, bad where it refuses."""
    arr = np.asarray(tokens)
    if arr.ndim != 1:
        arr = arr.reshape(-1)
    if arr.dtype == object or arr.size == 0:  # an empty list is float64 to numpy
        arr = arr.astype(str)
    codes = _codes(arr, 20)
    head = codes[:, :20].astype(np.int64) - 48
    fast = ((head >= 0) & (head <= 9)).all(axis=1) & (codes[:, 20:] == 0).all(axis=1)
    digits = np.where(fast[:, None], head, 0).astype(np.uint64)
    high10 = (digits[:, :10] * _POW10).sum(axis=1, dtype=np.uint64)
    low10 = (digits[:, 10:] * _POW10).sum(axis=1, dtype=np.uint64)
    # value = high10 * 10**10 + low10, with 10**10 = 9765625 * 2**10 (product < 2**57).
    product = high10 * np.uint64(9765625)
    shifted = product << np.uint64(10)
    low = shifted + low10
    high = (product >> np.uint64(54)) + (low < shifted)
    bad = ~fast | (high > 3)
    for row in np.flatnonzero(~fast).tolist():  # grouped forms or errors: the scalar parser
        try:
            value = parse_token(str(arr[row].decode() if isinstance(arr[row], bytes) else arr[row]))
        except (TokenFormatError, UnicodeDecodeError):
            continue
        high[row], low[row], bad[row] = value >> 64, value & ((1 << 64) - 1), False
    return high, low, bad


# --- encode and decode -----------------------------------------------------------------


def encode_many(
    key: DecoderKey | KeyArray | None,
    fields: TokenFields,
    *,
    ken: ArrayLike = 255,
    form: Literal["str", "bytes"] = "str",
) -> npt.NDArray[Any]:
    """The 20-digit token of every row (``codec.encode`` row by row, bit for bit).

    ``key``: one decoder key, a KeyArray with one key per row, or None when every row is
    class 1. ``ken``: the key expiry number (one, or one per row); a row whose TID lies
    past it raises KeyExpiredError. ``form``: "str" (numpy str) or "bytes" (for files).
    """
    n = len(fields)
    cls, sub, payload = fields.token_class, fields.subclass, fields.payload
    kens = np.broadcast_to(np.asarray(ken), (n,))
    tid_top = (payload >> np.uint64(32)) & np.uint64(0xFF)  # TID bits 23..16 = KEN epoch
    row = _first(_has_tid(cls, sub) & (tid_top.astype(np.int64) > kens))
    if row is not None:
        tid = int(fields.tid[row])
        raise _row_error(
            KeyExpiredError,
            row,
            f"key expired: TID {tid} has top byte {tid >> 16} > KEN {int(kens[row])};"
            " issue a key change to a key with a later KEN",
        )
    body = (sub.astype(np.uint64) << np.uint64(44)) | payload
    block = (body << np.uint64(16)) | kernels.crc_fields(cls, body)
    block = _crypt(block, cls, cls != 1, key, n, "encrypt")
    return token_strings(*_insert_class(block, cls), form=form)


@dataclass(frozen=True, eq=False)
class DecodedBatch:
    """Decoded rows: plain fields, both blocks, and a status per row (OK or why not)."""

    token_class: U8
    subclass: U8
    payload: U64
    data_block: U64
    encrypted_block: U64
    status: U8
    _texts: npt.NDArray[Any] = field(repr=False)
    _key: DecoderKey | KeyArray | None = field(repr=False)
    _mfr_code: int | None = field(repr=False)

    def __len__(self) -> int:
        return int(self.status.shape[0])

    @property
    def ok(self) -> npt.NDArray[np.bool_]:
        return self.status == OK

    @property
    def has_tid(self) -> npt.NDArray[np.bool_]:
        return self.ok & _has_tid(self.token_class, self.subclass)

    @property
    def tid(self) -> I64:
        """TID of each row (meaningful where has_tid)."""
        return ((self.payload >> np.uint64(16)) & np.uint64(TID_MAX)).astype(np.int64)

    @property
    def rnd(self) -> I64:
        return ((self.payload >> np.uint64(40)) & np.uint64(15)).astype(np.int64)

    @property
    def field16(self) -> I64:
        return (self.payload & np.uint64(0xFFFF)).astype(np.int64)

    @property
    def amount(self) -> I64:
        """Decoded amount field in units (0.1 kWh for credit, W for limits) of every row."""
        return decode_amounts(self.field16)

    def error(self, row: int) -> StsError | None:
        """The exception codec.decode raises for this row (None when the row is OK)."""
        if self.status[row] == OK:
            return None
        text = self._texts[row]
        key = self._key[row] if isinstance(self._key, KeyArray) else self._key
        try:
            decode(text.decode() if isinstance(text, bytes) else str(text), key, self._mfr_code)
        except (StsError, UnicodeDecodeError) as exc:
            if isinstance(exc, UnicodeDecodeError):
                return TokenFormatError(f"token {text!r} contains characters other than digits")
            return exc
        raise AssertionError(f"row {row}: batch status {self.status[row]} but scalar decode passes")

    def raise_first(self) -> None:
        """Raise the first bad row's error (the scalar type and message, with the row)."""
        row = _first(~self.ok)
        if row is not None:
            exc = self.error(row)
            assert exc is not None
            raise _row_error(type(exc), row, str(exc))

    def tokens(self) -> list[Token | None]:
        """Token objects for OK rows, None for the others."""
        out: list[Token | None] = []
        for c, s, p, st in zip(
            self.token_class.tolist(),
            self.subclass.tolist(),
            self.payload.tolist(),
            self.status.tolist(),
            strict=True,
        ):
            out.append(decode_payload(c, s, p) if st == OK else None)
        return out

    def decoded(self, row: int) -> Decoded:
        """One row as codec.decode returns it; raises that row's error when not OK."""
        exc = self.error(row)
        if exc is not None:
            raise exc
        token = decode_payload(
            int(self.token_class[row]), int(self.subclass[row]), int(self.payload[row])
        )
        return Decoded(
            token,
            int(self.token_class[row]),
            int(self.data_block[row]),
            int(self.encrypted_block[row]),
        )


def decode_many(
    key: DecoderKey | KeyArray | None, tokens: ArrayLike, *, mfr_code: int | None = None
) -> DecodedBatch:
    """Parse, decrypt and check every token (``codec.decode`` row by row, bit for bit).

    Bad tokens do not raise: their status says why (FORMAT, CRC, UNSUPPORTED, FIELD,
    MFR_CODE) and ``error(row)`` gives the scalar exception. ``key`` None is allowed
    when every token is class 1.
    """
    texts = np.asarray(tokens).reshape(-1)
    if texts.size == 0:
        texts = texts.astype(str)
    high, low, bad = parse_tokens(texts)
    n = texts.shape[0]
    cls, block = _extract_class(high, low)
    plain = _crypt(block, cls, (cls != 1) & ~bad, key, n, "decrypt")
    body = plain >> np.uint64(16)
    sub = (body >> np.uint64(44)).astype(np.uint8)
    payload = body & np.uint64((1 << 44) - 1)
    crc_ok = (plain & np.uint64(0xFFFF)) == kernels.crc_fields(cls, body)
    status = np.where(crc_ok, _payload_status(cls, sub, payload), CRC).astype(np.uint8)
    if mfr_code is not None:
        mfr = np.where(sub == 1, payload & np.uint64(0xFFFF), payload & np.uint64(0xFF))
        wrong = (status == OK) & (cls == 1) & (mfr != np.uint64(mfr_code))
        status[wrong] = MFR_CODE
    status[bad] = FORMAT
    return DecodedBatch(cls, sub, payload, plain, block, status, texts, key, mfr_code)

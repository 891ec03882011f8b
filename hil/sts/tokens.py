"""Typed STS tokens (sts-notes 3, 4).

Each token type knows its class, subclass and how its fields pack into the 44-bit
payload (block bits 59..16). Encryption, CRC and the 20-digit form live in codec.py.
Amount-carrying tokens hold the value in base units (0.1 kWh, W); the 16-bit field is
computed by rounding up, as the standard requires.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar

from hil.sts.amount import AMOUNT_MAX, check_amount, decode_amount, encode_amount
from hil.sts.errors import FieldError, UnsupportedError
from hil.sts.tid import TID_MAX

CREDIT_KINDS = {0: "electricity", 1: "water", 2: "gas", 3: "time"}
CURRENCY_SUBCLASSES = range(4, 8)


def _check(name: str, value: int, bits: int) -> None:
    if not isinstance(value, int) or not 0 <= value < (1 << bits):
        raise FieldError(f"{name} {value!r} is outside 0..{(1 << bits) - 1} ({bits} bits)")


@dataclass(frozen=True, slots=True)
class Token:
    """Base of all token types."""

    token_class: ClassVar[int]
    subclass: ClassVar[int]
    title: ClassVar[str]

    def payload(self) -> int:
        raise NotImplementedError

    @classmethod
    def from_payload(cls, payload: int) -> Token:
        raise NotImplementedError

    def fields(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class TidToken(Token):
    """Tokens with RND (4 bits), TID (24 bits) and one 16-bit field."""

    tid: int
    rnd: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.tid, int) or not 0 <= self.tid <= TID_MAX:
            raise FieldError(f"TID {self.tid!r} is outside 0..{TID_MAX} (24 bits)")
        _check("RND", self.rnd, 4)

    def field16(self) -> int:
        raise NotImplementedError

    def payload(self) -> int:
        return self.rnd << 40 | self.tid << 16 | self.field16()


@dataclass(frozen=True, slots=True)
class CreditToken(TidToken):
    """Class 0 subclasses 0-3: TransferCredit (amount in 0.1 units of the kind)."""

    token_class: ClassVar[int] = 0
    title: ClassVar[str] = "TransferCredit"
    amount: int = 0
    kind: int = 0  # the subclass: 0 electricity, 1 water, 2 gas, 3 time

    def __post_init__(self) -> None:
        tid, rnd, amount, kind = self.tid, self.rnd, self.amount, self.kind
        # Fast path for the common, valid token (the hot path of vending); the checks
        # below decide every other case and give the messages.
        if (
            type(tid) is int
            and 0 <= tid <= TID_MAX
            and type(rnd) is int
            and 0 <= rnd <= 15
            and type(amount) is int
            and 0 <= amount <= AMOUNT_MAX
            and type(kind) is int
            and 0 <= kind <= 3
        ):
            return
        TidToken.__post_init__(self)
        if self.kind in CURRENCY_SUBCLASSES:
            raise UnsupportedError(
                f"currency credit (class 0 subclass {self.kind}) needs CRC_C, which is not"
                " published; not supported"
            )
        if self.kind not in CREDIT_KINDS:
            raise FieldError(f"credit subclass {self.kind} is reserved; accepted: 0..3")
        check_amount(self.amount)

    @property
    def subclass(self) -> int:  # type: ignore[override]
        return self.kind

    def field16(self) -> int:
        return encode_amount(self.amount)


@dataclass(frozen=True, slots=True)
class _AmountToken(TidToken):
    """Class 2 tokens whose 16-bit field uses the amount encoding (watts)."""

    token_class: ClassVar[int] = 2
    watts: int = 0

    def __post_init__(self) -> None:
        TidToken.__post_init__(self)
        check_amount(self.watts, "watts")

    def field16(self) -> int:
        return encode_amount(self.watts)


@dataclass(frozen=True, slots=True)
class MaxPowerLimitToken(_AmountToken):
    subclass: ClassVar[int] = 0
    title: ClassVar[str] = "SetMaximumPowerLimit"


@dataclass(frozen=True, slots=True)
class PhaseUnbalanceLimitToken(_AmountToken):
    subclass: ClassVar[int] = 6
    title: ClassVar[str] = "SetMaximumPhasePowerUnbalanceLimit"


@dataclass(frozen=True, slots=True)
class _RawFieldToken(TidToken):
    """Class 2 tokens whose 16-bit field is carried as is."""

    token_class: ClassVar[int] = 2
    value: int = 0

    def __post_init__(self) -> None:
        TidToken.__post_init__(self)
        _check(self._value_name, self.value, 16)

    _value_name: ClassVar[str] = "value"

    def field16(self) -> int:
        return self.value


@dataclass(frozen=True, slots=True)
class ClearCreditToken(_RawFieldToken):
    """Register 0xFFFF clears all credit registers; n clears the register of subclass n."""

    subclass: ClassVar[int] = 1
    title: ClassVar[str] = "ClearCredit"
    _value_name: ClassVar[str] = "register"
    ALL_REGISTERS: ClassVar[int] = 0xFFFF


@dataclass(frozen=True, slots=True)
class TariffRateToken(_RawFieldToken):
    subclass: ClassVar[int] = 2
    title: ClassVar[str] = "SetTariffRate"
    _value_name: ClassVar[str] = "rate"


@dataclass(frozen=True, slots=True)
class ClearTamperToken(_RawFieldToken):
    subclass: ClassVar[int] = 5
    title: ClassVar[str] = "ClearTamperCondition"
    _value_name: ClassVar[str] = "pad"


@dataclass(frozen=True, slots=True)
class WaterMeterFactorToken(_RawFieldToken):
    subclass: ClassVar[int] = 7
    title: ClassVar[str] = "SetWaterMeterFactor"
    _value_name: ClassVar[str] = "factor"


@dataclass(frozen=True, slots=True)
class KeyChange1Token(Token):
    """Set1stSectionDecoderKey: new KEN high nibble, KRN, rollover bit, KT, key word 1."""

    token_class: ClassVar[int] = 2
    subclass: ClassVar[int] = 3
    title: ClassVar[str] = "Set1stSectionDecoderKey"
    kenho: int
    krn: int
    ro: int
    kt: int
    key_word: int  # key bits 63..32 (64-bit key) or 127..96 (128-bit key)

    def __post_init__(self) -> None:
        for name, bits in (("kenho", 4), ("krn", 4), ("ro", 1), ("kt", 2), ("key_word", 32)):
            _check(name, getattr(self, name), bits)

    def payload(self) -> int:
        return self.kenho << 40 | self.krn << 36 | self.ro << 35 | self.kt << 32 | self.key_word

    @classmethod
    def from_payload(cls, payload: int) -> KeyChange1Token:
        if payload >> 34 & 1:
            raise FieldError("Set1stSectionDecoderKey reserved bit 50 is set")
        return cls(
            payload >> 40,
            payload >> 36 & 15,
            payload >> 35 & 1,
            payload >> 32 & 3,
            payload & 0xFFFFFFFF,
        )


@dataclass(frozen=True, slots=True)
class KeyChange2Token(Token):
    """Set2ndSectionDecoderKey: new KEN low nibble, TI (binary), key bits 31..0."""

    token_class: ClassVar[int] = 2
    subclass: ClassVar[int] = 4
    title: ClassVar[str] = "Set2ndSectionDecoderKey"
    kenlo: int
    ti: int
    key_word: int

    def __post_init__(self) -> None:
        for name, bits in (("kenlo", 4), ("ti", 8), ("key_word", 32)):
            _check(name, getattr(self, name), bits)

    def payload(self) -> int:
        return self.kenlo << 40 | self.ti << 32 | self.key_word

    @classmethod
    def from_payload(cls, payload: int) -> KeyChange2Token:
        return cls(payload >> 40, payload >> 32 & 0xFF, payload & 0xFFFFFFFF)


@dataclass(frozen=True, slots=True)
class _SgcKeyChangeToken(Token):
    """3rd/4th sections of a 128-bit key change: 12 SGC bits and one 32-bit key word."""

    token_class: ClassVar[int] = 2
    sgc_part: int
    key_word: int

    def __post_init__(self) -> None:
        _check("sgc_part", self.sgc_part, 12)
        _check("key_word", self.key_word, 32)

    def payload(self) -> int:
        return self.sgc_part << 32 | self.key_word

    @classmethod
    def from_payload(cls, payload: int) -> _SgcKeyChangeToken:
        return cls(payload >> 32, payload & 0xFFFFFFFF)


@dataclass(frozen=True, slots=True)
class KeyChange3Token(_SgcKeyChangeToken):
    """Set3rdSectionDecoderKey: SGC low 12 bits, key bits 95..64."""

    subclass: ClassVar[int] = 8
    title: ClassVar[str] = "Set3rdSectionDecoderKey"


@dataclass(frozen=True, slots=True)
class KeyChange4Token(_SgcKeyChangeToken):
    """Set4thSectionDecoderKey: SGC high 12 bits, key bits 63..32."""

    subclass: ClassVar[int] = 9
    title: ClassVar[str] = "Set4thSectionDecoderKey"


@dataclass(frozen=True, slots=True)
class MeterTestToken(Token):
    """Class 1 InitiateMeterTest/Display; not encrypted, bound to a manufacturer code.

    Subclass 0 carries a 2-digit MfrCode and 36 control bits, subclass 1 a 4-digit
    MfrCode and 28 control bits.
    """

    token_class: ClassVar[int] = 1
    title: ClassVar[str] = "InitiateMeterTest/Display"
    control: int
    mfr_code: int
    four_digit: bool = False

    def __post_init__(self) -> None:
        if self.four_digit:
            _check("control", self.control, 28)
            if not 0 <= self.mfr_code <= 9999:
                raise FieldError(f"MfrCode {self.mfr_code} must be 4 digits (0..9999)")
        else:
            _check("control", self.control, 36)
            if not 0 <= self.mfr_code <= 99:
                raise FieldError(f"MfrCode {self.mfr_code} must be 2 digits (0..99)")

    @property
    def subclass(self) -> int:  # type: ignore[override]
        return 1 if self.four_digit else 0

    def payload(self) -> int:
        if self.four_digit:
            return self.control << 16 | self.mfr_code
        return self.control << 8 | self.mfr_code

    @classmethod
    def from_payload_sub(cls, sub: int, payload: int) -> MeterTestToken:
        if sub == 1:
            return cls(payload >> 16, payload & 0xFFFF, True)
        return cls(payload >> 8, payload & 0xFF, False)


# Class 1 control bits. Table 27 of the standard (the bit meanings) is not public; this
# project's choice, used by the simulator, is documented in docs/token-engine.md.
TEST_CONTROLS = {
    "load-switch": 1 << 0,
    "display": 1 << 1,
    "totals": 1 << 2,
    "key-info": 1 << 3,
    "tid": 1 << 4,
    "power-limit": 1 << 5,
}


def _tid_fields(payload: int) -> tuple[int, int, int]:
    return payload >> 40, payload >> 16 & TID_MAX, payload & 0xFFFF


def decode_payload(token_class: int, sub: int, payload: int) -> Token:
    """Typed token for a class, subclass and 44-bit payload (after the CRC has passed)."""
    if token_class == 0:
        if sub in CURRENCY_SUBCLASSES:
            raise UnsupportedError(
                f"currency credit (class 0 subclass {sub}) needs CRC_C; not supported"
            )
        if sub not in CREDIT_KINDS:
            raise UnsupportedError(f"class 0 subclass {sub} is reserved")
        rnd, tid, f16 = _tid_fields(payload)
        return CreditToken(tid, rnd, decode_amount(f16), sub)
    if token_class == 1:
        if sub > 1:
            raise UnsupportedError(f"class 1 subclass {sub} is reserved")
        return MeterTestToken.from_payload_sub(sub, payload)
    if token_class == 2:
        kind = CLASS2.get(sub)
        if kind is None:
            raise UnsupportedError(f"class 2 subclass {sub} is reserved")
        if issubclass(kind, TidToken):
            rnd, tid, f16 = _tid_fields(payload)
            if issubclass(kind, _AmountToken):
                return kind(tid, rnd, decode_amount(f16))
            return kind(tid, rnd, f16)
        return kind.from_payload(payload)
    raise UnsupportedError("class 3 tokens are reserved by the STS Association")


CLASS2: dict[int, type[Token]] = {
    t.subclass: t
    for t in (
        MaxPowerLimitToken,
        ClearCreditToken,
        TariffRateToken,
        KeyChange1Token,
        KeyChange2Token,
        ClearTamperToken,
        PhaseUnbalanceLimitToken,
        WaterMeterFactorToken,
        KeyChange3Token,
        KeyChange4Token,
    )
}

KEY_CHANGE_TYPES = (KeyChange1Token, KeyChange2Token, KeyChange3Token, KeyChange4Token)

"""Key change token sets (sts-notes 10).

A 64-bit key travels in sections 1 and 2; a 128-bit key adds sections 3 and 4, which
also carry the new SGC. Every section is encrypted under the meter's *current* key.
"""

from __future__ import annotations

from dataclasses import dataclass

from hil.sts.errors import FieldError
from hil.sts.keys import KeyInfo
from hil.sts.tokens import (
    KeyChange1Token,
    KeyChange2Token,
    KeyChange3Token,
    KeyChange4Token,
    Token,
)

_WORD = 0xFFFFFFFF


def key_change_set(
    new_key: bytes, *, ken: int, krn: int, kt: int, ti: int, sgc: int, rollover: bool = False
) -> list[Token]:
    """The sections that install ``new_key`` (2 for 64 bits, 4 for 128 bits), in order 1..n."""
    value = int.from_bytes(new_key, "big")
    s1 = KeyChange1Token(ken >> 4, krn, int(rollover), kt, value >> (len(new_key) * 8 - 32) & _WORD)
    s2 = KeyChange2Token(ken & 15, ti, value & _WORD)
    if len(new_key) == 8:
        return [s1, s2]
    if len(new_key) != 16:
        raise FieldError(f"a new decoder key must be 64 or 128 bits, got {len(new_key) * 8}")
    if not 0 <= sgc < 1 << 24:
        raise FieldError(f"SGC {sgc} does not fit the 24 bits of the key change sections")
    return [
        s1,
        s2,
        KeyChange3Token(sgc & 0xFFF, value >> 64 & _WORD),
        KeyChange4Token(sgc >> 12, value >> 32 & _WORD),
    ]


def sections_for(new_key: bytes, info: KeyInfo, *, rollover: bool = False) -> list[Token]:
    """The set installing ``new_key`` with the identity ``info`` (KEN, KRN, KT, TI, SGC)."""
    return key_change_set(
        new_key, ken=info.ken, krn=info.krn, kt=info.kt, ti=info.ti, sgc=info.sgc, rollover=rollover
    )


@dataclass(frozen=True, slots=True)
class NewKey:
    """What a complete key change set installs."""

    key: bytes
    ken: int
    krn: int
    kt: int
    ti: int
    rollover: bool
    sgc: int | None  # only 128-bit sets carry the SGC


def sections_needed(key_bits: int) -> frozenset[int]:
    """Subclasses that make a complete set for a key of this size."""
    return frozenset({3, 4}) if key_bits == 64 else frozenset({3, 4, 8, 9})


def assemble(sections: dict[int, Token], key_bits: int) -> NewKey:
    """Join a complete set (keyed by subclass) into the new key and its parameters."""
    missing = sections_needed(key_bits) - sections.keys()
    if missing:
        raise FieldError(f"key change set incomplete: missing subclass {sorted(missing)}")
    s1 = sections[3]
    s2 = sections[4]
    assert isinstance(s1, KeyChange1Token) and isinstance(s2, KeyChange2Token)
    sgc = None
    if key_bits == 64:
        value = s1.key_word << 32 | s2.key_word
    else:
        s3, s4 = sections[8], sections[9]
        assert isinstance(s3, KeyChange3Token) and isinstance(s4, KeyChange4Token)
        value = s1.key_word << 96 | s3.key_word << 64 | s4.key_word << 32 | s2.key_word
        sgc = s4.sgc_part << 12 | s3.sgc_part
    return NewKey(
        value.to_bytes(key_bits // 8, "big"),
        s1.kenho << 4 | s2.kenlo,
        s1.krn,
        s1.kt,
        s2.ti,
        bool(s1.ro),
        sgc,
    )

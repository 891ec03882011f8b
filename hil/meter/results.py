"""Canonical token result codes (bench-notes 2.1, the Conlog BEC62 "STS token result" list).

The numbering is the one meters expose in their "last token result" register. Whether it
is normative (IEC 62055-41 §7.1) or vendor practice is not confirmed; the harness uses it
as its canonical set either way.
"""

from __future__ import annotations

from enum import IntEnum


class TokenResult(IntEnum):
    RESERVED = 0
    ACCEPT = 1
    KCT1 = 2  # first key change section(s) accepted, waiting for the rest of the set
    KCT2 = 3  # key change set complete, key changed
    OVERFLOW = 4
    KEY_TYPE = 5
    FORMAT = 6
    RANGE = 7
    FUNCTION = 8
    OLD = 9
    USED = 10
    KEY_EXPIRED = 11
    DDTK = 12
    CRC = 13
    MFR_CODE = 14
    LOCKOUT = 15
    NOT_READY = 16

    @property
    def label(self) -> str:
        """Readable name, as a meter display or report shows it."""
        return _LABELS[self]

    @property
    def accepted(self) -> bool:
        """True for the three results that mean the token was taken: Accept, 1st KCT, 2nd KCT."""
        return self in _ACCEPTED

    @classmethod
    def from_label(cls, text: str) -> TokenResult:
        """The result for a label or a member name, case-insensitive ("Used", "used", "KCT1")."""
        wanted = text.strip().casefold()
        for result in cls:
            if wanted in (result.label.casefold(), result.name.casefold()):
                return result
        raise ValueError(f"unknown token result {text!r}; known: {', '.join(_LABELS.values())}")


_LABELS = {
    TokenResult.RESERVED: "Reserved",
    TokenResult.ACCEPT: "Accept",
    TokenResult.KCT1: "1st KCT",
    TokenResult.KCT2: "2nd KCT",
    TokenResult.OVERFLOW: "Overflow",
    TokenResult.KEY_TYPE: "Key type",
    TokenResult.FORMAT: "Format",
    TokenResult.RANGE: "Range",
    TokenResult.FUNCTION: "Function",
    TokenResult.OLD: "Old",
    TokenResult.USED: "Used",
    TokenResult.KEY_EXPIRED: "Key expired",
    TokenResult.DDTK: "DDTK",
    TokenResult.CRC: "CRC",
    TokenResult.MFR_CODE: "Mfr code",
    TokenResult.LOCKOUT: "Lockout",
    TokenResult.NOT_READY: "Not ready",
}
_ACCEPTED = frozenset({TokenResult.ACCEPT, TokenResult.KCT1, TokenResult.KCT2})

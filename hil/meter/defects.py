"""Deliberate defects the model can carry, for testing the harness itself.

A defective model breaks exactly one rule; a harness test suite run against it must fail
the tests for that rule and pass the others (the later self-test uses `DEFECTS`). Clause
references follow sts-notes / bench-notes: section numbers of IEC 62055-41 where the notes
cite one, otherwise a descriptive rule name.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum, auto


class Defect(StrEnum):
    ACCEPTS_REPLAYS = auto()
    IGNORES_KEY_EXPIRY = auto()
    SMALL_TID_MEMORY = auto()
    NO_OLD_RULE = auto()
    DOUBLE_CREDIT_ON_POWER_FAIL = auto()
    RELAY_STAYS_CLOSED_AT_ZERO = auto()
    KEY_CHANGE_ONE_ORDER = auto()
    IGNORES_POWER_LIMIT = auto()
    NO_LOCKOUT = auto()
    ACCEPTS_CREDIT_UNDER_DDTK = auto()
    ROLLOVER_KEEPS_TID_MEMORY = auto()
    WRONG_AMOUNT_AT_EXPONENT_BOUNDARY = auto()
    FORGETS_TIDS_ON_POWER_CYCLE = auto()
    ACCEPTS_SHORT_ENTRY = auto()
    ACCEPTS_ILLEGAL_KEY_TYPE = auto()
    KEY_READBACK_STALE = auto()
    CLASS1_IGNORES_TOTALS = auto()
    BACK_KEY_IGNORED = auto()
    ACCEPTS_UNSUPPORTED_MANAGEMENT = auto()

    @property
    def description(self) -> str:
        return DEFECTS[self][0]

    @property
    def clause(self) -> str:
        return DEFECTS[self][1]


SMALL_TID_MEMORY_DEPTH = 5

# name -> (what the defective meter does, the rule/clause it violates)
DEFECTS: dict[Defect, tuple[str, str]] = {
    Defect.ACCEPTS_REPLAYS: (
        "accepts a token whose TID is already in the TID memory (no Used check), so a"
        " replayed credit token credits again",
        "IEC 62055-41 §7.3.8 TID validation: Used",
    ),
    Defect.IGNORES_KEY_EXPIRY: (
        "accepts TID tokens whose TID top byte is above the key's KEN",
        "IEC 62055-41 §7.3.6-7.3.8 TID validation: KeyExpired (TID >> 16 > KEN)",
    ),
    Defect.SMALL_TID_MEMORY: (
        f"keeps only {SMALL_TID_MEMORY_DEPTH} TIDs, so a token entered 6 tokens ago is"
        " refused as Old instead of Used",
        "IEC 62055-41 §7.3.8 TID memory size (>= 50 assumed)",
    ),
    Defect.NO_OLD_RULE: (
        "accepts a TID below the smallest TID of a full memory; it is then dropped at once"
        " and can be replayed without end",
        "IEC 62055-41 §7.3.8 TID validation: Old",
    ),
    Defect.DOUBLE_CREDIT_ON_POWER_FAIL: (
        "commits the credit half-way through processing and the TID only at the end: a power"
        " fail in between keeps the credit without the TID, so the token credits again",
        "IEC 62055-41 §7.3.8 credit and TID stored together (bench-notes 3.1 atomicity)",
    ),
    Defect.RELAY_STAYS_CLOSED_AT_ZERO: (
        "keeps the load switch closed when the credit reaches zero (free energy)",
        "IEC 62055-31 supply control: interrupt supply when credit is exhausted",
    ),
    Defect.KEY_CHANGE_ONE_ORDER: (
        "accepts key change sections only in the order 1, 2 (, 3, 4); a section out of order"
        " gives Format",
        "IEC 62055-41 §7.3.1 key change token set (sections in any order)",
    ),
    Defect.IGNORES_POWER_LIMIT: (
        "stores the maximum power limit but never opens the load switch for it",
        "IEC 62055-41 SetMaximumPowerLimit (class 2 subclass 0) enforcement",
    ),
    Defect.NO_LOCKOUT: (
        "never locks token entry, whatever the number of consecutive rejected tokens",
        "62055-41 token lockout (result 15; vendor brute-force protection)",
    ),
    Defect.ACCEPTS_CREDIT_UNDER_DDTK: (
        "accepts credit tokens while the meter holds a default key (KT = 1, DDTK)",
        "IEC 62055-41 §7.3.6-7.3.8 token validation: DDTK",
    ),
    Defect.ROLLOVER_KEEPS_TID_MEMORY: (
        "keeps the TID memory on a key change with RO = 1, so new-base tokens are"
        " judged against old-base TIDs",
        "IEC 62055-41 §7.3.1 key change with RO = 1 (TID rollover)",
    ),
    Defect.WRONG_AMOUNT_AT_EXPONENT_BOUNDARY: (
        "decodes amounts with exponent >= 1 without the range offset (m·10^e instead of"
        " m·10^e + Σ 2^14·10^(n-1)): 1638.4 kWh loads as 0",
        "IEC 62055-41 TransferAmount decoding (exponent/mantissa offset)",
    ),
    Defect.FORGETS_TIDS_ON_POWER_CYCLE: (
        "keeps the TID memory in volatile memory: a power fail empties it, so a token"
        " accepted before the cycle is accepted again after it",
        "IEC 62055-41 §7.3.8 TID memory (non-volatile: a replay after a power cycle is Used)",
    ),
    Defect.ACCEPTS_SHORT_ENTRY: (
        "reads an entry of fewer than 20 digits as a number, padding it with leading zeros:"
        " a token typed without its leading 0 is accepted instead of refused as Format",
        "IEC 62055-41 token format: 20 decimal digits (sts-notes §2 step 6; Format, result 6)",
    ),
    Defect.ACCEPTS_ILLEGAL_KEY_TYPE: (
        "installs a key change set to a DCTK (KT 3) instead of refusing it with Key type",
        "IEC 62055-41 §6.5.2.3.5, §7.3.1 key type change (DCTK only on magnetic-card meters)",
    ),
    Defect.KEY_READBACK_STALE: (
        "installs a new key but goes on showing the old TI and KEN in INFO (the key register"
        " read back is stale)",
        "IEC 62055-41 §7.3.1 key change: KRN, KT, TI, KEN (and SGC) replaced together",
    ),
    Defect.CLASS1_IGNORES_TOTALS: (
        "ignores the class 1 'totals' control bit: a test token selecting only it is refused"
        " as Function, and with other bits the totals display is left out",
        "IEC 62055-41 class 1 InitiateMeterTest/Display (each control bit runs its test)",
    ),
    Defect.BACK_KEY_IGNORED: (
        "takes the BACK key (KEY event) but does not delete the last digit, so a corrected"
        " entry is submitted with the wrong digit",
        "IEC 62055-51 keypad entry with corrective feedback (bench-notes 1.3: BACK)",
    ),
    Defect.ACCEPTS_UNSUPPORTED_MANAGEMENT: (
        "answers Accept to SetTariffRate, SetMaximumPhasePowerUnbalanceLimit and"
        " SetWaterMeterFactor tokens it does not support (stores the TID and the value)"
        " instead of refusing them with Function",
        "IEC 62055-41 §7.3.6 unsupported function: Function error (result 8)",
    ),
}


def parse_defects(names: Iterable[str]) -> frozenset[Defect]:
    """Defects from their names (``"accepts_replays"`` or ``"ACCEPTS_REPLAYS"``)."""
    out = set()
    for name in names:
        try:
            out.add(Defect(str(name).strip().lower()))
        except ValueError:
            raise ValueError(
                f"unknown defect {name!r}; known: {', '.join(d.value for d in Defect)}"
            ) from None
    return frozenset(out)

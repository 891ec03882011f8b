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
    CLEARS_MISSING_REGISTER = auto()
    OVER_REGISTERS = auto()
    TAMPER_CLEARED_BY_POWER_CYCLE = auto()
    NO_LOW_CREDIT_WARNING = auto()
    EMERGENCY_CREDIT_ANY_TIME = auto()
    EMERGENCY_CREDIT_NOT_REPAID = auto()
    DISCONNECTS_IN_FRIENDLY_HOURS = auto()
    TOKEN_LOG_VOLATILE = auto()
    NO_POWER_FAIL_LOG = auto()
    NO_TRIP_LATCH = auto()
    FORGETS_CREDIT_IN_LONG_OUTAGE = auto()
    CLOCK_STOPS_WITHOUT_SUPPLY = auto()

    @property
    def description(self) -> str:
        return DEFECTS[self][0]

    @property
    def clause(self) -> str:
        return DEFECTS[self][1]


SMALL_TID_MEMORY_DEPTH = 5
OVER_REGISTER_FACTOR = 1.1  # OVER_REGISTERS: credit falls 10 % faster than the energy

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
    Defect.CLEARS_MISSING_REGISTER: (
        "answers Accept to a ClearCredit token for a credit register it does not have (and"
        " stores its TID) instead of refusing it with Range",
        "IEC 62055-41 §7.3.6 token validation: Range (a field value the meter cannot take)",
    ),
    Defect.OVER_REGISTERS: (
        f"takes {OVER_REGISTER_FACTOR - 1:.0%} more credit than the energy delivered (a"
        " mis-calibrated energy register)",
        "IEC 62055-31 §4 payment meter: credit decremented by the energy measured"
        " (IEC 62053-21 accuracy)",
    ),
    Defect.TAMPER_CLEARED_BY_POWER_CYCLE: (
        "keeps its tamper flag in volatile memory: a power cycle clears it and closes the relay",
        "IEC 62055-31 tamper: the condition stays until a ClearTamperCondition token",
    ),
    Defect.NO_LOW_CREDIT_WARNING: (
        "never raises its low-credit warning, whatever the credit",
        "IEC 62055-31 low-credit warning (real-meters §6: threshold, icon, alarm)",
    ),
    Defect.EMERGENCY_CREDIT_ANY_TIME: (
        "grants emergency credit at any credit, and again while the last is still owed",
        "IEC 62055-31 emergency credit: available only below its threshold, once until repaid",
    ),
    Defect.EMERGENCY_CREDIT_NOT_REPAID: (
        "adds the next purchase in full, never taking back the emergency credit it granted",
        "IEC 62055-31 emergency credit: repaid from the next purchase",
    ),
    Defect.DISCONNECTS_IN_FRIENDLY_HOURS: (
        "opens the relay at zero credit inside its friendly (non-disconnect) hours",
        "IEC 62055-31 friendly credit: no disconnection inside the declared hours",
    ),
    Defect.TOKEN_LOG_VOLATILE: (
        "keeps its token log in volatile memory: a power cycle empties it",
        "Token log (real-meters §6: the last N tokens, kept through power failures)",
    ),
    Defect.NO_POWER_FAIL_LOG: (
        "logs tamper and relay events but never a power failure",
        "Event log (real-meters §6: power-fail, tamper and relay logs)",
    ),
    Defect.NO_TRIP_LATCH: (
        "retries the supply after a power-limit trip without end instead of latching the"
        " relay open after its declared retries",
        "Over-power trip with retries, then latch (real-meters §6; one utility: 3 retries)",
    ),
    Defect.FORGETS_CREDIT_IN_LONG_OUTAGE: (
        "keeps credit and TID memory in RAM held up by a capacitor: an outage longer than"
        " half the profile's long_outage_s empties both",
        "IEC 62055-41 §7.3.8 and IEC 62055-31: stored values kept through any outage",
    ),
    Defect.CLOCK_STOPS_WITHOUT_SUPPLY: (
        "has no clock battery: the meter clock stops while the supply is off and runs late"
        " by every outage",
        "Meter real-time clock kept through outages (key expiry and friendly hours use it)",
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

"""Events the meter model reports (the probe's event names, bench-notes 2.5).

Every event carries the model time at which it happened, which may be earlier than the
``at`` of the call that reported it: ``advance(at)`` reports a credit exhaustion, a
timeout or a lockout end at the moment it fell due.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class EventName(StrEnum):
    KEY = "KEY"  # a key press seen by the keypad (data: key, accepted, reason, entry)
    ENTRY_TIMEOUT = "ENTRY_TIMEOUT"  # keypad entry discarded after the inter-digit timeout
    TOKEN_RESULT = "TOKEN_RESULT"  # a token was decided (data: result, label, class, ...)
    CREDIT_CHANGED = "CREDIT_CHANGED"  # credit register changed by a token or hit zero
    RELAY_CHANGED = "RELAY_CHANGED"  # load switch changed state or reason (data: closed, reason)
    LOCKOUT_START = "LOCKOUT_START"
    LOCKOUT_END = "LOCKOUT_END"
    POWER_FAIL = "POWER_FAIL"
    POWER_UP = "POWER_UP"
    TAMPER = "TAMPER"
    KCT_PENDING = "KCT_PENDING"  # part of a key change set is held, waiting for the rest
    KCT_TIMEOUT = "KCT_TIMEOUT"  # a partial key change set was forgotten
    TEST_STARTED = "TEST_STARTED"  # class 1 test/display started
    TEST_ENDED = "TEST_ENDED"
    EMERGENCY_CREDIT = "EMERGENCY_CREDIT"  # emergency credit asked for (data: granted_wh, reason)


@dataclass(frozen=True, slots=True)
class Event:
    """One observable thing the meter did. ``name`` is an `EventName` (a str)."""

    name: str
    at: float
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": str(self.name), "at": self.at, **self.data}


def names(events: list[Event]) -> list[str]:
    """The event names in order: handy in tests and logs."""
    return [str(e.name) for e in events]

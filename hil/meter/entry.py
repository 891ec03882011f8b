"""One key on a keypad entry: the rule the meter's own keypad and a split meter's CIU share.

Pure: the caller decides whether the keypad takes keys at all (processing, a result on the
display) and what a submitted entry becomes (a token for the meter, a frame for the CIU).
"""

from __future__ import annotations

from typing import NamedTuple

from hil.sts.digits import TOKEN_DIGITS

KEYS = frozenset("0123456789") | {"ENTER", "BACK"}  # what a meter's keypad has


class KeyStep(NamedTuple):
    refused: str  # why the key did nothing ("empty", "full"), or "" when it was taken
    entry: str  # the digits typed after the key
    submitted: bool  # the entry is complete: ENTER, or the 20th digit where that submits


def type_key(entry: str, key: str, *, auto_submit_at_20: bool, back_works: bool = True) -> KeyStep:
    """``key`` ("0".."9", "ENTER", "BACK") on ``entry``. ENTER and BACK on nothing typed and
    a 21st digit are refused; ``back_works=False`` is a keypad whose BACK does nothing."""
    if key in ("ENTER", "BACK") and not entry:
        return KeyStep("empty", entry, False)
    if key == "ENTER":
        return KeyStep("", entry, True)
    if key == "BACK":
        return KeyStep("", entry[:-1] if back_works else entry, False)
    if len(entry) >= TOKEN_DIGITS:
        return KeyStep("full", entry, False)
    entry += key
    return KeyStep("", entry, auto_submit_at_20 and len(entry) == TOKEN_DIGITS)

"""Deliberate defects a split meter's CIU can carry, for testing the harness itself.

As ``hil.meter.defects`` does for an integrated meter: a defective CIU breaks one rule of
docs/split-meters.md, and the split suite run against it must fail the tests of that rule
and no other (``hil selftest --rig split-sim``). Every split defect lives in the CIU
(``hil.meter.ciu.CiuModel``): the meters behind it stay conforming, so a failure can only
come from what the CIU does with their answers.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum, auto

from hil.errors import ConfigError


class SplitDefect(StrEnum):
    CIU_KEEPS_OLD_PAIRING = auto()
    CIU_FALSE_ACCEPT_ON_TIMEOUT = auto()
    CIU_NO_SHORT_INDICATION = auto()
    CIU_STALE_CREDIT = auto()
    CIU_RESTARTS_SEQ_ON_PAIRING = auto()
    CIU_FORGETS_PAIRING_AT_POWER_LOSS = auto()
    CIU_KEEPS_VOLATILE_SETTINGS = auto()
    CIU_RESENDS_REJECTED_TOKEN = auto()

    @property
    def description(self) -> str:
        return SPLIT_DEFECTS[self][0]

    @property
    def clause(self) -> str:
        return SPLIT_DEFECTS[self][1]


_SOURCE = "real-meters.md §5; docs/split-meters.md"

# name -> (what the defective CIU does, the rule it violates)
SPLIT_DEFECTS: dict[SplitDefect, tuple[str, str]] = {
    SplitDefect.CIU_KEEPS_OLD_PAIRING: (
        "answers a re-pairing with OK and shows the new number, but keeps sending tokens to"
        " the meter it was paired with first",
        f"Split pairing by meter number: tokens go to the paired meter ({_SOURCE})",
    ),
    SplitDefect.CIU_FALSE_ACCEPT_ON_TIMEOUT: (
        "shows Accept (accept tone, last known credit) when the meter never answered a"
        " token, instead of a communication failure",
        f"Split link cut: no answer is a communication failure, never a result ({_SOURCE})",
    ),
    SplitDefect.CIU_NO_SHORT_INDICATION: (
        "does not sense a shorted link: it shows the link as ok, sends into the short and"
        " reports only a missing answer",
        f"Split link short: the CIU shows the short-circuit state (one maker's LED; {_SOURCE})",
    ),
    SplitDefect.CIU_STALE_CREDIT: (
        "keeps showing the first credit a meter reported: later results and refreshes do"
        " not update the credit on its display",
        f"Split display: the CIU shows the meter's result and current credit ({_SOURCE})",
    ),
    SplitDefect.CIU_RESTARTS_SEQ_ON_PAIRING: (
        "starts its link sequence numbers again at 1 at every pairing, so after switching"
        " back to a meter a new token can be answered from that meter's retry cache and"
        " never be entered",
        f"Split link contract v1: seq counts up across pairings; several meters on one"
        f" CIU ({_SOURCE})",
    ),
    SplitDefect.CIU_FORGETS_PAIRING_AT_POWER_LOSS: (
        "comes back from a power loss paired with no meter, so every token typed after it"
        " fails with not_paired until the CIU is paired again",
        f"Split CIU power: the pairing survives a CIU power loss ({_SOURCE})",
    ),
    SplitDefect.CIU_KEEPS_VOLATILE_SETTINGS: (
        "keeps its local low-credit alarm through a power loss although its profile declares"
        " its settings volatile",
        f"Split CIU power: local settings revert at a power loss, as declared ({_SOURCE})",
    ),
    SplitDefect.CIU_RESENDS_REJECTED_TOKEN: (
        "sends a token the meter rejected once more as a new request before showing the"
        " answer, so the meter counts every rejected entry twice toward its lockout",
        f"Split lockout: one entry is one reject, counted on the meter ({_SOURCE})",
    ),
}


def parse_split_defect(name: str | None) -> frozenset[SplitDefect]:
    """The split defect ``name`` (none, ``none`` and ``conforming``: a conforming CIU);
    one-line ``ConfigError`` naming the known ones otherwise."""
    if not name or name in ("none", "conforming"):
        return frozenset()
    try:
        return frozenset({SplitDefect(str(name).strip().lower())})
    except ValueError:
        known = ", ".join(d.value for d in SplitDefect)
        raise ConfigError(
            f"unknown split defect profile {name!r} (a split rig takes the CIU's defects): "
            f"known: {known}"
        ) from None


def parse_split_defects(names: Iterable[str]) -> frozenset[SplitDefect]:
    out: set[SplitDefect] = set()
    for name in names:
        out |= parse_split_defect(name)
    return frozenset(out)

"""The meter's own token and event logs (real-meters §6): the last N tokens it decided and
the last N supply, tamper and relay events, kept in non-volatile memory. Pure data.

Makers keep more (credit history, a split meter's relay log); these two are what the suites
compare with what the harness did (TOKEN-LOG, EVENT-LOG in the catalogue).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from hil.meter.events import Event, EventName
from hil.meter.results import TokenResult

# Events a meter's event log keeps: supply, tamper and load relay.
LOGGED_EVENTS = (EventName.POWER_FAIL, EventName.POWER_UP, EventName.TAMPER,
                 EventName.RELAY_CHANGED)  # fmt: skip


@dataclass(frozen=True, slots=True)
class TokenEntry:
    """One decided token: its result and, where the meter decoded it, class, subclass, TID."""

    result: int
    token_class: int | None
    subclass: int | None
    tid: int | None

    def describe(self) -> str:
        return f"{TokenResult(self.result).label} TID {self.tid if self.tid is not None else '-'}"


@dataclass(frozen=True, slots=True)
class EventEntry:
    """One logged event: its name and, for the relay, the new state and reason."""

    name: str
    detail: str = ""

    def describe(self) -> str:
        return f"{self.name} {self.detail}".strip()


class MeterLogs:
    """Bounded logs; the oldest entry goes first. A depth of 0 keeps nothing."""

    def __init__(self, token_depth: int, event_depth: int) -> None:
        self.tokens: deque[TokenEntry] = deque(maxlen=token_depth)
        self.events: deque[EventEntry] = deque(maxlen=event_depth)

    def record(self, events: Iterable[Event], *, power_fails: bool = True) -> None:
        """Log what ``events`` show; ``power_fails=False`` leaves power failures out."""
        for event in events:
            data = event.data
            if event.name == EventName.TOKEN_RESULT:
                if data["result"] != TokenResult.NOT_READY:
                    entry = TokenEntry(data["result"], data.get("class"),
                                       data.get("subclass"), data.get("tid"))  # fmt: skip
                    self._add(self.tokens, entry)
            elif event.name in LOGGED_EVENTS:
                if event.name == EventName.POWER_FAIL and not power_fails:
                    continue
                detail = ""
                if event.name == EventName.RELAY_CHANGED:
                    detail = "closed" if data["closed"] else f"open {data['reason']}"
                self._add(self.events, EventEntry(str(event.name), detail))

    def clear(self) -> None:
        self.tokens.clear()
        self.events.clear()

    @staticmethod
    def _add(log: deque, entry: object) -> None:
        if log.maxlen:
            log.append(entry)

"""The link between a split meter's CIU and its meters: a pure model of a shared line.

No maker publishes its link protocol (real-meters.md §5), so this is the harness's own
model of what any such link can do to a message, not of a maker's wire format:

* a frame sent at ``at`` arrives ``latency_s`` (plus a seeded jitter) later, and frames in
  one direction never overtake each other (one wire, one bus);
* each frame may be lost (``loss``) or arrive garbled (``garble``); the draws come from a
  ``random.Random(seed)`` in send order, so the same history gives the same fate;
* ``cut`` opens the line and ``short`` shorts it: frames in flight are dropped and no new
  frame gets through until ``restore``; a short can be sensed by the ends (the line
  voltage collapses), a cut cannot (it looks like a silent peer);
* ``retries`` and ``reply_timeout_s`` are the requester's policy, declared here because
  both ends of one link must agree on them.

Like the meter model it reads no clock: every method takes ``at`` (model seconds, never
going back) and first returns the frames that fell due on the way.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from enum import StrEnum


class LinkKind(StrEnum):
    TWO_WIRE = "two_wire"  # two-core non-polarised cable, up to ~130 m
    RS485 = "rs485"
    PLC = "plc"  # over the mains
    RF = "rf"


class LinkState(StrEnum):
    OK = "ok"
    CUT = "cut"
    SHORT = "short"


# Which disturbances a bench relay can apply to each kind (docs/split-meters.md): PLC and
# RF have no private pair of wires to open or short.
CAN_CUT = frozenset({LinkKind.TWO_WIRE, LinkKind.RS485})
CAN_SHORT = frozenset({LinkKind.TWO_WIRE, LinkKind.RS485})


@dataclass(frozen=True)
class LinkSpec:
    kind: LinkKind = LinkKind.TWO_WIRE
    latency_s: float = 0.05
    jitter_s: float = 0.0
    loss: float = 0.0  # probability that a frame vanishes
    garble: float = 0.0  # probability that a frame arrives corrupted
    retries: int = 2  # retransmissions after the first try
    reply_timeout_s: float = 1.0  # per try; must cover the meter's processing time

    def __post_init__(self) -> None:
        for name in ("latency_s", "jitter_s", "reply_timeout_s"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"link {name} {value!r} must be a finite number >= 0")
        for name in ("loss", "garble"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"link {name} {getattr(self, name)!r} must be in 0..1")
        if self.retries < 0:
            raise ValueError(f"link retries {self.retries!r} must be >= 0")
        if self.reply_timeout_s <= 2 * (self.latency_s + self.jitter_s):
            raise ValueError("link reply_timeout_s must exceed the round trip (2 x latency)")


@dataclass(frozen=True)
class Frame:
    """One message on the link. ``dst`` is a meter number (DRN) or ``CIU``."""

    src: str
    dst: str
    seq: int
    kind: str  # the line protocol's verb: PAIR, TOKEN, STATUS, RESULT, ... (split-meters.md)
    body: dict[str, str | int] = field(default_factory=dict)


@dataclass(frozen=True)
class Delivery:
    frame: Frame
    at: float
    garbled: bool  # the receiver's checksum fails: it must discard the frame


@dataclass
class LinkStats:
    sent: int = 0
    delivered: int = 0
    lost: int = 0
    garbled: int = 0
    dropped: int = 0  # refused or in flight when the line was cut or shorted


@dataclass(order=True)
class _InFlight:
    due: float
    order: int
    frame: Frame = field(compare=False)
    garbled: bool = field(compare=False)


class Link:
    def __init__(self, spec: LinkSpec | None = None, *, seed: int = 0, at: float = 0.0) -> None:
        self._spec = spec or LinkSpec()
        self._rng = random.Random(seed)
        self._now = float(at)
        self._state = LinkState.OK
        self._flight: list[_InFlight] = []
        self._order = 0
        self._last_due: dict[str, float] = {}  # per direction: frames keep their order
        self.stats = LinkStats()

    @property
    def spec(self) -> LinkSpec:
        return self._spec

    @property
    def state(self) -> LinkState:
        return self._state

    @property
    def shorted(self) -> bool:
        """What an end can sense electrically; a cut is not sensed, only inferred."""
        return self._state is LinkState.SHORT

    @property
    def now(self) -> float:
        return self._now

    @property
    def next_delivery_at(self) -> float | None:
        return min(f.due for f in self._flight) if self._flight else None

    def advance(self, at: float) -> list[Delivery]:
        """Move to ``at``; the frames that arrived on the way, in arrival order."""
        if at < self._now:
            raise ValueError(f"link time went back: {at} < {self._now}")
        self._now = float(at)
        due = sorted(f for f in self._flight if f.due <= at)
        self._flight = [f for f in self._flight if f.due > at]
        self.stats.delivered += len(due)
        return [Delivery(f.frame, f.due, f.garbled) for f in due]

    def send(self, frame: Frame, at: float) -> list[Delivery]:
        """Put ``frame`` on the line at ``at``. The fate draws happen even on a dead line,
        so a cut does not shift the fate of the frames sent after it."""
        arrived = self.advance(at)
        self.stats.sent += 1
        lost = self._rng.random() < self._spec.loss
        garbled = self._rng.random() < self._spec.garble
        jitter = self._rng.uniform(0.0, self._spec.jitter_s) if self._spec.jitter_s else 0.0
        if self._state is not LinkState.OK:
            self.stats.dropped += 1
        elif lost:
            self.stats.lost += 1
        else:
            direction = "up" if frame.dst == "CIU" else "down"
            due = max(at + self._spec.latency_s + jitter, self._last_due.get(direction, 0.0))
            self._last_due[direction] = due
            self.stats.garbled += garbled
            self._order += 1
            self._flight.append(_InFlight(due, self._order, frame, garbled))
        return arrived

    def cut(self, at: float) -> list[Delivery]:
        if self._spec.kind not in CAN_CUT:
            raise ValueError(f"a {self._spec.kind} link has no wire a relay can open")
        return self._disturb(LinkState.CUT, at)

    def short(self, at: float) -> list[Delivery]:
        if self._spec.kind not in CAN_SHORT:
            raise ValueError(f"a {self._spec.kind} link has no pair of wires to short")
        return self._disturb(LinkState.SHORT, at)

    def drop_in_flight(self, at: float) -> list[Delivery]:
        """Discard the frames on the way (counted as dropped), leaving the line's state:
        when one end is replaced (a bench reset), nothing meant for the old one arrives."""
        arrived = self.advance(at)
        self.stats.dropped += len(self._flight)
        self._flight.clear()
        return arrived

    def restore(self, at: float) -> list[Delivery]:
        arrived = self.advance(at)
        self._state = LinkState.OK
        return arrived

    def _disturb(self, state: LinkState, at: float) -> list[Delivery]:
        arrived = self.advance(at)
        self.stats.dropped += len(self._flight)
        self._flight.clear()
        self._state = state
        return arrived

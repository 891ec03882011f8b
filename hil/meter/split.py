"""A split meter as one pure system: a CIU, a link and N meter models under one clock.

``MeterEnd`` is the meter's side of the link contract (docs/split-meters.md): it answers
the frames addressed to its own number and passes tokens to its ``MeterModel`` through the
carrier path, so the meter's processing time and rules apply unchanged. A retransmission
(same CIU sequence number) gets the first answer again and never enters the token twice:
without that rule a lost answer would turn the retry of an accepted token into Used.

``SplitSystem`` moves time forward for all parts at once: it steps from one deadline to the
next (a frame arriving, a CIU timeout, a meter finishing a token), so what the CIU shows
depends only on the history and the link's seed. Meter events are tagged with ``unit``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Literal

from hil.meter.ciu import CIU_ADDRESS, CiuModel
from hil.meter.events import Event, EventName
from hil.meter.link import Delivery, Frame, Link
from hil.meter.model import MeterModel

CiuSupply = Literal["own", "load_side", "link"]
LINK_PROTOCOL = 1  # docs/split-meters.md, "The link contract"
_CACHE = 16  # answers a meter end remembers for retransmissions
_MAX_STEPS = 100_000


class MeterEnd:
    """The link adapter in front of one meter (the measurement unit)."""

    def __init__(self, meter: MeterModel) -> None:
        self.meter = meter
        self.number = meter.pan.drn
        self._answers: OrderedDict[tuple[str, int], Frame] = OrderedDict()
        self._waiting: tuple[str, int] | None = None  # a token out with the meter
        self._outbox: list[tuple[float, Frame]] = []

    def receive(self, delivery: Delivery, at: float) -> list[Event]:
        events = self.meter.advance(at)
        self._collect(events, at)
        frame = delivery.frame
        if delivery.garbled or frame.dst != self.number or not self.meter.powered:
            return events
        key = (frame.src, frame.seq)
        if key in self._answers:
            self._outbox.append((at, self._answers[key]))
        elif key == self._waiting:
            pass  # still processing; the answer goes out when the meter decides
        elif frame.kind == "VERSION":
            self._answer(key, "VERSION", {"protocol": LINK_PROTOCOL}, at)
        elif frame.kind == "PAIR":
            self._answer(key, "PAIRED", {"number": self.number}, at)
        elif frame.kind == "STATUS":
            self._answer(key, "STATUS", self._status(), at)
        elif frame.kind == "TOKEN" and self._waiting is None:
            self._waiting = key
            more = self.meter.submit_token(str(frame.body["digits"]), at)
            self._collect(more, at)  # Not ready comes back at once
            events += more
        elif frame.kind == "TOKEN":
            self._answer(key, "RESULT", {"code": 16, **self._status()}, at)
        else:
            self._answer(key, "ERR", {"code": 1, "text": "unknown"}, at)
        return events

    def advance(self, at: float) -> list[Event]:
        events = self.meter.advance(at)
        self._collect(events, at)
        return events

    def take_frames(self) -> list[tuple[float, Frame]]:
        out, self._outbox = self._outbox, []
        return out

    def forget(self) -> None:
        """Drop the answer cache, the token out with the meter and unsent answers: after
        the meter's RESET STATE, or when the CIU starts counting its seq again."""
        self._answers.clear()
        self._waiting = None
        self._outbox.clear()

    def _collect(self, events: list[Event], at: float) -> None:
        if self._waiting is None:
            return
        for event in events:
            if event.name == EventName.TOKEN_RESULT and event.data.get("source") == "carrier":
                key, self._waiting = self._waiting, None
                self._answer(key, "RESULT", {"code": event.data["result"], **self._status()}, at)
                return
        if not self.meter.powered:
            self._waiting = None  # the token died with the supply; the CIU will time out

    def _status(self) -> dict[str, str | int]:
        return {"credit_wh": self.meter.credit_wh, "relay": int(self.meter.relay_closed)}

    def _answer(
        self, key: tuple[str, int], kind: str, body: dict[str, str | int], at: float
    ) -> None:
        frame = Frame(self.number, key[0], key[1], kind, body)
        self._answers[key] = frame
        while len(self._answers) > _CACHE:
            self._answers.popitem(last=False)
        self._outbox.append((at, frame))


class SplitSystem:
    """One CIU and its meters on one link. ``supply`` says where the CIU's power comes
    from: its ``own`` (mains socket or battery), the ``load_side`` of ``supply_meter``
    (it goes dark when that meter's relay opens) or the ``link`` (fed by the paired meter
    over the cable: a cut or short darkens it)."""

    def __init__(
        self,
        ciu: CiuModel,
        link: Link,
        meters: list[MeterModel],
        *,
        supply: CiuSupply = "own",
        supply_meter: str | None = None,
    ) -> None:
        self.ciu = ciu
        self.link = link
        self.ends: dict[str, MeterEnd] = {}
        for meter in meters:
            end = MeterEnd(meter)
            if end.number in self.ends:
                raise ValueError(f"two meters with number {end.number} on one link")
            self.ends[end.number] = end
        if supply == "load_side" and supply_meter not in self.ends:
            raise ValueError("a load-side CIU needs supply_meter: the number of a meter here")
        self._supply = supply
        self._supply_meter = supply_meter
        self._own_supply = True

    @property
    def meters(self) -> Mapping[str, MeterModel]:
        return {number: end.meter for number, end in self.ends.items()}

    def meter(self, number: str) -> MeterModel:
        return self.ends[number].meter

    @property
    def next_deadline(self) -> float | None:
        """When something next falls due (a frame, a CIU timeout, a meter's decision)."""
        return self._next_due()

    def advance(self, at: float) -> list[Event]:
        events: list[Event] = []
        for _ in range(_MAX_STEPS):
            due = self._next_due()
            step = at if due is None or due > at else due
            self._step(step, events)
            due = self._next_due()
            if step == at and (due is None or due > at):
                return events  # a zero-latency answer sent at ``at`` is handled too
        raise RuntimeError("split system did not settle: frames keep falling due at once")

    def press_key(self, key: str, at: float) -> list[Event]:
        events = self.advance(at)
        events += self.ciu.press_key(key, at)
        self._flush(at)
        return events

    def type_entry(self, digits: str, at: float, period: float) -> tuple[list[Event], float]:
        """Press each digit then ENTER ``period`` apart; the events and the time of ENTER."""
        events: list[Event] = []
        t = at
        for key in [*digits, "ENTER"]:
            events += self.press_key(key, t)
            t += period
        return events, t - period

    def replace_ciu(self, ciu: CiuModel, at: float) -> list[Event]:
        """Put a fresh CIU in (a bench's RESET STATE). Frames in flight are dropped and the
        meter ends forget their answers, so the new CIU's seq 1 is never answered from the
        old one's cache."""
        events = self.advance(at)
        self._route(self.link.drop_in_flight(at), events)
        self.ciu = ciu
        for end in self.ends.values():
            end.forget()
        events += self.ciu.sense_line(self.link.shorted, at)
        self._update_power(at, events)
        return events

    def cut(self, at: float) -> list[Event]:
        return self._line(self.link.cut, at)

    def short(self, at: float) -> list[Event]:
        return self._line(self.link.short, at)

    def restore(self, at: float) -> list[Event]:
        return self._line(self.link.restore, at)

    def ciu_supply(self, on: bool, at: float) -> list[Event]:
        """The CIU's own supply (mains socket), for ``supply="own"``."""
        events = self.advance(at)
        self._own_supply = on
        self._update_power(at, events)
        return events

    def set_ciu_setting(self, name: str, value: int, at: float) -> list[Event]:
        """A CIU-local setting, as its menu sets it (ignored while the CIU is dark)."""
        events = self.advance(at)
        events += self.ciu.set_setting(name, value, at)
        return events

    def _line(self, action: object, at: float) -> list[Event]:
        events = self.advance(at)
        assert callable(action)
        self._route(action(at), events)
        events += self.ciu.sense_line(self.link.shorted, at)
        self._update_power(at, events)
        return events

    def _next_due(self) -> float | None:
        times = [self.link.next_delivery_at, self.ciu.next_deadline]
        times += [end.meter.next_deadline for end in self.ends.values()]
        due = [t for t in times if t is not None]
        return min(due) if due else None

    def _step(self, at: float, events: list[Event]) -> None:
        self._route(self.link.advance(at), events)
        for end in self.ends.values():
            events += _tag(end.advance(at), end.number)
        events += self.ciu.advance(at)
        self._update_power(at, events)
        self._flush(at)

    def _route(self, deliveries: list[Delivery], events: list[Event]) -> None:
        for d in deliveries:
            if d.frame.dst == CIU_ADDRESS:
                events += self.ciu.receive(d, d.at)
            elif d.frame.dst in self.ends:
                end = self.ends[d.frame.dst]
                events += _tag(end.receive(d, d.at), end.number)
            # a frame for a number nobody has is heard by all and answered by none

    def _flush(self, at: float) -> None:
        outgoing = self.ciu.take_frames()
        for end in self.ends.values():
            outgoing += end.take_frames()
        for sent_at, frame in sorted(outgoing, key=lambda item: item[0]):
            arrived = self.link.send(frame, max(sent_at, self.link.now))
            assert not arrived, "frames fall due only inside _step"

    def _update_power(self, at: float, events: list[Event]) -> None:
        if self._supply == "own":
            on = self._own_supply
        elif self._supply == "load_side":
            meter = self.ends[str(self._supply_meter)].meter
            on = meter.powered and meter.relay_closed
        else:
            paired = self.ends.get(self.ciu.paired or "")
            on = self.link.state == "ok" and (paired is None or paired.meter.powered)
        if on and not self.ciu.powered:
            events += self.ciu.power_on(at)
        elif not on and self.ciu.powered:
            events += self.ciu.power_off(at)


def _tag(events: list[Event], unit: str) -> list[Event]:
    return [Event(e.name, e.at, {**e.data, "unit": unit}) for e in events]

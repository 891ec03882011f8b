"""The oracle: what a conforming meter must do with each token.

It is the reference meter model, conforming (no defects), started from the state read back
from the meter under test (credit, TID memory, key register) and fed the same tokens in the
same order. Tests compare what the meter did with what the oracle says.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from hil.meter.model import MeterModel, Outcome
from hil.meter.profile import MeterProfile
from hil.meter.results import TokenResult
from hil.sts.ea07 import SAMPLE_TABLES, StaTables
from hil.sts.identity import MeterPan
from hil.sts.keys import DecoderKey, KeyInfo


@dataclass(frozen=True)
class Expectation:
    """What a conforming meter does with one token."""

    result: TokenResult
    credit_delta_wh: int
    relay_closed: bool
    detail: str

    def describe(self) -> str:
        relay = "closed" if self.relay_closed else "open"
        return (
            f"{self.result.label} (code {int(self.result)}), credit "
            f"{self.credit_delta_wh / 1000:+.3f} kWh, relay {relay}"
        )


class Oracle:
    def __init__(self, model: MeterModel, clock: Callable[[], float]) -> None:
        if model.defects:
            raise ValueError("the oracle must be a conforming model")
        self.model = model
        self._clock = clock

    @classmethod
    def start(
        cls,
        pan: MeterPan,
        info: KeyInfo,
        key: DecoderKey,
        profile: MeterProfile,
        *,
        credit_wh: int,
        tid_memory: Iterable[int],
        clock: Callable[[], float],
        sta_tables: StaTables = SAMPLE_TABLES,
        load_w: float = 0.0,
    ) -> Oracle:
        """An oracle in the state the meter reported (credit rounded down to 0.1 kWh)."""
        now = clock()
        model = MeterModel(
            pan,
            info,
            key,
            profile,
            credit_units=credit_wh // 100,
            tid_memory=tid_memory,
            sta_tables=sta_tables,
            at=now,
        )
        if load_w:
            model.set_load(load_w, now)
        return cls(model, clock)

    def _now(self) -> float:
        return max(self._clock(), self.model.now)

    def expect(self, digits: str) -> Expectation:
        """Feed a token to the conforming model and say what it did."""
        before = self.model.credit_wh
        outcome: Outcome = self.model.enter_token(digits, self._now())
        return Expectation(
            outcome.result, self.model.credit_wh - before, self.model.relay_closed, outcome.detail
        )

    def advance(self) -> None:
        self.model.advance(self._now())

    def set_load(self, watts: float) -> None:
        self.model.set_load(watts, self._now())

    def power_cycle(self, off_s: float = 0.0) -> None:
        """The supply off, then on ``off_s`` meter seconds later (by the oracle's own clock
        when that is later: the meter's cycle took at least as long)."""
        now = self._now()
        self.model.power_off(max(now - off_s, self.model.now))
        self.model.power_on(now)

    def set_clock(self, epoch_s: float) -> None:
        """The meter clock was set (or read) to ``epoch_s`` now."""
        self.model.set_clock(epoch_s, self._now())

    def request_emergency(self) -> None:
        self.model.request_emergency(self._now())

    def tamper(self) -> None:
        self.model.tamper(self._now())

"""How the simulated meter behaves where the probe contract leaves the meter a choice.

By default the simulator is generous (accelerated clock on request, 0.001 kWh readout, every
event pushed, supply on at start). These options make it behave like a conforming meter that
this project did not write, so the suites can be proven against the contract's minimum
(docs/simulator.md, "A foreign meter").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from hil.errors import ConfigError

EventsMode = Literal["all", "mandatory"]

# docs/probe-protocol.md, "Mandatory events": a meter must push these; the harness polls
# GET RELAY / GET CREDIT / GET LOCKOUT for the rest.
MANDATORY_EVENTS = frozenset({"POWER_UP", "KEY", "TOKEN_RESULT", "TEST_STARTED", "TEST_ENDED"})

FINEST_RESOLUTION_WH = 1  # the model's register counts whole Wh
COARSEST_RESOLUTION_WH = 100  # the probe contract allows at most 0.1 kWh


def resolution_wh(kwh: float) -> int:
    """A credit resolution in kWh as whole Wh, or ConfigError naming what is accepted."""
    wh = round(kwh * 1000)
    if abs(wh - kwh * 1000) > 1e-6 or not FINEST_RESOLUTION_WH <= wh <= COARSEST_RESOLUTION_WH:
        raise ConfigError(
            f"credit resolution {kwh:g} kWh: accepted is a multiple of 0.001 kWh "
            "from 0.001 to 0.1 (e.g. 0.001, 0.01, 0.1)"
        )
    return wh


@dataclass(frozen=True)
class MeterOptions:
    """The four ways the simulated meter can be as plain as the contract allows."""

    real_time: bool = False  # the clock runs at 1.0; the control port refuses `speed`
    credit_resolution_kwh: float = 0.001  # GET CREDIT and CREDIT_CHANGED, rounded down
    supply_off_at_start: bool = False  # unpowered (probe silent) until the AC source is on
    events: EventsMode = "all"  # "mandatory": push only MANDATORY_EVENTS

    def __post_init__(self) -> None:
        resolution_wh(self.credit_resolution_kwh)  # fail at construction, not at GET CREDIT
        if self.events not in ("all", "mandatory"):
            raise ConfigError(f"events {self.events!r}: accepted: 'all', 'mandatory'")

    @property
    def step_wh(self) -> int:
        return resolution_wh(self.credit_resolution_kwh)

    @property
    def decimals(self) -> int:
        """Digits after the point: as many as the resolution has (0.1 -> 1, 0.01 -> 2)."""
        step = self.step_wh
        return 3 if step % 10 else 2 if step % 100 else 1

    def kwh_text(self, wh: float) -> str:
        """Energy in Wh as the meter reports it: rounded toward zero to a whole multiple
        of the resolution (docs/probe-protocol.md, GET CREDIT)."""
        step = self.step_wh
        whole = int(abs(wh)) // step * step  # int() drops the sub-Wh part toward zero too
        sign = "-" if wh < 0 and whole else ""
        return f"{sign}{whole / 1000:.{self.decimals}f}"

    def resolution_text(self) -> str:
        return f"{self.step_wh / 1000:.{self.decimals}f}"

    def pushes(self, event: str) -> bool:
        """Whether the probe sends (and keeps for GET EVENTS SINCE) this event."""
        return self.events == "all" or event in MANDATORY_EVENTS

    def describe(self) -> str:
        """One line for `hil sim`'s banner."""
        parts = [
            f"credit resolution {self.resolution_text()} kWh",
            f"events {self.events}",
        ]
        if self.real_time:
            parts.insert(0, "real-time clock")
        if self.supply_off_at_start:
            parts.append("supply off at start")
        return ", ".join(parts)

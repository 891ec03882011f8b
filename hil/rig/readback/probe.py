"""Readback through the probe (test firmware, docs/probe-protocol.md): every reading the
harness knows, the 16 result codes, pushed events, RESET STATE."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from hil.errors import ConfigError, ReplyTimeout
from hil.meter.results import TokenResult
from hil.probe.protocol import Event
from hil.rig.drivers.probe import CreditStatus, ProbeClient, TokenLogEntry
from hil.rig.readback.base import Capabilities, TokenOutcome

if TYPE_CHECKING:
    from hil.rig.config import ReadbackResource
    from hil.rig.rig import Rig


class ProbeReadback:
    kind = "probe"
    capabilities = Capabilities(reset=True)

    def __init__(self, probe: ProbeClient) -> None:
        self.probe = probe

    def info(self) -> dict[str, str]:
        return self.probe.info()

    def read_credit(self) -> float:
        return self.probe.credit_kwh()

    def read_relay(self) -> tuple[bool, str]:
        return self.probe.relay()

    def read_token_result(self) -> dict[str, int | str | None]:
        return self.probe.token_result()

    def read_tid_memory(self) -> list[int]:
        return self.probe.tid_memory()

    def read_lockout(self) -> Mapping[str, bool | float | int]:
        return self.probe.lockout()

    def read_credit_status(self) -> CreditStatus:
        return self.probe.credit_status()

    def read_token_log(self) -> list[TokenLogEntry]:
        return self.probe.token_log()

    def read_event_log(self) -> list[str]:
        return self.probe.event_log()

    def read_clock(self) -> datetime:
        return self.probe.clock()

    def set_clock(self, when: datetime) -> None:
        self.probe.set_clock(when)

    def result_class(self, result: TokenResult) -> str:
        return result.label

    def mark(self) -> None:
        self.probe.mark()

    def wait_for(self, name: str, timeout_s: float, fields: dict[str, str] | None) -> Event:
        return self.probe.expect(name, fields=fields or None, timeout_s=timeout_s)

    def await_result(self, start: float, timeout_s: float) -> TokenOutcome:
        event = self.probe.expect(
            "TOKEN_RESULT",
            lambda e: e.fields.get("code") != "16",  # 16: still processing
            timeout_s=timeout_s,
        )
        return TokenOutcome.from_event(event, time.monotonic() - start)

    def wait_relay(self, closed: bool, timeout_s: float, poll_s: float) -> float | None:
        """By the RELAY_CHANGED event where the meter pushes it and by polling GET RELAY
        where it does not (the event is optional in the contract)."""
        start = time.monotonic()
        deadline = start + timeout_s
        state = "closed" if closed else "open"
        while True:
            left = deadline - time.monotonic()
            try:
                self.probe.expect(
                    "RELAY_CHANGED", fields={"relay": state}, timeout_s=max(0.0, min(poll_s, left))
                )
                return time.monotonic() - start
            except ReplyTimeout:
                pass
            if self.read_relay()[0] == closed:
                return time.monotonic() - start
            if time.monotonic() >= deadline:
                return None

    def confirm_key(self, key: str, deadline: float) -> bool:
        try:
            self.probe.expect(
                "KEY", fields={"key": key}, timeout_s=max(0.0, deadline - time.monotonic())
            )
        except ReplyTimeout:
            return False
        return True

    def reset_state(self) -> None:
        self.probe.reset_state()

    def close(self) -> None:
        pass  # the rig owns the probe (token entry may use it too) and closes it


def open_probe_readback(rig: Rig, resource: ReadbackResource) -> ProbeReadback:
    if rig.probe is None:
        raise ConfigError(f"rig {rig.name}: readback kind probe needs resources.probe")
    return ProbeReadback(rig.probe)

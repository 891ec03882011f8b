"""The Rig's probe protocol 2 readers on the simulated bench it starts itself (rigs/sim.yaml,
whose meter file declares low credit, emergency credit, a token log and an event log)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from hil.paths import RIGS
from hil.probe.protocol import TokenLogEntry
from hil.rig.rig import Rig
from hil.sts import CreditToken, codec

TID = 6_000_000


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    with Rig.open(RIGS / "sim.yaml") as opened:
        yield opened


@pytest.fixture(autouse=True)
def fresh(rig: Rig) -> None:
    rig.reset_state()


def test_the_simulated_meter_speaks_protocol_2(rig: Rig) -> None:
    assert rig.info(refresh=True)["protocol"] == "2"


def test_credit_status(rig: Rig) -> None:
    status = rig.read_credit_status()
    assert (status.credit_kwh, status.low, status.emergency_owed_kwh) == (0.0, True, 0.0)


def test_token_and_event_logs(rig: Rig) -> None:
    assert rig.read_token_log() == [] and rig.read_event_log() == []
    key = rig.meter.load_decoder_key(rig.base)
    rig.enter_token(codec.encode(CreditToken(TID, 0, 256), key), via="virtual_carrier")
    assert rig.read_token_log() == [TokenLogEntry(1, 0, 0, TID)]
    assert rig.read_event_log()[-1] == "RELAY_CHANGED/closed"
    rig.power_cycle(off_s=0.05)
    assert rig.read_event_log()[-2:] == ["POWER_FAIL", "POWER_UP"]


def test_set_clock_then_read_clock(rig: Rig) -> None:
    when = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    rig.set_clock(when)
    set_at = time.monotonic()
    time.sleep(0.05)
    read = rig.read_clock()
    assert read.tzinfo is not None
    elapsed = timedelta(seconds=(time.monotonic() - set_at) * rig.speed)
    assert when <= read <= when + elapsed + timedelta(seconds=1)  # whole seconds on the wire

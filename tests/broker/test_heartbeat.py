"""The heartbeat rides out a broker that misses a renewal, and gives up in time."""

from __future__ import annotations

import time
from dataclasses import replace

from hil.broker import Heartbeat, Lease, LeaseLost
from hil.broker.base import RigBroker
from hil.errors import HarnessError


class FlakyBroker(RigBroker):
    """renew() fails with ``errors`` in order (None = succeed), then succeeds."""

    def __init__(self, errors: list[Exception | None]) -> None:
        self.errors = list(errors)
        self.renewals = 0

    def renew(self, lease: Lease) -> Lease:
        error = self.errors.pop(0) if self.errors else None
        if error is not None:
            raise error
        self.renewals += 1
        return replace(lease, expires_at=time.time() + lease.ttl_s)

    def lease(self, tags=None, *, owner=None, ttl_s=60, wait_s=0):  # type: ignore[no-untyped-def]
        raise NotImplementedError

    def release(self, lease: Lease) -> None: ...
    def leases(self) -> list[Lease]:
        return []

    def recover_stale(self) -> list[Lease]:
        return []

    def rigs(self):  # type: ignore[no-untyped-def]
        return []


def _lease(ttl_s: float) -> Lease:
    now = time.time()
    return Lease("r", "r.yaml", {"job": "t"}, now, now + ttl_s, "tok", ttl_s)


def test_a_missed_renewal_is_retried_and_the_lease_kept():
    broker = FlakyBroker([HarnessError("coordinator restarting"), None, None])
    with Heartbeat(broker, _lease(1.0), interval_s=0.1) as hb:
        time.sleep(0.6)
    assert not hb.lost.is_set() and broker.renewals >= 3


def test_a_broker_silent_for_the_whole_ttl_loses_the_lease_before_it_expires():
    broker = FlakyBroker([HarnessError("no answer")] * 100)
    start = time.monotonic()
    with Heartbeat(broker, _lease(0.6), interval_s=0.1) as hb:
        assert hb.lost.wait(2)
    assert time.monotonic() - start < 0.65  # given up before the lease could have expired
    assert str(hb.error) == "no answer"


def test_a_lease_that_is_gone_is_lost_at_once():
    broker = FlakyBroker([LeaseLost("taken over")])
    with Heartbeat(broker, _lease(10), interval_s=0.05) as hb:
        assert hb.lost.wait(1)
    assert isinstance(hb.error, LeaseLost)

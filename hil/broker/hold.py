"""A rig held for as long as a job runs: lease it, keep the lease alive, give it back.

Both front ends use it: the pytest plugin (``--pool``; one lease per pytest-xdist worker
for the whole session) and the Robot library (``Open Rig    pool=...``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hil.broker.base import Heartbeat, Lease, LeaseLost, RigBroker
from hil.broker.pool import open_broker

DEFAULT_TTL_S = 60.0  # a dead job's rig is free again within a minute
DEFAULT_WAIT_S = 600.0  # how long a job queues for a busy rig


class LeaseHold:
    """Lease one rig of ``pool_file`` matching ``tags`` and renew it in the background."""

    def __init__(
        self,
        pool_file: str | Path,
        tags: Mapping[str, str] | None = None,
        *,
        ttl_s: float = DEFAULT_TTL_S,
        wait_s: float = DEFAULT_WAIT_S,
        owner: str | None = None,
    ) -> None:
        self.pool_file = Path(pool_file)
        self.tags = dict(tags or {})
        self.ttl_s, self.wait_s, self.owner = ttl_s, wait_s, owner
        self.broker: RigBroker | None = None
        self._heartbeat: Heartbeat | None = None

    def acquire(self) -> Lease:
        self.broker = open_broker(self.pool_file)
        try:
            lease = self.broker.lease(
                self.tags, owner=self.owner, ttl_s=self.ttl_s, wait_s=self.wait_s
            )
            self._heartbeat = Heartbeat(self.broker, lease).__enter__()
        except BaseException:
            self.broker.close()
            self.broker = None
            raise
        return lease

    @property
    def lease(self) -> Lease:
        if self._heartbeat is None:
            raise RuntimeError("LeaseHold.acquire() first")
        return self._heartbeat.lease

    def check(self) -> None:
        """Raise ``LeaseLost`` once the heartbeat could not renew the lease."""
        hb = self._heartbeat
        if hb is not None and hb.lost.is_set():
            raise LeaseLost(f"lease on rig {hb.lease.rig} lost: {hb.error}")

    def describe(self) -> dict[str, Any]:
        """For the journal: which pool and rig, and who holds it (no tokens)."""
        lease = self.lease
        return {"pool": str(self.pool_file), "rig": lease.rig, "owner": dict(lease.owner),
                "broker": type(self.broker).__name__}  # fmt: skip

    def release(self) -> None:
        """Stop the heartbeat and give the rig back; safe to call twice."""
        hb, self._heartbeat = self._heartbeat, None
        broker, self.broker = self.broker, None
        if broker is None:
            return
        try:
            if hb is not None:
                hb.__exit__(None, None, None)
                broker.release(hb.lease)
        finally:
            broker.close()

    def __enter__(self) -> LeaseHold:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

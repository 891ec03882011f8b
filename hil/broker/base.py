"""What every rig broker offers: leases with an owner, a token and an expiry, and a heartbeat."""

from __future__ import annotations

import os
import socket
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hil.errors import HarnessError


class NoRigAvailable(HarnessError):
    """No rig matching the request became free in time; the message names what is busy."""


class LeaseLost(HarnessError):
    """The lease is no longer ours: it expired and was taken over, or released meanwhile."""


def default_owner(job: str | None = None) -> dict[str, Any]:
    """Who holds a lease: the CI job (``CI_JOB_ID``, else ``local``), the host and the pid."""
    return {
        "job": job or os.environ.get("CI_JOB_ID") or "local",
        "host": socket.gethostname(),
        "pid": os.getpid(),
    }


@dataclass(frozen=True)
class Lease:
    """One rig lent to one owner until ``expires_at`` (wall-clock epoch seconds)."""

    rig: str
    rig_file: str
    owner: dict[str, Any]
    acquired_at: float
    expires_at: float
    token: str
    ttl_s: float = 60.0
    # resource name -> address for ``place:NAME`` references in the rig file (labgrid)
    bindings: Mapping[str, str] = field(default_factory=dict)
    stale: bool = field(default=False, compare=False)  # set by ``leases()`` only

    def to_json(self) -> dict[str, Any]:
        return {
            "rig": self.rig,
            "rig_file": self.rig_file,
            "owner": dict(self.owner),
            "acquired_at": self.acquired_at,
            "expires_at": self.expires_at,
            "token": self.token,
            "ttl_s": self.ttl_s,
            "bindings": dict(self.bindings),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Lease:
        return cls(
            rig=str(data["rig"]),
            rig_file=str(data["rig_file"]),
            owner=dict(data["owner"]),
            acquired_at=float(data["acquired_at"]),
            expires_at=float(data["expires_at"]),
            token=str(data["token"]),
            ttl_s=float(data.get("ttl_s", 60.0)),
            bindings={str(k): str(v) for k, v in dict(data.get("bindings") or {}).items()},
        )

    def describe(self) -> str:
        """``sim-a (job 42 on host-1 pid 1234)``: for messages."""
        return f"{self.rig} ({owner_text(self.owner)})"


def parse_tags(items: Iterable[str]) -> dict[str, str]:
    """``["model=sim", "firmware=2_1"]`` -> tags; ``ValueError("'x': write KEY=VALUE")``."""
    tags = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{item!r}: write KEY=VALUE")
        tags[key.strip()] = value.strip()
    return tags


def owner_text(owner: Mapping[str, Any]) -> str:
    """``job 42 on host-1 pid 1234``"""
    return f"job {owner.get('job')} on {owner.get('host')} pid {owner.get('pid')}"


@dataclass(frozen=True)
class RigStatus:
    """One rig of a pool as ``hil lab`` shows it."""

    name: str
    tags: Mapping[str, str]
    lease: Lease | None = None  # held through hil (``lease.stale`` if expired)
    note: str = ""  # e.g. "acquired outside hil by host/user"

    def matches(self, wanted: Mapping[str, str]) -> bool:
        """Every wanted tag equals the rig's (``rig`` is the rig's name)."""
        tags = {**self.tags, "rig": self.name}
        return all(tags.get(k) == str(v) for k, v in wanted.items())


class RigBroker(ABC):
    """Lends rigs from a pool. Implementations: ``LocalBroker`` (lease files on one host or a
    shared directory) and ``LabgridBroker`` (places of a labgrid coordinator)."""

    #: the pool file the broker was opened from (for messages)
    source: str = ""

    @abstractmethod
    def lease(
        self,
        tags: Mapping[str, str] | None = None,
        *,
        owner: str | None = None,
        ttl_s: float = 60,
        wait_s: float = 0,
    ) -> Lease:
        """A free rig whose tags include all of ``tags`` (``rig`` is the rig's name).

        Polls up to ``wait_s`` seconds, then raises ``NoRigAvailable``. ``owner`` is the job
        name (default ``CI_JOB_ID`` or ``local``); host and pid are added.
        """

    @abstractmethod
    def renew(self, lease: Lease) -> Lease:
        """The lease with its expiry pushed ``ttl_s`` ahead; ``LeaseLost`` if no longer ours."""

    @abstractmethod
    def release(self, lease: Lease) -> None:
        """Give the rig back; does nothing if the lease is already gone or someone else's."""

    @abstractmethod
    def leases(self) -> list[Lease]:
        """Current leases; expired ones have ``stale=True``."""

    @abstractmethod
    def recover_stale(self) -> list[Lease]:
        """Remove expired leases (their rigs become free); returns what was removed."""

    @abstractmethod
    def rigs(self) -> list[RigStatus]:
        """Every rig of the pool with its tags and its lease, if any."""

    def close(self) -> None:  # noqa: B027 - most brokers hold nothing open
        """Drop connections the broker holds (leases stay as they are)."""

    def __enter__(self) -> RigBroker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Heartbeat:
    """Renews a lease every ``interval_s`` in a daemon thread while the ``with`` block runs.

    If the lease is gone, or the broker has not answered for so long that the lease may have
    expired, ``lost`` is set and ``error`` holds the exception; the job should stop using the
    rig. A broker that misses a renewal or two (a coordinator restarting) is retried.
    ``lease`` is the latest renewed lease. Leaving the block does not release.
    """

    def __init__(self, broker: RigBroker, lease: Lease, interval_s: float | None = None):
        self.broker = broker
        self.lease = lease
        self.interval_s = interval_s if interval_s is not None else max(lease.ttl_s / 3, 0.01)
        if self.interval_s <= 0 or self.interval_s >= lease.ttl_s:
            raise ValueError(
                f"heartbeat interval {self.interval_s} s must be > 0 and below the lease ttl "
                f"{lease.ttl_s} s (use about ttl/3)"
            )
        self.lost = threading.Event()
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        last_renewed = time.monotonic()
        while not self._stop.wait(self.interval_s):
            try:
                self.lease = self.broker.renew(self.lease)
                last_renewed = time.monotonic()
            except LeaseLost as exc:
                self.error = exc
                self.lost.set()
                return
            except Exception as exc:  # a broker that did not answer: retry while we may
                self.error = exc
                if time.monotonic() - last_renewed + self.interval_s >= self.lease.ttl_s:
                    self.lost.set()  # the next try would come after the lease expired
                    return

    def __enter__(self) -> Heartbeat:
        self._thread = threading.Thread(
            target=self._run, name=f"lease-heartbeat-{self.lease.rig}", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=max(5.0, self.interval_s * 2))

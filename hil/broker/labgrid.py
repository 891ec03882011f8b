"""Rigs as places of a labgrid coordinator (``pip install 'sts-hil[labgrid]'``).

The coordinator does the scheduling: a lease is a labgrid *reservation* filtered by tags,
then an *acquire* (lock) of the place it allocates. labgrid's locks never expire, so the
harness adds expiry on top, in the place's own tags where every client can see it:

    hil_lease=<token> hil_owner=<job>/<host>/<pid> hil_expires=<epoch s> hil_reservation=<tok>

A heartbeat moves ``hil_expires`` ahead; a lease past it is stale, and the next job (or
``hil lab free --stale``) releases the place, cancels its reservation and clears the tags.
A place acquired with ``labgrid-client acquire`` (no ``hil_lease`` tag) is someone's manual
session and is never touched.

The rig file of place ``P`` is ``<rigs_dir>/P.yaml``; its ``place:NAME`` addresses are bound
to the place's ``NetworkSerialPort`` resources (``socket://`` for raw, ``rfc2217://``
otherwise), which is what an exporter publishes for a USB serial port (through ser2net) or a
serial server on the network.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
import uuid
from collections.abc import Coroutine, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hil.broker.base import (
    Lease,
    LeaseLost,
    NoRigAvailable,
    RigBroker,
    RigStatus,
    default_owner,
)
from hil.errors import ConfigError, HarnessError

T = TypeVar("T")
DEFAULT_PORT = 20408
POLL_S = 0.25  # how often a waiting reservation is polled
RPC_TIMEOUT_S = 15.0
LEASE_TAGS = ("hil_lease", "hil_owner", "hil_expires", "hil_reservation")


class LabgridPool(BaseModel):
    """The ``labgrid:`` section of a pool file."""

    model_config = ConfigDict(extra="forbid")

    coordinator: str | None = Field(
        default=None, description="HOST[:PORT]; default $LG_COORDINATOR, else 127.0.0.1:20408"
    )
    rigs_dir: str = Field(default=".", description="rig file per place: <rigs_dir>/<place>.yaml")
    tags: dict[str, str] = Field(
        default_factory=dict,
        description="tags every place of this pool has (other teams' places are not ours)",
    )


def parse_pool(path: Path, data: Mapping[str, Any]) -> LabgridPool:
    extra = sorted(set(data) - {"labgrid"})
    if extra:
        raise ConfigError(
            f"{path}: {extra[0]}: a labgrid pool file has only a labgrid: section (the places "
            "and their tags live in the coordinator)"
        )
    try:
        return LabgridPool.model_validate(data["labgrid"] or {})
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in ("labgrid", *err["loc"]))
        msg = "unknown field (accepted: coordinator, rigs_dir, tags)" if (
            err["type"] == "extra_forbidden") else err["msg"]  # fmt: skip
        raise ConfigError(f"{path}: {where}: {msg}") from None


def _owner_tag(owner: Mapping[str, Any]) -> str:
    return f"{owner.get('job')}/{owner.get('host')}/{owner.get('pid')}"


def _owner_from_tag(text: str) -> dict[str, Any]:
    parts = text.rsplit("/", 2)
    if len(parts) != 3:
        return {"job": text, "host": "?", "pid": "?"}
    job, host, pid = parts
    return {"job": job, "host": host, "pid": int(pid) if pid.isdigit() else pid}


def serial_url(params: Mapping[str, Any]) -> str:
    """The pyserial URL of an exported NetworkSerialPort."""
    scheme = "socket" if params.get("protocol") == "raw" else "rfc2217"
    return f"{scheme}://{params['host']}:{params['port']}"


class LabgridBroker(RigBroker):
    """Leases labgrid places; one connection to the coordinator per broker."""

    def __init__(
        self,
        coordinator: str | None = None,
        *,
        rigs_dir: str | Path = ".",
        pool_tags: Mapping[str, str] | None = None,
        source: str = "labgrid",
        clock: Any = time.time,
        connect_timeout_s: float = 10.0,
    ):
        try:
            from labgrid.remote.client import ClientSession
            from labgrid.remote.common import Reservation, ReservationState
            from labgrid.remote.generated import labgrid_coordinator_pb2 as pb
        except ImportError:
            raise ConfigError(
                f"{source}: the labgrid broker needs labgrid; in the sts-hil checkout run "
                "pip install -e '.[labgrid]'"
            ) from None
        self._pb, self._Reservation, self._State = pb, Reservation, ReservationState
        address = coordinator or os.environ.get("LG_COORDINATOR") or "127.0.0.1"
        self.address = address if ":" in address else f"{address}:{DEFAULT_PORT}"
        self.rigs_dir = Path(rigs_dir)
        self.pool_tags = {k: str(v) for k, v in (pool_tags or {}).items()}
        self.source = source
        self.clock = clock
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="labgrid-session", daemon=True
        )
        self._thread.start()
        self._session: Any = None

        async def connect() -> Any:
            session = ClientSession(self.address, self._loop)
            await session.start()
            return session

        try:
            self._session = self._call(connect(), timeout=connect_timeout_s)
        except Exception as exc:
            self.close()
            raise HarnessError(
                f"cannot reach the labgrid coordinator at {self.address} ({_why(exc)}); start "
                f"labgrid-coordinator there or fix labgrid.coordinator in {source}"
            ) from None

    @classmethod
    def from_pool_file(cls, path: Path, data: Mapping[str, Any]) -> LabgridBroker:
        pool = parse_pool(path, data)
        return cls(pool.coordinator, rigs_dir=path.parent / pool.rigs_dir,
                   pool_tags=pool.tags, source=str(path))  # fmt: skip

    # -- plumbing ---------------------------------------------------------------------------

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float = RPC_TIMEOUT_S) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def _rpc(self, name: str, request: Any) -> Any:
        """One coordinator call, then a sync so ``places`` shows its effect."""

        async def go() -> Any:
            reply = await getattr(self._session.stub, name)(request)
            await self._session.sync_with_coordinator()
            return reply

        try:
            return self._call(go())
        except Exception as exc:
            raise HarnessError(f"labgrid coordinator {self.address}: {name}: {_why(exc)}") from None

    def _places(self) -> dict[str, Any]:
        """The coordinator's places that belong to this pool (all of the pool's tags)."""
        self._call(self._session.sync_with_coordinator())
        return {
            name: place for name, place in self._session.places.items()
            if all(place.tags.get(k) == v for k, v in self.pool_tags.items())
        }  # fmt: skip

    def _set_tags(self, place: str, tags: Mapping[str, str]) -> None:
        self._rpc("SetPlaceTags", self._pb.SetPlaceTagsRequest(placename=place, tags=dict(tags)))

    def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            for step in (session.stop, session.close):
                with contextlib.suppress(Exception):  # the coordinator drops us anyway
                    self._call(step(), timeout=5)
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)

    # -- leases -----------------------------------------------------------------------------

    def _lease_of(self, place: Any) -> Lease | None:
        tags = place.tags
        token = tags.get("hil_lease")
        if not token:
            return None
        try:
            expires = float(tags.get("hil_expires", "0"))
        except ValueError:
            expires = 0.0
        return Lease(
            rig=place.name,
            rig_file=str(self.rigs_dir / f"{place.name}.yaml"),
            owner=_owner_from_tag(tags.get("hil_owner", "?")),
            acquired_at=float(place.changed or 0),
            expires_at=expires,
            token=token,
            stale=expires <= self.clock(),
        )

    def _bindings(self, place: Any) -> dict[str, str]:
        """Resource name (or its match's rename) -> address, for the place's serial ports."""
        out: dict[str, str] = {}
        for exporter, groups in self._session.resources.items():
            for group, resources in groups.items():
                for name, res in resources.items():
                    match = place.getmatch((exporter, group, res.cls, name))
                    if match is None or res.cls != "NetworkSerialPort":
                        continue
                    if res.extra.get("proxy_required"):
                        raise HarnessError(
                            f"place {place.name}: {exporter}/{group}/{name} is only reachable "
                            "through an SSH proxy (exporter --isolated); hil connects directly, "
                            "so run that exporter without --isolated"
                        )
                    out[match.rename or name] = serial_url(res.params)
        return out

    def lease(
        self,
        tags: Mapping[str, str] | None = None,
        *,
        owner: str | None = None,
        ttl_s: float = 60,
        wait_s: float = 0,
    ) -> Lease:
        if ttl_s <= 0:
            raise ValueError(f"ttl_s must be positive, got {ttl_s}")
        wanted = {**self.pool_tags, **{k: str(v) for k, v in (tags or {}).items()}}
        place_name = wanted.pop("rig", None)
        asked = ", ".join(f"{k}={v}" for k, v in (tags or {}).items()) or "any place"
        places = self._places()
        candidates = [
            p for p in places.values()
            if all(p.tags.get(k) == v for k, v in wanted.items())
            and (place_name is None or p.name == place_name)
        ]  # fmt: skip
        if not candidates:
            have = "; ".join(f"{p.name} {_tag_text(p.tags)}" for p in places.values()) or "none"
            raise NoRigAvailable(
                f"{self.source}: no labgrid place matches {asked} (places: {have}); fix the "
                "requested tags or labgrid-client -p PLACE set-tags ..."
            )
        self.recover_stale()
        deadline = time.monotonic() + max(wait_s, 0)
        if place_name is not None:
            place = self._acquire_named(place_name, deadline, asked, wait_s, candidates)
            return self._take(place, "", default_owner(owner), ttl_s)
        request = self._pb.CreateReservationRequest(
            filters={"main": self._pb.Reservation.Filter(filter=wanted)}, prio=0.0
        )
        res = self._Reservation.from_pb2(self._rpc("CreateReservation", request).reservation)
        next_recovery = time.monotonic() + 1.0
        try:
            while True:
                reply = self._rpc(
                    "PollReservation", self._pb.PollReservationRequest(token=res.token)
                )
                res = self._Reservation.from_pb2(reply.reservation)
                if res.state is not self._State.waiting:
                    break
                if time.monotonic() >= deadline:
                    raise NoRigAvailable(self._busy_message(candidates, asked, wait_s))
                if time.monotonic() >= next_recovery:  # a lease may expire while we wait
                    self.recover_stale()
                    next_recovery = time.monotonic() + 1.0
                time.sleep(POLL_S)
            if res.state is not self._State.allocated:
                raise HarnessError(
                    f"labgrid reservation {res.token} for {asked} ended {res.state.name}; run again"
                )
            place = res.allocations["main"][0]
        except BaseException:
            self._cancel(res.token)
            raise
        # Tag before locking: a job that dies in between leaves a lease that expires, never
        # a place locked with no owner to recover it from.
        return self._take(place, res.token, default_owner(owner), ttl_s, acquire=True)

    def _acquire_named(
        self, name: str, deadline: float, asked: str, wait_s: float, candidates: list[Any]
    ) -> str:
        """A place asked for by name: labgrid filters only on tags, so acquire it directly
        once it is neither acquired nor reserved."""
        while True:
            place = self._places()[name]
            if not place.acquired and not place.reservation:
                try:
                    self._rpc("AcquirePlace", self._pb.AcquirePlaceRequest(placename=name))
                    return name
                except HarnessError:
                    pass  # someone was quicker; wait for the next chance
            if time.monotonic() >= deadline:
                raise NoRigAvailable(self._busy_message(candidates, asked, wait_s))
            time.sleep(POLL_S)
            self.recover_stale()

    def _take(
        self, place_name: str, reservation: str, owner: dict, ttl_s: float, acquire: bool = False
    ) -> Lease:
        """Tag the place with our lease, lock it (``acquire``) and bind its resources."""
        now = self.clock()
        token = uuid.uuid4().hex
        lease_tags = {
            "hil_lease": token,
            "hil_owner": _owner_tag(owner),
            "hil_expires": f"{now + ttl_s:.0f}",
            "hil_reservation": reservation,
        }
        try:
            self._set_tags(place_name, lease_tags)
            if acquire:
                self._rpc("AcquirePlace", self._pb.AcquirePlaceRequest(placename=place_name))
            place = self._places()[place_name]
            rig_file = self.rigs_dir / f"{place_name}.yaml"
            if not rig_file.exists():
                raise ConfigError(
                    f"{self.source}: place {place_name} has no rig file {rig_file}; add one "
                    "(see docs/lab-setup.md) or untag the place"
                )
            bindings = self._bindings(place)
        except BaseException:
            self._free(place_name, token)
            raise
        return Lease(place_name, str(rig_file), owner, now, now + ttl_s, token, float(ttl_s),
                     bindings)  # fmt: skip

    def _busy_message(self, candidates: list[Any], asked: str, wait_s: float) -> str:
        busy = []
        for place in candidates:
            held = self._lease_of(place)
            if held is not None:
                busy.append(f"{held.describe()} for {held.expires_at - self.clock():.0f} s more")
            elif place.acquired:
                busy.append(f"{place.name} (acquired outside hil by {place.acquired})")
            elif place.reservation:
                busy.append(f"{place.name} (reserved)")
        return (
            f"no free labgrid place for {asked} after waiting {wait_s:g} s: busy "
            + "; ".join(busy or ["(all released just now)"])
            + "; wait longer (--lease-wait), free stale leases (hil lab free --stale) or add places"
        )

    def renew(self, lease: Lease) -> Lease:
        place = self._places().get(lease.rig)
        held = self._lease_of(place) if place is not None else None
        if held is None or held.token != lease.token or not place.acquired:
            raise LeaseLost(
                f"{lease.rig}: lease {lease.token[:8]} is gone (released, or freed after it "
                "expired); stop using the place and lease it again"
            )
        expires = self.clock() + lease.ttl_s
        self._set_tags(lease.rig, {"hil_expires": f"{expires:.0f}"})
        return Lease(lease.rig, lease.rig_file, lease.owner, lease.acquired_at, expires,
                     lease.token, lease.ttl_s, lease.bindings)  # fmt: skip

    def release(self, lease: Lease) -> None:
        self._free(lease.rig, lease.token)

    def _free(self, place_name: str, token: str | None) -> Lease | None:
        """Release the place and its reservation if the lease ``token`` (any, if None) holds it."""
        place = self._places().get(place_name)
        held = self._lease_of(place) if place is not None else None
        if place is None or held is None or (token is not None and held.token != token):
            return None
        reservation = place.tags.get("hil_reservation")  # before the tags are cleared
        if place.acquired:
            self._rpc(
                "ReleasePlace",
                self._pb.ReleasePlaceRequest(placename=place_name, fromuser=place.acquired),
            )
        self._set_tags(place_name, dict.fromkeys(LEASE_TAGS, ""))
        self._cancel(reservation)
        return held

    def _cancel(self, reservation: str | None) -> None:
        if not reservation:
            return
        with contextlib.suppress(HarnessError):  # already expired or cancelled
            self._rpc("CancelReservation", self._pb.CancelReservationRequest(token=reservation))

    def leases(self) -> list[Lease]:
        out = [self._lease_of(p) for p in self._places().values()]
        return sorted((lease for lease in out if lease is not None), key=lambda x: x.rig)

    def recover_stale(self) -> list[Lease]:
        recovered = []
        for lease in self.leases():
            if lease.stale:
                gone = self._free(lease.rig, lease.token)
                if gone is not None:
                    recovered.append(gone)
        return recovered

    def rigs(self) -> list[RigStatus]:
        out = []
        for place in sorted(self._places().values(), key=lambda p: p.name):
            lease = self._lease_of(place)
            note = ""
            if lease is None and place.acquired:
                note = f"acquired outside hil by {place.acquired}"
            elif lease is None and place.reservation:
                note = "reserved"
            out.append(RigStatus(place.name, _public(place.tags), lease, note))
        return out


def _public(tags: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in sorted(tags.items()) if k not in LEASE_TAGS}


def _tag_text(tags: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in _public(tags).items()) or "(no tags)"


def _why(exc: BaseException) -> str:
    details = getattr(exc, "details", None)
    if callable(details):
        try:
            return str(details())
        except Exception:
            pass
    return str(exc) or type(exc).__name__

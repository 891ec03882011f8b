"""A broker for one machine or a shared directory: one lease file per leased rig.

``<state_dir>/<rig>.lease`` holds the lease as JSON. It is created atomically (a complete
temporary file is hard-linked into place, which fails if the name exists), so there is no
fcntl and it works on Linux, macOS and Windows (NTFS). Changing an existing lease file
(takeover of a stale lease, renew, release) happens under a short per-rig mutex
``<rig>.lock`` (``O_CREAT|O_EXCL``), held for milliseconds; a mutex older than
``MUTEX_STALE_S`` was left by a crashed process and is broken.

Where lease state lives: ``.leases/`` beside the pool file by default, so jobs on several
hosts that share the pool's directory see each other's leases. The directory is made on the
first lease (listing a pool writes nothing) and holds a ``.gitignore`` of ``*``, so lease
files never show up in (or get committed to) the git repository a pool file is kept in.
When that directory cannot be made (a pool file in a read-only install), the state goes to
``$XDG_STATE_HOME/sts-hil/leases/<hash of the pool file's path>`` (default
``~/.local/state``): one host only.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path

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
from hil.rig.config import load_rig
from hil.yamlfile import read_yaml

MUTEX_WAIT_S = 5.0  # give up waiting for another broker's mutex after this long
MUTEX_STALE_S = 10.0  # a mutex this old (file mtime) belongs to a dead process
POLL_S = 0.05  # how often ``lease(wait_s=...)`` looks again
IGNORE_ALL = "# lease state of hil's local broker: not for version control\n*\n"


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    file: str = Field(min_length=1)
    name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+$")
    tags: dict[str, str] = {}


class _PoolFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rigs: list[_Entry] = Field(min_length=1)


@dataclass(frozen=True)
class PoolRig:
    """One rig of the pool: its name (from the rig file), the rig file, and its tags."""

    name: str
    file: Path
    tags: dict[str, str]

    def matches(self, wanted: Mapping[str, str]) -> bool:
        return all(self.tags.get(k) == str(v) for k, v in wanted.items())


def load_pool(path: str | Path) -> list[PoolRig]:
    """The rigs of a pool file; errors are one-line ``ConfigError`` naming file and field."""
    path = Path(path)
    data, _ = read_yaml(path, "pool file")
    try:
        pool = _PoolFile.model_validate(data)
    except ValidationError as exc:
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "(top)"
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                msg = "unknown field (a pool entry has file:, name: and tags:)"
            parts.append(f"{where}: {msg}")
        raise ConfigError(f"{path}: " + "; ".join(parts)) from None
    rigs: list[PoolRig] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(pool.rigs):
        if "rig" in entry.tags:
            raise ConfigError(
                f"{path}: rigs.{i}.tags.rig: reserved (it is the rig file's name); remove it"
            )
        file = (path.parent / entry.file).resolve()
        try:
            cfg, _ = load_rig(file)
        except ConfigError as exc:
            raise ConfigError(f"{path}: rigs.{i}.file: {exc}") from None
        name = entry.name or cfg.name
        if name in seen:
            raise ConfigError(
                f"{path}: rigs.{i}: rig name {name!r} is already used by rigs.{seen[name]}; "
                "give each entry its own name: (the same simulated rig file may be listed "
                "several times under different names)"
            )
        seen[name] = i
        rigs.append(PoolRig(name, file, {**entry.tags, "rig": name}))
    return rigs


def _user_state_dir(pool_file: Path) -> Path:
    """Per-user lease state for a pool file: $XDG_STATE_HOME (or ~/.local/state)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    key = hashlib.sha256(str(pool_file.resolve()).encode("utf-8")).hexdigest()[:12]
    return Path(base) / "sts-hil" / "leases" / f"{pool_file.stem}-{key}"


def _retry(op: Callable[[], object], attempts: int = 20) -> None:
    """Windows refuses to rename or delete a file another process has open: retry briefly."""
    for n in range(attempts):
        try:
            op()
            return
        except PermissionError:
            if n == attempts - 1:
                raise
            time.sleep(0.005)


class LocalBroker(RigBroker):
    """Leases rigs of ``pool_file`` with lease files in ``state_dir`` (default ``.leases``)."""

    def __init__(
        self,
        pool_file: str | Path,
        state_dir: str | Path | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.pool_file = Path(pool_file)
        self.source = str(self.pool_file)
        self.pool = load_pool(self.pool_file)
        self._explicit = state_dir is not None
        self.state_dir = Path(state_dir) if state_dir else self.pool_file.parent / ".leases"
        # a pool file in a read-only place: every broker of it agrees on the user state dir
        default_unusable = not self.state_dir.exists() and not os.access(
            self.pool_file.parent, os.W_OK
        )
        if not self._explicit and default_unusable:
            self.state_dir = _user_state_dir(self.pool_file)
        self.clock = clock
        self._ready = False

    def _ensure_state_dir(self) -> None:
        """Make the lease directory (with its .gitignore) before the first write; a pool
        file in a read-only place falls back to the user's state directory."""
        if self._ready:
            return
        try:
            self._make(self.state_dir)
        except OSError as exc:
            if self._explicit:
                raise HarnessError(
                    f"{self.state_dir}: cannot create the lease directory ({exc.strerror}); "
                    "pass a writable state_dir"
                ) from None
            fallback = _user_state_dir(self.pool_file)
            try:
                self._make(fallback)
            except OSError as exc2:
                raise HarnessError(
                    f"{self.state_dir} and {fallback}: cannot create a lease directory "
                    f"({exc2.strerror}); set XDG_STATE_HOME to a writable directory"
                ) from None
            self.state_dir = fallback
        self._ready = True

    @staticmethod
    def _make(directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        ignore = directory / ".gitignore"
        if not ignore.exists():
            ignore.write_text(IGNORE_ALL, encoding="utf-8")

    # -- files ------------------------------------------------------------------------------

    def _path(self, rig: str) -> Path:
        return self.state_dir / f"{rig}.lease"

    def _read(self, rig: str) -> Lease | None:
        """The lease on ``rig``; None if free. An unreadable file counts as an expired lease."""
        try:
            text = self._path(rig).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            return Lease.from_json(json.loads(text))
        except (ValueError, KeyError, TypeError):
            return Lease(rig, "?", {"job": "unreadable lease file"}, 0.0, 0.0, "unreadable")

    def _write_tmp(self, lease: Lease) -> Path:
        self._ensure_state_dir()
        tmp = self.state_dir / f".{lease.rig}.{uuid.uuid4().hex}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(lease.to_json(), f, indent=1)
        return tmp

    def _link(self, tmp: Path, rig: str) -> bool:
        """Put the complete ``tmp`` in place as the lease file unless one exists."""
        try:
            os.link(tmp, self._path(rig))
        except FileExistsError:
            return False
        except OSError as exc:
            raise HarnessError(
                f"{self.state_dir}: cannot create lease files ({exc.strerror}); "
                "use a local directory that supports hard links (NTFS, ext4, APFS)"
            ) from None
        return True

    def _stale(self, lease: Lease) -> bool:
        return lease.expires_at <= self.clock()

    @contextmanager
    def _mutex(self, rig: str) -> Iterator[None]:
        self._ensure_state_dir()
        lock = self.state_dir / f"{rig}.lock"
        deadline = time.monotonic() + MUTEX_WAIT_S
        while True:
            try:
                os.close(os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
                break
            except (FileExistsError, PermissionError):
                self._break_mutex(lock)
                if time.monotonic() > deadline:
                    raise HarnessError(
                        f"{lock}: held for over {MUTEX_WAIT_S} s; if no job is leasing, delete it"
                    ) from None
                time.sleep(0.002)
        try:
            yield
        finally:
            with suppress(FileNotFoundError):
                _retry(lock.unlink)

    @staticmethod
    def _break_mutex(lock: Path) -> None:
        try:
            age = time.time() - lock.stat().st_mtime
        except OSError:
            return
        if age > MUTEX_STALE_S:
            grave = lock.with_name(f"{lock.name}.dead-{uuid.uuid4().hex}")
            with suppress(OSError):
                os.rename(lock, grave)
                grave.unlink()

    def _remove_if_stale(self, rig: str) -> Lease | None:
        """Under the mutex: move an expired lease file aside and delete it; the old lease."""
        held = self._read(rig)
        if held is None or not self._stale(held):
            return None
        grave = self.state_dir / f"{rig}.lease.stale-{uuid.uuid4().hex}"
        _retry(lambda: os.rename(self._path(rig), grave))
        with suppress(OSError):
            _retry(grave.unlink)
        return held

    # -- API --------------------------------------------------------------------------------

    def _try_take(self, rig: PoolRig, owner: dict, ttl_s: float) -> Lease | None:
        now = self.clock()
        lease = Lease(
            rig=rig.name,
            rig_file=str(rig.file),
            owner=owner,
            acquired_at=now,
            expires_at=now + ttl_s,
            token=uuid.uuid4().hex,
            ttl_s=float(ttl_s),
        )
        tmp = self._write_tmp(lease)
        try:
            if self._link(tmp, rig.name):
                return lease
            held = self._read(rig.name)
            if held is not None and not self._stale(held):
                return None
            with self._mutex(rig.name):
                self._remove_if_stale(rig.name)
                return lease if self._link(tmp, rig.name) else None
        finally:
            with suppress(OSError):
                _retry(tmp.unlink)

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
        wanted = {k: str(v) for k, v in (tags or {}).items()}
        asked = ", ".join(f"{k}={v}" for k, v in wanted.items()) or "any rig"
        candidates = [r for r in self.pool if r.matches(wanted)]
        if not candidates:
            have = "; ".join(
                f"{r.name} " + ",".join(f"{k}={v}" for k, v in r.tags.items() if k != "rig")
                for r in self.pool
            )
            raise NoRigAvailable(
                f"{self.pool_file}: no rig matches {asked} (pool has: {have}); "
                "fix the requested tags or add a rig to the pool"
            )
        who = default_owner(owner)
        deadline = time.monotonic() + max(wait_s, 0)
        while True:
            for rig in candidates:
                got = self._try_take(rig, who, ttl_s)
                if got is not None:
                    return got
            left = deadline - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(POLL_S, left))
        busy = []
        for rig in candidates:
            held = self._read(rig.name)
            if held is not None:
                busy.append(f"{held.describe()} for {held.expires_at - self.clock():.0f} s more")
        raise NoRigAvailable(
            f"no free rig for {asked} after waiting {wait_s:g} s: busy "
            + "; ".join(busy or ["(all released just now)"])
            + "; wait longer, release a lease or add rigs to "
            + str(self.pool_file)
        )

    def renew(self, lease: Lease) -> Lease:
        with self._mutex(lease.rig):
            held = self._read(lease.rig)
            if held is None:
                raise LeaseLost(
                    f"{lease.rig}: lease {lease.token[:8]} is gone (released, or recovered after "
                    "it expired); stop using the rig and lease it again"
                )
            if held.token != lease.token:
                raise LeaseLost(
                    f"{lease.rig}: lease {lease.token[:8]} expired and the rig is now held by "
                    f"{held.describe()}; stop using the rig (renew more often than the ttl)"
                )
            renewed = replace(lease, expires_at=self.clock() + lease.ttl_s, stale=False)
            tmp = self._write_tmp(renewed)
            try:
                _retry(lambda: os.replace(tmp, self._path(lease.rig)))
            finally:
                with suppress(OSError):
                    tmp.unlink()
            return renewed

    def release(self, lease: Lease) -> None:
        with self._mutex(lease.rig):
            held = self._read(lease.rig)
            if held is None or held.token != lease.token:
                return
            with suppress(FileNotFoundError):
                _retry(self._path(lease.rig).unlink)

    def leases(self) -> list[Lease]:
        out = []
        for path in sorted(self.state_dir.glob("*.lease")):
            held = self._read(path.name.removesuffix(".lease"))
            if held is not None:
                out.append(replace(held, stale=self._stale(held)))
        return out

    def recover_stale(self) -> list[Lease]:
        recovered = []
        for path in sorted(self.state_dir.glob("*.lease")):
            rig = path.name.removesuffix(".lease")
            held = self._read(rig)
            if held is None or not self._stale(held):
                continue
            with self._mutex(rig):
                gone = self._remove_if_stale(rig)
            if gone is not None:
                recovered.append(replace(gone, stale=True))
        return recovered

    def rigs(self) -> list[RigStatus]:
        held = {lease.rig: lease for lease in self.leases()}
        return [
            RigStatus(r.name, {k: v for k, v in r.tags.items() if k != "rig"}, held.get(r.name))
            for r in self.pool
        ]

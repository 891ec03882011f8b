"""The append-only run journal: one JSON object per line, flushed and synced as written,
so a run that is killed or loses power still leaves every finished test on disk.

Events (docs/run-record.md): ``run_start``, ``rig``, ``test``, ``run_end``.

Every line is hash-chained: its last member is ``"chain"``, the SHA-256 (hex) of the previous
line's ``chain`` (64 zeros for the first line) followed by this line's text without the
``chain`` member. Editing, inserting or removing any line breaks the chain at that line or
the next one (``verify_chain``). The chain is evidence against accidental or casual edits,
not a signature: whoever can rewrite the whole file can recompute it, which is why the report
also prints each journal's SHA-256 for archiving elsewhere.

Several processes may write journals into one run directory (pytest-xdist workers, Robot
and pabot processes), each its own file. A ``Journal`` takes the chain from the file's last
line under an advisory lock before every write, so a journal re-opened on an existing file,
or two writers on one file, keep one valid chain per file.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import platform
import re
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal

from hil import __version__
from hil.paths import REPO_ROOT

SCHEMA = "hil-run/1"
GENESIS = "0" * 64  # the "previous chain" of a journal's first line
LAB_ENV = "HIL_LAB"  # a lab file whose identity run_start carries (hil run --lab sets it)

# The chain member as Journal.write appends it (json.dumps' default separators).
_CHAINED = re.compile(r'^(\{.*), "chain": "([0-9a-f]{64})"\}$', re.S)
_TAIL_CHUNK = 65536

try:  # POSIX advisory locks; elsewhere one writer per file is assumed (as docs say)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _git(*args: str) -> subprocess.CompletedProcess[str] | None:
    try:
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                              timeout=5)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None


def git_sha() -> str | None:
    out = _git("rev-parse", "HEAD")
    return (out.stdout.strip() or None) if out is not None and out.returncode == 0 else None


def git_dirty() -> bool | None:
    """True when the harness checkout has uncommitted changes (untracked files count: they
    may be code the run imported); None outside a git checkout."""
    out = _git("status", "--porcelain")
    if out is None or out.returncode != 0:
        return None
    return bool(out.stdout.strip())


def harness_identity() -> dict[str, Any]:
    sha = git_sha()
    return {
        "version": __version__,
        "git_sha": sha,
        "dirty": git_dirty() if sha else None,
        "python": platform.python_version(),
        "host": socket.gethostname(),
        "operator": os.environ.get("HIL_OPERATOR") or getpass.getuser(),
    }


def chain_hash(previous: str, body: str) -> str:
    """The ``chain`` value of a line whose text without the chain member is ``body``."""
    return hashlib.sha256((previous + body).encode("utf-8")).hexdigest()


def _lab_field() -> dict[str, Any] | None:
    """The lab file named by $HIL_LAB, as run_start records it (None when unset)."""
    path = os.environ.get(LAB_ENV)
    if not path:
        return None
    from hil.report.lab import journal_lab  # here: the journal stays light without a lab

    return journal_lab(Path(path))


class Journal:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._last: tuple[int, str] | None = None  # (file size, chain) after our last write

    def write(self, event: str, **fields: Any) -> None:
        if "chain" in fields:
            raise ValueError("'chain' is the journal's own member; name the field otherwise")
        if event == "run_start" and "lab" not in fields:
            lab = _lab_field()
            if lab is not None:
                fields["lab"] = lab
        body = json.dumps({"event": event, "time": now_iso(), **fields}, default=str)
        with open(self.path, "a+b") as handle, _locked(handle):
            size = handle.seek(0, os.SEEK_END)
            if self._last is not None and self._last[0] == size:
                previous, torn = self._last[1], False
            else:  # first write, or another writer appended: read the chain from the file
                previous, torn = _tail_chain(handle, size)
            chain = chain_hash(previous, body)
            line = body[:-1] + f', "chain": "{chain}"}}'
            # A torn last line (a writer killed mid-line) is ended so ours stays whole.
            data = ("\n" if torn else "") + line + "\n"
            handle.write(data.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
            self._last = (size + len(data.encode("utf-8")), chain)


@contextmanager
def _locked(handle: IO[bytes]) -> Iterator[None]:
    if fcntl is None:
        yield
        return
    fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _tail_chain(handle: IO[bytes], size: int) -> tuple[str, bool]:
    """The chain to continue from (the last line's, or the genesis) and whether the file
    ends in a torn line (no newline)."""
    if size == 0:
        return GENESIS, False
    handle.seek(max(0, size - 1))
    torn = handle.read(1) != b"\n"
    # find the last complete line: read backwards in chunks until a newline before it
    end = size if not torn else _last_newline(handle, size) + 1
    if end <= 0:
        return GENESIS, torn
    start = _last_newline(handle, end - 1) + 1
    handle.seek(start)
    text = handle.read(end - start).decode("utf-8", "replace").rstrip("\n")
    match = _CHAINED.match(text)
    return (match.group(2) if match else GENESIS), torn


def _last_newline(handle: IO[bytes], before: int) -> int:
    """Offset of the last b"\\n" strictly before ``before``; -1 when there is none."""
    pos = before
    while pos > 0:
        start = max(0, pos - _TAIL_CHUNK)
        handle.seek(start)
        chunk = handle.read(pos - start)
        found = chunk.rfind(b"\n")
        if found >= 0:
            return start + found
        pos = start
    return -1


# --- reading ---------------------------------------------------------------------------


ChainStatus = Literal["intact", "broken", "absent"]


@dataclass
class JournalFile:
    """One journal read whole: its events and what its bytes say about it."""

    path: Path
    events: list[dict[str, Any]] = field(default_factory=list)
    lines: int = 0  # non-empty lines
    sha256: str = ""  # of the file's bytes
    garbage_lines: list[int] = field(default_factory=list)  # 1-based, not the last line
    torn_last_line: bool = False  # the last line is not JSON: a writer stopped mid-line
    chain: ChainStatus = "absent"
    chain_first_bad: int | None = None  # 1-based line where the chain first fails
    chain_detail: str = ""

    @property
    def unreadable(self) -> int:
        return len(self.garbage_lines) + int(self.torn_last_line)


def read_journal_file(path: str | Path) -> JournalFile:
    """Events, garbage lines, the file's SHA-256 and the state of its hash chain.

    Raises OSError like ``Path.read_bytes``; bytes that are not UTF-8 make garbage lines."""
    path = Path(path)
    raw = path.read_bytes()
    out = JournalFile(path, sha256=hashlib.sha256(raw).hexdigest())
    numbered = [(n, line) for n, line in enumerate(raw.decode("utf-8", "replace").split("\n"), 1)
                if line.strip()]  # fmt: skip
    out.lines = len(numbered)
    for i, (n, line) in enumerate(numbered):
        try:
            event = json.loads(line)
        except ValueError:
            if i == len(numbered) - 1:
                out.torn_last_line = True
            else:
                out.garbage_lines.append(n)
            continue
        if isinstance(event, dict):
            event.pop("chain", None)  # the chain is about the file, not the event
            out.events.append(event)
        else:
            out.garbage_lines.append(n)
    _verify(out, numbered)
    return out


def _verify(out: JournalFile, numbered: list[tuple[int, str]]) -> None:
    if out.torn_last_line:
        numbered = numbered[:-1]  # benign: the writer was killed mid-line
    matches = [_CHAINED.match(line) for _, line in numbered]
    if not any(matches):
        out.chain = "absent"
        out.chain_detail = "not hash-chained (written by a harness without the journal chain)"
        return
    previous = GENESIS
    for (n, _line), match in zip(numbered, matches, strict=True):
        if match is None:
            out.chain, out.chain_first_bad = "broken", n
            out.chain_detail = f"line {n} carries no chain hash (inserted or damaged)"
            return
        body, stated = match.group(1) + "}", match.group(2)
        if chain_hash(previous, body) != stated:
            out.chain, out.chain_first_bad = "broken", n
            out.chain_detail = (
                f"line {n} does not match its chain hash: it or the line before it was "
                "edited, inserted or removed after it was written"
            )
            return
        previous = stated
    out.chain = "intact"
    out.chain_detail = f"intact over {len(numbered)} line(s)"


def verify_chain(path: str | Path) -> JournalFile:
    """Read ``path`` and check its hash chain (``.chain``, ``.chain_first_bad``)."""
    return read_journal_file(path)


def read_journal(path: str | Path) -> list[dict[str, Any]]:
    """Every complete line's event; lines that are not JSON (a half-written last line when
    the run was killed, or damage) are left out (``read_journal_file`` says which)."""
    return read_journal_file(path).events

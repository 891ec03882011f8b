"""The append-only run journal: one JSON object per line, flushed and synced as written,
so a run that is killed or loses power still leaves every finished test on disk.

Events (docs/run-record.md): ``run_start``, ``rig``, ``test``, ``run_end``.
"""

from __future__ import annotations

import getpass
import json
import os
import platform
import socket
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hil import __version__
from hil.paths import REPO_ROOT

SCHEMA = "hil-run/1"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def git_sha() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                             text=True, timeout=5)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def harness_identity() -> dict[str, Any]:
    return {
        "version": __version__,
        "git_sha": git_sha(),
        "python": platform.python_version(),
        "host": socket.gethostname(),
        "operator": os.environ.get("HIL_OPERATOR") or getpass.getuser(),
    }


class Journal:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, event: str, **fields: Any) -> None:
        line = json.dumps({"event": event, "time": now_iso(), **fields}, default=str)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())


def read_journal(path: str | Path) -> list[dict[str, Any]]:
    """Every complete line; a half-written last line (killed mid-write) is skipped."""
    events = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    return events

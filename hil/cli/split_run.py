"""``hil run`` on a split rig: its pre-flight (the suites find the rig themselves)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hil.rig.split_preflight import split_preflight
from hil.run import preflight_or_exit


def split_preflight_or_exit(rig_file: Path, defect: str | None, console: Any) -> str:
    """As ``hil.run.preflight_or_exit``, for a split rig: one line and exit 2 when a part
    is wrong; the rig's name otherwise."""
    return preflight_or_exit(rig_file, defect, console, check=split_preflight)

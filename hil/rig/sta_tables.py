"""Loading EA07 (STA) tables from the user's file; the engine itself never reads files.

Production tables are licensed and treated like key material: read when needed, never
logged (errors name the file, not its contents). Format: docs/sta-tables.md.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from hil.sts.ea07 import SAMPLE_TABLES, StaTables
from hil.sts.errors import FieldError

STA_TABLES_ENV = "HIL_STA_TABLES"


def load_sta_tables(path: str | Path) -> StaTables:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise FieldError(f"STA table file {path} not found") from None
    except (OSError, ValueError) as exc:
        raise FieldError(
            f"STA table file {path} is not readable JSON ({exc.__class__.__name__});"
            " see docs/sta-tables.md for the format"
        ) from None
    try:
        return StaTables.from_mapping(data, name=path.name)
    except FieldError as exc:
        raise FieldError(f"STA table file {path}: {exc}") from None


def tables_from_env_or_sample(path: str | Path | None = None) -> StaTables:
    """Explicit file first, then $HIL_STA_TABLES, else the sample tables (test material)."""
    chosen = path or os.environ.get(STA_TABLES_ENV)
    return load_sta_tables(chosen) if chosen else SAMPLE_TABLES

"""Reading the project's YAML files (rigs, meters, profiles, catalogue) with one-line errors."""

from __future__ import annotations

from pathlib import Path

import yaml

from hil.errors import ConfigError


def read_yaml(path: str | Path, what: str = "file") -> tuple[object, bytes]:
    """The parsed document and the raw bytes (for hashing); errors name the file and line."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what} ({exc.strerror})") from None
    try:
        return yaml.safe_load(raw), raw
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}:" if mark else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise ConfigError(f"{path}:{where} not valid YAML ({problem})") from None

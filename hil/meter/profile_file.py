"""Read a meter profile from a YAML file (the only I/O of hil.meter)."""

from __future__ import annotations

from pathlib import Path

import yaml

from hil.errors import ConfigError
from hil.meter.profile import MeterProfile, ProfileError
from hil.paths import FIXTURES

PROFILES_DIR = FIXTURES / "profiles"


def profile_path(name: str) -> Path:
    """Path of a named profile shipped in fixtures/profiles/ (``"realistic"``, ``"fast"``)."""
    return PROFILES_DIR / f"{name}.yaml"


def load_profile(path: str | Path) -> MeterProfile:
    """Parse a profile file. Errors are `ConfigError` with the file and the field in one line.

    A file without a ``name`` field takes its file name (without ``.yaml``) as the name.
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}:" if mark else ""
        raise ConfigError(f"{path}:{line} is not valid YAML") from None
    if isinstance(data, dict):
        data.setdefault("name", path.stem)
    try:
        return MeterProfile.from_mapping(data)
    except ProfileError as exc:
        raise ProfileError(f"{path}: {exc}") from None

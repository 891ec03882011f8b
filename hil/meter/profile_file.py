"""Read a meter profile from a YAML file (the only I/O of hil.meter)."""

from __future__ import annotations

from pathlib import Path

from hil.meter.profile import MeterProfile, ProfileError
from hil.paths import PROFILES
from hil.yamlfile import read_yaml

PROFILES_DIR = PROFILES


def profile_path(name: str) -> Path:
    """A profile file given by path, or named: shipped in hil/data/profiles/ (``"realistic"``,
    ``"fast"``)."""
    path = Path(name)
    if path.suffix in (".yaml", ".yml") and path.exists():
        return path
    candidate = PROFILES_DIR / f"{name}.yaml"
    if not candidate.exists():
        known = ", ".join(sorted(p.stem for p in PROFILES_DIR.glob("*.yaml")))
        raise ProfileError(f"timing profile {name!r} not found; known: {known}")
    return candidate


def load_profile(path: str | Path) -> MeterProfile:
    """Parse a profile file. Errors are `ConfigError` with the file and the field in one line.

    A file without a ``name`` field takes its file name (without ``.yaml``) as the name.
    """
    path = Path(path)
    data, _ = read_yaml(path, "timing profile")
    if isinstance(data, dict):
        data.setdefault("name", path.stem)
    try:
        return MeterProfile.from_mapping(data)
    except ProfileError as exc:
        raise ProfileError(f"{path}: {exc}") from None

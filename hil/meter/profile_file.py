"""Read a meter profile or a meter file from YAML (the only I/O of hil.meter)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from hil.meter.functions import FunctionsError, MeterFunctions
from hil.meter.profile import MeterProfile, ProfileError
from hil.paths import METERS, PROFILES
from hil.yamlfile import read_yaml

PROFILES_DIR = PROFILES
T = TypeVar("T")


def _shipped(name: str, folder: Path, what: str, error: type[Exception]) -> Path:
    """``name`` as a path to a YAML file, else the file of that name shipped in ``folder``
    (``what`` names the kind in the ``error``)."""
    path = Path(name)
    if path.suffix in (".yaml", ".yml") and path.exists():
        return path
    candidate = folder / f"{name}.yaml"
    if not candidate.exists():
        known = ", ".join(sorted(p.stem for p in folder.glob("*.yaml")))
        raise error(f"{what} {name!r} not found; known: {known}")
    return candidate


def _parse(path: Path, what: str, parse: Callable[[Any], T], error: type[Exception]) -> T:
    """Read ``path`` and build it with ``parse``; a file without ``name`` is named after
    itself. Errors are one line naming the file and the field."""
    data, _ = read_yaml(path, what)
    if isinstance(data, dict):
        data.setdefault("name", path.stem)
    try:
        return parse(data)
    except error as exc:
        raise error(f"{path}: {exc}") from None


def profile_path(name: str) -> Path:
    """A profile file given by path, or named: shipped in hil/data/profiles/ (``"realistic"``,
    ``"fast"``)."""
    return _shipped(name, PROFILES_DIR, "timing profile", ProfileError)


def load_profile(path: str | Path) -> MeterProfile:
    """Parse a profile file. Errors are `ConfigError` with the file and the field in one line.

    A file without a ``name`` field takes its file name (without ``.yaml``) as the name.
    """
    return _parse(Path(path), "timing profile", MeterProfile.from_mapping, ProfileError)


def functions_path(name: str) -> Path:
    """A meter file given by path, or named: shipped in hil/data/meters/ (``"sim-meter"``)."""
    return _shipped(name, METERS, "meter file", FunctionsError)


def load_functions(path: str | Path) -> MeterFunctions:
    """Parse a meter file; errors are one line naming the file and the field."""
    return _parse(Path(path), "meter file", MeterFunctions.from_mapping, FunctionsError)

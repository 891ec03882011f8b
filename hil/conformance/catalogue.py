"""The requirement catalogue (hil/data/requirements.yaml) and labs' own test-case mappings."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from hil.errors import ConfigError
from hil.paths import CATALOGUE
from hil.yamlfile import read_yaml


class Requirement(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    clause: str
    summary: str
    violated_by: tuple[str, ...] = ()
    applies_to: Literal["any", "split"] = "any"  # split: a CIU and its meters only


class Catalogue(BaseModel):
    model_config = ConfigDict(extra="forbid")

    requirements: list[Requirement]

    def by_id(self) -> dict[str, Requirement]:
        return {r.id: r for r in self.requirements}

    def violated_by(self, defect: str) -> set[str]:
        """Requirement ids a defect profile breaks."""
        return {r.id for r in self.requirements if defect in r.violated_by}


def _read(path: Path) -> object:
    return read_yaml(path)[0]


@cache
def load_catalogue(path: Path = CATALOGUE) -> Catalogue:
    try:
        catalogue = Catalogue.model_validate(_read(path))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{path}: {where}: {first['msg']}") from None
    ids = [r.id for r in catalogue.requirements]
    if len(ids) != len(set(ids)):
        raise ConfigError(f"{path}: requirement ids must be unique")
    return catalogue


def load_lab_map(path: Path, catalogue: Catalogue) -> dict[str, list[str]]:
    """A lab's own test-case ids per requirement: ``{REQUIREMENT-ID: [lab ids]}`` in YAML."""
    data = _read(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a lab map is a mapping of requirement id -> list of lab ids")
    known = catalogue.by_id()
    mapping: dict[str, list[str]] = {}
    for key, value in data.items():
        if key not in known:
            raise ConfigError(f"{path}: {key!r} is not a requirement id of {CATALOGUE.name}")
        mapping[key] = [str(v) for v in (value if isinstance(value, list) else [value])]
    return mapping

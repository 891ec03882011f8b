"""Rig files for leased rigs: ``place:NAME`` addresses and the name a pool gives a rig.

A rig file served by a labgrid place does not know where the exporter publishes its serial
ports; it says ``url: place:probe`` and the lease supplies ``socket://host:port``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

from hil.errors import ConfigError
from hil.rig.config import RigConfig

PLACE_PREFIX = "place:"


def place_references(config: RigConfig) -> Iterator[tuple[str, str]]:
    """``(field, resource name)`` for every ``place:NAME`` address in the rig."""
    res = config.resources
    for field, value in (
        ("resources.relay_board.url", res.relay_board.url if res.relay_board else None),
        ("resources.probe.url", res.probe.url if res.probe else None),
    ):
        if value and value.startswith(PLACE_PREFIX):
            yield field, value[len(PLACE_PREFIX) :]


def bind_rig(
    config: RigConfig,
    source: Path,
    *,
    name: str | None = None,
    bindings: Mapping[str, str] | None = None,
) -> RigConfig:
    """The rig with its pool name and every ``place:NAME`` replaced by the lease's address."""
    bindings = bindings or {}
    res = config.resources
    for field, ref in place_references(config):
        if not bindings:
            raise ConfigError(
                f"{source}: {field}: {PLACE_PREFIX}{ref} is a labgrid place resource; run this "
                "rig through its labgrid pool (hil run --pool FILE)"
            )
        if ref not in bindings:
            have = ", ".join(sorted(bindings)) or "none"
            raise ConfigError(
                f"{source}: {field}: the leased place has no serial resource {ref!r} (it has: "
                f"{have}); fix the name or add the resource to the exporter"
            )
        part = "relay_board" if field.startswith("resources.relay_board") else "probe"
        bound = getattr(res, part).model_copy(update={"url": bindings[ref]})
        res = res.model_copy(update={part: bound})
    update: dict[str, object] = {"resources": res}
    if name:
        update["name"] = name
    return config.model_copy(update=update)

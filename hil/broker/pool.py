"""Open the broker a pool file describes: a ``labgrid:`` section means the labgrid
coordinator, a ``rigs:`` list means lease files next to the pool file."""

from __future__ import annotations

from pathlib import Path

from hil.broker.base import RigBroker
from hil.broker.local import LocalBroker
from hil.errors import ConfigError
from hil.yamlfile import read_yaml


def open_broker(pool_file: str | Path, *, state_dir: str | Path | None = None) -> RigBroker:
    path = Path(pool_file)
    data, _ = read_yaml(path, "pool file")
    if not isinstance(data, dict) or not ({"rigs", "labgrid"} & set(data)):
        raise ConfigError(
            f"{path}: a pool file has a rigs: list (rig files on this host) or a labgrid: "
            "section (places of a coordinator); see rigs/pool.example.yaml"
        )
    if "labgrid" in data:
        from hil.broker.labgrid import LabgridBroker

        return LabgridBroker.from_pool_file(path, data)
    return LocalBroker(path, state_dir)

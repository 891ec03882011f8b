"""The readback role and its drivers, by kind (docs/drivers.md, "Writing a readback driver").

A rig file names the kind in ``resources.readback.kind`` (default ``probe``); `make_readback`
builds it. Adding a driver: one module here and one line in `READBACKS`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from hil.errors import ConfigError
from hil.rig.readback.base import (
    Capabilities,
    Identity,
    NotReadable,
    Readback,
    Reading,
    TokenOutcome,
)
from hil.rig.readback.dlms import open_dlms_readback
from hil.rig.readback.operator import open_operator_readback
from hil.rig.readback.probe import open_probe_readback

if TYPE_CHECKING:
    from hil.rig.config import ReadbackResource
    from hil.rig.rig import Rig

__all__ = ["READBACKS", "Capabilities", "Identity", "NotReadable", "Readback", "Reading",
           "TokenOutcome", "make_readback"]  # fmt: skip

ReadbackFactory = Callable[["Rig", "ReadbackResource"], Readback]


def open_display_readback(rig: Rig, resource: ReadbackResource) -> Readback:
    # OpenCV is imported only by rigs that read a display (~0.1 s on every other start).
    from hil.rig.readback.display import open_display_readback as open_display

    return open_display(rig, resource)


READBACKS: dict[str, ReadbackFactory] = {
    "probe": open_probe_readback,
    "dlms": open_dlms_readback,
    "operator": open_operator_readback,
    "display": open_display_readback,
}


def unknown_kind(kind: str) -> str:
    """The one-line error for a readback kind no driver is registered for."""
    return f"unknown readback kind {kind!r}; known: {', '.join(sorted(READBACKS))}"


def make_readback(rig: Rig, resource: ReadbackResource) -> Readback:
    factory = READBACKS.get(resource.kind)
    if factory is None:
        raise ConfigError(f"rig {rig.name}: resources.readback.kind: {unknown_kind(resource.kind)}")
    return factory(rig, resource)

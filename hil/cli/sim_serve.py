"""``hil sim`` once its bench is built, for an integrated or a split rig: the transport,
the banner and endpoint list, the ready file, and serving until Ctrl-C or SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import click

if TYPE_CHECKING:
    from hil.rig.config import SimulatorSpec


class Serving(Protocol):
    def stop(self) -> None: ...


def pick_transport(spec: SimulatorSpec | None, transport: str | None, port_base: int | None) -> str:
    """``--tcp``/``--pty`` or the rig's simulator transport; always TCP with --port-base."""
    if port_base is not None:
        return "tcp"
    return transport or (spec.transport if spec else "pty")


def serve(
    bench: Serving,
    addresses: dict[str, str],
    *,
    banner: list[str],
    width: int,
    ready: dict[str, object],
    ready_file: Path | None,
    exit_with_parent: bool,
) -> None:
    """Print the banner and the endpoints, write the ready file (``pid``, ``ready``'s
    fields, the addresses), then serve until a signal (or the parent's death with
    ``exit_with_parent``) and stop the bench."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    for line in banner:
        click.echo(line)
    for name, address in addresses.items():
        click.echo(f"  {name:<{width}} {address}")
    click.echo("Ctrl-C to stop.", err=True)
    if ready_file is not None:
        tmp = ready_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"pid": os.getpid(), **ready, **addresses}))
        tmp.replace(ready_file)  # atomic: a reader never sees half a file
    if exit_with_parent:
        watch_parent(stop)
    try:
        stop.wait()
    finally:
        bench.stop()
        click.echo("hil sim: stopped", err=True)


def watch_parent(stop: threading.Event) -> None:
    """A harness killed with SIGKILL cannot stop its simulator: notice and stop alone."""
    parent = os.getppid()

    def watch() -> None:
        while not stop.wait(0.5):
            if os.getppid() != parent:
                stop.set()

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()

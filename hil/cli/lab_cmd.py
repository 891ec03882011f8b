"""``hil lab``: who holds which rig of a pool, and freeing rigs whose job died."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

POOL_OPTION = click.option(
    "--pool",
    type=click.Path(path_type=Path, dir_okay=False),
    default=lambda: os.environ.get("HIL_POOL") or "rigs/pool.yaml",
    show_default="$HIL_POOL, else rigs/pool.yaml",
    help="Pool file (a rigs: list, or a labgrid: section naming the coordinator).",
)


@click.group()
def lab() -> None:
    """Rigs shared between jobs: list leases, free stale ones."""


def _open(pool: Path) -> AbstractContextManager[Any]:
    """The pool's broker, or one clean error line: how to make a pool file when there is
    none; nothing else printed before it."""
    from hil.broker.pool import open_broker
    from hil.errors import ConfigError
    from hil.paths import RIGS

    # labgrid reports an unreachable coordinator with logging.error(), which (no handler
    # configured) prints a raw "ERROR:root:" line before our own one-line error.
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.NullHandler())
    if not pool.exists():
        example = RIGS / "pool.example.yaml"
        raise ConfigError(
            f"{pool}: no pool file. A pool file lists rig files and their tags: copy "
            f"{example} beside your rig files and edit it, or try it as it is with "
            f"--pool {example}; name yours with --pool FILE or $HIL_POOL (docs/lab-setup.md)"
        )
    return open_broker(pool)


def _state(status: object) -> tuple[str, str, str]:
    """(state, owner, expires) columns of a RigStatus."""
    lease = status.lease  # type: ignore[attr-defined]
    if lease is None:
        return ("busy" if status.note else "free"), status.note, ""  # type: ignore[attr-defined]
    left = lease.expires_at - time.time()
    owner = f"job {lease.owner.get('job')} @ {lease.owner.get('host')} pid {lease.owner.get('pid')}"
    if lease.stale:
        return "STALE", owner, f"{-left:.0f} s ago"
    return "leased", owner, f"in {left:.0f} s"


@lab.command("list")
@POOL_OPTION
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_rigs(pool: Path, as_json: bool) -> None:
    """Every rig (labgrid place) of the pool: tags, lease, owner and expiry."""
    with _open(pool) as broker:
        rigs = broker.rigs()
    if as_json:
        out = []
        for r in rigs:
            state, owner, _ = _state(r)
            lease = r.lease
            out.append({"rig": r.name, "tags": dict(r.tags), "state": state.lower(),
                        "owner": dict(lease.owner) if lease else None,
                        "expires_at": lease.expires_at if lease else None,
                        "note": r.note})  # fmt: skip
        click.echo(json.dumps(out, indent=1))
        return
    table = Table(title=f"pool {pool}")
    for column in ("rig", "tags", "state", "holder", "expires"):
        table.add_column(column)
    colour = {"free": "green", "leased": "yellow", "STALE": "red", "busy": "magenta"}
    for r in rigs:
        state, owner, expires = _state(r)
        tags = ",".join(f"{k}={v}" for k, v in r.tags.items())
        table.add_row(escape(r.name), escape(tags), f"[{colour[state]}]{state}[/]",
                      escape(owner), expires)  # fmt: skip
    Console().print(table)


@lab.command()
@POOL_OPTION
@click.option("--stale", is_flag=True, help="Free every lease past its expiry.")
@click.option("--force", is_flag=True, help="Free the named rigs even if their lease is live.")
@click.argument("rigs", nargs=-1)
def free(pool: Path, stale: bool, force: bool, rigs: tuple[str, ...]) -> None:
    """Give rigs back: --stale frees leases whose job stopped renewing them; RIG... --force
    frees named rigs whose job you know is gone (its heartbeat would have lost the lease)."""
    from hil.errors import ConfigError

    if not stale and not rigs:
        raise click.UsageError("say which: --stale, or RIG names with --force")
    with _open(pool) as broker:
        known = [r.name for r in broker.rigs()]
        unknown = [name for name in rigs if name not in known]
        if unknown:
            raise ConfigError(
                f"{', '.join(unknown)}: no such rig in {pool} (its rigs: "
                f"{', '.join(known) or 'none'}); see hil lab list --pool {pool}"
            )
        freed = [lease.describe() for lease in broker.recover_stale()] if stale else []
        if rigs:
            held = {lease.rig: lease for lease in broker.leases()}
            for name in rigs:
                lease = held.get(name)
                if lease is None:
                    click.echo(f"{name}: not leased through hil; nothing to free", err=True)
                    continue
                if not lease.stale and not force:
                    raise click.UsageError(
                        f"{lease.describe()} is live for {lease.expires_at - time.time():.0f} s "
                        "more; add --force if that job is gone"
                    )
                broker.release(lease)
                freed.append(lease.describe())
    for text in freed:
        click.echo(f"freed {text}")
    if not freed:
        click.echo("nothing to free")
    sys.exit(0)

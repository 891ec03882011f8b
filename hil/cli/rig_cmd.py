"""``hil rig check RIGFILE``: a self-check of a bench."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table


@click.group()
def rig() -> None:
    """Benches described by rig files."""


@rig.command()
@click.argument("rig_file", type=click.Path(path_type=Path, dir_okay=False))
def check(rig_file: Path) -> None:
    """Check the rig file, its key sources and STA tables, then that the relay board, every
    key channel, the probe and the instruments answer; every row is shown, even after one
    fails. Starts the simulator first for a simulated rig. Exit 0 when every check passes."""
    from hil.paths import resolve_rig
    from hil.rig.preflight import preflight

    console = Console()
    rig_file = resolve_rig(rig_file)
    with console.status(f"checking {rig_file} ..."):
        rows, name = preflight(rig_file, keys=True)
    table = Table(title=f"rig {name} ({rig_file})")
    for column in ("device", "check", "result", "detail", "time"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            row.device,
            row.check,
            "[green]ok[/]" if row.ok else "[red]FAIL[/]",
            row.detail,
            f"{row.seconds * 1000:.0f} ms",
        )
    console.print(table)
    failed = [r for r in rows if not r.ok]
    click.echo(f"{len(rows) - len(failed)} of {len(rows)} checks passed")
    sys.exit(1 if failed else 0)

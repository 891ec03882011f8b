"""``hil vectors check FILE``: known-answer vectors, end to end."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from hil.errors import ConfigError
from hil.rig.sta_tables import STA_TABLES_ENV, load_sta_tables
from hil.vectors import VectorResult, check_vectors, summary_line


@click.group()
def vectors() -> None:
    """Known-answer vector files (format: docs/vectors.md)."""


def _load(path: Path) -> list[dict]:
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    except ValueError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, list) or not all(isinstance(v, dict) for v in data):
        raise ConfigError(f"{path}: must be a JSON list of vector objects (docs/vectors.md)")
    if not any("kind" in v for v in data):
        # An empty list, or objects none of which is a vector: checking it would "pass".
        what = "an empty list" if not data else f"{len(data)} object(s), none with a 'kind'"
        raise ConfigError(f"{path}: has no vectors ({what}); format: docs/vectors.md")
    return data


@vectors.command()
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--sta-tables",
    type=click.Path(path_type=Path, dir_okay=False),
    envvar=STA_TABLES_ENV,
    help=f"EA07 tables (JSON) for EA07 vectors; or ${STA_TABLES_ENV}.",
)
@click.option(
    "--json",
    "json_out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write every result to this JSON file.",
)
@click.option("-v", "--verbose", is_flag=True, help="Print a line for passing vectors too.")
def check(file: Path, sta_tables: Path | None, json_out: Path | None, verbose: bool) -> None:
    """Check every vector; one line per failure; exit 0 only when none failed."""
    tables = load_sta_tables(sta_tables) if sta_tables else None

    def report(result: VectorResult) -> None:
        if result.status == "fail":
            for output, expected, computed in result.diffs:
                click.echo(f"FAIL {result.id}: {output}: expected {expected}, computed {computed}")
        elif result.status == "skip":
            click.echo(f"SKIP {result.id}: {result.reason}")
        elif verbose:
            click.echo(f"ok   {result.id}")

    results = check_vectors(_load(file), tables, report)
    if json_out is not None:
        payload = {
            "file": str(file),
            "summary": summary_line(results),
            "results": [r.as_dict() for r in results],
        }
        json_out.write_text(json.dumps(payload, indent=2) + "\n")
    click.echo(summary_line(results))
    sys.exit(1 if any(r.status == "fail" for r in results) else 0)

"""``hil report`` (render a run's outputs) and ``hil diff`` (compare two runs)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from hil.errors import HarnessError

VERDICT_COLOURS = {"pass": "green", "fail": "red", "error": "magenta", "incomplete": "yellow"}
HIL_EVENTS = frozenset({"run_start", "rig", "test", "run_end"})


def _fail(message: str) -> None:
    """One line on stderr, exit status 2 (as the ``hil`` group does for harness errors)."""
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


def _check_run_dir(path: Path) -> None:
    """Refuse, before anything is written, what is not a run: a missing path, a file that
    is not a journal, a directory without journals, journals without a single hil event."""
    from hil.report.journal import read_journal_file
    from hil.report.record import find_journals

    if not path.exists():
        _fail(f"{path}: no such run directory")
    if path.is_file() and path.suffix != ".jsonl":
        _fail(f"{path}: not a run journal (journal*.jsonl) nor a run directory")
    journals = find_journals(path)
    if not journals:
        _fail(f"{path}: no journal*.jsonl or */journal*.jsonl in it")
    for journal in journals:
        try:
            events = read_journal_file(journal).events
        except OSError as exc:
            _fail(f"{journal}: cannot read ({exc.strerror})")
        if any(e.get("event") in HIL_EVENTS for e in events):
            return
    _fail(f"{path}: not a hil run: its journal(s) hold no run_start, rig or test event")


def _chain_line(source: object) -> tuple[str, bool]:
    """One line on a journal's hash chain and file hash; True when it is broken."""
    chain = getattr(source, "chain", None)
    name = getattr(source, "journal", "?")
    digest = getattr(source, "sha256", None) or "?"
    if chain == "broken":
        line = getattr(source, "chain_first_bad", None)
        detail = getattr(source, "chain_detail", "")
        return f"journal {name}: HASH CHAIN BROKEN at line {line}: {detail}", True
    if chain == "intact":
        return f"journal {name}: hash chain intact, SHA-256 {digest}", False
    return f"journal {name}: not hash-chained (older harness), SHA-256 {digest}", False


@click.command("report")
@click.argument(
    "run_dirs", nargs=-1, required=True, metavar="RUN_DIR...", type=click.Path(path_type=Path)
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="output directory (default: the run directory; required when merging several)",
)
@click.option(
    "--lab-map",
    type=click.Path(dir_okay=False, path_type=Path),
    help="YAML mapping requirement id -> your lab's test-case ids (adds a column)",
)
def report(run_dirs: tuple[Path, ...], out: Path | None, lab_map: Path | None) -> None:
    """Render RUN_DIR's journal(s) into record.json, report.html, junit.xml and
    allure-results/. Several RUN_DIRs merge into one report (give --out)."""
    from hil.report.record import load_runs
    from hil.report.render import render_record

    for run_dir in run_dirs:
        _check_run_dir(run_dir)
    if lab_map is not None and not lab_map.is_file():
        _fail(f"{lab_map}: no such lab map file")
    if out is None:
        if len(run_dirs) > 1:
            _fail("several run directories merge into one report: give --out DIR")
        out = run_dirs[0] if run_dirs[0].is_dir() else run_dirs[0].parent
    notes: list[str] = []
    try:
        record = load_runs(list(run_dirs), lab_map=lab_map)
        paths = render_record(record, out, notes=notes)
    except HarnessError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"{exc.filename or out}: cannot write ({exc.strerror})")
    for kind, path in paths.items():
        click.echo(f"{kind:<7} {path}")
    for note in notes:  # no PDF engine: say how to get one
        click.echo(f"warning: report.pdf: {note}", err=True)
    c = record.counts
    label = getattr(record, "verdict_label", "") or record.verdict.upper()
    word = label + (" (PARTIAL RUN)" if record.partial and "INCOMPLETE" not in label else "")
    not_run = getattr(c, "not_run", 0)
    click.echo(
        "verdict "
        + click.style(word, fg=VERDICT_COLOURS.get(record.verdict), bold=True)
        + f" - {c.total} tests: {c.passed} passed, {c.failed} failed, {c.errors} errors, "
        f"{c.skipped} skipped" + (f", {not_run} not run" if not_run else "") + "; "
        f"requirements covered {record.coverage.covered}/{record.coverage.total}"
    )
    if getattr(record, "report_number", ""):
        click.echo(f"number  {record.report_number}")
    for source in record.run.sources:
        line, broken = _chain_line(source)
        if broken:
            click.echo(click.style(f"warning: {line}", fg="red", bold=True), err=True)
        else:
            click.echo(line)
    for warning in record.warnings:
        if "HASH CHAIN BROKEN" in warning:
            continue  # said above, once per journal
        click.echo(f"warning: {warning}", err=True)


@click.command("diff")
@click.argument("run_a", type=click.Path(path_type=Path))
@click.argument("run_b", type=click.Path(path_type=Path))
@click.option(
    "--json",
    "json_out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="also write the diff as JSON to this file",
)
@click.option(
    "--fail-on",
    type=click.Choice(["new-failures"]),
    help="exit 1 when B has new failures (exit 2 when the runs are not comparable)",
)
def diff(run_a: Path, run_b: Path, json_out: Path | None, fail_on: str | None) -> None:
    """Compare run RUN_A (before) with RUN_B (after): new failures, fixed, still failing,
    added and removed tests, timing shifts, requirement verdict changes. Each run is a run
    directory, a journal, or a record.json. Tests match by test id across rigs; tests that
    did not run are never failures. Exits 0 whatever changed, unless --fail-on."""
    from hil.report.diff import diff_runs, format_diff
    from hil.report.record import load_record

    records = []
    for path in (run_a, run_b):
        if not path.exists():
            _fail(f"{path}: no such run directory or record")
        try:
            records.append(load_record(path))
        except HarnessError as exc:
            _fail(str(exc))
    result = diff_runs(records[0], records[1])
    click.echo(format_diff(result), nl=False)
    if json_out is not None:
        try:
            json_out.parent.mkdir(parents=True, exist_ok=True)
            json_out.write_text(result.model_dump_json(indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            _fail(f"{json_out}: cannot write ({exc.strerror})")
        click.echo(f"json    {json_out}")
    if fail_on == "new-failures":
        if result.not_comparable:
            _fail("the runs are not comparable (see above); cannot tell new failures")
        if result.new_failures:
            sys.exit(1)

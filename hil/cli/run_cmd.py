"""``hil run``: the main job."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from hil.paths import REPO_ROOT, REPORTS, RIGS


def _suite_paths(names: tuple[str, ...]) -> list[str]:
    if not names:
        return [str(REPO_ROOT / "suites")]
    paths = []
    for name in names:
        candidates = [REPO_ROOT / "suites" / f"test_{name}.py", REPO_ROOT / "suites" / name,
                      Path(name)]  # fmt: skip
        found = next((c for c in candidates if c.exists()), None)
        if found is None:
            known = ", ".join(
                p.stem.removeprefix("test_")
                for p in sorted((REPO_ROOT / "suites").glob("test_*.py"))
            )
            raise click.UsageError(f"no suite {name!r}; known: {known}")
        paths.append(str(found))
    return paths


@click.command()
@click.option(
    "--rig",
    "rig_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=RIGS / "sim.yaml",
    show_default=True,
    help="Rig file of the bench.",
)
@click.option(
    "-k", "keyword", metavar="EXPR", help="Only tests matching this pytest -k expression."
)
@click.option(
    "--suite",
    "suites",
    multiple=True,
    metavar="NAME",
    help="Only this suite (credit, tid, keys, ...; repeatable).",
)
@click.option(
    "--clause",
    "clauses",
    multiple=True,
    metavar="ID",
    help="Only tests of this requirement id (repeatable).",
)
@click.option(
    "--robot/--no-robot",
    default=None,
    help="Also run the Robot Framework suites (default: on for a full run).",
)
@click.option("--defect", metavar="NAME", help="Simulated rigs: run against a broken meter.")
@click.option(
    "--out",
    "out_root",
    type=click.Path(path_type=Path, file_okay=False),
    default=REPORTS,
    show_default=True,
    help="Where run directories are made.",
)
@click.option(
    "--lab-map",
    type=click.Path(path_type=Path, dir_okay=False),
    help="A lab's own test-case ids per requirement, shown in the report.",
)
def run(
    rig_file: Path,
    keyword: str | None,
    suites: tuple[str, ...],
    clauses: tuple[str, ...],
    robot: bool | None,
    defect: str | None,
    out_root: Path,
    lab_map: Path | None,
) -> None:
    """Run the conformance suites against a bench (default: the simulated bench) and write
    the compliance report to reports/<timestamp>-<rig>/. Exit 0 all passed, 1 the meter
    failed a test, 2 harness or bench error."""
    from hil.rig.config import load_rig
    from hil.run import (
        EXIT_ERROR,
        ProgressPlugin,
        Tally,
        pytest_args,
        run_dir_for,
        run_pytest,
        short_id,
    )  # fmt: skip

    config, _ = load_rig(rig_file)  # a broken rig file stops here with a one-line error
    run_dir = run_dir_for(config.name, out_root)
    run_dir.mkdir(parents=True)
    console = Console(highlight=False)
    console.print(f"hil run: rig [bold]{config.name}[/] (meter {config.meter.pan}) -> {run_dir}")
    tally = Tally()
    start = time.monotonic()
    progress = Progress(TextColumn("{task.description}"), BarColumn(bar_width=20),
                        MofNCompleteColumn(), TimeElapsedColumn(),
                        TextColumn("{task.fields[eta]}"), console=console,
                        transient=True)  # fmt: skip
    task = progress.add_task("collecting", total=None, eta="")
    marks = {"pass": "[green]PASS[/]", "fail": "[red]FAIL[/]", "error": "[magenta]ERROR[/]",
             "skip": "[yellow]SKIP[/]"}  # fmt: skip

    def show(kind: str, text: str) -> None:
        if kind == "test":
            name = text.split("::", 1)[-1].split("[")[0]
            progress.update(task, total=tally.total or None, description=name[:40])
        elif kind == "token":
            progress.update(task, description=f"{task_desc()} <- {text[:4]}..{text[-4:]}")
        elif kind == "done":
            verdict, nodeid = text.split(" ", 1)
            progress.console.print(
                f"{marks[verdict]} {short_id(nodeid)}", overflow="ellipsis", no_wrap=True, crop=True
            )
            elapsed = time.monotonic() - start
            left = (tally.total - tally.done) * elapsed / max(1, tally.done)
            counts = " ".join(f"{k} {v}" for k, v in sorted(tally.counts.items()))
            progress.update(task, completed=tally.done, eta=f"~{left:.0f}s left  {counts}")

    def task_desc() -> str:
        return progress.tasks[0].description.split(" <- ")[0]

    args = pytest_args(run_dir, rig_file, suites=_suite_paths(suites), keyword=keyword,
                       clauses=list(clauses), defect=defect)  # fmt: skip
    with progress:
        status = run_pytest(args, ProgressPlugin(tally, show))
    robot_dir = REPO_ROOT / "suites" / "robot"
    full_run = not (keyword or suites or clauses)
    if (robot if robot is not None else full_run) and robot_dir.exists():
        status_robot = _run_robot(run_dir, rig_file, defect, console, tally)
        status = max(status, status_robot)
    exit_code = tally.exit_status(status)
    if tally.done == 0:
        console.print("[red]no test ran[/]: check the -k/--suite/--clause selection")
    _summary(console, tally, time.monotonic() - start)
    report = _render(run_dir, lab_map, console)
    verdict = {0: "[green]PASS[/]", 1: "[red]FAIL[/] (the meter failed a test)",
               2: "[magenta]ERROR[/] (harness or bench fault)"}[exit_code]  # fmt: skip
    console.print(f"verdict: {verdict}")
    console.print(f"report:  {report or run_dir}")
    sys.exit(exit_code if exit_code != 0 or status in (0, 1, 5) else EXIT_ERROR)


def _run_robot(run_dir: Path, rig_file: Path, defect: str | None, console: Console,
               tally: object) -> int:  # fmt: skip
    """The Robot suites, into run_dir/robot, journalled like the pytest ones."""
    try:
        import robot

        from hil.robot.listener import JournalListener  # noqa: F401 - fails if absent
    except ImportError:
        console.print("[yellow]Robot suites skipped: hil.robot is not available[/]")
        return 0
    out = run_dir / "robot"
    out.mkdir()
    console.print("running the Robot Framework suites ...")
    variables = [f"RIG:{rig_file}"] + ([f"DEFECT:{defect}"] if defect else [])
    rc = robot.run(
        str(REPO_ROOT / "suites" / "robot"), outputdir=str(out), variable=variables,
        listener=[f"hil.robot.listener.JournalListener:{out / 'journal.jsonl'}"],
        console="dotted", stdout=open(out / "console.txt", "w"),  # noqa: SIM115
    )  # fmt: skip
    from hil.report.journal import read_journal

    journal = out / "journal.jsonl"
    for event in read_journal(journal) if journal.exists() else []:
        if event.get("event") == "test":
            tally.add(event["nodeid"], event["verdict"], event.get("message", ""))  # type: ignore[attr-defined]
    return 0 if rc == 0 else 1 if rc < 250 else 3


def _summary(console: Console, tally: object, seconds: float) -> None:
    table = Table(title=f"hil run: {tally.done} tests in {seconds:.0f} s")  # type: ignore[attr-defined]
    for column in ("suite", "pass", "fail", "error", "skip"):
        table.add_column(column, justify="left" if column == "suite" else "right")
    for path, counts in sorted(tally.by_file.items()):  # type: ignore[attr-defined]
        table.add_row(
            Path(path).name, *(str(counts[v] or "") for v in ("pass", "fail", "error", "skip"))
        )
    console.print(table)
    for nodeid, verdict, message in tally.failures[:20]:  # type: ignore[attr-defined]
        console.print(f"[red]{verdict.upper()}[/] {nodeid}\n    {message[:300]}")


def _render(run_dir: Path, lab_map: Path | None, console: Console) -> Path | None:
    try:
        from hil.report.render import render_run
    except ImportError:
        console.print("[yellow]report renderers not available; the journal is in the run dir[/]")
        return None
    outputs = render_run([run_dir], run_dir, lab_map=lab_map)
    return outputs.get("html")

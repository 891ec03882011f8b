"""``hil run``: the main job."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from hil.paths import DEFAULT_RIG, REPO_ROOT, ROBOT_SUITES, SUITES, resolve_rig

if TYPE_CHECKING:
    from hil.run import PoolRun, Tally


def _suite_paths(names: tuple[str, ...]) -> list[str]:
    if not names:
        return [str(SUITES)]
    paths = []
    for name in names:
        candidates = [SUITES / f"test_{name}.py", SUITES / name,
                      Path(name)]  # fmt: skip
        found = next((c for c in candidates if c.exists()), None)
        if found is None:
            known = ", ".join(
                p.stem.removeprefix("test_")
                for p in sorted(SUITES.glob("test_*.py"))
            )
            raise click.UsageError(f"no suite {name!r}; known: {known}")
        paths.append(str(found))
    return paths


@click.command()
@click.option(
    "--rig",
    "rig_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=DEFAULT_RIG,
    show_default="the built-in simulated bench",
    help="Rig file of the bench, or a built-in rig's name (sim, external-sim).",
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
    default=None,
    show_default="./reports",
    help="Where run directories are made.",
)
@click.option(
    "--pool",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Lease rigs from this pool file instead of --rig (rigs/pool.example.yaml).",
)
@click.option(
    "-n",
    "--workers",
    default="auto",
    show_default=True,
    metavar="N|auto",
    help="With --pool: parallel workers, one leased rig each (auto: every matching rig).",
)
@click.option("--each", is_flag=True, help="With --pool: run every test on every matching rig.")
@click.option(
    "--tag",
    "tags",
    multiple=True,
    metavar="KEY=VALUE",
    help="With --pool: only rigs with this tag (repeatable), e.g. firmware=2_1.",
)
@click.option(
    "--lease-wait",
    type=float,
    default=None,
    metavar="S",
    help="With --pool: seconds a worker waits for a free rig (default 600).",
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
    pool: Path | None,
    workers: str,
    each: bool,
    tags: tuple[str, ...],
    lease_wait: float | None,
    lab_map: Path | None,
) -> None:
    """Run the conformance suites against a bench (default: the simulated bench) and write
    the compliance report to reports/<timestamp>-<rig>/. Exit 0 all passed, 1 the meter
    failed a test, 2 harness or bench error.

    With --pool, N workers each lease a rig for the whole run (pytest-xdist; Robot suites
    with pabot) and the report has a section per rig; --each runs everything on every rig."""
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

    console = Console(highlight=False)
    rig_file = resolve_rig(rig_file)
    plan = None
    if pool is not None:
        plan = _pool_plan(pool, workers, each, tags, lease_wait)
        run_dir = run_dir_for(pool.stem, out_root)
        run_dir.mkdir(parents=True)
        how = "every test on each rig" if each else "tests shared between them"
        console.print(
            f"hil run: pool [bold]{pool}[/] ({_tag_text(plan.tags)}): {plan.workers} "
            f"worker(s), one leased rig each, {how} -> {run_dir}"
        )
    else:
        if workers != "auto" or each or tags or lease_wait is not None:
            raise click.UsageError("-n/--each/--tag/--lease-wait need --pool FILE")
        config, _ = load_rig(rig_file)  # a broken rig file stops here with a one-line error
        run_dir = run_dir_for(config.name, out_root)
        run_dir.mkdir(parents=True)
        console.print(
            f"hil run: rig [bold]{config.name}[/] (meter {config.meter.pan}) -> {run_dir}"
        )
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
            verdict, rig, nodeid = text.split(" ", 2)
            where = f"{rig} " if plan is not None and rig != "-" else ""  # pooled: which rig
            progress.console.print(
                f"{marks[verdict]} {escape(where + short_id(nodeid))}",
                overflow="ellipsis",
                no_wrap=True,
                crop=True,
            )
            elapsed = time.monotonic() - start
            left = (tally.total - tally.done) * elapsed / max(1, tally.done)
            counts = " ".join(f"{k} {v}" for k, v in sorted(tally.counts.items()))
            progress.update(task, completed=tally.done, eta=f"~{left:.0f}s left  {counts}")

    def task_desc() -> str:
        return progress.tasks[0].description.split(" <- ")[0]

    args = pytest_args(run_dir, rig_file, suites=_suite_paths(suites), keyword=keyword,
                       clauses=list(clauses), defect=defect, pool=plan)  # fmt: skip
    with progress:
        status = run_pytest(args, ProgressPlugin(tally, show, each=bool(plan and plan.each)))
    robot_dir = ROBOT_SUITES
    full_run = not (keyword or suites or clauses)
    if (robot if robot is not None else full_run) and robot_dir.exists():
        if plan is not None:
            status_robot = _run_pabot(run_dir, plan, defect, console, tally)
        else:
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
        str(ROBOT_SUITES), outputdir=str(out), variable=variables,
        listener=[f"hil.robot.listener.JournalListener:{out / 'journal.jsonl'}"],
        console="dotted", stdout=open(out / "console.txt", "w"),  # noqa: SIM115
    )  # fmt: skip

    _tally_robot(out, tally)
    return 0 if rc == 0 else 1 if rc < 250 else 3


def _tally_robot(out: Path, tally: object) -> None:
    from hil.report.journal import read_journal

    for journal in sorted(out.glob("journal*.jsonl")):
        rig = ""
        for event in read_journal(journal):
            if event.get("event") == "rig":
                rig = str(event.get("name", ""))
            elif event.get("event") == "test":
                tally.add(event["nodeid"], event["verdict"], event.get("message", ""), rig)  # type: ignore[attr-defined]


def _run_pabot(run_dir: Path, plan: PoolRun, defect: str | None, console: Console,
               tally: object) -> int:  # fmt: skip
    """The Robot suites in parallel with pabot, each suite process leasing from the pool
    (with --each: every suite once per rig, pinned by a rig=NAME tag)."""
    import subprocess

    out = run_dir / "robot"
    out.mkdir()
    variables = ["--variable", f"POOL:{plan.pool.resolve()}"]
    variables += ["--variable", f"DEFECT:{defect}"] if defect else []
    if plan.lease_wait_s is not None:
        variables += ["--variable", f"LEASE_WAIT:{plan.lease_wait_s:g}"]
    cmd = [sys.executable, "-m", "pabot.pabot", "--no-pabotlib", "--processes",
           str(plan.workers), "--outputdir", str(out), "--console", "dotted",
           "--listener", f"hil.robot.listener.JournalListener:{out}/journal-{{pid}}.jsonl",
           *variables]  # fmt: skip
    if plan.each:
        for i, name in enumerate(plan.rig_names, start=1):
            argfile = out / f"rig-{i}.args"
            tags = _tag_text({**plan.tags, "rig": name}, sep=",")
            argfile.write_text(f"--variable POOL_TAGS:{tags}\n", encoding="utf-8")
            cmd += [f"--argumentfile{i}", str(argfile)]
    elif plan.tags:
        cmd += ["--variable", f"POOL_TAGS:{_tag_text(plan.tags, sep=',')}"]
    # pabot names suites by path: the checkout's suites/robot where there is one
    checkout = REPO_ROOT / "suites" / "robot"
    cmd.append(str(checkout if checkout.exists() else ROBOT_SUITES))
    console.print(f"running the Robot Framework suites with pabot ({plan.workers} processes) ...")
    with open(out / "console.txt", "w", encoding="utf-8") as log:
        rc = subprocess.run(cmd, cwd=out, stdout=log, stderr=subprocess.STDOUT).returncode
    _tally_robot(out, tally)
    return 0 if rc == 0 else 1 if rc < 250 else 3


def _tag_text(tags: dict[str, str], sep: str = " ") -> str:
    return sep.join(f"{k}={v}" for k, v in tags.items()) or "any rig"


def _pool_plan(pool: Path, workers: str, each: bool, tags: tuple[str, ...],
               lease_wait: float | None) -> PoolRun:  # fmt: skip
    """Which rigs of the pool match, and how many workers to start."""
    from hil.broker.base import parse_tags
    from hil.broker.pool import open_broker
    from hil.run import PoolRun

    try:
        wanted = parse_tags(tags)
    except ValueError as exc:
        raise click.UsageError(f"--tag {exc}, e.g. model=sim") from None
    with open_broker(pool) as broker:
        matching = [r.name for r in broker.rigs() if r.matches(wanted)]
    if not matching:
        raise click.UsageError(f"{pool}: no rig matches {_tag_text(wanted)}")
    if each and workers != "auto":
        raise click.UsageError("--each starts one worker per matching rig; leave out -n")
    if each or workers == "auto":
        count = len(matching)
    else:
        try:
            count = int(workers)
        except ValueError:
            raise click.UsageError(f"-n {workers!r}: give a number of workers or auto") from None
        if count < 1:
            raise click.UsageError("-n: at least 1 worker")
        if count > len(matching):
            raise click.UsageError(
                f"-n {count}: only {len(matching)} rig(s) in {pool} match "
                f"{_tag_text(wanted)} ({', '.join(matching)}); use -n {len(matching)} or auto"
            )
    return PoolRun(pool, wanted, count, each, lease_wait, tuple(matching))


def _summary(console: Console, tally: Tally, seconds: float) -> None:
    table = Table(title=f"hil run: {tally.done} tests in {seconds:.0f} s")
    several = len(tally.rigs) > 1
    for column in (["rig"] if several else []) + ["suite", "pass", "fail", "error", "skip"]:
        table.add_column(column, justify="left" if column in ("rig", "suite") else "right")
    for (rig, path), counts in sorted(tally.by_file.items()):
        cells = [str(counts[v] or "") for v in ("pass", "fail", "error", "skip")]
        table.add_row(*([rig] if several else []), Path(path).name, *cells)
    console.print(table)
    for nodeid, verdict, message, rig in tally.failures[:20]:
        where = f"{rig}: " if several and rig else ""
        console.print(
            f"[red]{verdict.upper()}[/] {escape(where + nodeid)}\n    {escape(message[:300])}"
        )


def _render(run_dir: Path, lab_map: Path | None, console: Console) -> Path | None:
    try:
        from hil.report.render import render_run
    except ImportError:
        console.print("[yellow]report renderers not available; the journal is in the run dir[/]")
        return None
    outputs = render_run([run_dir], run_dir, lab_map=lab_map)
    return outputs.get("html")

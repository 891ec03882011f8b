"""``hil run``: the main job."""

from __future__ import annotations

import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from hil.paths import DEFAULT_RIG, REPO_ROOT, ROBOT_SUITES, SUITES, resolve_rig
from hil.plan import LONG_MARKER

if TYPE_CHECKING:
    import pytest

    from hil.report.record import RunRecord
    from hil.run import PoolRun, Tally


def _opt_in_suites() -> dict[str, Path]:
    """Suite files without the test_ prefix (soak.py): a default run does not collect them,
    only --suite NAME runs one."""
    return {p.stem: p for p in sorted(SUITES.glob("*.py"))
            if not p.name.startswith(("test_", "conftest", "_"))}  # fmt: skip


def _suite_paths(names: tuple[str, ...]) -> list[str]:
    if not names:
        return [str(SUITES)]
    paths = []
    opt_in = _opt_in_suites()
    for name in names:
        candidates = [SUITES / f"test_{name}.py", SUITES / name,
                      *([opt_in[name]] if name in opt_in else []), Path(name)]  # fmt: skip
        found = next((c for c in candidates if c.exists()), None)
        if found is None:
            known = ", ".join(
                [p.stem.removeprefix("test_") for p in sorted(SUITES.glob("test_*.py"))]
                + [f"{stem} (opt-in)" for stem in opt_in]
            )
            raise click.UsageError(f"no suite {name!r}; known: {known}")
        paths.append(str(found))
    return paths


def _on_split_rig(
    rig_file: Path, suites: tuple[str, ...], paths: list[str], robot: bool | None, with_robot: bool
) -> tuple[list[str], bool]:
    """The suites that apply on ``rig_file``: on a split rig the split suite (the integrated
    and Robot suites open an integrated meter); a wrong pick is a one-line usage error."""
    from hil.rig.split_preflight import is_split

    if not is_split(rig_file):
        return paths, with_robot
    split = str(_opt_in_suites()["split"])
    chosen = zip(suites, paths, strict=True) if suites else ()
    others = [name for name, path in chosen if path != split]
    if others:
        raise click.UsageError(
            f"--suite {others[0]}: {rig_file.name} is a split rig and that suite needs an "
            "integrated one: run --suite split, or no --suite"
        )
    if robot:
        raise click.UsageError(
            f"--robot: {rig_file.name} is a split rig and the Robot suites need an integrated "
            "one: leave --robot out"
        )
    return [split], False


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
    help="Only this suite (credit, tid, keys, ...; repeatable). Opt-in suites such as "
    "soak run only when named here.",
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
    help="Also run the Robot Framework suites (default: on for a full run or --clause).",
)
@click.option("--defect", metavar="NAME", help="Simulated rigs: run against a broken meter.")
@click.option(
    "--plan",
    "plan_only",
    is_flag=True,
    help="Print each selected test's expected time on the rig's timing profile and the "
    "total, then exit 0 without running a test or opening the bench.",
)
@click.option(
    "--quick",
    is_flag=True,
    help="Leave out the long tests (pytest marker and Robot tag 'long': waits that take "
    "minutes on a real bench); the report says the selection was quick.",
)
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
@click.option(
    "--lab",
    "lab_file",
    type=click.Path(path_type=Path, dir_okay=False),
    envvar="HIL_LAB",
    show_envvar=True,
    help="Lab file: laboratory, accreditation, operator, sample, meter, instruments' "
    "calibration (docs/lab-setup.md); recorded in the journal and the report.",
)
def run(
    rig_file: Path,
    keyword: str | None,
    suites: tuple[str, ...],
    clauses: tuple[str, ...],
    robot: bool | None,
    defect: str | None,
    plan_only: bool,
    quick: bool,
    out_root: Path,
    pool: Path | None,
    workers: str,
    each: bool,
    tags: tuple[str, ...],
    lease_wait: float | None,
    lab_map: Path | None,
    lab_file: Path | None,
) -> None:
    """Run the conformance suites against a bench (default: the built-in simulated bench)
    and write the compliance report to ./reports/<timestamp>-<rig>/. Before the first test
    the rig, its key sources, the lab map and the options are checked (exit 2 with one line
    when one is wrong). Exit 0 all passed, 1 the meter failed a test, 2 harness or bench
    error, 5 no test selected, 130 interrupted (Ctrl-C or SIGTERM; the report says
    INCOMPLETE).

    With --pool, N workers each lease a rig for the whole run (pytest-xdist; Robot suites
    with pabot) and the report has a section per rig; --each runs everything on every rig.

    --quick leaves out the tests marked long (pytest) or tagged long (Robot): they are
    outside the selection, not "not run", and the record and report say the run was quick."""
    from hil.robot.selection import selected_robot_tests
    from hil.run import (
        EXIT_ERROR,
        EXIT_INTERRUPTED,
        EXIT_NO_TESTS,
        Interrupts,
        ProgressPlugin,
        Tally,
        fit_id,
        preflight_or_exit,
        pytest_args,
        run_dir_for,
        run_pytest,
        short_id,
    )  # fmt: skip

    console = Console(highlight=False)
    rig_file = resolve_rig(rig_file)
    suite_paths = _suite_paths(suites)  # a wrong --suite stops before anything is made
    _check_lab_map(lab_map)
    full_run = not (keyword or suites or clauses)
    # Robot runs on a full run or a --clause selection; -k and --suite name pytest tests, so
    # then only an explicit --robot adds the Robot suites (all of them, by --clause if given).
    with_robot = robot if robot is not None else full_run or bool(clauses)
    if pool is None:
        picked = _on_split_rig(rig_file, suites, suite_paths, robot, with_robot)
        if not suites and picked[0] != suite_paths:
            console.print("split rig: the split suite (the integrated and Robot suites need an "
                          "integrated rig; docs/split-meters.md)")  # fmt: skip
        suite_paths, with_robot = picked
    if plan_only:
        if pool is not None:
            raise click.UsageError("--plan estimates one rig: give --rig FILE, not --pool")
        _show_plan(rig_file, suite_paths, keyword, clauses, defect, with_robot, quick)
    _use_lab(lab_file, console)
    plan = None
    if pool is not None:
        plan = _pool_plan(pool, workers, each, tags, lease_wait)
        label = pool.stem
    else:
        if workers != "auto" or each or tags or lease_wait is not None:
            raise click.UsageError("-n/--each/--tag/--lease-wait need --pool FILE")
        from hil.cli.split_run import split_preflight_or_exit
        from hil.rig.split_preflight import is_split

        check = split_preflight_or_exit if is_split(rig_file) else preflight_or_exit
        label = check(rig_file, defect, console)
    probe_args = pytest_args(Path("."), rig_file, suites=suite_paths, keyword=keyword,
                             clauses=list(clauses), defect=defect, pool=plan)  # fmt: skip
    selected, long_tests = _count_pytest(probe_args)
    robot_selected, long_robot = (selected_robot_tests(ROBOT_SUITES, clauses, quick)
                                  if with_robot else ({}, 0))  # fmt: skip
    robot_runs = len(plan.rig_names) if plan is not None and plan.each else 1
    robot_tests = len(robot_selected) * robot_runs
    left_out = long_tests + long_robot if quick else 0
    if quick:
        selected -= long_tests
    if selected + robot_tests == 0:
        console.print("no tests selected: check the -k/--suite/--clause selection")
        sys.exit(EXIT_NO_TESTS)
    run_dir = run_dir_for(label, out_root)
    run_dir.mkdir(parents=True)
    if plan is not None:
        how = "every test on each rig" if each else "tests shared between them"
        console.print(
            f"hil run: pool [bold]{pool}[/] ({_tag_text(plan.tags)}): {plan.workers} "
            f"worker(s), one leased rig each, {how} -> {run_dir}"
        )
    else:
        console.print(f"hil run: rig [bold]{label}[/] -> {run_dir}")
    if quick:
        console.print(_quick_text(left_out))
    tally = Tally(total=selected + robot_tests)
    start = time.monotonic()
    live = console.is_terminal
    progress = Progress(TextColumn("{task.description}"), BarColumn(bar_width=10),
                        MofNCompleteColumn(), TextColumn("{task.fields[eta]}"),
                        console=console, transient=True, disable=not live)  # fmt: skip
    task = progress.add_task("collecting", total=tally.total or None, eta="")
    marks = {"pass": "[green]PASS[/]", "fail": "[red]FAIL[/]", "error": "[magenta]ERROR[/]",
             "skip": "[yellow]SKIP[/]", "not_run": "[yellow]NOT RUN[/]"}  # fmt: skip

    def show(kind: str, text: str) -> None:
        if kind == "test":
            name = text.split("::", 1)[-1].split("[")[0]
            progress.update(task, description=name[:28])
        elif kind == "token":
            progress.update(task, description=f"{task_desc()[:20]} token {text[:4]}…{text[-4:]}")
        elif kind == "done":
            verdict, rig, nodeid = text.split(" ", 2)
            where = f"{rig} " if plan is not None and rig != "-" else ""  # pooled: which rig
            name = where + short_id(nodeid)
            if live:  # at a terminal one line each; a CI log keeps the whole name
                mark = verdict.replace("_", " ").upper()
                name = fit_id(name, progress.console.width - len(mark) - 2)
            line = f"{marks.get(verdict, verdict)} {escape(name)}"
            progress.console.print(line, soft_wrap=not live, no_wrap=live, crop=live)
            elapsed = time.monotonic() - start
            left = (tally.total - tally.done) * elapsed / max(1, tally.done)
            counts = " ".join(f"{k[0]}{v}" for k, v in sorted(tally.counts.items()))
            progress.update(task, completed=tally.done, eta=f"~{left:.0f}s {counts}")

    def task_desc() -> str:
        return progress.tasks[0].description.split(" token ")[0]

    args = pytest_args(run_dir, rig_file, suites=suite_paths, keyword=keyword,
                       clauses=list(clauses), defect=defect, pool=plan)  # fmt: skip
    if quick:
        args += quick_pytest_args(left_out)
    interrupts = Interrupts(console)
    with interrupts, progress:
        status = run_pytest(args, ProgressPlugin(tally, show, each=bool(plan and plan.each)))
        stopped = interrupts.count > 0 or status == 2
        if with_robot and robot_tests and not stopped:
            if plan is not None:
                status_robot = _run_pabot(run_dir, plan, defect, console, tally, clauses,
                                          quick)  # fmt: skip
            else:
                status_robot = _run_robot(run_dir, rig_file, defect, console, tally, show,
                                          clauses, quick)  # fmt: skip
            status = max(status, status_robot)
            stopped = stopped or interrupts.count > 0 or status_robot == EXIT_INTERRUPTED
        robot_broke = _journal_unrun_robot(run_dir / "robot", robot_selected, robot_runs,
                                           stopped, tally, console)  # fmt: skip
    _summary(console, tally, time.monotonic() - start)
    record, report = _render(run_dir, lab_map, console, quick)
    verdict = record.verdict if record else ("incomplete" if stopped else "error")
    label_text = record.verdict_label if record else verdict.upper()
    colour = {"pass": "green", "fail": "red", "error": "magenta"}.get(verdict, "yellow")
    if stopped:
        ran = tally.done - tally.counts["not_run"]
        console.print(f"[yellow]interrupted[/]: {ran} of {tally.total} selected tests ran; "
                      "the rest are not run (never a failure)")  # fmt: skip
    if quick:  # a quick PASS is not a full run's PASS: say so beside the verdict
        no_pdf = record is not None and not (run_dir / "report.pdf").exists()
        console.print(_quick_text(left_out)
                      + ("; no report.pdf (HIL_PDF=on writes one)" if no_pdf else ""))  # fmt: skip
    console.print(f"verdict: [{colour}]{escape(label_text)}[/]")
    console.print(f"report:  {report or run_dir}")
    sys.exit(EXIT_ERROR if robot_broke and verdict != "fail" else _exit_code(verdict, stopped))


def quick_pytest_args(left_out: int) -> list[str]:
    """What ``--quick`` adds to the pytest run: deselect the long tests, journal the fact."""
    return ["-m", f"not {LONG_MARKER}", "--hil-quick", str(left_out)]


def _quick_text(left_out: int) -> str:
    return (f"quick selection: {left_out} {LONG_MARKER} test{'' if left_out == 1 else 's'} "
            "left out (not a full conformance run)")  # fmt: skip


class _LongCounter:
    """A collection-only pytest plugin: the selected tests, and how many are marked long."""

    def __init__(self) -> None:
        self.selected = 0
        self.long = 0
        self.errors: list[str] = []  # the first line of each collection error

    def pytest_collection_finish(self, session: object) -> None:
        items = getattr(session, "items", [])
        self.selected = len(items)
        self.long = sum(1 for item in items if item.get_closest_marker(LONG_MARKER))

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            lines = [ln[1:].strip() for ln in report.longreprtext.splitlines() if ln[:1] == "E"]
            # A file outside the rootdir has an empty node id; its traceback names it.
            where = report.nodeid or next((ln for ln in lines if ln.startswith('File "')), "")
            self.errors.append(f"{where}: {lines[-1] if lines else 'not collected'}")


def _count_pytest(args: list[str]) -> tuple[int, int]:
    """(selected, of them long) of the pytest selection: collected only, no rig opened.
    A suite that cannot be collected stops the run here (one line, exit 2), before a
    run directory exists: it is never "no tests selected"."""
    from hil.run import EXIT_ERROR, collect_only

    counter = _LongCounter()
    collect_only(args, counter)
    if counter.errors:
        click.echo(f"error: a suite cannot be collected: {counter.errors[0]}", err=True)
        sys.exit(EXIT_ERROR)
    return counter.selected, counter.long


def _show_plan(rig_file: Path, suite_paths: list[str], keyword: str | None,
               clauses: tuple[str, ...], defect: str | None, with_robot: bool,
               quick: bool = False) -> None:  # fmt: skip
    """``--plan``: the selection's physical minimum on the rig, then exit (0; 2 for a bad rig
    file or cost declaration, 5 when nothing is selected). The bench is not opened. With
    ``quick`` the long tests are left out, as ``hil run --quick`` leaves them out."""
    from hil.cli.plan_cmd import bench_for, collect_pytest, collect_robot, plan_lines
    from hil.errors import HarnessError
    from hil.plan import CostError
    from hil.rig.config import load_rig
    from hil.run import EXIT_ERROR, EXIT_NO_TESTS, pytest_args

    try:
        config = load_rig(rig_file)[0]
        bench = bench_for(config)
        args = pytest_args(Path("."), rig_file, suites=suite_paths, keyword=keyword,
                           clauses=list(clauses), defect=defect)  # fmt: skip
        tests = collect_pytest(args, config)
        if with_robot:
            tests += collect_robot(ROBOT_SUITES, clauses, config)
    except (HarnessError, CostError, OSError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_ERROR)
    left_out = [t for t in tests if t.long] if quick else []
    tests = [t for t in tests if not (quick and t.long)]
    if not tests:
        click.echo("no tests selected: check the -k/--suite/--clause selection")
        sys.exit(EXIT_NO_TESTS)
    click.echo("\n".join(plan_lines(config.name, bench, tests, left_out if quick else None)))
    sys.exit(0)


def _exit_code(verdict: str, stopped: bool) -> int:
    from hil.run import EXIT_ERROR, EXIT_FAIL, EXIT_INTERRUPTED, EXIT_PASS

    if verdict == "fail":
        return EXIT_FAIL
    if stopped or verdict == "incomplete":
        return EXIT_INTERRUPTED
    return EXIT_PASS if verdict == "pass" else EXIT_ERROR


def _use_lab(lab_file: Path | None, console: Console) -> None:
    """Check the lab file before the run and print its warnings (calibration past due);
    the journals' run_start records it through $HIL_LAB (hil.report.journal)."""
    if lab_file is None:
        return
    import os

    from hil.report.lab import lab_warnings, load_lab

    lab = load_lab(lab_file)  # a bad lab file stops here: one line, exit 2
    os.environ["HIL_LAB"] = lab.file
    for warning in lab_warnings(lab):
        console.print(f"[yellow]warning[/]: lab file {escape(lab.file)}: {escape(warning)}")


def _check_lab_map(lab_map: Path | None) -> None:
    """A lab map that cannot be read stops the run before it starts, not after it."""
    if lab_map is None:
        return
    from hil.conformance.catalogue import load_catalogue, load_lab_map
    from hil.errors import HarnessError

    try:
        load_lab_map(lab_map, load_catalogue())
    except (HarnessError, OSError) as exc:
        click.echo(f"error: --lab-map {lab_map}: {exc}", err=True)
        sys.exit(2)


def _robot_filter(clauses: tuple[str, ...], quick: bool = False) -> dict[str, object]:
    """robot.run's tag options: ``req:<ID>`` for each --clause, the long tests out if quick."""
    options: dict[str, object] = {"include": [f"req:{c}" for c in clauses]} if clauses else {}
    if quick:
        options["exclude"] = [LONG_MARKER]
    return options


def _run_robot(run_dir: Path, rig_file: Path, defect: str | None, console: Console,
               tally: Tally, show: Callable[[str, str], None],
               clauses: tuple[str, ...] = (), quick: bool = False) -> int:  # fmt: skip
    """The Robot suites, into run_dir/robot, journalled like the pytest ones, each test's
    verdict shown as it ends."""
    import robot

    from hil.robot.listener import JournalListener, ProgressListener

    out = run_dir / "robot"
    out.mkdir()
    variables = [f"RIG:{rig_file}"] + ([f"DEFECT:{defect}"] if defect else [])
    journal = JournalListener(str(out / "journal.jsonl"))

    def done(nodeid: str, verdict: str, message: str, rig: str) -> None:
        tally.add(nodeid, verdict, message, rig)
        show("done", f"{verdict} {rig or '-'} {nodeid}")

    with open(out / "console.txt", "w", encoding="utf-8") as log:
        rc = robot.run(
            str(ROBOT_SUITES), outputdir=str(out), variable=variables,
            listener=[journal, ProgressListener(done, show)], console="dotted", stdout=log,
            stderr=log, **_robot_filter(clauses, quick),
        )  # fmt: skip
    return _robot_status(rc)


def _journal_unrun_robot(out: Path, selected: dict[str, list[str]], runs: int, stopped: bool,
                         tally: Tally, console: Console) -> bool:  # fmt: skip
    """Journal the selected Robot tests that never reported as not run. True when the Robot
    phase itself broke (the run was not stopped, yet tests are missing): a harness error."""
    from hil.robot.selection import journal_unrun

    if not selected:
        return False
    why = ("not run: the run was interrupted before it ran" if stopped else
           "not run: the Robot run ended without running it (see robot/console.txt)")  # fmt: skip
    missing = journal_unrun(out, selected, runs, why)
    for nodeid in missing:
        tally.add(nodeid, "not_run", why)
    if missing and not stopped:
        every = runs * len(selected)
        console.print(f"[magenta]error[/]: the Robot phase reported {every - len(missing)} of "
                      f"{every} selected tests; the rest are journalled not run "
                      f"(see {escape(str(out / 'console.txt'))})")  # fmt: skip
    return bool(missing) and not stopped


def _robot_status(rc: int) -> int:
    from hil.run import EXIT_INTERRUPTED

    if rc == 0:
        return 0
    if rc in (252, 253, 255):  # usage error / stopped by the user / internal error
        return EXIT_INTERRUPTED if rc == 253 else 3
    return 1


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
               tally: object, clauses: tuple[str, ...] = (),
               quick: bool = False) -> int:  # fmt: skip
    """The Robot suites in parallel with pabot, each suite process leasing from the pool
    (with --each: every suite once per rig, pinned by a rig=NAME tag)."""
    import subprocess

    out = run_dir / "robot"
    out.mkdir()
    variables = ["--variable", f"POOL:{plan.pool.resolve()}"]
    variables += ["--variable", f"DEFECT:{defect}"] if defect else []
    if plan.lease_wait_s is not None:
        variables += ["--variable", f"LEASE_WAIT:{plan.lease_wait_s:g}"]
    # pabot starts "robot" from PATH unless told: this interpreter's, venv activated or not
    cmd = [sys.executable, "-m", "pabot.pabot", "--no-pabotlib",
           "--command", sys.executable, "-m", "robot", "--end-command", "--processes",
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
    for clause in clauses:
        cmd += ["--include", f"req:{clause}"]
    if quick:
        cmd += ["--exclude", LONG_MARKER]
    # pabot names suites by path: the checkout's suites/robot where there is one
    checkout = REPO_ROOT / "suites" / "robot"
    cmd.append(str(checkout if checkout.exists() else ROBOT_SUITES))
    console.print(f"running the Robot Framework suites with pabot ({plan.workers} processes) ...")
    with open(out / "console.txt", "w", encoding="utf-8") as log:
        rc = subprocess.run(cmd, cwd=out, stdout=log, stderr=subprocess.STDOUT).returncode
    _tally_robot(out, tally)
    return _robot_status(rc)


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
    from hil.run import short_id

    table = Table(title=f"hil run: {tally.done} tests in {seconds:.0f} s")
    several = len(tally.rigs) > 1
    verdicts = ["pass", "fail", "error", "skip"] + (["not_run"] if tally.counts["not_run"] else [])
    for column in (["rig"] if several else []) + ["suite"] + verdicts:
        table.add_column(column.replace("_", " "),
                         justify="left" if column in ("rig", "suite") else "right")  # fmt: skip
    for (rig, path), counts in sorted(tally.by_file.items()):
        cells = [str(counts[v] or "") for v in verdicts]
        table.add_row(*([rig] if several else []), Path(path).name, *cells)
    console.print(table)
    for nodeid, verdict, message, rig in tally.failures[:20]:
        where = f"{rig}: " if several and rig else ""  # the id as the progress lines show it
        console.print(f"[red]{verdict.upper()}[/] {escape(where + short_id(nodeid))}")
        text = textwrap.fill(message[:300], width=max(40, console.width - 1),
                             initial_indent="    ", subsequent_indent="    ")  # fmt: skip
        console.print(escape(text), soft_wrap=True)


def _render(run_dir: Path, lab_map: Path | None, console: Console,
            quick: bool = False) -> tuple[RunRecord | None, Path | None]:  # fmt: skip
    """The run's record and report (written even for an interrupted run). A quick run
    writes no report.pdf unless $HIL_PDF asks for one: the PDF is the report a lab signs,
    a quick selection is never one, and rendering it takes most of a minute."""
    import os

    from hil.errors import HarnessError
    from hil.report.record import load_record
    from hil.report.render import render_run

    pdf = False if quick and not os.environ.get("HIL_PDF", "").strip() else None
    try:
        outputs = render_run([run_dir], run_dir, lab_map=lab_map, pdf=pdf)
    except (HarnessError, OSError) as exc:
        console.print(f"[magenta]report not written[/]: {escape(str(exc))}")
        return None, None
    record = load_record(outputs["record"]) if "record" in outputs else None
    return record, outputs.get("html")

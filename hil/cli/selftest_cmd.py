"""``hil selftest``: run the suites against every defect profile; print the matrix."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table


@click.command()
@click.option(
    "--defect",
    "defects",
    multiple=True,
    metavar="NAME",
    help="Only these profiles (repeatable; 'conforming' is the conforming meter); "
    "default: the conforming meter and every defect.",
)
@click.option(
    "--quick", is_flag=True, help="Per defect, run only the tests of the requirements it violates."
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(1, 16),
    default=4,
    show_default=True,
    help="Profiles run at the same time.",
)
@click.option(
    "--rig",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Simulated rig file or built-in name (default rigs/sim.yaml); a split rig "
    "(split-sim) runs the split suite against the CIU's defect profiles.",
)
@click.option(
    "--json",
    "json_out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the matrix and every test verdict as JSON.",
)
def selftest(
    defects: tuple[str, ...], quick: bool, jobs: int, rig: Path | None, json_out: Path | None
) -> None:
    """Prove the suites catch non-conforming meters: every defect profile must fail a test of
    the rule it breaks and no other requirement, and the conforming meter must pass
    everything. A defect this rig cannot show (every test of its rule skipped, e.g. a DLMS
    readback has no lockout state) is listed as not judged, with the reason. Exit 1
    otherwise."""
    from hil.conformance.catalogue import load_catalogue
    from hil.paths import resolve_rig
    from hil.run import short_id
    from hil.selftest import CONFORMING, ProfileRun, run_selftest, selftest_plan

    rig = resolve_rig(rig) if rig is not None else None
    # A split rig: the split suite and the CIU's defects; unknown names are one-line errors.
    profiles, suites = selftest_plan(rig, defects)
    console = Console(stderr=True)
    start = time.monotonic()
    done: list[ProfileRun] = []

    def progress(run: ProfileRun) -> None:
        done.append(run)
        mark = ("not judged on this rig" if run.not_judged else "ok") if run.ok else "PROBLEM"
        console.print(
            f"[{len(done)}/{len(profiles)}] {run.profile}: {len(run.tests)} tests, "
            f"{len(run.failed)} failed, {len(run.errors)} errors - {mark} "
            f"({time.monotonic() - start:.0f} s)"
        )

    console.print(
        f"hil selftest: {len(profiles)} profiles, {jobs} at a time, suites {suites.name}"
        + (" (quick: only the tests of each defect's requirements)" if quick else "")
    )
    runs = run_selftest(
        load_catalogue(),
        profiles,
        suites=suites,
        rig=rig,
        jobs=jobs,
        quick=quick,
        progress=progress,
    )

    table = Table(title="Defect profiles x detecting tests", show_lines=True)
    table.add_column("profile", no_wrap=True)
    table.add_column("breaks")
    table.add_column("detected by (failing tests of those requirements)")
    table.add_column("verdict", no_wrap=True)
    for run in runs:
        if run.profile == CONFORMING:
            status = "[green]passes all[/]" if run.ok else "[red]FAILS[/]"
            detail = (
                f"{len(run.tests)} tests; "
                + ", ".join(short_id(t["nodeid"]) for t in run.failed + run.errors)
                if not run.ok
                else f"{len(run.tests)} tests passed"
            )
            table.add_row(run.profile, "-", detail or run.stderr_tail, status)
            continue
        names = sorted({short_id(t["nodeid"]) for t in run.detecting})
        if run.not_judged:
            status = "[yellow]not judged here[/]"
            names = ["cannot show it: " + "; ".join(run.not_judged)]
        elif run.ok:
            status = "[green]detected[/]"
        elif run.detecting:
            status = "[red]MISATTRIBUTED[/]"
        else:
            status = "[red]MISSED[/]"
        detail = "\n".join(names) if names else (run.stderr_tail or "no failing test")
        if run.stray:
            detail += "\nalso failed: " + ", ".join(sorted(run.stray))
        table.add_row(run.profile, ", ".join(sorted(run.expected)), detail, status)
    Console().print(table)
    missed = [r.profile for r in runs if not r.ok]
    unjudged = [r.profile for r in runs if r.not_judged]
    summary = (
        f"{len(runs) - len(missed)} of {len(runs)} profiles as required"
        + (f" ({len(unjudged)} not judged: this rig cannot show them)" if unjudged else "")
        + f" in {time.monotonic() - start:.0f} s"
    )
    click.echo(summary if not missed else f"{summary}; NOT as required: {', '.join(missed)}")
    if json_out is not None:
        json_out.write_text(
            json.dumps(
                [
                    {
                        "profile": r.profile,
                        "ok": r.ok,
                        "breaks": sorted(r.expected),
                        "detected_by": [t["nodeid"] for t in r.detecting],
                        "also_failed": sorted(r.stray),
                        "not_judged": r.not_judged,
                        "tests": [
                            {k: t[k] for k in ("nodeid", "verdict", "clauses", "message")}
                            for t in r.tests
                        ],
                    }
                    for r in runs
                ],
                indent=2,
            )
            + "\n"
        )
    sys.exit(1 if missed else 0)

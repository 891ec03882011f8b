"""``hil sim``: run the simulated bench until stopped."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

import click

from hil.paths import DEFAULT_RIG

if TYPE_CHECKING:
    from hil.sim.options import EventsMode


@click.command()
@click.option(
    "--rig",
    "rig_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=DEFAULT_RIG,
    show_default=True,
    help="Rig file: meter and keypad wiring.",
)
@click.option(
    "--defect",
    "--profile",
    "defect",
    metavar="NAME",
    help="Defect profile: a meter that breaks one rule (see --list-defects).",
)
@click.option("--list-defects", is_flag=True, help="List the defect profiles and exit.")
@click.option(
    "--timing", metavar="NAME", help="Timing profile (hil/data/profiles): fast, realistic."
)
@click.option("--tcp", "transport", flag_value="tcp", help="Relay board and probe on TCP ports.")
@click.option(
    "--pty", "transport", flag_value="pty", help="Relay board and probe on ptys (default)."
)
@click.option(
    "--port-base",
    type=click.IntRange(1024, 65000),
    help="TCP ports from N: board, probe, AC source, DMM, load, control, DLMS.",
)
@click.option("--speed", type=click.FloatRange(min=0.001), help="Model seconds per real second.")
@click.option(
    "--dlms/--no-dlms",
    default=None,
    help="Serve the meter over DLMS/COSEM too (the wrapper on TCP, port base + 6); default: "
    "when the rig's readback is dlms.",
)
@click.option(
    "--display/--no-display",
    default=None,
    help="Serve the meter's LCD as camera frames on HTTP (/frame.jpg, /stream.mjpg, and a page "
    "at /); default: when the rig's readback is display or operator.",
)
# The foreign-meter options: each overrides the rig file's simulator: section when given.
@click.option(
    "--real-time/--no-real-time",
    default=None,
    help="Clock at 1.0: --speed and the control port's speed are refused.",
)
@click.option(
    "--credit-resolution",
    "credit_resolution",
    metavar="KWH",
    type=click.FloatRange(min=0.001, max=0.1),
    help="GET CREDIT rounded down to this many kWh (0.001 to 0.1).",
)
@click.option(
    "--supply-off/--supply-on",
    default=None,
    help="Meter unpowered, probe silent, until the AC source output is switched on.",
)
@click.option(
    "--events",
    type=click.Choice(["all", "mandatory"]),
    help="mandatory: push only POWER_UP, KEY, TOKEN_RESULT, TEST_STARTED, TEST_ENDED.",
)
@click.option(
    "--exit-with-parent",
    is_flag=True,
    help="Stop when the process that started this one dies (used by the harness).",
)
@click.option(
    "--ready-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the endpoint addresses here as JSON once serving (for scripts).",
)
def sim(
    rig_file: Path,
    defect: str | None,
    list_defects: bool,
    timing: str | None,
    transport: str | None,
    port_base: int | None,
    speed: float | None,
    dlms: bool | None,
    display: bool | None,
    real_time: bool | None,
    credit_resolution: float | None,
    supply_off: bool | None,
    events: EventsMode | None,
    ready_file: Path | None,
    exit_with_parent: bool,
) -> None:
    """Run the simulated bench: a meter model behind a relay board, keypad, probe and SCPI
    instruments on real ports. Runs until Ctrl-C or SIGTERM."""
    from hil.meter.defects import DEFECTS
    from hil.rig.config import load_rig
    from hil.sim.build import build_bench, meter_options

    if list_defects:
        from hil.meter.split_defects import SPLIT_DEFECTS

        for name, (description, clause) in DEFECTS.items():
            click.echo(f"{name:<36} {description} [{clause}]")
        click.echo("split rigs (--rig split-sim): defects of the CIU")
        for name, (description, clause) in SPLIT_DEFECTS.items():
            click.echo(f"{name:<36} {description} [{clause}]")
        return
    from hil.cli.sim_serve import pick_transport, serve
    from hil.rig.config import rig_topology

    # The foreign-meter options over the rig file's simulator: section, for either topology.
    options = functools.partial(
        meter_options,
        real_time=real_time,
        credit_resolution_kwh=credit_resolution,
        supply_off_at_start=supply_off,
        events=events,
    )
    if rig_topology(rig_file) == "split":  # a CIU and its meters (docs/split-meters.md)
        from hil.cli.split_sim_cmd import split_sim_bench

        spec, bench, banner = split_sim_bench(
            rig_file, defect=defect, timing=timing, speed=speed, options=options
        )
        ready, width = {"kind": "split"}, 16
        start = bench.start
    else:
        rig, _digest = load_rig(rig_file)
        spec = rig.simulator
        bench = build_bench(
            rig, rig_file.parent, defect=defect, profile=timing, speed=speed, options=options(spec)
        )
        model = bench.model
        flaws = ",".join(sorted(d.value for d in model.defects)) or "none (conforming)"
        banner = [
            f"hil sim: meter {model.info()['pan']}, timing {model.profile.name}, "
            f"defect {flaws}, speed {bench.clock.speed:g}x",
            f"  meter: {bench.options.describe()}",
        ]
        ready, width = {}, 12
        if dlms is None:
            dlms = rig.resources.readback.kind == "dlms"
        # A rig that neither reads nor enters tokens through the probe has no test firmware.
        probe = rig.resources.readback.kind == "probe" or "virtual_carrier" in rig.features
        if dlms:
            banner.append("  DLMS/COSEM: wrapper on TCP (generic object map, no authentication)")
        if not probe:
            banner.append("  no probe port (the rig reads the meter without test firmware)")
        readback = rig.resources.readback
        if display is None:
            display = readback.kind in ("display", "operator")
        lcd = readback.display_map(rig_file.parent) if display else None
        if lcd is not None:
            banner.append(f"  display: {lcd.name}, camera frames on HTTP (open the page in a "
                          "browser to read it as an operator)")  # fmt: skip
        start = functools.partial(bench.start, dlms=bool(dlms), probe=probe, display=lcd)
    addresses = start(pick_transport(spec, transport, port_base), port_base)
    serve(bench, addresses, banner=banner, width=width, ready=ready, ready_file=ready_file,
          exit_with_parent=exit_with_parent)  # fmt: skip

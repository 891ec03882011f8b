"""``hil key derive``: the decoder key of a meter, from its vending key."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import click

from hil.cli.meter_options import is_test_meter, meter_options
from hil.rig.meter_spec import MeterSpec
from hil.sts.dkga import VERIFIED


@click.group()
def key() -> None:
    """Decoder keys."""


def key_check_value(value: bytes) -> str:
    """A short fingerprint that identifies a key without revealing it."""
    return hashlib.sha256(value).hexdigest()[:8].upper()


@key.command()
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the decoder key (hex) to FILE, readable by the owner only.",
)
@click.option("--reveal", is_flag=True, help="Print the decoder key on stdout.")
@meter_options
def derive(meter: MeterSpec, base: Path | None, out: Path | None, reveal: bool) -> None:
    """Derive the decoder key with the meter's DKGA. Prints a fingerprint unless asked."""
    dk = meter.load_decoder_key(base)
    info = meter.key_info
    click.echo(f"meter      {meter.pan}")
    for name, value in info.describe().items():
        click.echo(f"{name:<10} {value}")
    if not VERIFIED[info.dkga]:
        click.echo(f"warning: DKGA{info.dkga:02d} has no public vectors; unverified", err=True)
    click.echo(
        f"key check  {key_check_value(dk.value)} (SHA-256 prefix; identifies, does not reveal)"
    )
    if is_test_meter(meter):
        click.echo("note: derived from the test vending key (test material)", err=True)
    if out is not None:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(dk.value.hex().upper() + "\n")
        click.echo(f"decoder key written to {out} (mode 600)")
    if reveal:
        click.echo(f"decoder key {dk.value.hex().upper()}")

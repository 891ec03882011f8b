"""``hil key derive``: the decoder key of a meter, from its vending key."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import click

from hil.cli.meter_options import is_test_meter, meter_options
from hil.errors import ConfigError
from hil.rig.meter_spec import MeterSpec
from hil.rig.secrets import KeySource
from hil.sts.dkga import VERIFIED
from hil.sts.errors import FieldError

# The public test vending keys (hil.sts.sample_keys) by the DKGA they are made for.
_TEST_KEY_FOR = {2: "dkga02", 4: "dkga04"}
_VK_BITS = {1: 64, 2: 64, 3: 128, 4: 160}


@click.group()
def key() -> None:
    """Decoder keys."""


def key_check_value(value: bytes) -> str:
    """A short fingerprint that identifies a key without revealing it."""
    return hashlib.sha256(value).hexdigest()[:8].upper()


def fit_test_key(meter: MeterSpec) -> MeterSpec:
    """The meter with the built-in test key that fits its DKGA, or a one-line refusal.

    The built-in test meter carries the DKGA04 test key; ``--dkga 2`` takes the DKGA02
    test key instead. DKGA01 and DKGA03 have no public test key (and no vectors).
    """
    source = meter.vending_key
    if source is None or source.test_key is None or meter.decoder_key is not None:
        return meter
    wanted = _TEST_KEY_FOR.get(meter.dkga)
    if wanted is None:
        bits = _VK_BITS[meter.dkga]
        raise FieldError(
            f"the built-in test vending key is a {source.test_key.upper()} key and there is no"
            f" public DKGA{meter.dkga:02d} test key: give a {bits}-bit vending key with"
            " --vk-env VAR or --vk-file FILE"
        )
    if wanted == source.test_key:
        return meter
    return meter.model_copy(update={"vending_key": KeySource(test_key=wanted)})


def _write_key_file(path: Path, text: str, force: bool) -> None:
    """Write owner-only; never replace an existing file unless asked (it may be another key)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise ConfigError(f"{path} exists: not overwritten (add --force to replace it)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write ({exc.strerror})") from None
    with os.fdopen(fd, "w") as handle:
        os.fchmod(handle.fileno(), 0o600)  # an existing file keeps its mode otherwise
        handle.write(text)


@key.command()
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the decoder key (hex) to FILE, readable by the owner only.",
)
@click.option("--force", is_flag=True, help="Let --out replace an existing FILE.")
@click.option("--reveal", is_flag=True, help="Print the decoder key on stdout.")
@meter_options
def derive(
    meter: MeterSpec, base: Path | None, out: Path | None, force: bool, reveal: bool
) -> None:
    """Derive the decoder key with the meter's DKGA. Prints a fingerprint unless asked."""
    if out is not None and out.exists() and not force:
        raise ConfigError(f"{out} exists: not overwritten (add --force to replace it)")
    meter = fit_test_key(meter)
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
        _write_key_file(out, dk.value.hex().upper() + "\n", force)
        click.echo(f"decoder key written to {out} (mode 600)")
    if reveal:
        click.echo(f"decoder key {dk.value.hex().upper()}")

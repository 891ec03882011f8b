"""Meter identity and key options shared by the token and key commands."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from hil.errors import ConfigError
from hil.rig.meter_spec import MeterSpec
from hil.sts.sample_keys import TEST_METER
from hil.yamlfile import read_yaml

_IDENTITY = ("pan", "sgc", "ti", "krn", "kt", "ken", "base_date", "ea", "dkga")


def one_line(exc: ValidationError, source: str) -> str:
    """A pydantic error as one line: source, field path and message."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top)"
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {msg}")
    return f"{source}: " + "; ".join(parts)


def load_meter_file(path: Path) -> tuple[MeterSpec, Path]:
    """A meter from a YAML file: its ``meter:`` section (rig files) or the whole document."""
    data, _ = read_yaml(path, "meter file")
    if isinstance(data, dict) and isinstance(data.get("meter"), dict):
        data = data["meter"]
    try:
        return MeterSpec.model_validate(data), path.parent
    except ValidationError as exc:
        raise ConfigError(one_line(exc, str(path))) from None


def meter_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Adds --meter FILE, identity flags and key-source flags; passes ``meter`` and ``base``."""

    @click.option(
        "--meter",
        "meter_file",
        type=click.Path(path_type=Path, dir_okay=False),
        help="Meter or rig file (YAML) with the meter's identity and key sources.",
    )
    @click.option("--pan", help="MeterPAN (18 digits) or DRN (11/13 digits).")
    @click.option("--sgc", type=int, help="Supply group code (6 digits).")
    @click.option("--ti", type=int, help="Tariff index (0-99).")
    @click.option("--krn", type=int, help="Key revision number (1-9).")
    @click.option("--kt", type=int, help="Key type: 0 DITK, 1 DDTK, 2 DUTK, 3 DCTK.")
    @click.option("--ken", type=int, help="Key expiry number (0-255; 255 never expires).")
    @click.option("--base-date", type=click.Choice(["1993", "2014", "2035"]), help="TID base date.")
    @click.option(
        "--ea", type=click.Choice(["7", "07", "9", "09", "11"]), help="Encryption algorithm."
    )
    @click.option(
        "--dkga", type=click.Choice(["1", "2", "3", "4"]), help="Key generation algorithm."
    )
    @click.option("--vk-env", metavar="VAR", help="Read the vending key (hex) from this variable.")
    @click.option(
        "--vk-file", type=click.Path(path_type=Path), help="Read the vending key from FILE."
    )
    @click.option("--dk-env", metavar="VAR", help="Read the decoder key (hex) from this variable.")
    @click.option(
        "--dk-file", type=click.Path(path_type=Path), help="Read the decoder key from FILE."
    )
    @click.option(
        "--sta-tables",
        type=click.Path(path_type=Path, dir_okay=False),
        help="EA07 production tables (JSON); default $HIL_STA_TABLES or the sample tables.",
    )
    @functools.wraps(func)
    def wrapper(**kwargs: Any) -> Any:
        meter, base = build_meter(kwargs)
        return func(meter=meter, base=base, **kwargs)

    return wrapper


def build_meter(opts: dict[str, Any]) -> tuple[MeterSpec, Path | None]:
    """Meter file or the built-in test meter, overridden by any flags given."""
    meter_file = opts.pop("meter_file")
    overrides: dict[str, Any] = {k: opts.pop(k) for k in _IDENTITY if opts.get(k) is not None}
    for k in _IDENTITY:
        opts.pop(k, None)
    key_flags = {k: opts.pop(k) for k in ("vk_env", "vk_file", "dk_env", "dk_file")}
    sta = opts.pop("sta_tables")
    if meter_file is not None:
        meter, base = load_meter_file(meter_file)
        data: dict[str, Any] = meter.model_dump(exclude_none=True)
    else:
        data, base = dict(TEST_METER), None
        if any(key_flags.values()):
            data.pop("vending_key")
    data.update(
        {k: int(v) if k in ("base_date", "ea", "dkga") else v for k, v in overrides.items()}
    )
    if key_flags["vk_env"] or key_flags["vk_file"]:
        data["vending_key"] = {"env": key_flags["vk_env"], "file": key_flags["vk_file"]}
    if key_flags["dk_env"] or key_flags["dk_file"]:
        data["decoder_key"] = {"env": key_flags["dk_env"], "file": key_flags["dk_file"]}
    for src in ("vending_key", "decoder_key"):
        if isinstance(data.get(src), dict):
            data[src] = {k: v for k, v in data[src].items() if v is not None}
    if sta is not None:
        data["sta_tables"] = sta
    try:
        return MeterSpec.model_validate(data), base
    except ValidationError as exc:
        raise ConfigError(one_line(exc, "meter options")) from None


def is_test_meter(meter: MeterSpec) -> bool:
    return meter.vending_key is not None and meter.vending_key.is_test_material

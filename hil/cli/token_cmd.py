"""``hil token encode ...`` and ``hil token decode TOKEN``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import click

from hil.cli.meter_options import is_test_meter, meter_options
from hil.rig.meter_spec import MeterSpec
from hil.sts import codec
from hil.sts.digits import group
from hil.sts.errors import FieldError
from hil.sts.keychange import sections_for
from hil.sts.keys import KeyInfo
from hil.sts.tid import datetime_from_tid, tid_from_datetime
from hil.sts.tokens import (
    CREDIT_KINDS,
    TEST_CONTROLS,
    ClearCreditToken,
    ClearTamperToken,
    CreditToken,
    MaxPowerLimitToken,
    MeterTestToken,
    PhaseUnbalanceLimitToken,
    TariffRateToken,
    TidToken,
    Token,
    WaterMeterFactorToken,
)

UNITS = {0: "kWh", 1: "m3 (0.1 units)", 2: "m3 (0.1 units)", 3: "h (0.1 units)"}


@click.group()
def token() -> None:
    """Make and read 20-digit STS tokens."""


def _tid(tid: int | None, at: str | None, base_year: int) -> int:
    if tid is not None:
        return tid
    if at is None:
        when = datetime.now(UTC)  # the CLI is the I/O layer: it may read the clock
    else:
        try:
            when = datetime.fromisoformat(at.replace("Z", "+00:00"))
        except ValueError:
            raise FieldError(
                f"--at {at!r} must be an ISO 8601 time, e.g. 2024-05-01T10:30Z"
            ) from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
    return tid_from_datetime(when, base_year)


def _tenths(text: str, what: str) -> int:
    """A decimal with at most one decimal place, as whole tenths."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise FieldError(f"{what} {text!r} must be a number such as 25.6") from None
    tenths = value * 10
    if tenths != tenths.to_integral_value():
        raise FieldError(f"{what} {text} has a resolution finer than 0.1; the token carries 0.1")
    return int(tenths)


def _note_test_meter(meter: MeterSpec) -> None:
    if is_test_meter(meter):
        click.echo(
            "note: using the test vending key (test material, not a production key)", err=True
        )


def _describe(token: Token, base_year: int) -> dict[str, Any]:
    info: dict[str, Any] = {
        "type": token.title,
        "class": token.token_class,
        "subclass": token.subclass,
    }
    info.update(token.fields())
    if isinstance(token, CreditToken):
        del info["kind"]
        info["amount"] = f"{Decimal(token.amount) / 10} {UNITS[token.kind]}"
        info["kind"] = CREDIT_KINDS[token.kind]
    if isinstance(token, TidToken):
        when = datetime_from_tid(token.tid, base_year)
        info["tid_time"] = when.strftime("%Y-%m-%d %H:%M UTC") + f" (base {base_year})"
    if isinstance(token, MeterTestToken):
        names = [n for n, bit in TEST_CONTROLS.items() if token.control & bit]
        info["tests"] = ",".join(names) or "(none known)"
    for name in ("key_word",):  # key material: never printed
        if name in info:
            info[name] = "<secret>"
    return info


def _print(results: list[tuple[str, Token]], base_year: int, as_json: bool) -> None:
    rows = [{"token": digits, **_describe(tok, base_year)} for digits, tok in results]
    if as_json:
        click.echo(json.dumps(rows if len(rows) > 1 else rows[0], indent=2))
        return
    for row in rows:
        click.echo(group(row.pop("token")))
        for name, value in row.items():
            click.echo(f"  {name:<15} {value}")


def _emit(
    meter: MeterSpec,
    base: Path | None,
    tokens: list[Token],
    as_json: bool,
    key_info: KeyInfo | None = None,
) -> None:
    needs_key = any(t.token_class != 1 for t in tokens)
    key = meter.load_decoder_key(base) if needs_key else None
    info = key_info or meter.key_info
    out = [(codec.encode(t, key, info.ken), t) for t in tokens]
    _print(out, meter.base_date, as_json)
    _note_test_meter(meter)


_common = [
    click.option("--tid", type=int, help="Token identifier (minutes since the base date)."),
    click.option("--at", help="Issue time (ISO 8601, UTC if no zone); default: now."),
    click.option("--rnd", type=click.IntRange(0, 15), default=0, show_default=True),
    click.option("--json", "as_json", is_flag=True, help="Print JSON."),
]


def tid_options(func: Any) -> Any:
    for option in reversed(_common):
        func = option(func)
    return meter_options(func)


@token.group()
def encode() -> None:
    """Generate a token for the meter (flags, --meter FILE, or the built-in test meter)."""


@encode.command()
@click.option("--amount", help="Credit in kWh (or 0.1 units of water/gas/time), e.g. 25.6.")
@click.option("--units", type=int, help="Credit in 0.1 units, as an integer.")
@click.option(
    "--kind",
    type=click.Choice(list(CREDIT_KINDS.values())),
    default="electricity",
    show_default=True,
)
@tid_options
def credit(
    meter: MeterSpec,
    base: Path | None,
    amount: str | None,
    units: int | None,
    kind: str,
    tid: int | None,
    at: str | None,
    rnd: int,
    as_json: bool,
) -> None:
    """TransferCredit (class 0, subclasses 0-3). Amounts round up to the next encodable value."""
    if (amount is None) == (units is None):
        raise FieldError("give the credit as --amount (e.g. 25.6) or --units (0.1 units)")
    value = units if units is not None else _tenths(amount or "", "--amount")
    sub = {v: k for k, v in CREDIT_KINDS.items()}[kind]
    t = CreditToken(_tid(tid, at, meter.base_date), rnd, value, sub)
    _emit(meter, base, [t], as_json)


def _watts_command(name: str, cls: type, doc: str) -> None:
    @encode.command(name=name, help=doc)
    @click.option("--watts", type=int, required=True, help="Limit in watts.")
    @tid_options
    def command(
        meter: MeterSpec,
        base: Path | None,
        watts: int,
        tid: int | None,
        at: str | None,
        rnd: int,
        as_json: bool,
    ) -> None:
        _emit(meter, base, [cls(_tid(tid, at, meter.base_date), rnd, watts)], as_json)


def _value_command(name: str, cls: type, doc: str, option: str) -> None:
    @encode.command(name=name, help=doc)
    @click.option(f"--{option}", "value", required=True, help="16-bit value (decimal or 0x hex).")
    @tid_options
    def command(
        meter: MeterSpec,
        base: Path | None,
        value: str,
        tid: int | None,
        at: str | None,
        rnd: int,
        as_json: bool,
    ) -> None:
        number = 0xFFFF if value == "all" else int(value, 0)
        _emit(meter, base, [cls(_tid(tid, at, meter.base_date), rnd, number)], as_json)


_watts_command("power-limit", MaxPowerLimitToken, "SetMaximumPowerLimit (class 2/0).")
_watts_command(
    "phase-unbalance", PhaseUnbalanceLimitToken, "SetMaximumPhasePowerUnbalanceLimit (class 2/6)."
)
_value_command(
    "clear-credit",
    ClearCreditToken,
    "ClearCredit (class 2/1); --register all clears every register.",
    "register",
)
_value_command("tariff-rate", TariffRateToken, "SetTariffRate (class 2/2).", "rate")
_value_command("water-factor", WaterMeterFactorToken, "SetWaterMeterFactor (class 2/7).", "factor")


@encode.command(name="clear-tamper")
@tid_options
def clear_tamper(
    meter: MeterSpec, base: Path | None, tid: int | None, at: str | None, rnd: int, as_json: bool
) -> None:
    """ClearTamperCondition (class 2/5)."""
    _emit(meter, base, [ClearTamperToken(_tid(tid, at, meter.base_date), rnd, 0)], as_json)


@encode.command(name="test")
@click.option(
    "--test",
    "tests",
    multiple=True,
    type=click.Choice(["all", *TEST_CONTROLS]),
    help="Named test (repeatable); see docs/token-engine.md for the bit choice.",
)
@click.option("--control", help="Raw control bits (decimal or 0x hex) instead of --test.")
@click.option("--mfr-code", type=int, help="Manufacturer code; default: the meter's.")
@click.option("--json", "as_json", is_flag=True)
@meter_options
def meter_test(
    meter: MeterSpec,
    base: Path | None,
    tests: tuple[str, ...],
    control: str | None,
    mfr_code: int | None,
    as_json: bool,
) -> None:
    """InitiateMeterTest/Display (class 1; not encrypted)."""
    four = meter.meter_pan.iin == "0000"
    if control is not None:
        bits = int(control, 0)
    elif not tests or "all" in tests:
        bits = (1 << (28 if four else 36)) - 1
    else:
        bits = sum(TEST_CONTROLS[t] for t in set(tests))
    code = meter.meter_pan.mfr_code if mfr_code is None else mfr_code
    _print(
        [(codec.encode(MeterTestToken(bits, code, four), None), MeterTestToken(bits, code, four))],
        meter.base_date,
        as_json,
    )


@encode.command(name="key-change")
@click.option("--new-krn", type=click.IntRange(1, 9), help="New key revision number.")
@click.option("--new-ken", type=click.IntRange(0, 255), help="New key expiry number.")
@click.option("--new-ti", type=click.IntRange(0, 99), help="New tariff index.")
@click.option("--new-sgc", type=click.IntRange(0, 999_999), help="New supply group code.")
@click.option("--new-kt", type=click.IntRange(0, 3), help="New key type.")
@click.option("--new-base-date", type=click.Choice(["1993", "2014", "2035"]))
@click.option("--rollover", is_flag=True, help="Set the RO bit: the meter clears its TID memory.")
@click.option("--new-vk-env", metavar="VAR", help="New vending key from this variable.")
@click.option("--new-vk-file", type=click.Path(path_type=Path), help="New vending key from FILE.")
@click.option("--json", "as_json", is_flag=True)
@meter_options
def key_change(
    meter: MeterSpec,
    base: Path | None,
    new_krn: int | None,
    new_ken: int | None,
    new_ti: int | None,
    new_sgc: int | None,
    new_kt: int | None,
    new_base_date: str | None,
    rollover: bool,
    new_vk_env: str | None,
    new_vk_file: Path | None,
    as_json: bool,
) -> None:
    """Key change set (2 tokens for a 64-bit key, 4 for 128-bit) under the current key."""
    old = meter.key_info
    new_info = KeyInfo(
        sgc=old.sgc if new_sgc is None else new_sgc,
        ti=old.ti if new_ti is None else new_ti,
        krn=old.krn if new_krn is None else new_krn,
        kt=old.kt if new_kt is None else new_kt,
        ken=old.ken if new_ken is None else new_ken,
        ea=old.ea,
        dkga=old.dkga,
        base_year=int(new_base_date) if new_base_date else old.base_year,
    )
    if new_info == old:
        raise FieldError("the new key equals the current key: change --new-krn, --new-ti, ...")
    new_meter = meter
    if new_vk_env or new_vk_file:
        source = {"env": new_vk_env} if new_vk_env else {"file": new_vk_file}
        new_meter = meter.model_copy(update={"vending_key": source, "decoder_key": None})
        new_meter = MeterSpec.model_validate(new_meter.model_dump())
    new_key = new_meter.load_decoder_key(base, new_info)
    sections = sections_for(new_key.value, new_info, rollover=rollover)
    _emit(meter, base, sections, as_json)


@token.command()
@click.argument("digits", nargs=-1, required=True)
@click.option("--mfr-code", type=int, help="Check class 1 tokens against this MfrCode.")
@click.option("--json", "as_json", is_flag=True)
@meter_options
def decode(
    meter: MeterSpec,
    base: Path | None,
    digits: tuple[str, ...],
    mfr_code: int | None,
    as_json: bool,
) -> None:
    """Decrypt and check a token (20 digits, plain or grouped) for the meter."""
    text = " ".join(digits)
    decoded = codec.decode(text, _LazyKey(meter, base), mfr_code)  # type: ignore[arg-type]
    _print(
        [(f"{int(text.replace(' ', '').replace('-', '')):020d}", decoded.token)],
        meter.base_date,
        as_json,
    )
    _note_test_meter(meter)


class _LazyKey:
    """Loads the key only if the token is encrypted (class 1 tokens need none)."""

    def __init__(self, meter: MeterSpec, base: Path | None) -> None:
        self._meter, self._base = meter, base

    def decrypt_block(self, block: int) -> int:
        return self._meter.load_decoder_key(self._base).decrypt_block(block)

"""``hil token encode ...``, ``hil token decode TOKEN`` and ``hil token batch``."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import sys
import tempfile
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import click

from hil.cli.key_cmd import fit_test_key
from hil.cli.meter_options import is_test_meter, meter_options
from hil.rig.meter_spec import MeterSpec
from hil.sts import codec
from hil.sts.digits import group
from hil.sts.errors import FieldError
from hil.sts.keychange import sections_for
from hil.sts.keys import KeyInfo
from hil.sts.requests import CREDIT_UNITS, amount_units, check_units, parse_time
from hil.sts.tid import TID_MAX, datetime_from_tid, tid_from_datetime
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
    _AmountToken,
)


@click.group()
def token() -> None:
    """Make and read 20-digit STS tokens."""


def _tid(tid: int | None, at: str | None, base_year: int) -> int:
    if tid is not None:
        return tid
    if at is None:  # the CLI is the I/O layer: it may read the clock
        return tid_from_datetime(datetime.now(UTC), base_year)
    return parse_time(at, base_year, "--at")


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
    # Quantities are numbers with a unit beside them (JSON readers should not parse "25.6 kWh").
    if isinstance(token, CreditToken):
        del info["kind"]
        info["amount"] = float(Decimal(token.amount) / 10)
        info["unit"] = CREDIT_UNITS[token.kind]
        info["kind"] = CREDIT_KINDS[token.kind]
    elif isinstance(token, _AmountToken):
        info["unit"] = "W"
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


def _print(
    results: list[tuple[str, Token]],
    base_year: int,
    as_json: bool,
    extra: dict[str, Any] | None = None,
) -> None:
    rows = [
        {"token": digits, **_describe(tok, base_year), **(extra or {})} for digits, tok in results
    ]
    if as_json:
        click.echo(json.dumps(rows if len(rows) > 1 else rows[0], indent=2))
        return
    for row in rows:
        click.echo(group(row.pop("token")))
        unit = row.pop("unit", None)
        for name, value in row.items():
            if unit is not None and name in ("amount", "watts"):
                value = f"{value} {unit}"  # text output: the unit beside its number
            click.echo(f"  {name:<15} {value}")


def _emit(
    meter: MeterSpec,
    base: Path | None,
    tokens: list[Token],
    as_json: bool,
    key_info: KeyInfo | None = None,
) -> None:
    needs_key = any(t.token_class != 1 for t in tokens)
    key = fit_test_key(meter).load_decoder_key(base) if needs_key else None
    info = key_info or meter.key_info
    out = [(codec.encode(t, key, info.ken), t) for t in tokens]
    _print(out, meter.base_date, as_json)
    _note_test_meter(meter)


_common = [
    click.option("--tid", type=int, help="Token identifier (minutes since the base date)."),
    click.option("--at", help="Issue time (ISO 8601, UTC if no zone); default: now."),
    click.option(
        "--rnd",
        type=click.IntRange(0, 15),
        default=0,
        show_default=True,
        help="Random number carried in the token (0-15).",
    ),
    click.option("--json", "as_json", is_flag=True, help="Print JSON (numbers with units)."),
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
    help="What the credit is for (the token's subclass).",
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
    sub = {v: k for k, v in CREDIT_KINDS.items()}[kind]
    # Range errors in the unit the user typed (kWh for --amount), not in internal units.
    if units is not None:
        value = check_units(units, sub, "--units")
    else:
        value = amount_units(amount or "", sub, "--amount")
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
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
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
@click.option(
    "--new-base-date",
    type=click.Choice(["1993", "2014", "2035"]),
    help="Base date of the new key (with --rollover for a TID rollover).",
)
@click.option("--rollover", is_flag=True, help="Set the RO bit: the meter clears its TID memory.")
@click.option("--new-vk-env", metavar="VAR", help="New vending key from this variable.")
@click.option("--new-vk-file", type=click.Path(path_type=Path), help="New vending key from FILE.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (key words stay secret).")
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
    new_key = fit_test_key(new_meter).load_decoder_key(base, new_info)
    sections = sections_for(new_key.value, new_info, rollover=rollover)
    _emit(meter, base, sections, as_json)


@token.command()
@click.argument("digits", nargs=-1, required=True)
@click.option("--mfr-code", type=int, help="Check class 1 tokens against this MfrCode.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (numbers with units).")
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
    # decode raised CrcError otherwise: say that the check passed, and what it proves.
    crc = (
        "ok (class 1: not encrypted; the CRC checked out)"
        if decoded.token_class == 1
        else "ok (decrypted with this meter's key; the CRC checked out)"
    )
    _print(
        [(f"{int(text.replace(' ', '').replace('-', '')):020d}", decoded.token)],
        meter.base_date,
        as_json,
        {"crc": "ok" if as_json else crc},
    )
    _note_test_meter(meter)


class _LazyKey:
    """Loads the key only if the token is encrypted (class 1 tokens need none)."""

    def __init__(self, meter: MeterSpec, base: Path | None) -> None:
        self._meter, self._base = meter, base

    def decrypt_block(self, block: int) -> int:
        return fit_test_key(self._meter).load_decoder_key(self._base).decrypt_block(block)


# --- hil token batch ---------------------------------------------------------------------

_CHUNK = 10_000  # rows per pass through the batch engine
_PROGRESS_FROM = 10_000  # tokens (or, for files, 256 KiB) before a progress bar by default
_OUT_COLUMNS = ("line", "meter", "type", "class", "subclass", "tid", "rnd", "amount", "unit")
_IN_COLUMNS = frozenset(
    {"meter", "type", "class", "subclass", "kind", "amount", "units", "watts", "value"}
    | {"tid", "time", "rnd"}
)


class _Lines:
    """Text lines of the input, counting bytes read for the progress bar."""

    def __init__(self, handle: Any) -> None:
        self.handle, self.read = handle, 0

    def __iter__(self) -> Any:
        for line in self.handle:
            self.read += len(line)
            yield line


def _rows(source: str, lines: _Lines) -> Any:
    """(line number, row mapping) from CSV with a header, or JSON Lines (first char '{')."""
    stream = iter(lines)
    first = next(stream, "")
    while first and not first.strip():  # blank lines before the header or first object
        first = next(stream, "")
    if not first:
        raise FieldError(f"{source}: no rows (empty input)")

    def chained() -> Any:
        yield first
        yield from stream

    if first.lstrip().startswith("{"):
        for number, text in enumerate(chained(), start=1):
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except ValueError as exc:
                raise FieldError(f"{source} line {number}: not valid JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise FieldError(f"{source} line {number}: must be a JSON object")
            _check_columns(source, row.keys(), number)
            yield number, row
        return
    reader = csv.DictReader(chained())
    _check_columns(source, reader.fieldnames or [], 1)
    for row in reader:
        if None in row:  # more cells than header columns
            raise FieldError(f"{source} line {reader.line_num}: more cells than columns")
        yield reader.line_num, row


def _check_columns(source: str, names: Any, line: int) -> None:
    unknown = sorted(str(n) for n in names if str(n).strip() not in _IN_COLUMNS)
    if unknown:
        raise FieldError(
            f"{source} line {line}: unknown column {unknown[0]!r};"
            f" accepted: {', '.join(sorted(_IN_COLUMNS))}"
        )


class _Writer:
    """CSV or JSONL output rows; numbers stay numbers in JSONL."""

    def __init__(self, handle: Any, fmt: str) -> None:
        self.handle, self.fmt = handle, fmt
        self.csv = csv.writer(handle, lineterminator="\n") if fmt == "csv" else None
        self._header = self.csv is not None  # written with the first row: none on a bad start

    def same_rows(
        self, first: int, meter: str, template: dict[str, Any], tids: list[int], digits: list[str]
    ) -> None:
        """Rows that differ only in line, TID and token (--count): one write per chunk."""
        if self.csv is None or not tids:
            for i, (tid, text) in enumerate(zip(tids, digits, strict=True)):
                self.row(first + i, meter, {**template, "tid": tid}, text)
            return
        self.row(first, meter, {**template, "tid": tids[0]}, digits[0])  # header + the format
        t = template
        tail = f"{t['rnd']},{t['amount']},{t['unit']}"
        head = f"{meter},{t['type']},{t['class']},{t['subclass']}"
        self.handle.write(
            "".join(
                f"{first + i},{head},{tid},{tail},{text}\n"
                for i, (tid, text) in enumerate(zip(tids, digits, strict=True))
                if i
            )
        )

    def row(self, line: int, meter: str, described: dict[str, Any], digits: str) -> None:
        if self.csv is None:
            self.handle.write(
                json.dumps({"line": line, "meter": meter, **described, "token": digits})
            )
            self.handle.write("\n")
            return
        assert self.csv is not None
        if self._header:
            self.csv.writerow([*_OUT_COLUMNS, "token"])
            self._header = False
        # CSV: one quantity column; raw-value types put their value in it, without a unit.
        quantity = described.get("amount")
        for name in ("register", "rate", "factor"):
            quantity = described.get(name, quantity)
        cells = [line, meter, *(described[k] for k in ("type", "class", "subclass", "tid", "rnd"))]
        self.csv.writerow(
            [*cells, "" if quantity is None else quantity, described.get("unit", ""), digits]
        )


def _batch_keys(meter: MeterSpec, base: Path | None, pans: list[str]) -> Any:
    """One decoder key, or a KeyArray (one key per row) when rows name other meters."""
    from hil.sts.batch import KeyArray, derive_many

    meter = fit_test_key(meter)
    if all(p == meter.pan for p in pans):
        return meter.load_decoder_key(base)
    if meter.vending_key is None:
        raise FieldError(
            "rows name other meters: that needs a vending key (--vk-env/--vk-file or the meter"
            " file's vending_key), not only a decoder key"
        )
    bits = {1: 64, 2: 64, 3: 128, 4: 160}[meter.dkga]
    vending_key = meter.vending_key.load("vending key", (bits,), base)
    unique = sorted(set(pans))
    keys = derive_many(vending_key, unique, meter.key_info, meter.tables(base))
    index = {pan: i for i, pan in enumerate(unique)}
    rows = [index[p] for p in pans]
    return KeyArray(keys.values[rows], keys.ea, keys.sta_tables)


def _encode_chunk(
    meter: MeterSpec, base: Path | None, requests: list[Any], source: str, writer: _Writer
) -> None:
    from hil.sts.batch import encode_many
    from hil.sts.errors import StsError
    from hil.sts.requests import request_fields

    pans = [r.meter or meter.pan for r in requests]
    try:
        fields = request_fields(requests)
        keys = _batch_keys(meter, base, pans)
        digits = encode_many(keys, fields, ken=meter.ken).tolist()
    except StsError as exc:
        row = getattr(exc, "row", None)
        if row is None:
            raise
        message = str(exc).split(": ", 1)[1]  # "row N: ..." -> the input's line instead
        raise type(exc)(f"{source} line {requests[row].line}: {message}") from None
    for request, pan, text in zip(requests, pans, digits, strict=True):
        writer.row(request.line, pan, request.describe(), text)


def _count_tokens(
    meter: MeterSpec,
    base: Path | None,
    writer: _Writer,
    count: int,
    start_tid: int,
    step: int,
    units: int,
    kind: int,
    rnd: int,
    bar: Any,
) -> None:
    import numpy as np

    from hil.sts.batch import TokenFields, encode_many
    from hil.sts.requests import TokenRequest

    key = fit_test_key(meter).load_decoder_key(base)
    for start in range(0, count, _CHUNK):
        n = min(_CHUNK, count - start)
        tids = start_tid + step * (start + np.arange(n, dtype=np.int64))
        fields = TokenFields.credit(tids, units, rnd, kind)
        digits = encode_many(key, fields, ken=meter.ken).tolist()
        template = TokenRequest(0, None, "credit", 0, kind, 0, rnd, units).describe()
        writer.same_rows(start + 1, meter.pan, template, tids.tolist(), digits)
        bar.update(n)


class _NoBar:
    def update(self, _n: int) -> None:
        pass


@token.command(name="batch")
@click.argument(
    "source", required=False, type=click.Path(dir_okay=False, allow_dash=True, path_type=str)
)
@click.option(
    "--count",
    type=click.IntRange(1, TID_MAX + 1),
    help="Make N credit tokens (TIDs from --start-tid) instead of reading rows.",
)
@click.option(
    "--start-tid", type=click.IntRange(0, TID_MAX), help="TID of the first --count token."
)
@click.option(
    "--tid-step",
    type=click.IntRange(1, TID_MAX),
    default=1,
    show_default=True,
    help="TID increment between --count tokens.",
)
@click.option("--amount", help="Credit of each --count token in kWh (or the kind's unit).")
@click.option("--units", type=int, help="Credit of each --count token in 0.1 units.")
@click.option(
    "--kind",
    type=click.Choice(list(CREDIT_KINDS.values())),
    default="electricity",
    show_default=True,
    help="Credit kind of --count tokens (rows have a kind column).",
)
@click.option(
    "--rnd",
    type=click.IntRange(0, 15),
    default=0,
    show_default=True,
    help="RND of --count tokens (rows have an rnd column).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write to FILE instead of stdout; written only if every row is good.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "jsonl"]),
    help="Output format; default: jsonl for --out *.jsonl, else csv.",
)
@click.option("--force", is_flag=True, help="Let --out replace an existing FILE.")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bar on stderr; default: on a terminal, for 10,000 tokens or more.",
)
@meter_options
def batch_command(
    meter: MeterSpec,
    base: Path | None,
    source: str | None,
    count: int | None,
    start_tid: int | None,
    tid_step: int,
    amount: str | None,
    units: int | None,
    kind: str,
    rnd: int,
    out: Path | None,
    fmt: str | None,
    force: bool,
    progress: bool | None,
) -> None:
    """Encode many tokens: rows from a CSV or JSONL FILE (- for stdin), or --count credits.

    Input columns: meter, type (or class/subclass), kind, amount (kWh) or units (0.1),
    watts, value, tid or time, rnd; see docs/token-engine.md. Output: one row per token
    with line, meter, type, class, subclass, tid, rnd, amount, unit and token.
    """
    if (source is None) == (count is None):
        raise FieldError("give an input FILE (- for stdin) or --count N with --start-tid")
    sub = {v: k for k, v in CREDIT_KINDS.items()}[kind]
    if count is not None:
        if start_tid is None:
            raise FieldError("--count needs --start-tid (the TID of the first token)")
        if (amount is None) == (units is None):
            raise FieldError("give each token's credit as --amount (e.g. 25.6) or --units")
        value = (
            check_units(units, sub, "--units")
            if units is not None
            else amount_units(amount or "", sub, "--amount")
        )
        last = start_tid + (count - 1) * tid_step
        if last > TID_MAX:
            raise FieldError(
                f"--count {count} from --start-tid {start_tid} (step {tid_step}) ends at TID"
                f" {last}, past the last TID {TID_MAX}"
            )
    elif amount is not None or units is not None or start_tid is not None:
        raise FieldError("--amount, --units and --start-tid go with --count; rows carry columns")
    if out is not None and out.exists() and not force:
        raise FieldError(f"{out} exists: not overwritten (add --force to replace it)")
    fmt = fmt or ("jsonl" if out is not None and out.suffix in (".jsonl", ".ndjson") else "csv")

    # Output goes to a temporary file beside --out and replaces it only when all is well.
    if out is not None:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent or Path("."))
        handle: Any = os.fdopen(fd, "w", newline="")
    else:
        tmp_name, handle = None, sys.stdout
    try:
        writer = _Writer(handle, fmt)
        if count is not None:
            show = (
                progress
                if progress is not None
                else sys.stderr.isatty() and count >= _PROGRESS_FROM
            )
            with _bar(show, count, "encoding") as bar:
                _count_tokens(
                    meter, base, writer, count, start_tid or 0, tid_step, value, sub, rnd, bar
                )
        else:
            _batch_rows(meter, base, source or "-", writer, progress)
        handle.flush()
    except BaseException:
        if tmp_name is not None:
            handle.close()
            os.unlink(tmp_name)
        raise
    if out is not None and tmp_name is not None:
        handle.close()
        os.replace(tmp_name, out)
        click.echo(f"tokens written to {out}", err=True)
    _note_test_meter(meter)


def _bar(show: bool, length: int, label: str) -> Any:
    if not show:
        return contextlib.nullcontext(_NoBar())
    return click.progressbar(length=length, label=label, file=sys.stderr)


def _batch_rows(
    meter: MeterSpec, base: Path | None, source: str, writer: _Writer, progress: bool | None
) -> None:
    from hil.sts.requests import parse_request

    name = "stdin" if source == "-" else source
    if source == "-":
        handle: Any = sys.stdin
        size = 0
    else:
        try:
            handle = open(source, encoding="utf-8", newline="")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise FieldError(f"{source}: cannot read ({exc.strerror})") from None
        size = os.fstat(handle.fileno()).st_size
    show = progress if progress is not None else sys.stderr.isatty() and size >= 256 * 1024
    lines = _Lines(handle)
    meters: dict[str, str] = {}
    try:
        with _bar(bool(show and size), max(size, 1), "encoding") as bar:
            chunk: list[Any] = []
            done = 0
            for number, row in _rows(name, lines):
                chunk.append(parse_request(row, number, meter.base_date, meters))
                if len(chunk) == _CHUNK:
                    _encode_chunk(meter, base, chunk, name, writer)
                    chunk = []
                    bar.update(lines.read - done)
                    done = lines.read
            if chunk:
                _encode_chunk(meter, base, chunk, name, writer)
            bar.update(lines.read - done)
    except FieldError as exc:
        text = str(exc)
        raise type(exc)(text if text.startswith(name) else f"{name} {text}") from None
    finally:
        if source != "-":
            handle.close()

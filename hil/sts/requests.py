"""Token requests as table rows: the columns of ``hil token batch`` (CSV or JSONL).

Pure: a row is a mapping of column name to value (text from CSV, numbers from JSON); the
caller reads files and names the source in errors. Errors are FieldError with the line.

Columns (all optional but one quantity and one of tid/time):

| column | meaning |
|---|---|
| ``meter`` | MeterPAN or DRN; empty: the meter given on the command line |
| ``type`` | credit (default), power-limit, phase-unbalance, clear-credit, clear-tamper, |
| | tariff-rate, water-factor |
| ``class``, ``subclass`` | instead of ``type``: 0/0-3 credit, 2/0, 2/1, 2/2, 2/5, 2/6, 2/7 |
| ``kind`` | credit kind: electricity (default), water, gas, time |
| ``amount`` | credit in the kind's unit (kWh for electricity), 0.1 resolution |
| ``units`` | credit in 0.1 units, a whole number |
| ``watts`` | limit in watts (power-limit, phase-unbalance) |
| ``value`` | the 16-bit value of clear-credit (``all`` = 65535), tariff-rate, water-factor |
| ``tid`` / ``time`` | token identifier, or issue time (ISO 8601, UTC if no zone) |
| ``rnd`` | 0-15, default 0 |
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from hil.sts.amount import AMOUNT_MAX
from hil.sts.errors import FieldError, StsError
from hil.sts.identity import MeterPan
from hil.sts.tid import TID_MAX, tid_from_datetime
from hil.sts.tokens import CREDIT_KINDS

if TYPE_CHECKING:
    from hil.sts.batch import TokenFields

# Unit of each credit kind's amount (0.1 resolution). Water/gas/time follow this project's
# choice: the standard's Table 17 is not public (docs/token-engine.md).
CREDIT_UNITS = {0: "kWh", 1: "m3", 2: "m3", 3: "h"}
KIND_BY_NAME = {name: sub for sub, name in CREDIT_KINDS.items()}
# (class, subclass) of each type; credit's subclass is its kind.
TYPES: dict[str, tuple[int, int]] = {
    "credit": (0, 0),
    "power-limit": (2, 0),
    "clear-credit": (2, 1),
    "tariff-rate": (2, 2),
    "clear-tamper": (2, 5),
    "phase-unbalance": (2, 6),
    "water-factor": (2, 7),
}
_TYPE_BY_CODE = {code: name for name, code in TYPES.items() if name != "credit"}
_WATTS_TYPES = {"power-limit", "phase-unbalance"}
_VALUE_TYPES = {"clear-credit", "tariff-rate", "water-factor"}
_VALUE_NAMES = {"clear-credit": "register", "tariff-rate": "rate", "water-factor": "factor"}


def amount_units(text: str, kind: int = 0, what: str = "amount") -> int:
    """Credit typed in the kind's unit (e.g. "25.6" kWh) as whole 0.1 units; errors say kWh."""
    unit = CREDIT_UNITS[kind]
    top = Decimal(AMOUNT_MAX) / 10
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation:
        raise FieldError(f"{what} {text!r} must be a number of {unit} such as 25.6") from None
    if not value.is_finite() or not 0 <= value <= top:
        raise FieldError(f"{what} {text} {unit} is outside 0..{top} {unit}")
    tenths = value * 10
    if tenths != tenths.to_integral_value():
        raise FieldError(
            f"{what} {text} {unit} has a resolution finer than 0.1 {unit}; the token carries 0.1"
        )
    return int(tenths)


def check_units(units: int, kind: int = 0, what: str = "units") -> int:
    """Credit given in 0.1 units: the range error also says what that is in the kind's unit."""
    if not 0 <= units <= AMOUNT_MAX:
        unit = CREDIT_UNITS[kind]
        raise FieldError(
            f"{what} {units} is outside 0..{AMOUNT_MAX} (0.1 {unit} units:"
            f" 0..{Decimal(AMOUNT_MAX) / 10} {unit})"
        )
    return units


def parse_time(text: str, base_year: int, what: str = "time") -> int:
    """TID of an ISO 8601 issue time; no zone means UTC."""
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise FieldError(
            f"{what} {text!r} must be an ISO 8601 time, e.g. 2024-05-01T10:30Z"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return tid_from_datetime(when, base_year)


@dataclass(frozen=True, slots=True)
class TokenRequest:
    """One row: which token, for which meter. ``quantity`` is 0.1 units, watts or the value."""

    line: int
    meter: str | None  # 18-digit MeterPAN; None: the command line's meter
    type: str
    token_class: int
    subclass: int
    tid: int
    rnd: int
    quantity: int

    def describe(self) -> dict[str, object]:
        """The output columns: numbers as numbers, with a unit where there is one."""
        out: dict[str, object] = {
            "type": self.type,
            "class": self.token_class,
            "subclass": self.subclass,
            "tid": self.tid,
            "rnd": self.rnd,
        }
        if self.type == "credit":
            out["kind"] = CREDIT_KINDS[self.subclass]
            out["amount"] = float(Decimal(self.quantity) / 10)
            out["unit"] = CREDIT_UNITS[self.subclass]
        elif self.type in _WATTS_TYPES:
            out["amount"], out["unit"] = self.quantity, "W"
        elif self.type in _VALUE_TYPES:
            out[_VALUE_NAMES[self.type]] = self.quantity
        return out


def _text(row: Mapping[str, object], name: str) -> str | None:
    value = row.get(name)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _int(row: Mapping[str, object], name: str, low: int, high: int) -> int | None:
    text = _text(row, name)
    if text is None:
        return None
    try:
        value = int(text, 0) if text.lower().startswith("0x") else int(text)
    except ValueError:
        raise FieldError(f"{name} {text!r} must be a whole number") from None
    if not low <= value <= high:
        raise FieldError(f"{name} {value} is outside {low}..{high}")
    return value


def _type_of(row: Mapping[str, object]) -> tuple[str, int]:
    """The type name and, for credit, the kind (subclass)."""
    name = _text(row, "type")
    cls, sub = _int(row, "class", 0, 3), _int(row, "subclass", 0, 15)
    if name is None and cls is not None:
        if cls == 0 and sub is not None and sub <= 3:
            return "credit", sub
        type_name = _TYPE_BY_CODE.get((cls, 0 if sub is None else sub))
        if type_name is None:
            raise FieldError(
                f"class {cls} subclass {sub} is not made by batch (key changes and class 1: "
                "hil token encode key-change / test)"
            )
        return type_name, 0
    name = name or "credit"
    if name not in TYPES:
        raise FieldError(f"type {name!r} is unknown; accepted: {', '.join(TYPES)}")
    kind_text = _text(row, "kind")
    if kind_text is None:
        return name, 0
    if name != "credit" or kind_text not in KIND_BY_NAME:
        raise FieldError(f"kind {kind_text!r}: accepted for credit: {', '.join(KIND_BY_NAME)}")
    return name, KIND_BY_NAME[kind_text]


def _quantity(row: Mapping[str, object], type_name: str, kind: int) -> int:
    if type_name == "credit":
        amount, units = _text(row, "amount"), _text(row, "units")
        if (amount is None) == (units is None):
            raise FieldError("give the credit in amount (e.g. 25.6) or units (0.1 units)")
        if amount is not None:
            return amount_units(amount, kind)
        value = _int(row, "units", -(1 << 62), 1 << 62)
        return check_units(value or 0, kind)
    if type_name in _WATTS_TYPES:
        watts = _int(row, "watts", 0, AMOUNT_MAX)
        if watts is None:
            raise FieldError(f"{type_name} needs watts")
        return watts
    if type_name in _VALUE_TYPES:
        text = _text(row, "value")
        if text is None:
            raise FieldError(f"{type_name} needs value (16 bits)")
        if type_name == "clear-credit" and text.lower() == "all":
            return 0xFFFF
        value = _int(row, "value", 0, 0xFFFF)
        return value or 0
    return 0  # clear-tamper carries a zero pad


def parse_request(
    row: Mapping[str, object],
    line: int,
    base_year: int,
    meters: dict[str, str] | None = None,
) -> TokenRequest:
    """One row as a request; FieldError names the line. ``meters`` caches parsed meters."""
    try:
        type_name, kind = _type_of(row)
        cls, sub = TYPES[type_name]
        quantity = _quantity(row, type_name, kind)
        tid = _int(row, "tid", 0, TID_MAX)
        time = _text(row, "time")
        if (tid is None) == (time is None):
            raise FieldError("give tid or time (ISO 8601), not both and not neither")
        if tid is None:
            tid = parse_time(time or "", base_year)
        rnd = _int(row, "rnd", 0, 15) or 0
        meter_text = _text(row, "meter")
        meter = None
        if meter_text is not None:
            cache = {} if meters is None else meters
            meter = cache.get(meter_text)
            if meter is None:
                meter = cache[meter_text] = MeterPan.parse(meter_text).digits
    except StsError as exc:
        raise type(exc)(f"line {line}: {exc}") from None
    return TokenRequest(
        line, meter, type_name, cls, kind if type_name == "credit" else sub, tid, rnd, quantity
    )


def request_fields(requests: Sequence[TokenRequest]) -> TokenFields:
    """The batch engine's rows for these requests (amounts encoded, rounded up)."""
    import numpy as np  # imported on use: the CLI's other commands start without numpy

    from hil.sts.batch import TokenFields, encode_amounts

    column = {
        name: np.array([getattr(r, name) for r in requests], dtype=np.int64)
        for name in ("token_class", "subclass", "tid", "rnd", "quantity")
    }
    is_amount = np.array([r.type == "credit" or r.type in _WATTS_TYPES for r in requests])
    quantity = column["quantity"]
    field16 = np.where(is_amount, encode_amounts(np.where(is_amount, quantity, 0)), quantity)
    payload = (
        (column["rnd"].astype(np.uint64) << np.uint64(40))
        | (column["tid"].astype(np.uint64) << np.uint64(16))
        | field16.astype(np.uint64)
    )
    return TokenFields(column["token_class"], column["subclass"], payload)

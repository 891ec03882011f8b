"""The lab file: who tests what, with which calibrated instruments (docs/lab-setup.md).

A certification report names the laboratory and its accreditation, the operator, the sample
and the meter's make and model, and the calibration state of the instruments. None of that
is in a rig file (a rig is a bench; a lab file is a job on it), so ``hil run --lab FILE`` (or
``$HIL_LAB``) names one; ``run_start`` records it in the journal (``journal_lab``) so
``hil report`` rebuilds the same report from the journal alone.

Also here, as data rather than code: which edition of each standard the catalogue's clauses
cite (``standards.yaml`` beside this file), and how a report number is made.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hil.errors import ConfigError
from hil.yamlfile import read_yaml

STANDARDS = Path(__file__).with_name("standards.yaml")
EXAMPLE = "fixtures/labs/example-lab.yaml"

Text = Field(min_length=1)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True,
                              str_strip_whitespace=True)  # fmt: skip


class Accreditation(_Model):
    body: str = Text  # e.g. SANAS, UKAS, DAkkS, A2LA
    number: str = Text  # the lab's accreditation number with that body
    scope: str | None = None  # e.g. "ISO/IEC 17025:2017, schedule T0123"


class Laboratory(_Model):
    name: str = Text
    accreditation: Accreditation
    address: str | None = None


class MeterMake(_Model):
    manufacturer: str = Text
    model: str = Text


class LabInstrument(_Model):
    role: str = Text  # ac_source, dmm, load, or any other instrument of the bench
    manufacturer: str | None = None
    model: str = Text
    serial: str = Text
    cal_due: date  # calibration due date, YYYY-MM-DD
    certificate: str | None = None  # calibration certificate number


class Approval(_Model):
    """Names printed above the signature lines; left blank to be filled in by hand."""

    prepared_by: str | None = None
    reviewed_by: str | None = None


class LabFile(_Model):
    example: bool = False  # true in example files: the report says it is example data
    laboratory: Laboratory
    operator: str = Text
    sample_id: str = Text
    meter: MeterMake
    instruments: list[LabInstrument] = []
    report_number: str | None = None  # a number the lab assigned; else one is derived
    report_prefix: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_./-]+$")
    approval: Approval = Approval()
    editions: dict[str, str] = {}  # standard -> edition, over standards.yaml


class LabInfo(LabFile):
    """A lab file as the run record holds it: its content, path and SHA-256."""

    file: str = ""
    sha256: str = ""


# --- one-line errors ----------------------------------------------------------------------

_EXAMPLES = {
    "laboratory": "laboratory: {name: ..., accreditation: {body: ..., number: ...}}",
    "laboratory.name": 'name: "Acme Meter Test Laboratory"',
    "laboratory.accreditation": "accreditation: {body: SANAS, number: T0000}",
    "laboratory.accreditation.body": "body: SANAS",
    "laboratory.accreditation.number": "number: T0000",
    "operator": "operator: A. N. Operator",
    "sample_id": "sample_id: S-2026-0001",
    "meter": "meter: {manufacturer: ..., model: ...}",
    "meter.manufacturer": "manufacturer: Acme Meters",
    "meter.model": "model: PM-1",
    "role": "role: dmm",
    "model": "model: 34461A",
    "serial": "serial: MY12345678",
    "cal_due": "cal_due: 2027-01-31",
}


def _fields_at(loc: Sequence[Any]) -> list[str]:
    """The fields the model at ``loc`` (the parent of an unknown field) accepts."""
    model: type[BaseModel] = LabFile
    for part in loc:
        if isinstance(part, int):
            continue
        info = model.model_fields.get(str(part))
        if info is None:
            break
        inner = info.annotation
        args = getattr(inner, "__args__", ())
        inner = next((a for a in (inner, *args) if isinstance(a, type)
                      and issubclass(a, BaseModel)), None)  # fmt: skip
        if inner is None:
            break
        model = inner
    return list(model.model_fields)


def _fix(err: Mapping[str, Any]) -> str:
    loc = [p for p in err["loc"]]
    where = ".".join(str(p) for p in loc if not isinstance(p, int))
    leaf = str(loc[-1]) if loc else ""
    example = _EXAMPLES.get(where) or _EXAMPLES.get(leaf)
    kind = err["type"]
    if kind == "missing":
        return "missing; add it" + (f", e.g. {example}" if example else f" (see {EXAMPLE})")
    if kind == "extra_forbidden":
        return f"unknown field; accepted here: {', '.join(_fields_at(loc[:-1]))}"
    if kind.startswith("date") or leaf == "cal_due":
        return "not a date; write YYYY-MM-DD, e.g. cal_due: 2027-01-31"
    if kind == "string_too_short":
        return "empty; give a value" + (f", e.g. {example}" if example else "")
    if kind == "string_pattern_mismatch":
        return "letters, digits and _ . / - only, e.g. report_prefix: ACME-HIL"
    if kind in ("model_type", "dict_type"):
        return "must be a mapping" + (f", e.g. {example}" if example else "")
    if kind == "list_type":
        return "must be a list of instruments (- role: ..., model: ..., serial: ..., cal_due: ...)"
    if kind == "bool_type" or kind == "bool_parsing":
        return "must be true or false"
    return str(err["msg"])


def parse_lab(data: object, where: str) -> LabFile:
    """Validate lab file content; a ``ConfigError`` of one line naming each bad field."""
    if not isinstance(data, dict):
        raise ConfigError(
            f"{where}: a lab file is a mapping with laboratory:, operator:, sample_id:, "
            f"meter: and instruments: (see {EXAMPLE})"
        )
    try:
        return LabFile.model_validate(data)
    except ValidationError as exc:
        parts = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "(top)"
            parts.append(f"{field}: {_fix(err)}")
        raise ConfigError(f"{where}: " + "; ".join(parts)) from None


def load_lab(path: str | Path) -> LabInfo:
    """A lab file, validated; errors are one-line ``ConfigError`` naming file and field."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such lab file; give --lab FILE or $HIL_LAB (see {EXAMPLE})")
    data, raw = read_yaml(path, "lab file")
    lab = parse_lab(data, str(path))
    return LabInfo(**lab.model_dump(), file=str(path.resolve()),
                   sha256=hashlib.sha256(raw).hexdigest())  # fmt: skip


def journal_lab(path: Path) -> dict[str, Any]:
    """What ``run_start`` records as ``lab``: the validated content with the file's path and
    SHA-256, or ``{file, error}`` when it cannot be read (the report then warns)."""
    try:
        return load_lab(path).model_dump(mode="json")
    except ConfigError as exc:
        return {"file": str(path), "error": str(exc)}


def lab_from_journal(data: object) -> tuple[LabInfo | None, str | None]:
    """The lab a journal's ``run_start`` carries, or a one-line reason it cannot be used."""
    if not isinstance(data, Mapping):
        return None, None
    if data.get("error"):
        return None, f"lab file: {data['error']}"
    try:
        return LabInfo.model_validate(data), None
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        return None, f"lab file {data.get('file', '?')}: recorded lab unreadable ({field})"


# --- warnings -----------------------------------------------------------------------------


def lab_warnings(lab: LabFile, on: date | None = None) -> list[str]:
    """What a reader (or the operator before a run) must know about ``lab`` on day ``on``
    (default today): instruments past their calibration due date, example data."""
    on = on or date.today()
    out = []
    if lab.example:
        out.append("the lab file is example data (example: true): not a real laboratory")
    for ins in lab.instruments:
        if ins.cal_due < on:
            name = " ".join(x for x in (ins.manufacturer, ins.model) if x)
            out.append(
                f"instrument {ins.role} ({name}, serial {ins.serial}): calibration was due "
                f"{ins.cal_due.isoformat()}, before {on.isoformat()}"
            )
    return out


def instrument_mismatches(lab: LabFile, answered: Iterable[tuple[str, str | None]]) -> list[str]:
    """Lab-file instruments whose serial differs from what the bench's instrument of that
    role answered to ``*IDN?`` (``answered``: role, serial pairs)."""
    said = {role: serial for role, serial in answered if serial}
    out = []
    for ins in lab.instruments:
        serial = said.get(ins.role)
        if serial is not None and serial.strip().lower() != ins.serial.strip().lower():
            out.append(
                f"instrument {ins.role}: the lab file lists serial {ins.serial}, the "
                f"instrument on the bench answers serial {serial}"
            )
    return out


# --- report number and editions -----------------------------------------------------------


def report_number(lab: LabFile | None, start: datetime | None, rig_ids: Sequence[str]) -> str:
    """The lab's own number, else ``<prefix>-<YYYYMMDD>-<HHMMSS>-<XXXX>``: the run's start
    (UTC) and the first 4 hex digits of the SHA-256 of its sorted rig ids, one per line.
    The same journals always give the same number; prefix ``report_prefix`` or ``HIL``."""
    if lab is not None and lab.report_number:
        return lab.report_number
    prefix = (lab.report_prefix if lab is not None else None) or "HIL"
    stamp = start.strftime("%Y%m%d-%H%M%S") if start else "00000000-000000"
    digest = hashlib.sha256("\n".join(sorted(rig_ids)).encode("utf-8")).hexdigest()
    return f"{prefix}-{stamp}-{digest[:4].upper()}"


class Standard(_Model):
    standard: str = Text  # as clauses cite it, e.g. "IEC 62055-41"
    edition: str = Text  # e.g. "IEC 62055-41:2018"
    title: str = ""


class Register(_Model):
    name: str = Text  # electricity, water, gas, time
    unit: str = Text  # kWh, m³, ...


class _Standards(_Model):
    standards: list[Standard]
    registers: dict[int, Register] = {}


@cache
def _table(path: Path = STANDARDS) -> _Standards:
    data, _ = read_yaml(path, "standards table")
    try:
        return _Standards.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(f"{path}: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None


def load_standards() -> tuple[Standard, ...]:
    """The standards the catalogue cites and the edition of each (standards.yaml)."""
    return tuple(_table().standards)


def credit_registers() -> dict[int, Register]:
    """Class 0 subclass -> the register it credits and its unit (standards.yaml)."""
    return dict(_table().registers)


def editions_for(clause: str, overrides: Mapping[str, str] | None = None) -> list[str]:
    """The editions of the standards a clause text cites (``IEC 62055-41 §7.3.8`` ->
    ``["IEC 62055-41:2018"]``); a lab file's ``editions`` replace the table's."""
    overrides = overrides or {}
    found = [overrides.get(s.standard, s.edition) for s in load_standards()
             if s.standard in clause]  # fmt: skip
    found += [e for name, e in overrides.items() if name in clause and e not in found]
    return found

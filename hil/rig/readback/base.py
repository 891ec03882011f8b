"""The readback role: how the harness learns what the meter did (docs/drivers.md,
"Writing a readback driver").

A `Readback` reads the meter's state (credit, relay, the last token result, TID memory,
lockout, identity, clock) and waits for what the meter does (an event it pushes, or a
reading polled until it changes). Each driver declares what it can observe in its
`Capabilities`; a reading it lacks raises `NotReadable` (a `NotOffered`, so the suites
that already skip on a function the probe does not offer skip here too).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

from hil.errors import BenchCannot, DeviceError
from hil.meter.results import TokenResult
from hil.probe.protocol import Event
from hil.rig.drivers.probe import CreditStatus, NotOffered, TokenLogEntry

ResultCodes = Literal["full", "classes"]


@dataclass(frozen=True)
class Capabilities:
    """What a readback can observe of the meter."""

    result_codes: ResultCodes = "full"  # the 16 STS results, or only classes of them
    credit: bool = True
    credit_resolution_kwh: float | None = None  # None: as the meter's identity declares
    tid_memory: bool = True
    events: Literal["pushed", "polled"] = "pushed"
    lockout: bool = True
    key_register: tuple[str, ...] = ("sgc", "ti", "krn", "kt", "ken", "base_date")
    clock: bool = True
    relay_reason: bool = True  # why the relay is open (credit, power_limit, tamper)
    confirms_keys: bool = True  # a KEY event for each key the meter registered
    reset: bool = False  # test firmware's RESET STATE

    def describe(self) -> str:
        """One line for reports: what this readback can and cannot see."""
        parts = ["16 result codes" if self.result_codes == "full" else "result classes only"]
        parts.append(f"events {self.events}")
        lacks = [name for name, have in (("TID memory", self.tid_memory),
                                         ("lockout", self.lockout), ("clock", self.clock),
                                         ("key register", bool(self.key_register)))
                 if not have]  # fmt: skip
        if lacks:
            parts.append("no " + ", no ".join(lacks))
        return ", ".join(parts)


class NotReadable(NotOffered, BenchCannot):
    """The readback cannot take this reading at all (its capabilities say so): a test that
    needs it is skipped with the reason (`BenchCannot`), never failed."""

    def __init__(self, readback: str, reading: str) -> None:
        super().__init__(
            f"readback {readback} cannot read {reading}", command=reading, code=0, text=""
        )
        self.readback = readback
        self.reading = reading


def missing(readback: str, reading: str) -> NotReadable:
    return NotReadable(readback, reading)


@dataclass(frozen=True)
class Reading:
    """One reading taken as evidence of its own (an operator's answer, a display frame):
    what was read, the value, where from and by whom, and when."""

    what: str  # credit, relay, result, ...
    value: str
    source: str  # the readback kind
    by: str = ""  # the operator's name, where a person read it
    at: str = ""  # UTC, ISO 8601
    confidence: float | None = None  # a machine reading's confidence (OCR), 0..1
    image: str = ""  # the evidence image's file name, where there is one

    def as_dict(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items() if v not in ("", None)}


RecordReading = Callable[[Reading], None]


def display_capabilities(resolution_kwh: float | None) -> Capabilities:
    """What the meter's display shows (a camera or a person reads it): the credit at its
    resolution, the relay, a class of results; polled, as nothing is pushed."""
    return Capabilities(result_codes="classes", credit_resolution_kwh=resolution_kwh,
                        tid_memory=False, events="polled", lockout=False, key_register=(),
                        clock=False, relay_reason=False, confirms_keys=False)  # fmt: skip


# INFO fields a readback without test firmware cannot read (its `Identity.lacks`).
NO_FIRMWARE_LACKS = {
    **dict.fromkeys(("sgc", "ti", "krn", "kt", "ken", "base_date"), "the key register"),
    "tid_mem_depth": "the TID memory depth",
    "pan": "the meter number (PAN)",
}


class WithoutTestFirmware:
    """The readings only test firmware gives, refused as `NotReadable` (a mixin for the
    readbacks of a meter without a probe; each overrides what it can read after all)."""

    kind: str

    def _lacks(self, reading: str) -> NotReadable:
        return missing(self.kind, reading)

    def read_tid_memory(self) -> list[int]:
        raise self._lacks("the TID memory")

    def read_lockout(self) -> Mapping[str, bool | float | int]:
        raise self._lacks("the lockout state")

    def read_credit_status(self) -> CreditStatus:
        raise self._lacks("the low-credit warning and emergency credit")

    def read_token_log(self) -> list[TokenLogEntry]:
        raise self._lacks("the token log")

    def read_event_log(self) -> list[str]:
        raise self._lacks("the event log")

    def read_clock(self) -> datetime:
        raise self._lacks("the clock")

    def set_clock(self, when: datetime) -> None:
        raise self._lacks("(set) the clock")

    def confirm_key(self, key: str, deadline: float) -> bool:
        raise self._lacks("key presses (no KEY event)")


class Identity(dict[str, str]):
    """INFO-like identity fields. A field the readback cannot read at all (``lacks``: field
    -> what it is) raises `NotReadable` when asked for, by ``[]`` or ``get``, instead of
    passing for an empty reading."""

    def __init__(self, fields: Mapping[str, str], *, readback: str,
                 lacks: Mapping[str, str]) -> None:  # fmt: skip
        super().__init__(fields)
        self.readback, self.lacks = readback, dict(lacks)

    def __missing__(self, key: str) -> str:
        if key in self.lacks:
            raise missing(self.readback, self.lacks[key])
        raise KeyError(key)

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        if key not in self and key in self.lacks:
            raise missing(self.readback, self.lacks[key])
        return super().get(key, default)


@dataclass(frozen=True)
class TokenOutcome:
    """What the meter reported for one token.

    ``result_class`` is None when the readback saw the exact STS result; otherwise it is
    the class the readback saw (e.g. a DLMS token gateway's ``VALIDATION_FAILURE``), and
    ``result`` is only a stand-in (Accept for an accepted class, Reserved for a refusal):
    compare classes, never the code (`Readback.result_class`).
    """

    result: TokenResult
    tid: int | None
    token_class: int | None
    subclass: int | None
    amount: int | None
    elapsed_s: float  # from the first key (or TOKEN request) to the result
    result_class: str | None = None

    @property
    def exact(self) -> bool:
        return self.result_class is None

    @property
    def label(self) -> str:
        return self.result.label if self.result_class is None else self.result_class

    @classmethod
    def from_event(cls, event: Event, elapsed: float) -> TokenOutcome:
        def num(key: str) -> int | None:
            value = event.fields.get(key, "")
            return int(value) if value.isdigit() else None

        code = num("code")
        if code is None or code > 16:
            raise DeviceError(f"probe reported token result {event.fields.get('code')!r}")
        return cls(
            TokenResult(code), num("tid"), num("class"), num("subclass"), num("amount"), elapsed
        )


@runtime_checkable
class Readback(Protocol):
    """The readback role. ``kind`` names the driver (as the rig file does)."""

    kind: str
    capabilities: Capabilities

    def info(self) -> dict[str, str]:
        """The meter's identity (INFO-like fields: pan, firmware, credit_resolution_kwh...)."""
        ...

    def read_credit(self) -> float: ...

    def read_relay(self) -> tuple[bool, str]: ...

    def read_token_result(self) -> dict[str, int | str | None]: ...

    def read_tid_memory(self) -> list[int]: ...

    def read_lockout(self) -> Mapping[str, bool | float | int]: ...

    def read_credit_status(self) -> CreditStatus: ...

    def read_token_log(self) -> list[TokenLogEntry]: ...

    def read_event_log(self) -> list[str]: ...

    def read_clock(self) -> datetime: ...

    def set_clock(self, when: datetime) -> None: ...

    def result_class(self, result: TokenResult) -> str:
        """The class this readback would show for ``result`` (its label when exact)."""
        ...

    def mark(self) -> None:
        """From now on: what `wait_for` and `await_result` look for comes after this."""
        ...

    def wait_for(self, name: str, timeout_s: float, fields: dict[str, str] | None) -> Event:
        """An event after the last mark (pushed, or polled from readings); ReplyTimeout."""
        ...

    def await_result(self, start: float, timeout_s: float) -> TokenOutcome:
        """The meter's next settled token result after the last mark."""
        ...

    def wait_relay(self, closed: bool, timeout_s: float, poll_s: float) -> float | None: ...

    def confirm_key(self, key: str, deadline: float) -> bool:
        """The meter registered ``key`` by ``deadline`` (only with capabilities.confirms_keys)."""
        ...

    def reset_state(self) -> None:
        """Test firmware's RESET STATE (only with capabilities.reset)."""
        ...

    def close(self) -> None: ...


@dataclass
class PolledEvents:
    """Helper for polled readbacks: an evseq counter for the events they make up."""

    evseq: int = 0

    def event(self, name: str, **fields: str) -> Event:
        self.evseq += 1
        return Event(self.evseq, 0, name, dict(fields))

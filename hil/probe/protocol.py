"""Probe protocol framing (docs/probe-protocol.md). Pure: text in, text out.

Every line is ``<body>*<CRC>``: CRC is the STS CRC-16 routine (reflected 0xA001, init
0xFFFF) over the body's ASCII bytes, as 4 upper-case hex digits. Meter firmware already
carries that routine, and it lets both ends tell a garbled line from a real answer.

    request  <seq> <COMMAND> [args...]*CRC
    reply    <seq> OK [key=value ...]*CRC   or   <seq> ERR <code> <text>*CRC
    event    ! <evseq> <uptime_ms> <NAME> [key=value ...]*CRC
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hil.sts.crc import crc16_register

# The framing and the shared commands; the CIU readback's INFO still says 1
# (docs/split-meters.md), its commands did not change.
PROTOCOL_VERSION = 1
# The meter probe's INFO (docs/probe-protocol.md): 2 adds optional readings, a version 1 meter
# stays fully usable.
METER_PROTOCOL_VERSION = 2
MAX_LINE = 512
NOT_DECODED = "-"  # a token log field the meter did not decode (e.g. a CRC failure)


class FrameError(ValueError):
    """A line that is not a valid frame: bad checksum, bad shape, too long."""


# Error codes a probe replies with.
ERR_UNKNOWN_COMMAND = 1
ERR_BAD_ARGUMENT = 2
ERR_CHECKSUM = 3
ERR_BUSY = 4
ERR_NOT_SUPPORTED = 5
ERR_NOT_ALLOWED = 6


def checksum(body: str) -> str:
    return f"{crc16_register(body.encode('ascii', 'replace')):04X}"


def seal(body: str) -> str:
    """Append the checksum; the caller adds the line ending."""
    return f"{body}*{checksum(body)}"


def unseal(line: str) -> str:
    """The body of a received line, after checking its checksum."""
    line = line.strip("\r\n")
    if len(line) > MAX_LINE:
        raise FrameError(f"line longer than {MAX_LINE} characters")
    body, star, crc = line.rpartition("*")
    if not star:
        raise FrameError(f"no checksum in line {line[:60]!r}")
    if crc.upper() != checksum(body):
        raise FrameError(f"checksum mismatch in line {line[:60]!r}")
    return body


def format_fields(fields: dict[str, object]) -> str:
    """key=value pairs; values must not contain spaces (lists are comma-separated)."""
    parts = []
    for key, value in fields.items():
        if isinstance(value, bool):
            value = int(value)
        elif isinstance(value, list | tuple):
            value = ",".join(str(v) for v in value)
        text = str(value)
        if " " in text or "*" in text:
            raise ValueError(f"field {key} value {text!r} contains a space or '*'")
        parts.append(f"{key}={text}")
    return " ".join(parts)


def parse_fields(words: list[str]) -> dict[str, str]:
    fields = {}
    for word in words:
        key, eq, value = word.partition("=")
        if not eq or not key:
            raise FrameError(f"expected key=value, got {word!r}")
        fields[key] = value
    return fields


@dataclass(frozen=True, slots=True)
class Request:
    seq: int
    command: str  # upper case, e.g. "GET"
    args: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Reply:
    seq: int
    ok: bool
    fields: dict[str, str] = field(default_factory=dict)
    error_code: int = 0
    error_text: str = ""


@dataclass(frozen=True, slots=True)
class Event:
    evseq: int
    uptime_ms: int
    name: str
    fields: dict[str, str]


@dataclass(frozen=True, slots=True)
class TokenLogEntry:
    """One ``GET TOKEN_LOG`` entry, ``<code>/<class>/<subclass>/<tid>``; None where the meter
    did not decode the field (sent as ``-``)."""

    result: int | None
    token_class: int | None
    subclass: int | None
    tid: int | None

    def format(self) -> str:
        values = (self.result, self.token_class, self.subclass, self.tid)
        return "/".join(NOT_DECODED if v is None else str(v) for v in values)

    @classmethod
    def parse(cls, text: str) -> TokenLogEntry:
        parts = text.split("/")
        if len(parts) != 4 or not all(p == NOT_DECODED or _decimal(p) for p in parts):
            raise FrameError(f"token log entry {text!r}: expected <code>/<class>/<subclass>/<tid>")
        result, token_class, subclass, tid = (None if p == NOT_DECODED else int(p) for p in parts)
        return cls(result, token_class, subclass, tid)


def event_log_entry(name: str, detail: str = "") -> str:
    """One ``GET EVENT_LOG`` entry: the event name, then the detail's words after ``/``
    (``RELAY_CHANGED`` with ``open credit`` -> ``RELAY_CHANGED/open/credit``)."""
    entry = "/".join([name, *detail.split()])
    if any(c in entry for c in ", *") or not entry.isascii():
        raise ValueError(f"event log entry {entry!r}: no ',', ' ' or '*' allowed in a list value")
    return entry


def _decimal(text: str) -> bool:
    return text.isascii() and text.isdigit()


def parse_request(line: str) -> Request:
    words = unseal(line).split()
    if len(words) < 2 or not words[0].isdigit():
        raise FrameError("a request is '<seq> <COMMAND> [args]'")
    return Request(int(words[0]), words[1].upper(), tuple(words[2:]))


def format_request(seq: int, command: str, *args: str) -> str:
    return seal(" ".join([str(seq), command, *args]))


def format_reply(seq: int, fields: dict[str, object] | None = None) -> str:
    text = format_fields(fields or {})
    return seal(f"{seq} OK {text}".rstrip())


def format_error(seq: int, code: int, text: str) -> str:
    return seal(f"{seq} ERR {code} {text.replace('*', '')}")


def format_event(evseq: int, uptime_ms: int, name: str, fields: dict[str, object]) -> str:
    return seal(f"! {evseq} {uptime_ms} {name} {format_fields(fields)}".rstrip())


def parse_incoming(line: str) -> Reply | Event:
    """A line received by the host: a reply or an asynchronous event."""
    words = unseal(line).split()
    if words and words[0] == "!":
        if len(words) < 4 or not (words[1].isdigit() and words[2].isdigit()):
            raise FrameError("an event is '! <evseq> <uptime_ms> <NAME> [key=value ...]'")
        return Event(int(words[1]), int(words[2]), words[3], parse_fields(words[4:]))
    if len(words) < 2 or not words[0].isdigit():
        raise FrameError(f"a reply is '<seq> OK ...' or '<seq> ERR ...', got {words[:3]}")
    seq = int(words[0])
    if words[1] == "OK":
        return Reply(seq, True, parse_fields(words[2:]))
    if words[1] == "ERR" and len(words) >= 3 and words[2].isdigit():
        return Reply(seq, False, error_code=int(words[2]), error_text=" ".join(words[3:]))
    raise FrameError(f"reply status must be OK or ERR, got {words[1]!r}")

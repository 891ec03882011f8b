"""Application PDUs: the ACSE association (AARQ/AARE/RLRQ/RLRE, BER encoded) and the xDLMS
services with logical name referencing (GET, SET, ACTION, A-XDR encoded). Pure: bytes <-> objects.

What is covered (Green Book, IEC 62056-5-3):

* AARQ with the LN application context without ciphering, and either no authentication
  (lowest level) or low-level security (mechanism 1, a password); its xDLMS InitiateRequest.
* AARE: result, the ACSE diagnostic, and an InitiateResponse or a ConfirmedServiceError.
* GET-Request normal and next; GET-Response normal and with a data block (the long-GET of
  a value that does not fit one PDU).
* SET-Request / SET-Response normal; ACTION-Request / ACTION-Response normal.
* Exception-Response (what a meter sends for a request it cannot take at all).

Every request and response carries the invoke-id-and-priority byte as is (`invoke`): bits 0-3
the invoke id, bit 6 confirmed, bit 7 high priority; 0xC1 is what most clients send.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum, IntFlag
from typing import Any, ClassVar, Self

from hil.dlms import axdr
from hil.dlms.axdr import Data
from hil.dlms.errors import DecodeError, LocalProtocolError
from hil.dlms.obis import Obis

# Object identifiers, as their BER content bytes: {2 16 756 5 8 1 x} and {2 16 756 5 8 2 x}.
_OID_PREFIX_CONTEXT = bytes.fromhex("60857405080101")[:-1]
_OID_PREFIX_MECHANISM = bytes.fromhex("60857405080201")[:-1]


class ApplicationContext(IntEnum):
    LN = 1
    SN = 2
    LN_CIPHERED = 3
    SN_CIPHERED = 4


class Mechanism(IntEnum):
    LOWEST = 0  # no authentication
    LOW = 1  # password (LLS)
    HIGH = 2
    HIGH_MD5 = 3
    HIGH_SHA1 = 4
    HIGH_GMAC = 5
    HIGH_SHA256 = 6
    HIGH_ECDSA = 7


class Conformance(IntFlag):
    """The 24-bit conformance block; bit 0 of the standard is the most significant bit."""

    GENERAL_PROTECTION = 1 << 22
    GENERAL_BLOCK_TRANSFER = 1 << 21
    READ = 1 << 20
    WRITE = 1 << 19
    UNCONFIRMED_WRITE = 1 << 18
    ATTRIBUTE0_SET = 1 << 15
    PRIORITY_MGMT = 1 << 14
    ATTRIBUTE0_GET = 1 << 13
    BLOCK_TRANSFER_GET = 1 << 12
    BLOCK_TRANSFER_SET = 1 << 11
    BLOCK_TRANSFER_ACTION = 1 << 10
    MULTIPLE_REFERENCES = 1 << 9
    INFORMATION_REPORT = 1 << 8
    DATA_NOTIFICATION = 1 << 7
    ACCESS = 1 << 6
    PARAMETERIZED_ACCESS = 1 << 5
    GET = 1 << 4
    SET = 1 << 3
    SELECTIVE_ACCESS = 1 << 2
    EVENT_NOTIFICATION = 1 << 1
    ACTION = 1 << 0


# What this client proposes: LN services it can carry out, with long GET.
CLIENT_CONFORMANCE = (
    Conformance.GET
    | Conformance.SET
    | Conformance.ACTION
    | Conformance.SELECTIVE_ACCESS
    | Conformance.BLOCK_TRANSFER_GET
    | Conformance.PRIORITY_MGMT
)


class AssociationResult(IntEnum):
    ACCEPTED = 0
    REJECTED_PERMANENT = 1
    REJECTED_TRANSIENT = 2


class AcseDiagnostic(IntEnum):
    """acse-service-user diagnostics (the ones a meter gives for a refused association)."""

    NULL = 0
    NO_REASON_GIVEN = 1
    APPLICATION_CONTEXT_NAME_NOT_SUPPORTED = 2
    CALLING_AP_TITLE_NOT_RECOGNIZED = 3
    AUTHENTICATION_MECHANISM_NAME_NOT_RECOGNISED = 11
    AUTHENTICATION_MECHANISM_NAME_REQUIRED = 12
    AUTHENTICATION_FAILURE = 13
    AUTHENTICATION_REQUIRED = 14


class DataAccessResult(IntEnum):
    """Data-Access-Result; ACTION results share the numbers (15/16 name long-action there)."""

    SUCCESS = 0
    HARDWARE_FAULT = 1
    TEMPORARY_FAILURE = 2
    READ_WRITE_DENIED = 3
    OBJECT_UNDEFINED = 4
    OBJECT_CLASS_INCONSISTENT = 9
    OBJECT_UNAVAILABLE = 11
    TYPE_UNMATCHED = 12
    SCOPE_OF_ACCESS_VIOLATED = 13
    DATA_BLOCK_UNAVAILABLE = 14
    LONG_GET_ABORTED = 15
    NO_LONG_GET_IN_PROGRESS = 16
    LONG_SET_ABORTED = 17
    NO_LONG_SET_IN_PROGRESS = 18
    DATA_BLOCK_NUMBER_INVALID = 19
    OTHER_REASON = 250

    @classmethod
    def of(cls, code: int) -> DataAccessResult | int:
        """The member for `code`, or the bare int for a code this list does not name."""
        try:
            return cls(code)
        except ValueError:
            return code


class StateError(IntEnum):
    SERVICE_NOT_ALLOWED = 1
    SERVICE_UNKNOWN = 2


class ServiceError(IntEnum):
    OPERATION_NOT_POSSIBLE = 1
    SERVICE_NOT_SUPPORTED = 2
    OTHER_REASON = 3
    PDU_TOO_LONG = 4
    DECIPHERING_ERROR = 5
    INVOCATION_COUNTER_ERROR = 6


INVOKE_DEFAULT = 0xC1  # invoke id 1, confirmed, high priority


def invoke_byte(invoke_id: int, *, confirmed: bool = True, high_priority: bool = True) -> int:
    if not 0 <= invoke_id <= 15:
        raise LocalProtocolError(f"invoke id must be 0..15, got {invoke_id}")
    return invoke_id | (0x40 if confirmed else 0) | (0x80 if high_priority else 0)


# -- small readers ------------------------------------------------------------------------------


class _Reader:
    """A cursor over one APDU; every read checks the bytes are there."""

    __slots__ = ("buf", "pos", "what")

    def __init__(self, buf: bytes, what: str, pos: int = 0) -> None:
        self.buf, self.pos, self.what = buf, pos, what

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.buf):
            raise DecodeError(f"{self.what}: truncated ({len(self.buf)} bytes)")
        raw = self.buf[self.pos : end]
        self.pos = end
        return raw

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "big")

    def u32(self) -> int:
        return int.from_bytes(self.take(4), "big")

    def i8(self) -> int:
        return int.from_bytes(self.take(1), "big", signed=True)

    def data(self) -> Data:
        try:
            value, self.pos = axdr.decode(self.buf, self.pos)
        except DecodeError as exc:
            raise DecodeError(f"{self.what}: {exc}") from None
        return value

    def octets(self) -> bytes:
        n, self.pos = axdr.decode_length(self.buf, self.pos)
        return self.take(n)

    def end(self) -> None:
        if self.pos != len(self.buf):
            raise DecodeError(f"{self.what}: {len(self.buf) - self.pos} unexpected trailing bytes")


# -- BER (ACSE) ---------------------------------------------------------------------------------


def _ber_length(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    if n < 0x100:
        return bytes((0x81, n))
    if n < 0x10000:
        return bytes((0x82, n >> 8, n & 0xFF))
    raise LocalProtocolError(f"BER length {n} too large")


def _tlv(tag: int, content: bytes) -> bytes:
    return bytes((tag,)) + _ber_length(len(content)) + content


def _ber_items(buf: bytes, what: str) -> list[tuple[int, bytes]]:
    """The top-level (tag, content) pairs of a BER sequence body (single-byte tags only)."""
    items = []
    r = _Reader(buf, what)
    while r.pos < len(buf):
        tag = r.u8()
        if tag & 0x1F == 0x1F:
            raise DecodeError(f"{what}: multi-byte BER tag 0x{tag:02X} not supported")
        first = r.u8()
        if first < 0x80:
            n = first
        elif first in (0x81, 0x82):
            n = int.from_bytes(r.take(first & 0x7F), "big")
        else:
            raise DecodeError(f"{what}: bad BER length 0x{first:02X}")
        items.append((tag, r.take(n)))
    return items


def _ber_integer(content: bytes, what: str) -> int:
    """The value of an EXPLICIT-wrapped INTEGER (02 len value)."""
    items = _ber_items(content, what)
    if len(items) != 1 or items[0][0] != 0x02 or not items[0][1]:
        raise DecodeError(f"{what}: expected an INTEGER")
    return int.from_bytes(items[0][1], "big", signed=True)


def _context_oid(kind: ApplicationContext) -> bytes:
    return _OID_PREFIX_CONTEXT + bytes((kind,))


def _mechanism_oid(kind: Mechanism) -> bytes:
    return _OID_PREFIX_MECHANISM + bytes((kind,))


def _read_context(content: bytes, what: str) -> ApplicationContext:
    items = _ber_items(content, what)
    if len(items) != 1 or items[0][0] != 0x06:
        raise DecodeError(f"{what}: application-context-name is not an OBJECT IDENTIFIER")
    oid = items[0][1]
    if len(oid) != 7 or oid[:6] != _OID_PREFIX_CONTEXT:
        raise DecodeError(f"{what}: unknown application context {oid.hex()}")
    try:
        return ApplicationContext(oid[6])
    except ValueError:
        raise DecodeError(f"{what}: unknown application context id {oid[6]}") from None


def _read_mechanism(oid: bytes, what: str) -> Mechanism:
    if len(oid) != 7 or oid[:6] != _OID_PREFIX_MECHANISM:
        raise DecodeError(f"{what}: unknown authentication mechanism {oid.hex()}")
    try:
        return Mechanism(oid[6])
    except ValueError:
        raise DecodeError(f"{what}: unknown authentication mechanism id {oid[6]}") from None


def _read_auth_value(content: bytes, what: str) -> bytes:
    items = _ber_items(content, what)
    if len(items) != 1 or items[0][0] != 0x80:
        raise DecodeError(f"{what}: authentication value is not a charstring")
    return items[0][1]


def _read_user_information(content: bytes, what: str) -> bytes:
    items = _ber_items(content, what)
    if len(items) != 1 or items[0][0] != 0x04:
        raise DecodeError(f"{what}: user-information is not an OCTET STRING")
    return items[0][1]


_CONFORMANCE_TAG = b"\x5f\x1f\x04\x00"


def _read_conformance(r: _Reader) -> Conformance:
    if r.take(4) != _CONFORMANCE_TAG:
        raise DecodeError(f"{r.what}: conformance block missing")
    return Conformance(int.from_bytes(r.take(3), "big"))


def _conformance_bytes(value: int) -> bytes:
    return _CONFORMANCE_TAG + int(value).to_bytes(3, "big")


# -- xDLMS initiate ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InitiateRequest:
    conformance: Conformance = CLIENT_CONFORMANCE
    max_receive_pdu_size: int = 0xFFFF
    dlms_version: int = 6
    dedicated_key: bytes | None = None
    response_allowed: bool = True
    quality_of_service: int | None = None

    TAG: ClassVar[int] = 0x01

    def encode(self) -> bytes:
        out = bytearray((self.TAG,))
        if self.dedicated_key is None:
            out.append(0)
        else:
            out.append(1)
            axdr.encode_length(len(self.dedicated_key), out)
            out += self.dedicated_key
        out += b"\x00" if self.response_allowed else b"\x01\x00"  # DEFAULT TRUE: omitted
        out += b"\x00" if self.quality_of_service is None else bytes((1, self.quality_of_service))
        out.append(self.dlms_version)
        out += _conformance_bytes(self.conformance)
        out += self.max_receive_pdu_size.to_bytes(2, "big")
        return bytes(out)

    @classmethod
    def decode(cls, buf: bytes) -> Self:
        r = _Reader(buf, "InitiateRequest")
        if r.u8() != cls.TAG:
            raise DecodeError("InitiateRequest: wrong tag")
        key = r.octets() if r.u8() else None
        allowed = bool(r.u8()) if r.u8() else True
        qos = r.i8() if r.u8() else None
        version = r.u8()
        conformance = _read_conformance(r)
        size = r.u16()
        r.end()
        return cls(conformance, size, version, key, allowed, qos)


@dataclass(frozen=True, slots=True)
class InitiateResponse:
    conformance: Conformance
    max_receive_pdu_size: int
    dlms_version: int = 6
    vaa_name: int = 0x0007  # LN referencing
    quality_of_service: int | None = None

    TAG: ClassVar[int] = 0x08

    def encode(self) -> bytes:
        out = bytearray((self.TAG,))
        out += b"\x00" if self.quality_of_service is None else bytes((1, self.quality_of_service))
        out.append(self.dlms_version)
        out += _conformance_bytes(self.conformance)
        out += self.max_receive_pdu_size.to_bytes(2, "big")
        out += self.vaa_name.to_bytes(2, "big")
        return bytes(out)

    @classmethod
    def decode(cls, buf: bytes) -> Self:
        r = _Reader(buf, "InitiateResponse")
        if r.u8() != cls.TAG:
            raise DecodeError("InitiateResponse: wrong tag")
        qos = r.i8() if r.u8() else None
        version = r.u8()
        conformance = _read_conformance(r)
        size = r.u16()
        vaa = r.u16()
        r.end()
        return cls(conformance, size, version, vaa, qos)


@dataclass(frozen=True, slots=True)
class ConfirmedServiceError:
    """``0E service choice, error choice, value``: e.g. initiateError / initiate / dlms-version."""

    service: int  # 1 initiateError, 2 getStatus, ... 5 read, 6 write
    error: int  # ServiceError CHOICE tag: 6 initiate, 0 application-reference, ...
    value: int

    TAG: ClassVar[int] = 0x0E

    def encode(self) -> bytes:
        return bytes((self.TAG, self.service, self.error, self.value))

    @classmethod
    def decode(cls, buf: bytes) -> Self:
        r = _Reader(buf, "ConfirmedServiceError")
        if r.u8() != cls.TAG:
            raise DecodeError("ConfirmedServiceError: wrong tag")
        service, error, value = r.u8(), r.u8(), r.u8()
        r.end()
        return cls(service, error, value)


def _decode_initiate(buf: bytes) -> InitiateRequest | InitiateResponse | ConfirmedServiceError:
    if not buf:
        raise DecodeError("user-information is empty")
    kinds: dict[int, type[InitiateRequest | InitiateResponse | ConfirmedServiceError]] = {
        InitiateRequest.TAG: InitiateRequest,
        InitiateResponse.TAG: InitiateResponse,
        ConfirmedServiceError.TAG: ConfirmedServiceError,
    }
    kind = kinds.get(buf[0])
    if kind is None:
        raise DecodeError(f"user-information: unexpected xDLMS tag 0x{buf[0]:02X}")
    return kind.decode(buf)


# -- ACSE ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Aarq:
    """Association request. `password` set means low-level security (mechanism 1)."""

    initiate: InitiateRequest = field(default_factory=InitiateRequest)
    password: bytes | None = None
    context: ApplicationContext = ApplicationContext.LN
    mechanism: Mechanism | None = None  # derived from `password` when None

    TAG: ClassVar[int] = 0x60

    @property
    def authentication(self) -> Mechanism:
        if self.mechanism is not None:
            return self.mechanism
        return Mechanism.LOW if self.password is not None else Mechanism.LOWEST

    def encode(self) -> bytes:
        body = bytearray(_tlv(0xA1, _tlv(0x06, _context_oid(self.context))))
        mechanism = self.authentication
        if mechanism != Mechanism.LOWEST:
            body += b"\x8a\x02\x07\x80"  # sender-acse-requirements: authentication
            body += _tlv(0x8B, _mechanism_oid(mechanism))
            if self.password is not None:
                body += _tlv(0xAC, _tlv(0x80, self.password))
        body += _tlv(0xBE, _tlv(0x04, self.initiate.encode()))
        return _tlv(self.TAG, bytes(body))

    @classmethod
    def decode(cls, buf: bytes) -> Self:
        content = _outer(buf, cls.TAG, "AARQ")
        context: ApplicationContext | None = None
        mechanism: Mechanism | None = None
        password: bytes | None = None
        initiate: InitiateRequest | None = None
        for tag, value in _ber_items(content, "AARQ"):
            if tag == 0xA1:
                context = _read_context(value, "AARQ")
            elif tag == 0x8B:
                mechanism = _read_mechanism(value, "AARQ")
            elif tag == 0xAC:
                password = _read_auth_value(value, "AARQ")
            elif tag == 0xBE:
                inner = _decode_initiate(_read_user_information(value, "AARQ"))
                if not isinstance(inner, InitiateRequest):
                    raise DecodeError("AARQ: user-information is not an InitiateRequest")
                initiate = inner
            # other fields (AP titles, sender-acse-requirements) do not change what we do
        if context is None:
            raise DecodeError("AARQ: application-context-name missing")
        if initiate is None:
            raise DecodeError("AARQ: user-information (InitiateRequest) missing")
        return cls(initiate, password, context, mechanism)


@dataclass(frozen=True, slots=True)
class Aare:
    result: AssociationResult
    diagnostic: int = AcseDiagnostic.NULL
    user_information: InitiateResponse | ConfirmedServiceError | None = None
    context: ApplicationContext = ApplicationContext.LN
    diagnostic_provider: bool = False  # True: the diagnostic is acse-service-provider's
    mechanism: Mechanism | None = None

    TAG: ClassVar[int] = 0x61

    @property
    def accepted(self) -> bool:
        return self.result == AssociationResult.ACCEPTED

    def encode(self) -> bytes:
        body = bytearray(_tlv(0xA1, _tlv(0x06, _context_oid(self.context))))
        body += _tlv(0xA2, _tlv(0x02, bytes((self.result,))))
        choice = 0xA2 if self.diagnostic_provider else 0xA1
        body += _tlv(0xA3, _tlv(choice, _tlv(0x02, bytes((self.diagnostic,)))))
        if self.mechanism is not None and self.mechanism != Mechanism.LOWEST:
            body += b"\x88\x02\x07\x80"
            body += _tlv(0x89, _mechanism_oid(self.mechanism))
        if self.user_information is not None:
            body += _tlv(0xBE, _tlv(0x04, self.user_information.encode()))
        return _tlv(self.TAG, bytes(body))

    @classmethod
    def decode(cls, buf: bytes) -> Self:
        content = _outer(buf, cls.TAG, "AARE")
        context: ApplicationContext | None = None
        result: int | None = None
        diagnostic, provider = 0, False
        mechanism: Mechanism | None = None
        info: InitiateResponse | ConfirmedServiceError | None = None
        for tag, value in _ber_items(content, "AARE"):
            if tag == 0xA1:
                context = _read_context(value, "AARE")
            elif tag == 0xA2:
                result = _ber_integer(value, "AARE result")
            elif tag == 0xA3:
                inner = _ber_items(value, "AARE diagnostic")
                if len(inner) != 1 or inner[0][0] not in (0xA1, 0xA2):
                    raise DecodeError("AARE: result-source-diagnostic is malformed")
                provider = inner[0][0] == 0xA2
                diagnostic = _ber_integer(inner[0][1], "AARE diagnostic")
            elif tag == 0x89:
                mechanism = _read_mechanism(value, "AARE")
            elif tag == 0xBE:
                inner_apdu = _decode_initiate(_read_user_information(value, "AARE"))
                if isinstance(inner_apdu, InitiateRequest):
                    raise DecodeError("AARE: user-information holds an InitiateRequest")
                info = inner_apdu
        if context is None or result is None:
            raise DecodeError("AARE: application-context-name or result missing")
        try:
            outcome = AssociationResult(result)
        except ValueError:
            raise DecodeError(f"AARE: unknown association result {result}") from None
        return cls(outcome, diagnostic, info, context, provider, mechanism)


@dataclass(frozen=True, slots=True)
class Rlrq:
    reason: int | None = 0  # 0 normal, 1 urgent, 30 user-defined

    TAG: ClassVar[int] = 0x62

    def encode(self) -> bytes:
        body = b"" if self.reason is None else _tlv(0x80, bytes((self.reason,)))
        return _tlv(self.TAG, body)

    @classmethod
    def decode(cls, buf: bytes) -> Self:
        return cls(_release_reason(_outer(buf, cls.TAG, "RLRQ"), "RLRQ"))


@dataclass(frozen=True, slots=True)
class Rlre:
    reason: int | None = 0  # 0 normal, 1 not-finished, 30 user-defined

    TAG: ClassVar[int] = 0x63

    def encode(self) -> bytes:
        body = b"" if self.reason is None else _tlv(0x80, bytes((self.reason,)))
        return _tlv(self.TAG, body)

    @classmethod
    def decode(cls, buf: bytes) -> Self:
        return cls(_release_reason(_outer(buf, cls.TAG, "RLRE"), "RLRE"))


def _release_reason(content: bytes, what: str) -> int | None:
    for tag, value in _ber_items(content, what):
        if tag == 0x80 and len(value) == 1:
            return value[0]
    return None


def _outer(buf: bytes, tag: int, what: str) -> bytes:
    items = _ber_items(buf, what)
    if len(items) != 1 or items[0][0] != tag:
        raise DecodeError(f"{what}: not a single [APPLICATION {tag & 0x1F}] element")
    return items[0][1]


# -- descriptors --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AttributeDescriptor:
    class_id: int
    instance: Obis
    attribute: int

    def encode(self) -> bytes:
        return (
            self.class_id.to_bytes(2, "big")
            + self.instance.to_bytes()
            + self.attribute.to_bytes(1, "big", signed=True)
        )

    @classmethod
    def read(cls, r: _Reader) -> Self:
        return cls(r.u16(), Obis.from_bytes(r.take(6)), r.i8())

    def __str__(self) -> str:
        return f"{self.instance} attribute {self.attribute} (class {self.class_id})"


@dataclass(frozen=True, slots=True)
class MethodDescriptor:
    class_id: int
    instance: Obis
    method: int

    def encode(self) -> bytes:
        return (
            self.class_id.to_bytes(2, "big")
            + self.instance.to_bytes()
            + self.method.to_bytes(1, "big", signed=True)
        )

    @classmethod
    def read(cls, r: _Reader) -> Self:
        return cls(r.u16(), Obis.from_bytes(r.take(6)), r.i8())

    def __str__(self) -> str:
        return f"{self.instance} method {self.method} (class {self.class_id})"


@dataclass(frozen=True, slots=True)
class AccessSelection:
    selector: int
    parameters: Data


def _read_dar(r: _Reader) -> DataAccessResult | int:
    return DataAccessResult.of(r.u8())


# -- GET ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GetRequestNormal:
    descriptor: AttributeDescriptor
    access: AccessSelection | None = None
    invoke: int = INVOKE_DEFAULT

    TAG: ClassVar[bytes] = b"\xc0\x01"

    def encode(self) -> bytes:
        out = bytearray(self.TAG)
        out.append(self.invoke)
        out += self.descriptor.encode()
        if self.access is None:
            out.append(0)
        else:
            out += bytes((1, self.access.selector))
            out += self.access.parameters.encode()
        return bytes(out)

    @classmethod
    def read(cls, r: _Reader) -> Self:
        invoke = r.u8()
        descriptor = AttributeDescriptor.read(r)
        access = AccessSelection(r.u8(), r.data()) if r.u8() else None
        return cls(descriptor, access, invoke)


@dataclass(frozen=True, slots=True)
class GetRequestNext:
    block_number: int  # the last block the client received
    invoke: int = INVOKE_DEFAULT

    TAG: ClassVar[bytes] = b"\xc0\x02"

    def encode(self) -> bytes:
        return self.TAG + bytes((self.invoke,)) + self.block_number.to_bytes(4, "big")

    @classmethod
    def read(cls, r: _Reader) -> Self:
        invoke = r.u8()
        return cls(r.u32(), invoke)


@dataclass(frozen=True, slots=True)
class GetResponseNormal:
    result: Data | DataAccessResult | int  # Data, or the reason there is none
    invoke: int = INVOKE_DEFAULT

    TAG: ClassVar[bytes] = b"\xc4\x01"

    def encode(self) -> bytes:
        return self.TAG + bytes((self.invoke,)) + _get_data_result(self.result)

    @classmethod
    def read(cls, r: _Reader) -> Self:
        invoke = r.u8()
        return cls(r.data() if r.u8() == 0 else _read_dar(r), invoke)


@dataclass(frozen=True, slots=True)
class GetResponseWithBlock:
    """One block of a long GET: `raw` is a slice of the encoded Data (or the reason it stopped)."""

    last: bool
    block_number: int
    raw: bytes | DataAccessResult | int
    invoke: int = INVOKE_DEFAULT

    TAG: ClassVar[bytes] = b"\xc4\x02"

    def encode(self) -> bytes:
        out = bytearray(self.TAG)
        out.append(self.invoke)
        out.append(0x01 if self.last else 0x00)
        out += self.block_number.to_bytes(4, "big")
        if isinstance(self.raw, bytes):
            out.append(0)
            axdr.encode_length(len(self.raw), out)
            out += self.raw
        else:
            out += bytes((1, int(self.raw)))
        return bytes(out)

    @classmethod
    def read(cls, r: _Reader) -> Self:
        invoke = r.u8()
        last = r.u8() != 0
        number = r.u32()
        raw: bytes | DataAccessResult | int = r.octets() if r.u8() == 0 else _read_dar(r)
        return cls(last, number, raw, invoke)


def _get_data_result(result: Data | DataAccessResult | int) -> bytes:
    if isinstance(result, Data):
        return b"\x00" + result.encode()
    return bytes((1, int(result)))


# -- SET ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SetRequestNormal:
    descriptor: AttributeDescriptor
    value: Data
    access: AccessSelection | None = None
    invoke: int = INVOKE_DEFAULT

    TAG: ClassVar[bytes] = b"\xc1\x01"

    def encode(self) -> bytes:
        out = bytearray(self.TAG)
        out.append(self.invoke)
        out += self.descriptor.encode()
        if self.access is None:
            out.append(0)
        else:
            out += bytes((1, self.access.selector))
            out += self.access.parameters.encode()
        out += self.value.encode()
        return bytes(out)

    @classmethod
    def read(cls, r: _Reader) -> Self:
        invoke = r.u8()
        descriptor = AttributeDescriptor.read(r)
        access = AccessSelection(r.u8(), r.data()) if r.u8() else None
        return cls(descriptor, r.data(), access, invoke)


@dataclass(frozen=True, slots=True)
class SetResponseNormal:
    result: DataAccessResult | int
    invoke: int = INVOKE_DEFAULT

    TAG: ClassVar[bytes] = b"\xc5\x01"

    def encode(self) -> bytes:
        return self.TAG + bytes((self.invoke, int(self.result)))

    @classmethod
    def read(cls, r: _Reader) -> Self:
        invoke = r.u8()
        return cls(_read_dar(r), invoke)


# -- ACTION -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ActionRequestNormal:
    descriptor: MethodDescriptor
    parameters: Data | None = None
    invoke: int = INVOKE_DEFAULT

    TAG: ClassVar[bytes] = b"\xc3\x01"

    def encode(self) -> bytes:
        out = bytearray(self.TAG)
        out.append(self.invoke)
        out += self.descriptor.encode()
        if self.parameters is None:
            out.append(0)
        else:
            out.append(1)
            out += self.parameters.encode()
        return bytes(out)

    @classmethod
    def read(cls, r: _Reader) -> Self:
        invoke = r.u8()
        descriptor = MethodDescriptor.read(r)
        return cls(descriptor, r.data() if r.u8() else None, invoke)


@dataclass(frozen=True, slots=True)
class ActionResponseNormal:
    result: DataAccessResult | int
    return_data: Data | DataAccessResult | int | None = None
    invoke: int = INVOKE_DEFAULT

    TAG: ClassVar[bytes] = b"\xc7\x01"

    def encode(self) -> bytes:
        out = self.TAG + bytes((self.invoke, int(self.result)))
        if self.return_data is None:
            return out + b"\x00"
        return out + b"\x01" + _get_data_result(self.return_data)

    @classmethod
    def read(cls, r: _Reader) -> Self:
        invoke = r.u8()
        result = _read_dar(r)
        data: Data | DataAccessResult | int | None = None
        if r.u8():
            data = r.data() if r.u8() == 0 else _read_dar(r)
        return cls(result, data, invoke)


@dataclass(frozen=True, slots=True)
class ExceptionResponse:
    state_error: int
    service_error: int

    TAG: ClassVar[bytes] = b"\xd8"

    def encode(self) -> bytes:
        return self.TAG + bytes((self.state_error, self.service_error))

    @classmethod
    def read(cls, r: _Reader) -> Self:
        state = r.u8()
        service = r.u8()
        if r.pos < len(r.buf) and service == 6:  # invocation-counter-error carries its value
            r.take(4)
        return cls(state, service)


Apdu = (
    Aarq
    | Aare
    | Rlrq
    | Rlre
    | GetRequestNormal
    | GetRequestNext
    | GetResponseNormal
    | GetResponseWithBlock
    | SetRequestNormal
    | SetResponseNormal
    | ActionRequestNormal
    | ActionResponseNormal
    | ExceptionResponse
    | ConfirmedServiceError
)

# Any: each class has decode/read classmethods, which `type` cannot say.
_XDLMS: dict[bytes, Any] = {
    cls.TAG: cls
    for cls in (
        GetRequestNormal,
        GetRequestNext,
        GetResponseNormal,
        GetResponseWithBlock,
        SetRequestNormal,
        SetResponseNormal,
        ActionRequestNormal,
        ActionResponseNormal,
    )
}
_ACSE: dict[int, Any] = {cls.TAG: cls for cls in (Aarq, Aare, Rlrq, Rlre)}


def decode_apdu(buf: bytes | bytearray | memoryview) -> Apdu:
    """One whole APDU. Raises `DecodeError` for anything truncated, unknown or left over."""
    data = bytes(buf)
    if not data:
        raise DecodeError("empty APDU")
    first = data[0]
    acse = _ACSE.get(first)
    if acse is not None:
        return acse.decode(data)  # type: ignore[no-any-return]
    if first == ConfirmedServiceError.TAG:
        return ConfirmedServiceError.decode(data)
    if first == 0xD8:
        r = _Reader(data, "Exception-Response", 1)
        exc = ExceptionResponse.read(r)
        r.end()
        return exc
    kind = _XDLMS.get(data[:2])
    if kind is None:
        raise DecodeError(f"unsupported APDU {data[:2].hex(' ')} (tag 0x{first:02X})")
    r = _Reader(data, kind.__name__, 2)
    apdu = kind.read(r)
    r.end()
    return apdu  # type: ignore[no-any-return]

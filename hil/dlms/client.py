"""The client's application association, sans-IO: it makes request APDUs and judges the
responses; a driver moves the bytes (over `hil.dlms.wrapper` or `hil.dlms.hdlc`).

Rules this state machine enforces:

* One request at a time (DLMS clients on a meter link are half duplex in practice). A response
  must answer the pending request: same service, same invoke id.
* Nothing but AARQ before the association is accepted; nothing after release.
* A long GET (GET-Response-With-Datablock) is followed block by block: the session answers each
  block with `Continue` holding the GET-Request-Next to send; blocks must come in order, and the
  value is decoded once the last one is in. `max_long_get` bounds what a meter can make us hold.
* Requests larger than the meter's max receive PDU size, or for services the negotiated
  conformance leaves out, are refused here with a `LocalProtocolError` rather than sent.

Usage::

    session = ClientSession(password=b"12345678")
    send(session.associate()); result = session.receive(recv())   # Associated or Refused
    send(session.get(desc));   result = session.receive(recv())   # Result, or Continue(apdu)
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from hil.dlms import apdu as a
from hil.dlms import axdr
from hil.dlms.axdr import Data
from hil.dlms.errors import DecodeError, LocalProtocolError, RemoteProtocolError

_DIAGNOSTIC_TEXT = {
    a.AcseDiagnostic.NO_REASON_GIVEN: "no reason given",
    a.AcseDiagnostic.APPLICATION_CONTEXT_NAME_NOT_SUPPORTED: "application context not supported",
    a.AcseDiagnostic.AUTHENTICATION_MECHANISM_NAME_NOT_RECOGNISED: "authentication mechanism "
    "not recognised",
    a.AcseDiagnostic.AUTHENTICATION_MECHANISM_NAME_REQUIRED: "authentication mechanism required",
    a.AcseDiagnostic.AUTHENTICATION_FAILURE: "authentication failure (wrong password)",
    a.AcseDiagnostic.AUTHENTICATION_REQUIRED: "authentication required (no password given)",
}


@dataclass(frozen=True, slots=True)
class Associated:
    initiate: a.InitiateResponse


@dataclass(frozen=True, slots=True)
class AssociationRefused:
    aare: a.Aare

    @property
    def reason(self) -> str:
        diag = self.aare.diagnostic
        text = _DIAGNOSTIC_TEXT.get(diag, f"diagnostic {diag}")  # type: ignore[call-overload]
        if isinstance(self.aare.user_information, a.ConfirmedServiceError):
            err = self.aare.user_information
            text += f", xDLMS initiate error {err.error}/{err.value}"
        return f"{self.aare.result.name.lower().replace('_', '-')}: {text}"

    @property
    def authentication(self) -> bool:
        """True when the meter refused because of the password or its absence."""
        return self.aare.diagnostic in (
            a.AcseDiagnostic.AUTHENTICATION_FAILURE,
            a.AcseDiagnostic.AUTHENTICATION_REQUIRED,
            a.AcseDiagnostic.AUTHENTICATION_MECHANISM_NAME_REQUIRED,
        )


@dataclass(frozen=True, slots=True)
class Released:
    reason: int | None


@dataclass(frozen=True, slots=True)
class Result:
    """The answer to GET, SET or ACTION. `error` is None on success (then `value` may be set)."""

    target: str  # what was asked, for messages: "0-0:19.40.0.255 attribute 6 (class 115)"
    value: Data | None = None
    error: a.DataAccessResult | int | None = None
    blocks: int = 0  # data blocks of a long GET (0 for a normal response)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def error_name(self) -> str:
        if self.error is None:
            return "success"
        if isinstance(self.error, a.DataAccessResult):
            return self.error.name.lower().replace("_", "-")
        return f"result {self.error}"


@dataclass(frozen=True, slots=True)
class Continue:
    """Send `apdu` and feed the answer back: a long GET is under way."""

    apdu: bytes
    block_number: int


@dataclass(frozen=True, slots=True)
class ServiceRefused:
    """The meter answered with an Exception-Response or a confirmed service error."""

    target: str
    detail: str


Outcome = Associated | AssociationRefused | Released | Result | Continue | ServiceRefused


class _State(Enum):
    IDLE = "not associated"
    ASSOCIATING = "associating"
    ASSOCIATED = "associated"
    RELEASING = "releasing"


class ClientSession:
    def __init__(
        self,
        *,
        password: bytes | None = None,
        conformance: a.Conformance = a.CLIENT_CONFORMANCE,
        max_receive_pdu_size: int = 0xFFFF,
        max_long_get: int = 1 << 20,
    ) -> None:
        self.password = password
        self.conformance = conformance
        self.max_receive_pdu_size = max_receive_pdu_size
        self.max_long_get = max_long_get
        self.state = _State.IDLE
        self.negotiated: a.InitiateResponse | None = None
        self._invoke_id = 0
        self._pending: tuple[type, int, str] | None = None  # (response type, invoke, target)
        self._blocks = bytearray()
        self._block_number = 0

    @property
    def associated(self) -> bool:
        return self.state is _State.ASSOCIATED

    @property
    def busy(self) -> bool:
        return self._pending is not None

    def reset(self) -> None:
        """Forget the association (the link went down)."""
        self.state = _State.IDLE
        self.negotiated = None
        self._pending = None
        self._blocks.clear()

    # -- requests -------------------------------------------------------------------------------

    def associate(self) -> bytes:
        if self.state is not _State.IDLE:
            raise LocalProtocolError(f"cannot associate: session is {self.state.value}")
        initiate = a.InitiateRequest(self.conformance, self.max_receive_pdu_size)
        self.state = _State.ASSOCIATING
        self._pending = (a.Aare, -1, "association")
        return a.Aarq(initiate, self.password).encode()

    def release(self) -> bytes:
        self._need_associated("release")
        self.state = _State.RELEASING
        self._pending = (a.Rlre, -1, "release")
        return a.Rlrq(0).encode()

    def get(
        self, descriptor: a.AttributeDescriptor, access: a.AccessSelection | None = None
    ) -> bytes:
        self._need_service(a.Conformance.GET, "GET", descriptor)
        invoke = self._next_invoke()
        request = a.GetRequestNormal(descriptor, access, invoke)
        self._blocks.clear()
        self._block_number = 0
        return self._issue(request.encode(), a.GetResponseNormal, invoke, str(descriptor))

    def set(self, descriptor: a.AttributeDescriptor, value: Data) -> bytes:
        self._need_service(a.Conformance.SET, "SET", descriptor)
        invoke = self._next_invoke()
        request = a.SetRequestNormal(descriptor, value, None, invoke)
        return self._issue(request.encode(), a.SetResponseNormal, invoke, str(descriptor))

    def action(self, descriptor: a.MethodDescriptor, parameters: Data | None = None) -> bytes:
        self._need_service(a.Conformance.ACTION, "ACTION", descriptor)
        invoke = self._next_invoke()
        request = a.ActionRequestNormal(descriptor, parameters, invoke)
        return self._issue(request.encode(), a.ActionResponseNormal, invoke, str(descriptor))

    def abandon(self) -> None:
        """Stop waiting for the pending answer (its deadline passed); a late one is refused."""
        if self.state in (_State.ASSOCIATING, _State.RELEASING):
            self.state = _State.IDLE
        self._pending = None
        self._blocks.clear()

    def _next_invoke(self) -> int:
        self._invoke_id = self._invoke_id % 15 + 1  # 1..15: 0 is legal but some meters balk
        return a.invoke_byte(self._invoke_id)

    def _need_associated(self, what: str) -> None:
        if self.state is not _State.ASSOCIATED:
            raise LocalProtocolError(f"cannot {what}: session is {self.state.value}")
        if self._pending is not None:
            raise LocalProtocolError(f"cannot {what}: waiting for the answer to {self._pending[2]}")

    def _need_service(self, service: a.Conformance, what: str, target: object) -> None:
        self._need_associated(f"{what} {target}")
        if self.negotiated is not None and not self.negotiated.conformance & service:
            raise LocalProtocolError(
                f"cannot {what} {target}: the meter's conformance block leaves {what} out"
            )

    def _issue(self, request: bytes, response: type, invoke: int, target: str) -> bytes:
        limit = self.negotiated.max_receive_pdu_size if self.negotiated else 0
        if limit and len(request) > limit:
            raise LocalProtocolError(
                f"request for {target} is {len(request)} bytes; the meter takes at most {limit}"
            )
        self._pending = (response, invoke, target)
        return request

    # -- responses ------------------------------------------------------------------------------

    def receive(self, data: bytes) -> Outcome:
        """Judge one response APDU. Raises `RemoteProtocolError` for bytes that answer nothing."""
        if self._pending is None:
            raise RemoteProtocolError(f"unsolicited APDU {bytes(data[:8]).hex(' ')}")
        expected, invoke, target = self._pending
        pdu = a.decode_apdu(data)
        if isinstance(pdu, a.ExceptionResponse | a.ConfirmedServiceError):
            self._pending = None
            if self.state is _State.ASSOCIATING:
                self.state = _State.IDLE
            return ServiceRefused(target, _describe_refusal(pdu))
        if expected is a.Aare:
            return self._on_aare(pdu)
        if expected is a.Rlre:
            if not isinstance(pdu, a.Rlre):
                raise RemoteProtocolError(f"expected RLRE, got {type(pdu).__name__}")
            self.reset()
            return Released(pdu.reason)
        if expected is a.GetResponseNormal and isinstance(pdu, a.GetResponseWithBlock):
            return self._on_block(pdu, invoke, target)
        if not isinstance(pdu, expected):
            raise RemoteProtocolError(
                f"expected {expected.__name__} for {target}, got {type(pdu).__name__}"
            )
        self._check_invoke(pdu.invoke, invoke)  # type: ignore[union-attr]
        self._pending = None
        if isinstance(pdu, a.GetResponseNormal):
            if isinstance(pdu.result, Data):
                return Result(target, pdu.result)
            return Result(target, error=pdu.result)
        if isinstance(pdu, a.SetResponseNormal):
            return Result(target, error=_error(pdu.result))
        assert isinstance(pdu, a.ActionResponseNormal)
        if _error(pdu.result) is not None:
            return Result(target, error=pdu.result)
        if pdu.return_data is None or isinstance(pdu.return_data, Data):
            return Result(target, pdu.return_data)
        return Result(target, error=_error(pdu.return_data))

    def _on_aare(self, pdu: a.Apdu) -> Outcome:
        if not isinstance(pdu, a.Aare):
            raise RemoteProtocolError(f"expected AARE, got {type(pdu).__name__}")
        self._pending = None
        if not pdu.accepted:
            self.state = _State.IDLE
            return AssociationRefused(pdu)
        if not isinstance(pdu.user_information, a.InitiateResponse):
            self.state = _State.IDLE
            raise RemoteProtocolError("AARE accepted the association without an InitiateResponse")
        self.state = _State.ASSOCIATED
        self.negotiated = pdu.user_information
        return Associated(pdu.user_information)

    def _on_block(self, pdu: a.GetResponseWithBlock, invoke: int, target: str) -> Outcome:
        self._check_invoke(pdu.invoke, invoke)
        expected = self._block_number + 1
        if pdu.block_number != expected:
            self._pending = None
            self._blocks.clear()
            raise RemoteProtocolError(
                f"long GET of {target}: block {pdu.block_number} arrived, expected {expected}"
            )
        if not isinstance(pdu.raw, bytes):
            self._pending = None
            self._blocks.clear()
            return Result(target, error=pdu.raw, blocks=expected)
        self._blocks += pdu.raw
        self._block_number = expected
        if len(self._blocks) > self.max_long_get:
            self._pending = None
            self._blocks.clear()
            raise RemoteProtocolError(
                f"long GET of {target}: more than {self.max_long_get} bytes; giving up"
            )
        if not pdu.last:
            return Continue(a.GetRequestNext(expected, invoke).encode(), expected)
        self._pending = None
        raw = bytes(self._blocks)
        self._blocks.clear()
        try:
            value = axdr.decode_all(raw)
        except DecodeError as exc:
            raise DecodeError(f"long GET of {target}: {exc}") from None
        return Result(target, value, blocks=expected)

    def _check_invoke(self, got: int, sent: int) -> None:
        if got & 0x0F != sent & 0x0F:
            self._pending = None
            raise RemoteProtocolError(
                f"response invoke id {got & 0x0F} does not match the request's {sent & 0x0F}"
            )


def _error(code: a.DataAccessResult | int) -> a.DataAccessResult | int | None:
    return None if int(code) == 0 else code


def _describe_refusal(pdu: a.ExceptionResponse | a.ConfirmedServiceError) -> str:
    if isinstance(pdu, a.ExceptionResponse):
        try:
            state = a.StateError(pdu.state_error).name.lower().replace("_", "-")
        except ValueError:
            state = f"state-error {pdu.state_error}"
        try:
            service = a.ServiceError(pdu.service_error).name.lower().replace("_", "-")
        except ValueError:
            service = f"service-error {pdu.service_error}"
        return f"exception response: {state}, {service}"
    return f"confirmed service error {pdu.service}/{pdu.error}/{pdu.value}"

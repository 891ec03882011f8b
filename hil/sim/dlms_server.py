"""The meter side of DLMS/COSEM for the simulated bench (docs/dlms.md).

`DlmsServer` serves the prepayment objects of the generic map (`hil.dlms.cosem`) over a small
`PrepaidMeter` protocol, so any meter model can stand behind it: `InMemoryMeter` here, the
project's reference meter model later. It is pure apart from the clock value it is handed:

* `DlmsServer.session()` gives one association's APDU handler (`handle(apdu, at) -> apdu`);
* `wrapper_handler()` and `hdlc_handler()` give byte handlers for `hil.sim.transports`
  endpoints (the IEC 62056-47 wrapper on TCP, HDLC on a pty or a raw socket);
* `serve_tcp()` starts a wrapper endpoint on loopback.

Security: with `password` None any association is accepted (no authentication, or a password
it does not check); with a password, only low-level security with that password is. The
`refuse_associations` switch makes the meter refuse every AARQ (a bench fault to test with);
`conformance` is what it offers (leave ACTION out for a meter that cannot enter tokens).

GET answers that do not fit the client's PDU size (or `block_size`, when set) go out as a long
GET, block by block. All calls into the meter are serialised by one lock: every TCP client
thread shares the meter.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from hil.dlms import apdu as a
from hil.dlms import axdr, cosem, hdlc
from hil.dlms.axdr import Data
from hil.dlms.cosem import ClassId, ControlState, RelayState, TokenStatus, TokenStatusCode
from hil.dlms.errors import DecodeError, FrameError
from hil.dlms.obis import Obis
from hil.dlms.wrapper import WrapperReader, wrap
from hil.meter.model import CLOCK_START, MeterModel
from hil.meter.results import TokenResult
from hil.rig.readback.dlms import gateway_class
from hil.sim.transports import ByteHandler, Faults, TcpEndpoint

__all__ = [
    "DlmsServer",
    "GatewayState",
    "InMemoryMeter",
    "ModelMeter",
    "PrepaidMeter",
    "ServerSession",
]

SERVER_CONFORMANCE = (
    a.Conformance.GET
    | a.Conformance.SET
    | a.Conformance.ACTION
    | a.Conformance.SELECTIVE_ACCESS
    | a.Conformance.BLOCK_TRANSFER_GET
    | a.Conformance.PRIORITY_MGMT
)
LOGICAL_DEVICE = 1  # the management logical device: wPort / upper HDLC address


class PrepaidMeter(Protocol):
    """What the DLMS face needs from a meter. Credit in kWh; `at` is model time (seconds)."""

    def get_credit(self, at: float) -> float: ...

    def enter_token(self, digits: str, at: float) -> TokenStatus: ...

    def relay_state(self, at: float) -> RelayState: ...

    def clock(self, at: float) -> float:
        """The meter clock (UNIX seconds, UTC) at model time ``at``, as `MeterModel.clock`."""
        ...

    def set_clock(self, epoch_s: float, at: float) -> object:
        """Set the meter clock to ``epoch_s`` at model time ``at``, as `MeterModel.set_clock`."""
        ...


@dataclass(frozen=True)
class GatewayState:
    """The token gateway's view of the meter's last token, however it was entered (a meter
    that offers `gateway_state(at)` shows keypad tokens on the gateway too)."""

    status: TokenStatus
    at: float | None  # model time of the result; None: no token since start


class ModelMeter:
    """The reference meter model behind the DLMS face: the simulated bench's own
    `MeterModel`, so DLMS reads what the keypad and the probe act on.

    Every call holds ``lock`` (the bench's: the model sees one call at a time) and first
    runs ``sync(at)``, which brings the model and the bench around it up to model time
    ``at``. Credit is served to the Wh, rounded toward zero, as the register counts it.
    """

    def __init__(
        self, model: MeterModel, sync: Callable[[float], None], lock: threading.RLock
    ) -> None:
        self.model = model
        self._sync = sync
        self._lock = lock

    def get_credit(self, at: float) -> float:
        with self._lock:
            self._sync(at)
            return int(self.model.credit_wh) / 1000

    def enter_token(self, digits: str, at: float) -> TokenStatus:
        """Tokens through the gateway take the carrier path: decided after processing."""
        with self._lock:
            self._sync(at)
            self.model.submit_token(digits, at)
            return self.gateway_state(at).status

    def relay_state(self, at: float) -> RelayState:
        with self._lock:
            self._sync(at)
            closed = self.model.powered and self.model.relay_closed
        return RelayState(closed, ControlState.CONNECTED if closed else ControlState.DISCONNECTED)

    def clock(self, at: float) -> float:
        with self._lock:
            return self.model.clock(at)

    def set_clock(self, epoch_s: float, at: float) -> object:
        with self._lock:
            self._sync(at)
            return self.model.set_clock(epoch_s, at)

    def gateway_state(self, at: float) -> GatewayState:
        with self._lock:
            self._sync(at)
            last, processing = self.model.last_result, self.model.processing
        if processing:
            return GatewayState(TokenStatus(TokenStatusCode.RECEIVED), last.at if last else None)
        if last is None:
            return GatewayState(TokenStatus(TokenStatusCode.FORMAT_OK), None)
        return GatewayState(TokenStatus(status_for_sts_result(int(last.result))), last.at)


class InMemoryMeter:
    """A stand-in meter: a credit register, a relay that follows it, and scripted tokens.

    `tokens` maps 20 digits to the kWh they add. A known token is accepted once; again it is a
    validation failure (Used/Old look alike through the gateway); an unknown token fails
    authentication (as one for another meter or key would); anything but 20 digits fails format.
    """

    def __init__(
        self,
        credit_kwh: float = 0.0,
        tokens: dict[str, float] | None = None,
        *,
        clock_start: float = CLOCK_START,
    ) -> None:
        self.credit_kwh = credit_kwh
        self.tokens = dict(tokens or {})
        self.used: set[str] = set()
        self.entered: list[tuple[float, str]] = []
        self._clock_base = float(clock_start)  # the meter clock (epoch s) at model time 0

    def clock(self, at: float) -> float:
        return self._clock_base + at

    def set_clock(self, epoch_s: float, at: float) -> list[object]:
        self._clock_base = float(epoch_s) - at
        return []  # no events: a stand-in has no relay rule on the clock

    def get_credit(self, at: float) -> float:
        return self.credit_kwh

    def enter_token(self, digits: str, at: float) -> TokenStatus:
        self.entered.append((at, digits))
        if len(digits) != 20 or not digits.isdigit():
            return TokenStatus(TokenStatusCode.FORMAT_FAILURE)
        if digits not in self.tokens:
            return TokenStatus(TokenStatusCode.AUTHENTICATION_FAILURE)
        if digits in self.used:
            return TokenStatus(TokenStatusCode.VALIDATION_FAILURE)
        self.used.add(digits)
        self.credit_kwh += self.tokens[digits]
        return TokenStatus(TokenStatusCode.EXECUTION_OK)

    def relay_state(self, at: float) -> RelayState:
        closed = self.credit_kwh > 0
        return RelayState(closed, ControlState.CONNECTED if closed else ControlState.DISCONNECTED)


# -- the object model ---------------------------------------------------------------------------

Getter = Callable[[float], Data]
Setter = Callable[[Data, float], a.DataAccessResult]
Method = Callable[[Data | None, float], tuple[a.DataAccessResult, Data | None]]


@dataclass
class _Object:
    class_id: int
    obis: Obis
    version: int = 0
    getters: dict[int, Getter] = field(default_factory=dict)
    setters: dict[int, Setter] = field(default_factory=dict)
    methods: dict[int, Method] = field(default_factory=dict)


CREDIT_SCALE = -3  # credit is served in Wh: value x 10^-3 kWh
LOW_CREDIT_KWH = 5.0


class DlmsServer:
    def __init__(
        self,
        meter: PrepaidMeter,
        *,
        password: bytes | None = None,
        rtc_start: datetime | None = None,
        block_size: int | None = None,
        max_receive_pdu_size: int = 1024,
        token_processing_s: float = 0.0,
        delivery_method: cosem.DeliveryMethod = cosem.DeliveryMethod.REMOTE,
        device_name: str = "HILSIM0000000001",
        conformance: a.Conformance = SERVER_CONFORMANCE,
    ) -> None:
        self.meter = meter
        self.conformance = conformance  # what the meter offers (less: a meter without ACTION)
        self.password = password
        self.block_size = block_size
        self.max_receive_pdu_size = max_receive_pdu_size
        self.token_processing_s = token_processing_s
        self.delivery_method = delivery_method
        self.device_name = device_name
        self.refuse_associations = False
        self.lock = threading.RLock()
        if rtc_start is not None:  # the meter's clock at model time 0; it keeps the time
            meter.set_clock(rtc_start.timestamp(), 0.0)
        self._last_token = b""
        self._token_at: float | None = None
        self._token_status = TokenStatus(TokenStatusCode.FORMAT_OK)
        self._status_visible_at = 0.0
        self.objects = {(o.class_id, o.obis): o for o in self._build()}

    # -- faces ----------------------------------------------------------------------------------

    def session(self) -> ServerSession:
        return ServerSession(self)

    def wrapper_handler(self) -> ByteHandler:
        """A byte handler for one TCP client speaking the wrapper."""
        return _WrapperHandler(self)

    def hdlc_handler(self, *, address: hdlc.HdlcAddress | None = None) -> ByteHandler:
        """A byte handler speaking HDLC (a pty, or a raw socket like an HDLC-over-TCP modem)."""
        return _HdlcHandler(self, address)

    def serve_tcp(
        self, *, host: str = "127.0.0.1", port: int = 0, faults: Faults | None = None, **kw: Any
    ) -> TcpEndpoint:
        """A wrapper endpoint on `host`; ``endpoint.port`` tells the port it got."""
        return TcpEndpoint(self.wrapper_handler, host=host, port=port, faults=faults, **kw)

    def serve_hdlc_tcp(
        self, *, host: str = "127.0.0.1", port: int = 0, faults: Faults | None = None, **kw: Any
    ) -> TcpEndpoint:
        """HDLC frames over a raw TCP socket (``socket://`` for pyserial)."""
        return TcpEndpoint(self.hdlc_handler, host=host, port=port, faults=faults, **kw)

    # -- objects --------------------------------------------------------------------------------

    def clock(self, at: float) -> datetime:
        """The meter's clock, as the DLMS clock object serves it."""
        return datetime.fromtimestamp(self.meter.clock(at), UTC)

    def _build(self) -> list[_Object]:
        def const(value: Data) -> Getter:
            return lambda at: value

        credit_wh = lambda at: round(self.meter.get_credit(at) * 1000)  # noqa: E731
        account = _Object(ClassId.ACCOUNT, cosem.ACCOUNT)
        account.getters.update(
            {
                2: const(axdr.structure(axdr.enum(2), axdr.enum(2))),  # prepayment, active
                3: const(axdr.u8(0)),
                4: lambda at: axdr.bits(_credit_status(self.meter.get_credit(at))),
                5: lambda at: axdr.i32(credit_wh(at)),
                15: const(axdr.structure(axdr.visible("kWh"), axdr.i8(CREDIT_SCALE), axdr.enum(1))),
            }
        )
        credit = _Object(ClassId.CREDIT, cosem.CREDIT)
        credit.getters.update(
            {
                2: lambda at: axdr.i32(credit_wh(at)),
                3: const(axdr.enum(0)),  # token credit
                4: const(axdr.u8(1)),
                8: lambda at: axdr.enum(3 if self.meter.get_credit(at) > 0 else 4),
            }
        )
        gateway = _Object(ClassId.TOKEN_GATEWAY, cosem.TOKEN_GATEWAY)
        gateway.getters.update(
            {
                2: lambda at: axdr.octets(self._last_token),
                3: self._token_time,
                4: const(axdr.array()),
                5: lambda at: axdr.enum(self.delivery_method),
                6: self._token_status_value,
            }
        )
        gateway.setters[2] = self._set_token
        gateway.methods[1] = self._enter_method
        disconnect = _Object(ClassId.DISCONNECT_CONTROL, cosem.DISCONNECT_CONTROL)
        disconnect.getters.update(
            {
                2: lambda at: axdr.boolean(self.meter.relay_state(at).closed),
                3: lambda at: axdr.enum(int(self.meter.relay_state(at).control)),
            }
        )
        # The payment function owns the relay: remote disconnect/reconnect are refused.
        refuse: Method = lambda params, at: (a.DataAccessResult.READ_WRITE_DENIED, None)  # noqa: E731
        disconnect.methods.update({1: refuse, 2: refuse})
        clock = _Object(ClassId.CLOCK, cosem.CLOCK)
        clock.getters.update(
            {
                2: lambda at: axdr.octets(
                    axdr.DateTime.from_datetime(self.clock(at), status=0).to_bytes()
                ),
                3: const(axdr.i16(0)),
                4: const(axdr.u8(0)),
            }
        )
        name = _Object(ClassId.DATA, cosem.LOGICAL_DEVICE_NAME)
        name.getters[2] = const(axdr.octets(self.device_name.encode("ascii")))
        association = _Object(ClassId.ASSOCIATION_LN, cosem.ASSOCIATION_LN, version=1)
        association.getters[2] = lambda at: self._object_list()
        objects = [account, credit, gateway, disconnect, clock, name, association]
        for obj in objects:
            obj.getters[1] = const(axdr.octets(obj.obis.to_bytes()))
        return objects

    def _object_list(self) -> Data:
        entries = []
        for obj in self.objects.values():
            attributes = [
                axdr.structure(
                    axdr.i8(attr),
                    axdr.enum(
                        (1 if attr in obj.getters else 0) | (2 if attr in obj.setters else 0)
                    ),
                    axdr.null(),
                )
                for attr in sorted(set(obj.getters) | set(obj.setters))
            ]
            methods = [axdr.structure(axdr.i8(m), axdr.enum(1)) for m in sorted(obj.methods)]
            entries.append(
                axdr.structure(
                    axdr.u16(obj.class_id),
                    axdr.u8(obj.version),
                    axdr.octets(obj.obis.to_bytes()),
                    axdr.structure(axdr.array(*attributes), axdr.array(*methods)),
                )
            )
        return axdr.array(*entries)

    def _gateway(self, at: float) -> GatewayState | None:
        """The meter's own gateway view, where it offers one (`ModelMeter`)."""
        view = getattr(self.meter, "gateway_state", None)
        return None if view is None else view(at)

    def _token_time(self, at: float) -> Data:
        view = self._gateway(at)
        token_at = self._token_at if view is None else view.at
        if token_at is None:
            return axdr.octets(axdr.DateTime(0xFFFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF).to_bytes())
        stamp = axdr.DateTime.from_datetime(self.clock(token_at), status=0)
        return axdr.octets(stamp.to_bytes())

    def _token_status_value(self, at: float) -> Data:
        view = self._gateway(at)
        status = self._token_status if view is None else view.status
        if at < self._status_visible_at:  # still "processing" for a client that asks early
            status = TokenStatus(TokenStatusCode.RECEIVED)
        return axdr.structure(axdr.enum(int(status.code)), axdr.bits(status.bits))

    def _take_token(self, value: Data | None, at: float) -> a.DataAccessResult:
        if value is None or value.type is not axdr.DataType.OCTET_STRING:
            return a.DataAccessResult.TYPE_UNMATCHED
        raw = value.value
        assert isinstance(raw, bytes)
        digits = cosem.unpack_token(raw)
        self._last_token = raw
        self._token_at = at
        if digits is None:  # neither 10 BCD bytes nor 20 ASCII digits: the meter's format check
            self._token_status = TokenStatus(TokenStatusCode.FORMAT_FAILURE)
        else:
            self._token_status = self.meter.enter_token(digits, at)
        self._status_visible_at = at + self.token_processing_s
        return a.DataAccessResult.SUCCESS

    def _enter_method(self, params: Data | None, at: float) -> tuple[a.DataAccessResult, None]:
        return self._take_token(params, at), None

    def _set_token(self, value: Data, at: float) -> a.DataAccessResult:
        return self._take_token(value, at)


def _credit_status(kwh: float) -> str:
    """Account attribute 4: bit 0 in credit, 1 low credit, 6 out of credit (Blue Book order)."""
    flags = ["0"] * 8
    if kwh > 0:
        flags[0] = "1"
        if kwh < LOW_CREDIT_KWH:
            flags[1] = "1"
    else:
        flags[6] = "1"
    return "".join(flags)


# -- one association ----------------------------------------------------------------------------


class ServerSession:
    """One client's association: AARQ first, then GET/SET/ACTION, long GETs block by block."""

    def __init__(self, server: DlmsServer) -> None:
        self.server = server
        self.associated = False
        self.client_pdu_size = server.max_receive_pdu_size
        self.conformance = a.Conformance(0)
        self._long_get: tuple[int, list[bytes], int] | None = None  # invoke, blocks, sent
        self.refused = 0

    def handle(self, data: bytes, at: float) -> bytes | None:
        try:
            pdu = a.decode_apdu(data)
        except DecodeError:
            self.refused += 1
            return a.ExceptionResponse(
                a.StateError.SERVICE_UNKNOWN, a.ServiceError.SERVICE_NOT_SUPPORTED
            ).encode()
        with self.server.lock:
            return self._dispatch(pdu, at)

    def _dispatch(self, pdu: a.Apdu, at: float) -> bytes | None:
        if isinstance(pdu, a.Aarq):
            return self._associate(pdu).encode()
        if isinstance(pdu, a.Rlrq):
            self.associated = False
            self._long_get = None
            return a.Rlre(0).encode()
        if not self.associated:
            self.refused += 1
            return a.ExceptionResponse(
                a.StateError.SERVICE_NOT_ALLOWED, a.ServiceError.OPERATION_NOT_POSSIBLE
            ).encode()
        if isinstance(pdu, a.GetRequestNext):
            return self._next_block(pdu)
        self._long_get = None  # any other request ends a long GET
        if isinstance(pdu, a.GetRequestNormal):
            return self._get(pdu, at)
        if isinstance(pdu, a.SetRequestNormal):
            return a.SetResponseNormal(self._set(pdu, at), pdu.invoke).encode()
        if isinstance(pdu, a.ActionRequestNormal):
            return self._action(pdu, at)
        self.refused += 1
        return a.ExceptionResponse(
            a.StateError.SERVICE_UNKNOWN, a.ServiceError.SERVICE_NOT_SUPPORTED
        ).encode()

    def _associate(self, aarq: a.Aarq) -> a.Aare:
        server = self.server

        def refuse(diagnostic: a.AcseDiagnostic) -> a.Aare:
            self.associated = False
            return a.Aare(a.AssociationResult.REJECTED_PERMANENT, diagnostic)

        if server.refuse_associations:
            return refuse(a.AcseDiagnostic.NO_REASON_GIVEN)
        if aarq.context is not a.ApplicationContext.LN:
            return refuse(a.AcseDiagnostic.APPLICATION_CONTEXT_NAME_NOT_SUPPORTED)
        mechanism = aarq.authentication
        if mechanism not in (a.Mechanism.LOWEST, a.Mechanism.LOW):
            return refuse(a.AcseDiagnostic.AUTHENTICATION_MECHANISM_NAME_NOT_RECOGNISED)
        if server.password is not None:
            if mechanism is a.Mechanism.LOWEST:
                return refuse(a.AcseDiagnostic.AUTHENTICATION_REQUIRED)
            if aarq.password != server.password:
                return refuse(a.AcseDiagnostic.AUTHENTICATION_FAILURE)
        initiate = aarq.initiate
        if initiate.dlms_version < 6:
            error = a.ConfirmedServiceError(1, 6, 1)  # initiateError, initiate, version too low
            return a.Aare(a.AssociationResult.REJECTED_PERMANENT, 1, error)
        self.conformance = a.Conformance(initiate.conformance & server.conformance)
        self.client_pdu_size = min(initiate.max_receive_pdu_size or 0xFFFF, 0xFFFF)
        self.associated = True
        self._long_get = None
        response = a.InitiateResponse(self.conformance, server.max_receive_pdu_size)
        return a.Aare(a.AssociationResult.ACCEPTED, 0, response, mechanism=mechanism)

    def _find(self, class_id: int, obis: Obis) -> _Object | a.DataAccessResult:
        obj = self.server.objects.get((class_id, obis))
        if obj is not None:
            return obj
        if any(key[1] == obis for key in self.server.objects):
            return a.DataAccessResult.OBJECT_CLASS_INCONSISTENT
        return a.DataAccessResult.OBJECT_UNDEFINED

    def _get(self, pdu: a.GetRequestNormal, at: float) -> bytes:
        desc = pdu.descriptor
        obj = self._find(desc.class_id, desc.instance)
        if not isinstance(obj, _Object):
            return a.GetResponseNormal(obj, pdu.invoke).encode()
        getter = obj.getters.get(desc.attribute)
        if getter is None:
            denied = desc.attribute in obj.setters
            result = (
                a.DataAccessResult.READ_WRITE_DENIED
                if denied
                else a.DataAccessResult.OBJECT_UNAVAILABLE
            )
            return a.GetResponseNormal(result, pdu.invoke).encode()
        if pdu.access is not None:
            return a.GetResponseNormal(a.DataAccessResult.OTHER_REASON, pdu.invoke).encode()
        value = getter(at).encode()
        whole = b"\xc4\x01" + bytes((pdu.invoke, 0)) + value  # GET-Response-Normal with data
        limit = self.client_pdu_size
        if self.server.block_size is not None:
            limit = min(limit, self.server.block_size + 12)  # 12: the block header
        if len(whole) <= limit or not self.conformance & a.Conformance.BLOCK_TRANSFER_GET:
            return whole
        size = max(1, limit - 12)
        blocks = [value[i : i + size] for i in range(0, len(value), size)]
        self._long_get = (pdu.invoke, blocks, 1)
        return a.GetResponseWithBlock(len(blocks) == 1, 1, blocks[0], pdu.invoke).encode()

    def _next_block(self, pdu: a.GetRequestNext) -> bytes:
        if self._long_get is None:
            return a.GetResponseWithBlock(
                True, pdu.block_number, a.DataAccessResult.NO_LONG_GET_IN_PROGRESS, pdu.invoke
            ).encode()
        invoke, blocks, sent = self._long_get
        if pdu.block_number != sent:
            self._long_get = None
            return a.GetResponseWithBlock(
                True, pdu.block_number, a.DataAccessResult.DATA_BLOCK_NUMBER_INVALID, invoke
            ).encode()
        number = sent + 1
        last = number == len(blocks)
        self._long_get = None if last else (invoke, blocks, number)
        return a.GetResponseWithBlock(last, number, blocks[number - 1], invoke).encode()

    def _set(self, pdu: a.SetRequestNormal, at: float) -> a.DataAccessResult:
        desc = pdu.descriptor
        obj = self._find(desc.class_id, desc.instance)
        if not isinstance(obj, _Object):
            return obj
        setter = obj.setters.get(desc.attribute)
        if setter is None:
            known = desc.attribute in obj.getters
            return (
                a.DataAccessResult.READ_WRITE_DENIED
                if known
                else a.DataAccessResult.OBJECT_UNAVAILABLE
            )
        return setter(pdu.value, at)

    def _action(self, pdu: a.ActionRequestNormal, at: float) -> bytes:
        desc = pdu.descriptor
        obj = self._find(desc.class_id, desc.instance)
        if not isinstance(obj, _Object):
            return a.ActionResponseNormal(obj, None, pdu.invoke).encode()
        method = obj.methods.get(desc.method)
        if method is None:
            return a.ActionResponseNormal(
                a.DataAccessResult.OBJECT_UNAVAILABLE, None, pdu.invoke
            ).encode()
        result, data = method(pdu.parameters, at)
        return a.ActionResponseNormal(result, data, pdu.invoke).encode()


# -- byte handlers ------------------------------------------------------------------------------


class _WrapperHandler:
    """One TCP client: wrapper frames in, wrapper frames out. A bad header drops the buffer."""

    def __init__(self, server: DlmsServer) -> None:
        self.session = server.session()
        self.reader = WrapperReader()
        self.bad_frames = 0

    def __call__(self, data: bytes, at: float) -> bytes:
        try:
            frames = self.reader.feed(data)
        except FrameError:
            self.bad_frames += 1
            return b""
        out = bytearray()
        for frame in frames:
            if frame.destination != LOGICAL_DEVICE:
                continue  # no such logical device: a real meter stays silent too
            reply = self.session.handle(frame.apdu, at)
            if reply is not None:
                out += wrap(frame.destination, frame.source, reply)
        return bytes(out)


class _HdlcHandler:
    """HDLC link plus association. SNRM and DISC end the association, as IEC 62056-46 says."""

    def __init__(self, server: DlmsServer, address: hdlc.HdlcAddress | None) -> None:
        self.server = server
        self.link = hdlc.HdlcServer(
            server=address or hdlc.server_address(LOGICAL_DEVICE),
            params=hdlc.HdlcParameters(512, 512),
        )
        self.session = server.session()

    def __call__(self, data: bytes, at: float) -> bytes:
        self.link.receive_data(data)
        while (event := self.link.next_event()) is not None:
            if isinstance(event, hdlc.Connected | hdlc.Disconnected):
                self.session = self.server.session()
            elif isinstance(event, hdlc.Information):
                reply = self.session.handle(event.data, at)
                if reply is not None:
                    self.link.send(reply)
        return self.link.data_to_send()


def status_for_sts_result(code: int) -> TokenStatusCode:
    """How a meter would fold an STS token result (hil.meter.results) into gateway status.

    A plausible mapping, not a normative one (makers differ): accepted results execute, CRC and
    format errors fail the format check, key and manufacturer mismatches fail authentication,
    the TID, range and key-expiry checks fail validation, and the rest fail execution.
    """
    return gateway_class(TokenResult(code))  # the readback driver's folding, served

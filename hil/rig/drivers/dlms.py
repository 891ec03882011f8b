"""The harness side of DLMS/COSEM (docs/dlms.md): token entry and readback of a prepaid meter.

`DlmsClient` owns one connection and one application association, from `open` to `close`:

* ``tcp://host:port``: the IEC 62056-47 wrapper over TCP (port 4059 by convention);
* any other pyserial URL (``/dev/ttyUSB0``, ``socket://host:port``, ``rfc2217://...``, a pty
  path): HDLC (IEC 62056-46), e.g. behind an optical head already switched to mode E, or an
  RS-485 line.

The codec (`hil.dlms`) judges the bytes; this module only moves them, keeps the deadlines and
turns every failure into a one-line harness error naming the object or the step and the fix:
silence -> `ReplyTimeout`; bytes that are not DLMS -> `GarbledReply`; a refused association or
an error answer -> `DlmsRefused` (a `DeviceError`); no connection -> `DeviceAbsent`.

Requests are synchronous, one at a time (a lock serialises callers). Token entry (ACTION on the
token gateway) is sent exactly once and never retried: a repeat could be a replay. Reads are
not retried either; over HDLC a late answer is asked for again once with RR, which costs the
meter nothing.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol, Self
from urllib.parse import urlsplit

import serial

from hil.closing import Closing
from hil.dlms import apdu as a
from hil.dlms import axdr, cosem, hdlc
from hil.dlms.axdr import Data, DataType
from hil.dlms.client import (
    Associated,
    AssociationRefused,
    ClientSession,
    Continue,
    Outcome,
    Released,
    Result,
    ServiceRefused,
)
from hil.dlms.cosem import ClassId, ControlState, ObjectMap, RelayState, TokenStatus
from hil.dlms.errors import FrameError, LocalProtocolError, RemoteProtocolError
from hil.dlms.obis import Obis
from hil.dlms.wrapper import WrapperReader, wrap
from hil.errors import DeviceAbsent, DeviceError, GarbledReply, ReplyTimeout
from hil.rig.drivers.serial_port import open_serial

__all__ = ["DlmsClient", "DlmsRefused", "LinkStats"]

_READ_CHUNK = 4096
# Gateway codes that mean "not finished yet": received, format/authentication/validation OK.
_IN_PROGRESS = frozenset({8, 0, 1, 2})
_POLL_S = 0.05  # serial read timeout: bounds each wait so deadlines hold


class DlmsRefused(DeviceError):
    """The meter refused the association or answered a request with an error.

    `step` names what was refused ("association", "GET 0-0:19.40.0.255 attribute 6 (class
    115)"), `reason` the meter's own words (a data-access result, an ACSE diagnostic).
    """

    def __init__(self, message: str, *, step: str, reason: str) -> None:
        super().__init__(message)
        self.step = step
        self.reason = reason


@dataclass(slots=True)
class LinkStats:
    """Health of the link, for reports."""

    requests: int = 0
    blocks: int = 0  # data blocks of long GETs
    bad_frames: int = 0  # HDLC frames with a bad FCS/HCS, and bytes outside frames
    ignored: int = 0  # frames that did not count (repeats, other stations)
    polls: int = 0  # RRs sent to ask for a late answer again


Transport = Literal["auto", "wrapper", "hdlc"]


class DlmsClient(Closing):
    """One prepaid meter over DLMS/COSEM.

    `client_sap` 16 is the public client, 1 the management client; `server_logical` the logical
    device (1 management) and `server_physical` the lower HDLC address (None: a one-byte server
    address). `password` selects low-level security (the rig takes it from its secrets); None
    associates without authentication. `object_map` says where this model keeps its objects.
    `timeout_s` bounds each exchange; `token_timeout_s` how long `enter_token` waits for the
    gateway to settle. The connection opens in the constructor unless `connect` is False.
    """

    def __init__(
        self,
        url: str,
        *,
        transport: Transport = "auto",
        client_sap: int = 16,
        server_logical: int = 1,
        server_physical: int | None = None,
        password: str | bytes | None = None,
        object_map: ObjectMap = cosem.GENERIC_MAP,
        timeout_s: float = 5.0,
        token_timeout_s: float = 10.0,
        token_poll_s: float = 0.2,
        baudrate: int = 9600,
        max_info: int = 128,
        connect: bool = True,
    ) -> None:
        if timeout_s <= 0 or token_timeout_s <= 0:
            raise ValueError("timeout_s and token_timeout_s must be > 0")
        if transport == "auto":
            transport = "wrapper" if url.startswith("tcp://") else "hdlc"
        if transport not in ("wrapper", "hdlc"):
            raise ValueError(f"DLMS transport must be 'wrapper' or 'hdlc', got {transport!r}")
        self.url = url
        self.transport = transport
        self.client_sap = client_sap
        self.server_logical = server_logical
        self.server_physical = server_physical
        self.object_map = object_map
        self.timeout_s = timeout_s
        self.token_timeout_s = token_timeout_s
        self.token_poll_s = token_poll_s
        self.stats = LinkStats()
        secret = password.encode("ascii") if isinstance(password, str) else password
        self._session = ClientSession(password=secret)
        self._lock = threading.RLock()
        self._link: _Link | None = None
        self._baudrate = baudrate
        self._max_info = max_info
        self._credit_scale: int | None = object_map.credit_scale
        if connect:
            self.open()

    # -- lifecycle ------------------------------------------------------------------------------

    def open(self) -> None:
        """Connect and associate. Raises `DeviceAbsent`, `ReplyTimeout` or `DlmsRefused`."""
        with self._lock:
            if self._link is not None:
                return
            if self.transport == "wrapper":
                link: _Link = _WrapperLink(self)
            else:
                link = _HdlcLink(self, self._baudrate, self._max_info)
            link.open()
            self._link = link
            try:
                outcome = self._exchange(self._session.associate(), "association")
            except BaseException:
                self._drop()
                raise
            if isinstance(outcome, AssociationRefused):
                self._drop()
                hint = (
                    "check the DLMS password in the rig's secrets and the client SAP"
                    if outcome.authentication
                    else "check the client SAP, the server address and that the meter is free"
                )
                raise DlmsRefused(
                    f"DLMS meter at {self.url} refused the association ({outcome.reason}): {hint}",
                    step="association",
                    reason=outcome.reason,
                )
            if isinstance(outcome, ServiceRefused):
                self._drop()
                raise DlmsRefused(
                    f"DLMS meter at {self.url} refused the association ({outcome.detail}): "
                    "check the client SAP and the server address in the rig file",
                    step="association",
                    reason=outcome.detail,
                )
            assert isinstance(outcome, Associated)

    def close(self) -> None:
        """Release the association and the connection. Idempotent; never raises for a dead link."""
        with self._lock:
            link = self._link
            if link is None:
                return
            if self._session.associated and self.transport == "wrapper":
                try:
                    outcome = self._exchange(self._session.release(), "release", timeout_s=1.0)
                    assert isinstance(outcome, Released)
                except Exception:  # the meter may already be gone: closing must still succeed
                    pass
            self._drop()

    def _drop(self) -> None:
        link, self._link = self._link, None
        self._session.reset()
        if link is not None:
            link.close()

    def __enter__(self) -> Self:
        self.open()
        return self

    def __repr__(self) -> str:
        return f"DlmsClient({self.url!r}, {self.transport})"

    @property
    def negotiated(self) -> a.InitiateResponse | None:
        """What the meter accepted in its AARE (conformance, max PDU size)."""
        return self._session.negotiated

    # -- generic services -----------------------------------------------------------------------

    def get(self, class_id: int, obis: Obis | str, attribute: int) -> Data:
        """GET one attribute (a long GET is followed to its last block)."""
        desc = a.AttributeDescriptor(int(class_id), Obis.parse(obis), attribute)
        with self._lock:
            result = self._request(self._session.get, desc, f"GET {desc}")
        assert result.value is not None
        return result.value

    def set(self, class_id: int, obis: Obis | str, attribute: int, value: Data) -> None:
        desc = a.AttributeDescriptor(int(class_id), Obis.parse(obis), attribute)
        with self._lock:
            self._request(lambda d: self._session.set(d, value), desc, f"SET {desc}")

    def action(
        self, class_id: int, obis: Obis | str, method: int, parameters: Data | None = None
    ) -> Data | None:
        desc = a.MethodDescriptor(int(class_id), Obis.parse(obis), method)
        with self._lock:
            result = self._request(
                lambda d: self._session.action(d, parameters), desc, f"ACTION {desc}"
            )
        return result.value

    def _request(self, build: Callable[[Any], bytes], desc: object, step: str) -> Result:
        self._require_open(step)
        try:
            request = build(desc)
        except LocalProtocolError as exc:  # e.g. the negotiated conformance lacks the service
            raise DlmsRefused(
                f"DLMS meter at {self.url}: {exc}: this association cannot do it; check the "
                "client SAP (the management client may be offered more services)",
                step=step,
                reason=str(exc),
            ) from exc
        outcome = self._exchange(request, step)
        if isinstance(outcome, ServiceRefused):
            raise DlmsRefused(
                f"DLMS meter at {self.url} refused {step} ({outcome.detail}): the meter does not "
                "take this service in this association; check the client SAP and password",
                step=step,
                reason=outcome.detail,
            )
        assert isinstance(outcome, Result)
        if not outcome.ok:
            raise DlmsRefused(
                f"DLMS meter at {self.url}: {step} failed ({outcome.error_name}): "
                f"{_access_hint(outcome.error)}",
                step=step,
                reason=outcome.error_name,
            )
        return outcome

    def _require_open(self, step: str) -> None:
        if self._link is None or not self._session.associated:
            raise DeviceAbsent(
                f"DLMS meter at {self.url}: not connected for {step}: open the client first "
                "(the connection was closed or lost)"
            )

    def _exchange(self, request: bytes, step: str, *, timeout_s: float | None = None) -> Outcome:
        """Send one APDU and judge the answer; follows long GETs block by block."""
        assert self._link is not None
        timeout = self.timeout_s if timeout_s is None else timeout_s
        self.stats.requests += 1
        apdu = request
        while True:
            try:
                answer = self._link.exchange(apdu, timeout, step)
            except BaseException:
                self._session.abandon()
                raise
            try:
                outcome = self._session.receive(answer)
            except RemoteProtocolError as exc:
                self._session.abandon()
                raise GarbledReply(
                    f"DLMS meter at {self.url} answered {step} with invalid DLMS ({exc}): "
                    "the meter or the line is faulty; check the cable and the object map"
                ) from exc
            if isinstance(outcome, Continue):
                self.stats.blocks += 1
                apdu = outcome.apdu
                continue
            if isinstance(outcome, Result) and outcome.blocks:
                self.stats.blocks += 1
            return outcome

    # -- prepayment -----------------------------------------------------------------------------

    def read_credit(self) -> float:
        """Available credit in kWh, from the map's credit attribute and its scale."""
        ref = self.object_map.credit
        value = self._number(self.get(ref.class_id, ref.obis, ref.attribute), f"credit {ref}")
        return value * 10.0 ** self._scale()

    def credit_scale(self) -> int:
        """The credit's decimal exponent (credit = value x 10^scale kWh), read once."""
        return self._scale()

    def _scale(self) -> int:
        if self._credit_scale is not None:
            return self._credit_scale
        ref = self.object_map.credit
        if ref.class_id in (ClassId.ACCOUNT, ClassId.CREDIT):
            # Credit objects have no scale of their own: the account's currency carries it.
            account = ref.obis if ref.class_id == ClassId.ACCOUNT else cosem.ACCOUNT
            where = f"{account} attribute 15 (currency)"
            currency = self.get(ClassId.ACCOUNT, account, cosem.ACCOUNT_CURRENCY)
            scale = _element(currency, 1, where, self.url)
        elif ref.class_id in (ClassId.REGISTER, ClassId.EXTENDED_REGISTER):
            where = f"{ref.obis} attribute 3 (scaler_unit)"
            scaler_unit = self.get(ref.class_id, ref.obis, cosem.REGISTER_SCALER_UNIT)
            scale = _element(scaler_unit, 0, where, self.url)
        else:
            raise DeviceError(
                f"DLMS object map {self.object_map.name!r}: credit object class {ref.class_id} "
                "has no known scale: set credit_scale in the object map"
            )
        self._credit_scale = int(self._number(scale, where))
        return self._credit_scale

    def enter_token(self, token: str) -> TokenStatus:
        """Token gateway method 1 with the packed token; then the settled status (attribute 6).

        Sent once. Returns the status even when the meter refuses the token (that is a result,
        not a fault); raises only when the meter refuses the ACTION itself or never settles.
        """
        gateway = self.object_map.token_gateway
        raw = cosem.pack_token(token, self.object_map.token_packing)
        self.action(ClassId.TOKEN_GATEWAY, gateway, cosem.GATEWAY_ENTER, axdr.octets(raw))
        deadline = time.monotonic() + self.token_timeout_s
        while True:
            status = self.token_status()
            if int(status.code) not in _IN_PROGRESS:
                return status
            if time.monotonic() >= deadline:
                raise ReplyTimeout(
                    f"DLMS meter at {self.url}: token gateway {gateway} still reports "
                    f"{status.name} after {self.token_timeout_s} s: raise token_timeout_s for "
                    "this model, or check that the meter processes tokens entered over DLMS"
                )
            time.sleep(self.token_poll_s)

    def token_status(self) -> TokenStatus:
        gateway = self.object_map.token_gateway
        where = f"token gateway {gateway} attribute 6"
        value = self.get(ClassId.TOKEN_GATEWAY, gateway, cosem.GATEWAY_STATUS)
        code = _element(value, 0, where, self.url)
        if code.type is not DataType.ENUM:
            raise _bad_type(self.url, where, "an enum status code", code)
        bits = ""
        if len(value.items) > 1 and value.items[1].type is DataType.BIT_STRING:
            bits = str(value.items[1].value)
        number = _as_int(code)
        try:
            return TokenStatus(cosem.TokenStatusCode(number), bits)
        except ValueError:
            return TokenStatus(number, bits)

    def relay_state(self) -> RelayState:
        obj = self.object_map.disconnect_control
        output = self.get(ClassId.DISCONNECT_CONTROL, obj, cosem.DISCONNECT_OUTPUT_STATE)
        if output.type is not DataType.BOOLEAN:
            raise _bad_type(self.url, f"disconnect control {obj} attribute 2", "a boolean", output)
        control = self.get(ClassId.DISCONNECT_CONTROL, obj, cosem.DISCONNECT_CONTROL_STATE)
        if control.type is not DataType.ENUM:
            raise _bad_type(self.url, f"disconnect control {obj} attribute 3", "an enum", control)
        number = _as_int(control)
        try:
            state: ControlState | int = ControlState(number)
        except ValueError:
            state = number
        return RelayState(bool(output.value), state)

    def read_clock(self) -> datetime:
        obj = self.object_map.clock
        value = self.get(ClassId.CLOCK, obj, cosem.CLOCK_TIME)
        where = f"clock {obj} attribute 2"
        try:
            if isinstance(value.value, bytes):  # the octet-string form COSEM clocks use
                return axdr.DateTime.from_bytes(value.value).to_datetime()
            if isinstance(value.value, axdr.DateTime):
                return value.value.to_datetime()
        except ValueError as exc:
            raise GarbledReply(f"DLMS meter at {self.url}: {where}: {exc}") from exc
        raise _bad_type(self.url, where, "a date-time", value)

    def _number(self, value: Data, where: str) -> float:
        if value.type in axdr.INTEGER_TYPES or value.type in (DataType.FLOAT32, DataType.FLOAT64):
            return float(value.value)  # type: ignore[arg-type]
        raise _bad_type(self.url, where, "a number", value)


def _as_int(value: Data) -> int:
    number = value.value
    assert isinstance(number, int)  # the caller checked the type tag: enum, integer
    return number


def _element(value: Data, index: int, where: str, url: str) -> Data:
    if value.type is not DataType.STRUCTURE or len(value.items) <= index:
        raise _bad_type(url, where, f"a structure of at least {index + 1} elements", value)
    return value.items[index]


def _bad_type(url: str, where: str, wanted: str, got: Data) -> GarbledReply:
    return GarbledReply(
        f"DLMS meter at {url}: {where} is {got.type.name.lower()}, expected {wanted}: "
        "the object map does not fit this meter model"
    )


_HINTS = {
    a.DataAccessResult.OBJECT_UNDEFINED: "the meter lacks this object; fix the object map "
    "for this model",
    a.DataAccessResult.OBJECT_CLASS_INCONSISTENT: "the object exists with another class; fix the "
    "class in the object map",
    a.DataAccessResult.OBJECT_UNAVAILABLE: "the object lacks this attribute or method; fix the "
    "object map",
    a.DataAccessResult.READ_WRITE_DENIED: "this client may not do that; use the management "
    "client (SAP 1) with its password",
    a.DataAccessResult.TYPE_UNMATCHED: "the meter wants another data type (token packing?); "
    "check the object map",
    a.DataAccessResult.TEMPORARY_FAILURE: "the meter is busy; wait and ask again",
    a.DataAccessResult.HARDWARE_FAULT: "the meter reports a hardware fault",
}


def _access_hint(error: a.DataAccessResult | int | None) -> str:
    return _HINTS.get(error, "see the meter's documentation")  # type: ignore[arg-type]


# -- links ----------------------------------------------------------------------------------------


class _Link(Protocol):
    """One transport: connect, carry one APDU each way, disconnect."""

    def open(self) -> None: ...

    def exchange(self, apdu: bytes, timeout_s: float, step: str) -> bytes: ...

    def close(self) -> None: ...


class _WrapperLink:
    def __init__(self, owner: DlmsClient) -> None:
        self.owner = owner
        parts = urlsplit(owner.url)
        if parts.scheme != "tcp" or not parts.hostname or parts.port is None:
            raise ValueError(
                f"DLMS wrapper URL {owner.url!r}: expected tcp://HOST:PORT (port 4059 by "
                "convention)"
            )
        self.host, self.port = parts.hostname, parts.port
        self.reader = WrapperReader()
        self.sock: socket.socket | None = None

    def open(self) -> None:
        url, timeout = self.owner.url, self.owner.timeout_s
        try:
            self.sock = socket.create_connection((self.host, self.port), timeout=timeout)
        except TimeoutError as exc:
            raise DeviceAbsent(
                f"DLMS meter at {url}: no TCP connection within {timeout} s: check the address "
                "in the rig file and the meter's network"
            ) from exc
        except OSError as exc:
            raise DeviceAbsent(
                f"DLMS meter at {url}: cannot connect ({exc.strerror or exc}): check the host "
                "and port in the rig file and that the meter's DLMS TCP port is enabled"
            ) from exc
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def exchange(self, apdu: bytes, timeout_s: float, step: str) -> bytes:
        owner, sock = self.owner, self.sock
        assert sock is not None
        self._drain()
        try:
            sock.settimeout(timeout_s)
            sock.sendall(wrap(owner.client_sap, owner.server_logical, apdu))
        except OSError as exc:
            raise DeviceAbsent(
                f"DLMS meter at {owner.url} failed while sending {step} ({exc}): the connection "
                "dropped; check the meter and the network"
            ) from exc
        deadline = time.monotonic() + timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._timeout(step, timeout_s)
            try:
                sock.settimeout(remaining)
                chunk = sock.recv(_READ_CHUNK)
            except TimeoutError:
                raise self._timeout(step, timeout_s) from None
            except OSError as exc:
                raise DeviceAbsent(
                    f"DLMS meter at {owner.url} failed during {step} ({exc}): the connection "
                    "dropped; check the meter and the network"
                ) from exc
            if not chunk:
                raise DeviceAbsent(
                    f"DLMS meter at {owner.url} closed the connection during {step}: the meter "
                    "may allow one client at a time, or dropped an idle association"
                )
            try:
                frames = self.reader.feed(chunk)
            except FrameError as exc:
                raise GarbledReply(
                    f"DLMS meter at {owner.url} answered {step} with a bad wrapper frame ({exc}): "
                    "check that the port speaks the DLMS wrapper (IEC 62056-47), not HDLC"
                ) from exc
            for frame in frames:
                if frame.source == owner.server_logical and frame.destination == owner.client_sap:
                    return frame.apdu
                owner.stats.ignored += 1

    def _drain(self) -> None:
        """Drop a late answer to an abandoned request, so it cannot pass for the next one."""
        assert self.sock is not None
        self.reader.discard()
        self.sock.setblocking(False)
        try:
            while self.sock.recv(_READ_CHUNK):
                self.owner.stats.ignored += 1
        except OSError:  # nothing waiting (or a dead socket: the send will say so)
            pass
        finally:
            self.sock.setblocking(True)

    def _timeout(self, step: str, timeout_s: float) -> ReplyTimeout:
        owner = self.owner
        self.reader.discard()
        return ReplyTimeout(
            f"DLMS meter at {owner.url} did not answer {step} within {timeout_s} s: check the "
            f"server wPort ({owner.server_logical}) and client SAP ({owner.client_sap}) in the "
            "rig file"
        )

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None


class _HdlcLink:
    def __init__(self, owner: DlmsClient, baudrate: int, max_info: int) -> None:
        self.owner = owner
        self.baudrate = baudrate
        self.link = hdlc.HdlcClient(
            client=hdlc.client_address(owner.client_sap),
            server=hdlc.server_address(owner.server_logical, owner.server_physical),
            params=hdlc.HdlcParameters(max_info, max_info),
        )
        self.port: serial.SerialBase | None = None

    def open(self) -> None:
        owner = self.owner
        self.port = open_serial(
            owner.url, baudrate=self.baudrate, timeout_s=_POLL_S, what="DLMS meter (HDLC)"
        )
        self.link.connect()
        try:
            self._write("SNRM")
            event = self._wait(
                (hdlc.Connected, hdlc.Refused), owner.timeout_s, "SNRM (HDLC connect)", poll=False
            )
        except BaseException:
            self.close()
            raise
        if isinstance(event, hdlc.Refused):
            self.close()
            raise DlmsRefused(
                f"DLMS meter at {owner.url} refused the HDLC connection ({event.reason}): check "
                "the server address (logical/physical) and that no other client holds the meter",
                step="SNRM",
                reason=event.reason,
            )

    def exchange(self, apdu: bytes, timeout_s: float, step: str) -> bytes:
        self.link.send(apdu)
        self._write(step)
        event = self._wait((hdlc.Information, hdlc.Refused), timeout_s, step, poll=True)
        if isinstance(event, hdlc.Refused):
            raise DlmsRefused(
                f"DLMS meter at {self.owner.url} dropped the HDLC link during {step} "
                f"({event.reason}): the meter ended the connection (inactivity timeout?)",
                step=step,
                reason=event.reason,
            )
        assert isinstance(event, hdlc.Information)
        return event.data

    def _write(self, step: str) -> None:
        data = self.link.data_to_send()
        if not data:
            return
        assert self.port is not None
        try:
            self.port.write(data)
            self.port.flush()
        except (serial.SerialException, OSError) as exc:
            raise DeviceAbsent(
                f"DLMS meter at {self.owner.url} failed while sending {step} ({exc}): check "
                "the optical head or cable and the port in the rig file"
            ) from exc

    def _wait(
        self, wanted: tuple[type, ...], timeout_s: float, step: str, *, poll: bool
    ) -> hdlc.Event:
        owner, port = self.owner, self.port
        assert port is not None
        start = time.monotonic()
        deadline = start + timeout_s
        polled = not poll
        bad_before = self.link.bad_frames
        while True:
            now = time.monotonic()
            if now >= deadline:
                break
            if not polled and now >= start + timeout_s / 2 and not self.link.sending:
                # Half the time gone: ask once for the answer again (it may have been garbled).
                polled = True
                self.link.discard_partial()
                self.link.poll()
                owner.stats.polls += 1
                self._write(step)
            try:
                waiting = port.in_waiting
                chunk = port.read(waiting if waiting > 0 else 1)
            except (serial.SerialException, OSError) as exc:
                raise DeviceAbsent(
                    f"DLMS meter at {owner.url} failed during {step} ({exc}): check the optical "
                    "head or cable and the port in the rig file"
                ) from exc
            if not chunk:
                continue
            self.link.receive_data(chunk)
            self._write(step)  # RRs for the next segment of a long answer
            while (event := self.link.next_event()) is not None:
                if isinstance(event, wanted):
                    owner.stats.bad_frames += self.link.bad_frames - bad_before
                    return event
                if isinstance(event, hdlc.Ignored):
                    owner.stats.ignored += 1
        bad = self.link.bad_frames - bad_before
        owner.stats.bad_frames += bad
        self.link.discard_partial()
        if bad:
            raise GarbledReply(
                f"DLMS meter at {owner.url} answered {step} only with {bad} corrupt frame(s) "
                f"in {timeout_s} s: check the baud rate ({self.baudrate}), the optical head's "
                "alignment and the cable"
            )
        raise ReplyTimeout(
            f"DLMS meter at {owner.url} did not answer {step} within {timeout_s} s: check the "
            f"cable or optical head, the baud rate ({self.baudrate}) and the server address "
            f"(logical {owner.server_logical}, physical {owner.server_physical}) in the rig file"
        )

    def close(self) -> None:
        port, self.port = self.port, None
        if port is None:
            return
        try:
            if self.link.connected:
                self.link.disconnect()
                data = self.link.data_to_send()
                port.write(data)
                port.flush()
                end = time.monotonic() + 0.5
                while time.monotonic() < end:  # wait briefly for UA; the meter may be gone
                    chunk = port.read(port.in_waiting or 1)
                    if chunk:
                        self.link.receive_data(chunk)
                        if any(
                            isinstance(e, hdlc.Disconnected | hdlc.Refused)
                            for e in iter(self.link.next_event, None)
                        ):
                            break
        except (serial.SerialException, OSError):
            pass  # the line is gone: nothing more to release
        finally:
            port.close()

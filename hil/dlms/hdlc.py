"""HDLC framing and link state for DLMS (IEC 62056-46), sans-IO: bytes in, frames and events out.

Frame (no byte stuffing: the length field delimits it)::

    7E | A<S><len:11> | dest addr | src addr | control | [HCS | information] | FCS | 7E

* The format field is type 0xA, the segmentation bit S (more segments of this APDU follow),
  and the length of everything between the flags. Two frames may share one flag.
* Addresses are 1, 2 or 4 bytes, 7 bits a byte, the low bit set on the last byte only. The
  client address is one byte (SAP 16, the public client, is 0x21); a server address carries
  the upper (logical device) and, when 2 or 4 bytes long, the lower (physical) address.
* Control: I-frame ``RRR P SSS 0`` (N(R), poll/final, N(S)); RR ``RRR P 0001``; SNRM 0x93,
  UA 0x73, DISC 0x53, DM 0x1F with the P/F bit set.
* HCS (over format..control) is present only when there is an information field; FCS covers
  format..information. Both are CRC-16/X.25, low byte first (`hil.dlms.crc`).
* Information frames carry the LLC header E6 E6 00 (client to server) or E6 E7 00 (server to
  client) in front of the APDU, on the first segment only.

`FrameReader` cuts a byte stream into frames and reports garbage and bad frames instead of
raising, so one bad frame does not lose the link. `HdlcClient` and `HdlcServer` hold the link
state: sequence numbers, segmentation both ways (RR asks for the next segment), parameter
negotiation in SNRM/UA. Feed them with `receive_data`, take events from `next_event`, and send
what `data_to_send` returns. They never read a clock: the caller owns timeouts and may `poll`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from typing import Self

from hil.dlms.crc import crc16_x25, crc_bytes
from hil.dlms.errors import FrameError, LocalProtocolError

FLAG = 0x7E
LLC_COMMAND = b"\xe6\xe6\x00"  # client -> server
LLC_RESPONSE = b"\xe6\xe7\x00"  # server -> client
MAX_FRAME_LENGTH = 0x7FF  # the 11-bit length field
DEFAULT_MAX_INFO = 128  # IEC 62056-46 default when SNRM/UA carry no parameters
DEFAULT_WINDOW = 1


# -- addresses ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HdlcAddress:
    """An HDLC address. `size` is its length on the wire (1, 2 or 4); None picks the shortest.

    One byte holds only `upper`; with 2 or 4 bytes `lower` (the physical address) is required.
    """

    upper: int
    lower: int | None = None
    size: int | None = field(default=None, compare=False)  # the same address, however long

    def __post_init__(self) -> None:
        size = self.wire_size
        limit = 0x7F if size <= 2 else 0x3FFF
        lower_ok = self.lower is None or 0 <= self.lower <= limit
        if not 0 <= self.upper <= limit or not lower_ok:
            raise LocalProtocolError(f"HDLC address {self} does not fit {size} bytes")
        if (size == 1) != (self.lower is None):
            raise LocalProtocolError(f"HDLC address {self}: lower address needs 2 or 4 bytes")

    @property
    def wire_size(self) -> int:
        if self.size is not None:
            if self.size not in (1, 2, 4):
                raise LocalProtocolError(f"HDLC address size must be 1, 2 or 4, got {self.size}")
            return self.size
        if self.lower is None:
            return 1
        return 2 if self.upper <= 0x7F and self.lower <= 0x7F else 4

    def encode(self) -> bytes:
        size = self.wire_size
        if size == 1:
            return bytes(((self.upper << 1) | 1,))
        lower = self.lower or 0
        if size == 2:
            return bytes((self.upper << 1, (lower << 1) | 1))
        return bytes(
            (
                (self.upper >> 7) << 1,
                (self.upper & 0x7F) << 1,
                (lower >> 7) << 1,
                ((lower & 0x7F) << 1) | 1,
            )
        )

    @classmethod
    def decode(cls, buf: bytes, pos: int) -> tuple[Self, int]:
        end = pos
        while True:
            if end >= len(buf) or end - pos >= 4:
                raise FrameError("HDLC address longer than 4 bytes or cut short")
            if buf[end] & 1:
                break
            end += 1
        raw = buf[pos : end + 1]
        groups = [b >> 1 for b in raw]
        if len(raw) == 1:
            return cls(groups[0], None, 1), end + 1
        if len(raw) == 2:
            return cls(groups[0], groups[1], 2), end + 1
        if len(raw) == 4:
            return cls((groups[0] << 7) | groups[1], (groups[2] << 7) | groups[3], 4), end + 1
        raise FrameError(f"HDLC address of {len(raw)} bytes (must be 1, 2 or 4)")

    def same(self, other: HdlcAddress) -> bool:
        """Equal as addresses, whatever their length on the wire."""
        return self.upper == other.upper and (self.lower or 0) == (other.lower or 0)

    def __str__(self) -> str:
        return str(self.upper) if self.lower is None else f"{self.upper}/{self.lower}"


def client_address(sap: int) -> HdlcAddress:
    """A client SAP (16 public client, 1 management) as its one-byte HDLC address."""
    return HdlcAddress(sap, None, 1)


def server_address(
    logical: int = 1, physical: int | None = None, size: int | None = None
) -> HdlcAddress:
    """A server: logical device (1 management) and physical address (often from the serial)."""
    return HdlcAddress(logical, physical, size)


# -- control field ------------------------------------------------------------------------------


class Kind(Enum):
    I = "I"  # noqa: E741 - the standard's name for an information frame
    RR = "RR"
    RNR = "RNR"
    SNRM = "SNRM"
    DISC = "DISC"
    UA = "UA"
    DM = "DM"
    FRMR = "FRMR"
    UI = "UI"


_UNNUMBERED = {
    0x83: Kind.SNRM,
    0x43: Kind.DISC,
    0x63: Kind.UA,
    0x0F: Kind.DM,
    0x87: Kind.FRMR,
    0x03: Kind.UI,
}
_UNNUMBERED_CODE = {kind: code for code, kind in _UNNUMBERED.items()}
_SUPERVISORY = {0: Kind.RR, 1: Kind.RNR}


def control_i(ns: int, nr: int, pf: bool = True) -> int:
    return ((nr & 7) << 5) | (0x10 if pf else 0) | ((ns & 7) << 1)


def control_rr(nr: int, pf: bool = True) -> int:
    return ((nr & 7) << 5) | (0x10 if pf else 0) | 0x01


def control_u(kind: Kind, pf: bool = True) -> int:
    return _UNNUMBERED_CODE[kind] | (0x10 if pf else 0)


def control_kind(control: int) -> Kind:
    if control & 1 == 0:
        return Kind.I
    if control & 3 == 1:
        kind = _SUPERVISORY.get((control >> 2) & 3)
        if kind is None:
            raise FrameError(f"unsupported supervisory frame 0x{control:02X} (REJ/SREJ)")
        return kind
    kind = _UNNUMBERED.get(control & ~0x10)
    if kind is None:
        raise FrameError(f"unknown HDLC control field 0x{control:02X}")
    return kind


# -- frames -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HdlcFrame:
    destination: HdlcAddress
    source: HdlcAddress
    control: int
    info: bytes = b""
    segmented: bool = False

    @property
    def kind(self) -> Kind:
        return control_kind(self.control)

    @property
    def ns(self) -> int:
        return (self.control >> 1) & 7

    @property
    def nr(self) -> int:
        return (self.control >> 5) & 7

    @property
    def poll(self) -> bool:
        """The poll (from the client) or final (from the server) bit."""
        return bool(self.control & 0x10)

    def encode(self) -> bytes:
        """The frame with both flags."""
        header = self.destination.encode() + self.source.encode() + bytes((self.control,))
        length = 2 + len(header) + 2 + (len(self.info) + 2 if self.info else 0)
        if length > MAX_FRAME_LENGTH:
            raise LocalProtocolError(f"HDLC frame of {length} bytes exceeds the 11-bit length")
        fmt = 0xA000 | (0x800 if self.segmented else 0) | length
        body = bytearray(fmt.to_bytes(2, "big"))
        body += header
        if self.info:
            body += crc_bytes(body)
            body += self.info
        body += crc_bytes(body)
        return b"\x7e" + bytes(body) + b"\x7e"

    def describe(self) -> str:
        kind = self.kind
        text = f"{kind.value} {self.source}->{self.destination}"
        if kind is Kind.I:
            text += f" N(S)={self.ns} N(R)={self.nr}"
        elif kind in (Kind.RR, Kind.RNR):
            text += f" N(R)={self.nr}"
        if self.segmented:
            text += " S"
        return text + (f" +{len(self.info)}B" if self.info else "")


def decode_frame(body: bytes) -> HdlcFrame:
    """A frame from the bytes between its flags. Raises `FrameError` naming the fault."""
    if len(body) < 7:
        raise FrameError(f"HDLC frame too short ({len(body)} bytes)")
    fmt = int.from_bytes(body[:2], "big")
    if fmt >> 12 != 0xA:
        raise FrameError(f"HDLC frame format type is 0x{fmt >> 12:X}, not 0xA")
    length = fmt & MAX_FRAME_LENGTH
    if length != len(body):
        raise FrameError(f"HDLC length field says {length} bytes, frame has {len(body)}")
    if crc16_x25(body[:-2]) != int.from_bytes(body[-2:], "little"):
        raise FrameError("HDLC FCS mismatch (frame corrupted on the line)")
    dest, pos = HdlcAddress.decode(body, 2)
    src, pos = HdlcAddress.decode(body, pos)
    if pos >= len(body) - 2:
        raise FrameError("HDLC frame ends before its control field")
    control = body[pos]
    pos += 1
    info = b""
    if pos < len(body) - 2:  # an information field: HCS first
        if pos + 2 > len(body) - 2:
            raise FrameError("HDLC frame too short for its HCS")
        if crc16_x25(body[:pos]) != int.from_bytes(body[pos : pos + 2], "little"):
            raise FrameError("HDLC HCS mismatch")
        info = body[pos + 2 : -2]
        if not info:
            raise FrameError("HDLC frame has an HCS but no information")
    control_kind(control)  # an unknown control field is rejected here, not later
    return HdlcFrame(dest, src, control, info, bool(fmt & 0x800))


@dataclass(frozen=True, slots=True)
class BadFrame:
    """Bytes that were not a valid frame, and why."""

    reason: str
    raw: bytes


class FrameReader:
    """Cuts a byte stream into frames; bad frames and line noise come out as `BadFrame`."""

    def __init__(self) -> None:
        self._buf = bytearray()

    @property
    def pending(self) -> int:
        """Bytes held while waiting for the rest of a frame."""
        return len(self._buf)

    def discard(self) -> bytes:
        """Drop a partial frame (after a timeout: the rest will not come)."""
        raw = bytes(self._buf)
        self._buf.clear()
        return raw

    def feed(self, data: bytes) -> list[HdlcFrame | BadFrame]:
        self._buf += data
        out: list[HdlcFrame | BadFrame] = []
        buf = self._buf
        while buf:
            start = buf.find(FLAG)
            if start < 0:
                out.append(BadFrame("bytes outside a frame", bytes(buf)))
                buf.clear()
                break
            if start:
                out.append(BadFrame("bytes outside a frame", bytes(buf[:start])))
                del buf[:start]
            while len(buf) >= 2 and buf[1] == FLAG:  # fill flags, or a shared closing flag
                del buf[0]
            if len(buf) < 3:
                break
            fmt = (buf[1] << 8) | buf[2]
            if fmt >> 12 != 0xA:
                out.append(BadFrame(f"format type 0x{fmt >> 12:X} is not 0xA", bytes(buf[:3])))
                del buf[0]
                continue
            length = fmt & MAX_FRAME_LENGTH
            if length < 7:
                out.append(BadFrame(f"length field {length} too small", bytes(buf[:3])))
                del buf[0]
                continue
            if len(buf) < length + 2:
                if not self._header_plausible(length):
                    out.append(BadFrame("HCS mismatch (bad length or header)", bytes(buf)))
                    del buf[0]
                    continue
                break
            if buf[length + 1] != FLAG:
                out.append(BadFrame("closing flag missing", bytes(buf[: length + 2])))
                del buf[0]
                continue
            body = bytes(buf[1 : length + 1])
            del buf[: length + 1]  # keep the closing flag: it may open the next frame
            try:
                out.append(decode_frame(body))
            except FrameError as exc:
                out.append(BadFrame(str(exc), body))
        return out

    def _header_plausible(self, length: int) -> bool:
        """Check the HCS as soon as it arrived, so a garbled length does not stall the link."""
        buf = self._buf
        pos = 3
        for _ in range(2):  # destination, source
            for _ in range(4):
                if pos >= len(buf):
                    return True  # not enough yet to judge
                pos += 1
                if buf[pos - 1] & 1:
                    break
            else:
                return False
        header_end = pos + 1  # after the control byte
        if length <= header_end + 2 - 1:  # no information field: nothing to check early
            return True
        if len(buf) < header_end + 2:
            return True
        hcs = int.from_bytes(buf[header_end : header_end + 2], "little")
        return crc16_x25(buf[1:header_end]) == hcs


# -- parameter negotiation ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HdlcParameters:
    """SNRM/UA negotiation, from the sender's point of view (tx = what it sends)."""

    max_info_tx: int = DEFAULT_MAX_INFO
    max_info_rx: int = DEFAULT_MAX_INFO
    window_tx: int = DEFAULT_WINDOW
    window_rx: int = DEFAULT_WINDOW

    def encode(self) -> bytes:
        group = bytearray()
        for pid, value, fixed in (
            (0x05, self.max_info_tx, 0),
            (0x06, self.max_info_rx, 0),
            (0x07, self.window_tx, 4),
            (0x08, self.window_rx, 4),
        ):
            size = fixed or (1 if value < 0x100 else 2)
            group += bytes((pid, size)) + value.to_bytes(size, "big")
        return bytes((0x81, 0x80, len(group))) + bytes(group)

    @classmethod
    def decode(cls, info: bytes) -> Self:
        """Parameters from an SNRM or UA information field; absent ones keep their default."""
        if not info:
            return cls()
        if len(info) < 3 or info[0] != 0x81 or info[1] != 0x80 or info[2] != len(info) - 3:
            raise FrameError(f"HDLC parameter field malformed: {info.hex(' ')}")
        values: dict[int, int] = {}
        pos = 3
        while pos < len(info):
            if pos + 2 > len(info):
                raise FrameError("HDLC parameter cut short")
            pid, size = info[pos], info[pos + 1]
            if size == 0 or size > 4 or pos + 2 + size > len(info):
                raise FrameError(f"HDLC parameter 0x{pid:02X} has a bad length {size}")
            values[pid] = int.from_bytes(info[pos + 2 : pos + 2 + size], "big")
            pos += 2 + size
        return cls(
            values.get(0x05, DEFAULT_MAX_INFO),
            values.get(0x06, DEFAULT_MAX_INFO),
            values.get(0x07, DEFAULT_WINDOW),
            values.get(0x08, DEFAULT_WINDOW),
        )


# -- events -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Connected:
    """Client: UA answered our SNRM. Server: an SNRM arrived and was answered with UA."""

    max_info_tx: int  # the largest information field this side may send
    max_info_rx: int


@dataclass(frozen=True, slots=True)
class Refused:
    """Client: the server answered SNRM (or an I-frame) with DM: it is in disconnected mode."""

    reason: str


@dataclass(frozen=True, slots=True)
class Disconnected:
    by_peer: bool


@dataclass(frozen=True, slots=True)
class Information:
    """A whole APDU (segments joined, LLC header removed)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Ignored:
    """A frame or bytes that did not count: bad FCS, out of sequence, another station's..."""

    reason: str
    raw: bytes = b""


Event = Connected | Refused | Disconnected | Information | Ignored


class _State(Enum):
    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTING = "disconnecting"


class _Station:
    """What client and server share: sequence numbers, segmentation, the in/out buffers."""

    _llc_out: bytes

    def __init__(self, local: HdlcAddress, remote: HdlcAddress, params: HdlcParameters) -> None:
        self.local = local
        self.remote = remote
        self.params = params  # what this side offers
        self.max_info_tx = DEFAULT_MAX_INFO
        self.max_info_rx = DEFAULT_MAX_INFO
        self.vs = 0  # N(S) of our next I-frame
        self.vr = 0  # N(S) we expect next from the peer
        self.state = _State.DISCONNECTED
        self.bad_frames = 0
        self._reader = FrameReader()
        self._out = bytearray()
        self._events: deque[Event] = deque()
        self._rx = bytearray()  # segments of the APDU being received
        self._tx: deque[bytes] = deque()  # segments still to send, after the peer's RR
        self._last_sent: bytes | None = None  # our last I-frame, for a retransmission

    # -- caller side ----------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self.state is _State.CONNECTED

    @property
    def sending(self) -> bool:
        """True while segments of our APDU wait for the peer's RR."""
        return bool(self._tx)

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def receive_data(self, data: bytes) -> None:
        for item in self._reader.feed(data):
            if isinstance(item, BadFrame):
                self.bad_frames += 1
                self._events.append(Ignored(item.reason, item.raw))
                continue
            if not item.destination.same(self.local):
                self._events.append(Ignored(f"frame for station {item.destination}"))
                continue
            self._on_frame(item)

    def discard_partial(self) -> bytes:
        """Forget a half-received frame and APDU (the caller's timeout expired)."""
        self._rx.clear()
        return self._reader.discard()

    def send(self, apdu: bytes) -> None:
        """Queue `apdu` as one or more I-frames (the later ones go out as the peer asks)."""
        if self.state is not _State.CONNECTED:
            raise LocalProtocolError(f"HDLC link is {self.state.value}: connect before sending")
        if self._tx:
            raise LocalProtocolError("HDLC: the previous APDU is still being sent")
        payload = self._llc_out + apdu
        size = max(1, self.max_info_tx)
        chunks = [payload[i : i + size] for i in range(0, len(payload), size)]
        self._tx.extend(chunks)
        self._send_next_segment()

    # -- internals ------------------------------------------------------------------------------

    def _frame(self, control: int, info: bytes = b"", segmented: bool = False) -> bytes:
        return HdlcFrame(self.remote, self.local, control, info, segmented).encode()

    def _send_next_segment(self) -> None:
        chunk = self._tx.popleft()
        frame = self._frame(control_i(self.vs, self.vr), chunk, segmented=bool(self._tx))
        self.vs = (self.vs + 1) % 8
        self._last_sent = frame
        self._out += frame

    def _on_i_frame(self, frame: HdlcFrame) -> None:
        if frame.ns != self.vr:
            if frame.ns == (self.vr - 1) % 8:
                self._on_duplicate(frame)
                return
            self._events.append(
                Ignored(f"I-frame out of sequence: N(S)={frame.ns}, expected {self.vr}")
            )
            return
        self.vr = (self.vr + 1) % 8
        self._check_ack(frame.nr)
        self._rx += frame.info
        if frame.segmented:
            if frame.poll:  # the peer's window is done: ask for the next segments
                self._out += self._frame(control_rr(self.vr))
            return
        payload = bytes(self._rx)
        self._rx.clear()
        if payload[:2] not in (LLC_COMMAND[:2], LLC_RESPONSE[:2]) or len(payload) < 3:
            self._events.append(Ignored("I-frame without the LLC header E6 E6/E7 00", payload))
            return
        self._events.append(Information(payload[3:]))

    def _check_ack(self, nr: int) -> None:
        """The peer acknowledges our frames up to N(R); anything else is its problem to report."""
        if nr != self.vs:
            self._events.append(Ignored(f"peer acknowledged N(R)={nr}, we are at {self.vs}"))

    def _on_duplicate(self, frame: HdlcFrame) -> None:
        self._events.append(Ignored(f"repeated I-frame N(S)={frame.ns}"))

    def _on_frame(self, frame: HdlcFrame) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


class HdlcClient(_Station):
    """The client (primary station): SNRM, then I-frames, then DISC.

    Every frame it sends has the poll bit set: with a window of one, each one hands the line
    to the server. The segments of a long request go out one per RR of the server.
    """

    _llc_out = LLC_COMMAND

    def __init__(
        self,
        *,
        client: HdlcAddress | None = None,
        server: HdlcAddress | None = None,
        params: HdlcParameters | None = None,
    ) -> None:
        super().__init__(
            client if client is not None else client_address(16),
            server if server is not None else server_address(1),
            params if params is not None else HdlcParameters(),
        )

    def connect(self, *, negotiate: bool = True) -> None:
        """Queue SNRM (with our parameters unless `negotiate` is False)."""
        self.vs = self.vr = 0
        self._rx.clear()
        self._tx.clear()
        info = self.params.encode() if negotiate else b""
        self._out += self._frame(control_u(Kind.SNRM), info)
        self.state = _State.CONNECTING

    def disconnect(self) -> None:
        self._tx.clear()
        self._out += self._frame(control_u(Kind.DISC))
        self.state = _State.DISCONNECTING

    def poll(self) -> None:
        """Queue RR: asks the server to send again what we have not received (after a timeout)."""
        if self.state is not _State.CONNECTED:
            raise LocalProtocolError(f"HDLC link is {self.state.value}: nothing to poll")
        self._out += self._frame(control_rr(self.vr))

    def _on_frame(self, frame: HdlcFrame) -> None:
        kind = frame.kind
        if kind is Kind.UA:
            if self.state is _State.CONNECTING:
                try:
                    offer = HdlcParameters.decode(frame.info)
                except FrameError as exc:
                    self._events.append(Ignored(f"UA parameters: {exc}", frame.info))
                    offer = HdlcParameters()
                # The server's receive limit bounds what we send, and the other way round.
                self.max_info_tx = min(self.params.max_info_tx, offer.max_info_rx)
                self.max_info_rx = min(self.params.max_info_rx, offer.max_info_tx)
                self.state = _State.CONNECTED
                self._events.append(Connected(self.max_info_tx, self.max_info_rx))
            elif self.state is _State.DISCONNECTING:
                self.state = _State.DISCONNECTED
                self._events.append(Disconnected(by_peer=False))
            else:
                self._events.append(Ignored("UA out of turn"))
        elif kind is Kind.DM:
            previous = self.state
            self.state = _State.DISCONNECTED
            if previous is _State.DISCONNECTING:
                self._events.append(Disconnected(by_peer=False))
            elif previous is _State.CONNECTING:
                self._events.append(Refused("the meter answered SNRM with DM"))
            else:
                self._events.append(Refused("the meter is in disconnected mode (DM)"))
        elif kind is Kind.FRMR:
            self.state = _State.DISCONNECTED
            self._events.append(Refused(f"the meter rejected a frame (FRMR {frame.info.hex()})"))
        elif self.state is not _State.CONNECTED:
            self._events.append(Ignored(f"{kind.value} while {self.state.value}"))
        elif kind is Kind.I:
            self._on_i_frame(frame)
        elif kind is Kind.RR:
            if self._tx and frame.nr == self.vs:
                self._send_next_segment()
            elif frame.nr != self.vs and self._last_sent is not None:
                self._out += self._last_sent  # the server missed our last frame
            else:
                self._events.append(Ignored("RR with nothing to send"))
        elif kind is Kind.RNR:
            self._events.append(Ignored("server busy (RNR)"))
        else:
            self._events.append(Ignored(f"unexpected {kind.value} from the server"))

    def _on_duplicate(self, frame: HdlcFrame) -> None:
        # The server sent again a frame we had: our acknowledgement got lost. Ask for the next.
        self._events.append(Ignored(f"repeated I-frame N(S)={frame.ns}"))
        if frame.poll:
            self._out += self._frame(control_rr(self.vr))


class HdlcServer(_Station):
    """The server (secondary station) side, for the simulated meter.

    Answers SNRM with UA (negotiating its parameters), DISC with UA (DM when not connected),
    I-frames out of a connection with DM, a repeated I-frame with its last answer again.
    """

    _llc_out = LLC_RESPONSE

    def __init__(
        self,
        *,
        server: HdlcAddress | None = None,
        params: HdlcParameters | None = None,
    ) -> None:
        super().__init__(
            server if server is not None else server_address(1),
            client_address(16),
            params if params is not None else HdlcParameters(),
        )

    def receive_data(self, data: bytes) -> None:
        for item in self._reader.feed(data):
            if isinstance(item, BadFrame):
                self.bad_frames += 1
                self._events.append(Ignored(item.reason, item.raw))
                continue
            if not self._addressed(item.destination):
                self._events.append(Ignored(f"frame for station {item.destination}"))
                continue
            foreign = self.state is _State.CONNECTED and not item.source.same(self.remote)
            if foreign and item.kind is not Kind.SNRM:
                self._events.append(Ignored(f"frame from client {item.source} out of turn"))
                continue
            self._on_frame(item)

    def _addressed(self, dest: HdlcAddress) -> bool:
        # A server with a physical address also answers the logical-only form of its address.
        if dest.upper != self.local.upper:
            return False
        return dest.lower is None or self.local.lower is None or dest.lower == self.local.lower

    def _on_frame(self, frame: HdlcFrame) -> None:
        kind = frame.kind
        if kind is Kind.SNRM:
            try:
                offer = HdlcParameters.decode(frame.info)
            except FrameError as exc:
                self._events.append(Ignored(f"SNRM parameters: {exc}", frame.info))
                self._out += self._frame(control_u(Kind.DM))  # FRMR would be stricter
                return
            self.remote = frame.source
            self.vs = self.vr = 0
            self._rx.clear()
            self._tx.clear()
            self._last_sent = None
            self.max_info_tx = min(self.params.max_info_tx, offer.max_info_rx)
            self.max_info_rx = min(self.params.max_info_rx, offer.max_info_tx)
            answer = HdlcParameters(self.max_info_tx, self.max_info_rx, 1, 1)
            self._out += self._frame(control_u(Kind.UA), answer.encode())
            self.state = _State.CONNECTED
            self._events.append(Connected(self.max_info_tx, self.max_info_rx))
        elif kind is Kind.DISC:
            was = self.state
            self.remote = frame.source
            self._out += self._frame(control_u(Kind.UA if was is _State.CONNECTED else Kind.DM))
            self.state = _State.DISCONNECTED
            self._tx.clear()
            if was is _State.CONNECTED:
                self._events.append(Disconnected(by_peer=True))
        elif self.state is not _State.CONNECTED:
            self.remote = frame.source
            self._out += self._frame(control_u(Kind.DM))
            self._events.append(Ignored(f"{kind.value} before SNRM: answered DM"))
        elif kind is Kind.I:
            if self._tx:
                self._events.append(Ignored("I-frame while our answer is still being sent"))
                return
            self._on_i_frame(frame)
        elif kind is Kind.RR:
            if self._tx and frame.nr == self.vs:
                self._send_next_segment()
            elif frame.nr != self.vs and self._last_sent is not None:
                self._out += self._last_sent  # the client missed our last frame
            else:
                self._out += self._frame(control_rr(self.vr))
        else:
            self._events.append(Ignored(f"unexpected {kind.value} from the client"))

    def _on_duplicate(self, frame: HdlcFrame) -> None:
        # The client repeats a request whose answer it never got: answer again.
        self._events.append(Ignored(f"repeated I-frame N(S)={frame.ns}: answer repeated"))
        if self._last_sent is not None:
            self._out += self._last_sent

"""The DLMS wrapper over TCP/UDP (IEC 62056-47), sans-IO.

Each APDU is preceded by an 8-byte header, all fields big-endian unsigned 16-bit::

    version (0x0001) | source wPort | destination wPort | length of the APDU

A wPort plays the role of the HDLC address: the client's is its SAP (16 public client, 1
management), the server's its logical device (1 management). TCP port 4059 is the convention.
There is no checksum: TCP guards the bytes, so the only faults are a wrong version or length.
"""

from __future__ import annotations

from dataclasses import dataclass

from hil.dlms.errors import FrameError, LocalProtocolError

WRAPPER_VERSION = 1
HEADER_SIZE = 8
DEFAULT_PORT = 4059


@dataclass(frozen=True, slots=True)
class WrapperFrame:
    source: int
    destination: int
    apdu: bytes
    version: int = WRAPPER_VERSION

    def encode(self) -> bytes:
        if len(self.apdu) > 0xFFFF:
            raise LocalProtocolError(f"wrapper APDU of {len(self.apdu)} bytes exceeds 65535")
        for name, value in (("source", self.source), ("destination", self.destination)):
            if not 0 <= value <= 0xFFFF:
                raise LocalProtocolError(f"wrapper {name} wPort must be 0..65535, got {value}")
        return (
            self.version.to_bytes(2, "big")
            + self.source.to_bytes(2, "big")
            + self.destination.to_bytes(2, "big")
            + len(self.apdu).to_bytes(2, "big")
            + self.apdu
        )


def wrap(source: int, destination: int, apdu: bytes) -> bytes:
    return WrapperFrame(source, destination, apdu).encode()


class WrapperReader:
    """Cuts a TCP byte stream into wrapper frames.

    A header with another version means the stream is not (or no longer) the wrapper: there is
    no way to find the next frame, so `feed` raises `FrameError` and keeps nothing.
    `max_apdu` bounds what one frame may announce (a peer cannot make us buffer 64 KiB of junk
    unless we allow it).
    """

    def __init__(self, *, max_apdu: int = 0xFFFF) -> None:
        self.max_apdu = max_apdu
        self._buf = bytearray()

    @property
    def pending(self) -> int:
        return len(self._buf)

    def discard(self) -> bytes:
        raw = bytes(self._buf)
        self._buf.clear()
        return raw

    def feed(self, data: bytes) -> list[WrapperFrame]:
        self._buf += data
        out: list[WrapperFrame] = []
        buf = self._buf
        while len(buf) >= HEADER_SIZE:
            version = (buf[0] << 8) | buf[1]
            length = (buf[6] << 8) | buf[7]
            if version != WRAPPER_VERSION:
                head = bytes(buf[:HEADER_SIZE]).hex(" ")
                buf.clear()
                raise FrameError(f"wrapper version {version} is not 1 (header {head})")
            if length > self.max_apdu:
                buf.clear()
                raise FrameError(f"wrapper frame announces {length} bytes, limit {self.max_apdu}")
            if len(buf) < HEADER_SIZE + length:
                break
            source = (buf[2] << 8) | buf[3]
            destination = (buf[4] << 8) | buf[5]
            apdu = bytes(buf[HEADER_SIZE : HEADER_SIZE + length])
            del buf[: HEADER_SIZE + length]
            out.append(WrapperFrame(source, destination, apdu, version))
        return out

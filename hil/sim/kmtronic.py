"""Pure emulation of a KMTronic USB relay board (USB-serial, 3-byte binary frames).

Frames are ``FF nn cc`` with relays numbered from 1:

* ``FF nn 01`` closes relay nn, ``FF nn 00`` opens it (no reply).
* ``FF nn 03`` reads relay nn: reply ``FF nn ss`` with ss 0 or 1.
* ``FF 09 00`` reads every relay: reply one byte (0 or 1) per relay, no header.

Bytes before an ``FF`` are skipped so the parser re-synchronises after line noise. A partial
frame stays buffered until its remaining bytes arrive. A frame with an unknown relay or
command is consumed and ignored, as the board gives no error reply.

Fault injection: channels in `stuck` ignore commands and report the state they are stuck in.
"""

from __future__ import annotations

from collections.abc import Iterable

from hil.sim.relays import RelayChange

__all__ = ["KmtronicBoard"]

_START = 0xFF
_READ_ALL = 0x09
_OFF, _ON, _READ = 0x00, 0x01, 0x03


class KmtronicBoard:
    """A KMTronic relay board: feed it received bytes, get back the bytes it sends."""

    def __init__(self, channels: int = 8, *, stuck: Iterable[int] = ()) -> None:
        if channels not in (1, 2, 4, 8):
            raise ValueError(f"channels: expected 1, 2, 4 or 8, got {channels}")
        self.channels = channels
        self.stuck: set[int] = set(stuck)
        self._closed = [False] * (channels + 1)  # index 0 unused: relays count from 1
        self._buf = bytearray()

    def is_closed(self, channel: int) -> bool:
        if not 1 <= channel <= self.channels:
            raise IndexError(f"channel: expected 1..{self.channels}, got {channel}")
        return self._closed[channel]

    def feed(self, data: bytes, at: float) -> tuple[bytes, list[RelayChange]]:
        self._buf += data
        out = bytearray()
        changes: list[RelayChange] = []
        while True:
            start = self._buf.find(_START)
            if start < 0:
                self._buf.clear()
                break
            del self._buf[:start]
            if len(self._buf) < 3:
                break
            _, relay, command = self._buf[:3]
            del self._buf[:3]
            out += self._execute(relay, command, at, changes)
        return bytes(out), changes

    def _execute(self, relay: int, command: int, at: float, changes: list[RelayChange]) -> bytes:
        if relay == _READ_ALL and command == _OFF:
            return bytes(int(c) for c in self._closed[1:])
        if not 1 <= relay <= self.channels:
            return b""
        if command == _READ:
            return bytes((_START, relay, int(self._closed[relay])))
        if command in (_ON, _OFF):
            closed = command == _ON
            if relay not in self.stuck and self._closed[relay] != closed:
                self._closed[relay] = closed
                changes.append(RelayChange(relay, closed, at))
        return b""

"""Relay board drivers: Numato (ASCII with echo and prompt) and KMTronic (3-byte binary frames).

Every driver implements `RelayDriver`. Channels use the board's own numbering, as printed on
it: Numato counts from 0, KMTronic from 1. A driver switches every relay off when it opens and
again when it closes, so a crashed run never leaves a key held down. One command is in flight at
a time (a lock), and `spacing_s` puts a minimum gap between commands for boards that corrupt
back-to-back frames. Every reply has a deadline of `timeout_s`.

Faults: a board that does not answer when opened -> `DeviceAbsent`; no reply later ->
`ReplyTimeout`; a reply of the wrong shape -> `GarbledReply`; a relay that reads back in the wrong
state after `verify` -> `DeviceError`. Nothing is retried: a relay that misbehaves is a bench
fault to report, not to paper over.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable
from typing import ClassVar, Protocol, runtime_checkable

import serial

from hil.closing import Closing
from hil.errors import (
    ConfigError,
    DeviceAbsent,
    DeviceError,
    GarbledReply,
    HarnessError,
    ReplyTimeout,
)
from hil.rig.drivers.serial_port import open_serial, read_exactly, read_until

__all__ = [
    "RELAY_KINDS",
    "KmtronicRelay",
    "NumatoRelay",
    "RelayDriver",
    "make_relay",
    "numato_channel_char",
]

# Each read call waits at most this long, so deadlines are kept to within one poll.
_POLL_S = 0.02


@runtime_checkable
class RelayDriver(Protocol):
    """What the keypad and the rig need from any relay board."""

    def set(self, channel: int, closed: bool) -> None:
        """Close (True) or open (False) one relay."""

    def get(self, channel: int) -> bool:
        """Whether the board reports the relay closed."""

    def all_off(self) -> None:
        """Open every relay."""

    def identify(self) -> str:
        """A string identifying the board (asks the board, so it proves it answers)."""

    def close(self) -> None:
        """Open every relay and release the port. Idempotent."""


def numato_channel_char(channel: int) -> str:
    """Numato's one-character relay index: 0-9, then upper-case A-V for 10-31."""
    if not 0 <= channel <= 31:
        raise ValueError(f"Numato channel: expected 0..31, got {channel}")
    return str(channel) if channel < 10 else chr(ord("A") + channel - 10)


class _SerialBoard(Closing):
    """Shared plumbing: port, lock, spacing, deadlines, close, context manager."""

    label: ClassVar[str] = "relay board"
    kind: ClassVar[str] = ""
    first_channel: ClassVar[int] = 0

    def __init__(
        self,
        url: str,
        *,
        channels: int,
        timeout_s: float,
        spacing_s: float,
        verify: bool,
        baudrate: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        if spacing_s < 0:
            raise ValueError(f"spacing_s must be >= 0, got {spacing_s}")
        self.url = url
        self.channels = channels
        self.timeout_s = timeout_s
        self.spacing_s = spacing_s
        self.verify = verify
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.RLock()
        self._last_io = -math.inf
        self._closed = False
        self._port: serial.SerialBase = open_serial(
            url,
            baudrate=baudrate,
            timeout_s=_POLL_S,
            write_timeout_s=timeout_s,
            what=self.label,
        )
        try:
            self._start()
        except BaseException:
            self._port.close()
            self._closed = True
            raise

    # -- subclass hooks ------------------------------------------------------------------------

    def _start(self) -> None:
        """Check the board answers, then switch everything off."""
        raise NotImplementedError

    def all_off(self) -> None:
        raise NotImplementedError

    # -- public --------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Switch every relay off, then release the port (even if switching off fails)."""
        with self._lock:
            if self._closed:
                return
            try:
                self.all_off()
            finally:
                self._closed = True
                self._port.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r}, channels={self.channels})"

    # -- helpers -------------------------------------------------------------------------------

    def _where(self) -> str:
        return f"{self.label} at {self.url}"

    def _check_channel(self, channel: int) -> None:
        last = self.first_channel + self.channels - 1
        if not self.first_channel <= channel <= last:
            raise ValueError(
                f"{self._where()}: channel {channel} is not on the board "
                f"(channels {self.first_channel}..{last})"
            )

    def _check_open(self) -> None:
        if self._closed:
            raise HarnessError(f"{self._where()}: driver used after close()")

    def _pace(self) -> None:
        wait = self._last_io + self.spacing_s - self._clock()
        if wait > 0:
            self._sleep(wait)

    def _write(self, data: bytes, what: str) -> None:
        try:
            self._port.write(data)
            self._port.flush()
        except serial.SerialTimeoutException as exc:
            raise ReplyTimeout(
                f"{self._where()} did not take {what} within {self.timeout_s} s: "
                "check the USB cable and that nothing else is using the port"
            ) from exc
        except (serial.SerialException, OSError) as exc:
            raise DeviceAbsent(
                f"{self._where()} failed while sending {what} ({exc}): "
                "check the USB cable and the port in the rig file"
            ) from exc

    def _discard_input(self) -> None:
        try:
            self._port.reset_input_buffer()
        except (serial.SerialException, OSError) as exc:
            raise DeviceAbsent(
                f"{self._where()} failed ({exc}): check the USB cable and the port in the rig file"
            ) from exc

    def _no_answer(self, what: str) -> ReplyTimeout:
        return ReplyTimeout(
            f"{self._where()} did not answer {what} within {self.timeout_s} s: "
            "check the USB cable and the port in the rig file"
        )

    def _verify_state(self, channel: int, closed: bool, command: str) -> None:
        actual = self.get(channel)
        if actual != closed:
            state = "closed" if actual else "open"
            raise DeviceError(
                f"{self._where()}: relay {channel} reads {state} after {command!r}: the relay "
                "may be stuck or not fitted; check the board and the channel in the rig file"
            )


class NumatoRelay(_SerialBoard):
    """Numato Lab USB relay board (CDC-ACM, ASCII commands ending in CR).

    The board echoes each character, answers the CR with a newline, the reply line if any, and
    a ``>`` prompt. The driver reads up to the prompt, checks the echo and returns the reply.
    `verify` reads each relay back with ``relay read`` after switching it (per call:
    ``set(..., verify=True)``).
    """

    label = "Numato relay board"
    kind = "numato"
    first_channel = 0

    def __init__(
        self,
        url: str,
        channels: int = 16,
        timeout_s: float = 1.0,
        *,
        verify: bool = False,
        spacing_s: float = 0.0,
        baudrate: int = 19200,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not 1 <= channels <= 32:
            raise ValueError(f"Numato channels: expected 1..32, got {channels}")
        self.version = ""
        super().__init__(
            url,
            channels=channels,
            timeout_s=timeout_s,
            spacing_s=spacing_s,
            verify=verify,
            baudrate=baudrate,
            clock=clock,
            sleep=sleep,
        )

    def _start(self) -> None:
        try:
            # A bare CR ends whatever half-typed line the board may hold, and proves it answers.
            self.command("")
        except ReplyTimeout as exc:
            raise DeviceAbsent(
                f"{self._where()} did not show its '>' prompt within {self.timeout_s} s: "
                "check the USB cable, that the port in the rig file is a Numato board, and "
                "that no other program holds it"
            ) from exc
        self.version = self.identify()
        self.all_off()

    def command(self, command: str) -> str | None:
        """Send one command line; the board's reply line, or None for commands without one."""
        if "\r" in command or "\n" in command or ">" in command:
            raise ValueError(f"Numato command must be one line without '>', got {command!r}")
        echo = command.encode("ascii")
        with self._lock:
            self._check_open()
            self._pace()
            try:
                self._discard_input()
                self._write(echo + b"\r", repr(command))
                deadline = self._clock() + self.timeout_s
                data = self._read_echo_and_prompt(echo, deadline)
            except (serial.SerialException, OSError) as exc:
                raise DeviceAbsent(
                    f"{self._where()} failed while reading ({exc}): "
                    "check the USB cable and the port in the rig file"
                ) from exc
            finally:
                self._last_io = self._clock()
        if data is None:
            raise self._no_answer(repr(command or "<CR>"))
        lines = [line.strip() for line in re.split(r"[\r\n]+", data.decode("ascii", "replace"))]
        lines = [line for line in lines if line]
        return lines[0] if lines else None

    def _read_echo_and_prompt(self, echo: bytes, deadline: float) -> bytes | None:
        """What the board sent between the echo of `echo` and the next prompt.

        A prompt without the echo before it (a late answer to an earlier command) is skipped.
        None when nothing at all came back; `GarbledReply` when only unrelated text came back.
        """
        buf = bytearray()
        while True:
            chunk, _ = read_until(self._port, b">", deadline, clock=self._clock)
            buf += chunk
            start = buf.rfind(echo) if echo else 0
            if start >= 0:
                end = buf.find(b">", start + len(echo))
                if end >= 0:
                    return bytes(buf[start + len(echo) : end])
            if self._clock() >= deadline:
                break
        if not buf:
            return None
        raise GarbledReply(
            f"{self._where()} did not echo {echo.decode()!r} (got {bytes(buf[:60])!r}): check "
            "that the port is a Numato board and the cable is sound"
        )

    def set(self, channel: int, closed: bool, *, verify: bool | None = None) -> None:
        self._check_channel(channel)
        command = f"relay {'on' if closed else 'off'} {numato_channel_char(channel)}"
        with self._lock:
            self.command(command)
            if self.verify if verify is None else verify:
                self._verify_state(channel, closed, command)

    def get(self, channel: int) -> bool:
        self._check_channel(channel)
        command = f"relay read {numato_channel_char(channel)}"
        reply = self.command(command)
        if reply not in ("on", "off"):
            raise GarbledReply(
                f"{self._where()} answered {command!r} with {reply!r}, not 'on' or 'off': "
                "check the channel count in the rig file"
            )
        return reply == "on"

    def read_all(self) -> int:
        """Every relay at once: bit n set when relay n is closed."""
        reply = self.command("relay readall")
        try:
            return int(reply or "", 16) & ((1 << self.channels) - 1)
        except ValueError:
            raise GarbledReply(
                f"{self._where()} answered 'relay readall' with {reply!r}, not a hex mask: "
                "check that the port is a Numato relay board"
            ) from None

    def all_off(self) -> None:
        with self._lock:
            self.command("reset")
            if self.verify and (mask := self.read_all()):
                stuck = [n for n in range(self.channels) if mask >> n & 1]
                raise DeviceError(
                    f"{self._where()}: relays {stuck} still read closed after 'reset': "
                    "they may be stuck; check the board"
                )

    def identify(self) -> str:
        """The board's firmware version (``ver``)."""
        reply = self.command("ver")
        if not reply:
            raise GarbledReply(
                f"{self._where()} answered 'ver' with nothing: check that the port is a "
                "Numato board"
            )
        return reply

    def board_id(self) -> str:
        """The user-settable 8-character board id (``id get``)."""
        return self.command("id get") or ""


class KmtronicRelay(_SerialBoard):
    """KMTronic USB relay board (USB-serial, 9600 8N1): ``FF nn cc`` frames, relays 1..n.

    Switching has no reply; `verify` reads the relay back (``FF nn 03``). On open the driver
    reads the board's status (``FF 09 00`` on 4- and 8-channel boards, ``FF 01 03`` on the
    others) to prove a board is there, since a write to an empty port succeeds silently.
    """

    label = "KMTronic relay board"
    kind = "kmtronic"
    first_channel = 1

    def __init__(
        self,
        url: str,
        channels: int = 8,
        timeout_s: float = 1.0,
        *,
        verify: bool = False,
        spacing_s: float = 0.0,
        baudrate: int = 9600,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if channels not in (1, 2, 4, 8):
            raise ValueError(f"KMTronic channels: expected 1, 2, 4 or 8, got {channels}")
        super().__init__(
            url,
            channels=channels,
            timeout_s=timeout_s,
            spacing_s=spacing_s,
            verify=verify,
            baudrate=baudrate,
            clock=clock,
            sleep=sleep,
        )

    def _start(self) -> None:
        try:
            self.read_all()
        except ReplyTimeout as exc:
            raise DeviceAbsent(
                f"{self._where()} did not answer its status read within {self.timeout_s} s: "
                "check the USB cable, that the port in the rig file is a KMTronic board, and "
                "the baud rate (9600)"
            ) from exc
        self.all_off()

    def _exchange(self, frame: bytes, reply_size: int) -> bytes:
        """Send one frame; read `reply_size` bytes (0: no reply expected)."""
        what = f"frame {frame.hex(' ').upper()}"
        with self._lock:
            self._check_open()
            self._pace()
            try:
                if reply_size:
                    self._discard_input()
                self._write(frame, what)
                if not reply_size:
                    return b""
                deadline = self._clock() + self.timeout_s
                reply = read_exactly(self._port, reply_size, deadline, clock=self._clock)
            except (serial.SerialException, OSError) as exc:
                raise DeviceAbsent(
                    f"{self._where()} failed while reading ({exc}): "
                    "check the USB cable and the port in the rig file"
                ) from exc
            finally:
                self._last_io = self._clock()
        if len(reply) < reply_size:
            raise self._no_answer(what)
        return reply

    def set(self, channel: int, closed: bool, *, verify: bool | None = None) -> None:
        self._check_channel(channel)
        frame = bytes((0xFF, channel, 0x01 if closed else 0x00))
        with self._lock:
            self._exchange(frame, 0)
            if self.verify if verify is None else verify:
                self._verify_state(channel, closed, frame.hex(" ").upper())

    def get(self, channel: int) -> bool:
        self._check_channel(channel)
        reply = self._exchange(bytes((0xFF, channel, 0x03)), 3)
        if reply[0] != 0xFF or reply[1] != channel or reply[2] not in (0, 1):
            raise GarbledReply(
                f"{self._where()} answered the read of relay {channel} with "
                f"{reply.hex(' ').upper()}, expected FF {channel:02X} 00|01: check the baud rate"
            )
        return reply[2] == 1

    def read_all(self) -> list[bool]:
        """Every relay, index 0 = relay 1."""
        if self.channels < 4:
            return [self.get(channel) for channel in range(1, self.channels + 1)]
        reply = self._exchange(b"\xff\x09\x00", self.channels)
        if any(byte not in (0, 1) for byte in reply):
            raise GarbledReply(
                f"{self._where()} answered the status read with {reply.hex(' ').upper()}, "
                "expected one 00 or 01 byte per relay: check the baud rate and channel count"
            )
        return [byte == 1 for byte in reply]

    def all_off(self) -> None:
        with self._lock:
            for channel in range(1, self.channels + 1):
                self._exchange(bytes((0xFF, channel, 0x00)), 0)
            if self.verify and any(states := self.read_all()):
                stuck = [n + 1 for n, on in enumerate(states) if on]
                raise DeviceError(
                    f"{self._where()}: relays {stuck} still read closed after switching all "
                    "off: they may be stuck; check the board"
                )

    def identify(self) -> str:
        """KMTronic boards have no version command: reads the status, names the board."""
        states = self.read_all()
        return f"KMTronic {self.channels}-channel relay board ({sum(states)} closed)"


RELAY_KINDS: dict[str, Callable[..., RelayDriver]] = {
    NumatoRelay.kind: NumatoRelay,
    KmtronicRelay.kind: KmtronicRelay,
}


def make_relay(kind: str, url: str, **opts: object) -> RelayDriver:
    """A relay driver by rig-file kind (``numato``, ``kmtronic``); `opts` go to its constructor."""
    try:
        factory = RELAY_KINDS[kind]
    except KeyError:
        known = ", ".join(sorted(RELAY_KINDS))
        raise ConfigError(f"relay board kind {kind!r} is not known: use one of {known}") from None
    return factory(url, **opts)

"""Opening byte-stream ports by URL, and finding USB serial ports by what they are.

Every serial driver (relay boards, the probe) opens its port here, so the URL forms and the
"cannot open" error are the same everywhere:

* a device path: ``/dev/ttyACM0``, ``/dev/serial/by-id/...``, ``COM5``, or a pty path;
* ``socket://host:port``: a raw TCP byte stream (ser2net raw mode, the simulated bench);
* ``rfc2217://host:port``: telnet with serial-port control (ser2net telnet mode);
* ``loop://``: a loopback port for pure framing tests.

A rig names a USB device by its serial number or its physical location (hub port) with
`find_port`, so a re-plug that changes ``/dev/ttyUSBn`` does not move a rig onto the wrong board.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from contextlib import suppress

import serial
from serial.tools import list_ports

from hil.errors import ConfigError, DeviceAbsent

__all__ = ["describe_port", "find_port", "open_serial", "read_exactly", "read_until"]


def open_serial(
    url: str,
    *,
    baudrate: int = 115200,
    timeout_s: float,
    write_timeout_s: float | None = None,
    exclusive: bool = True,
    what: str = "serial device",
) -> serial.Serial:
    """Open `url` with pyserial; `timeout_s` bounds each read call, writes get their own bound.

    `exclusive` locks a local device against a second opener (POSIX advisory lock; other
    URL kinds ignore it). `what` names the device in the error message.
    Raises `DeviceAbsent` when the port cannot be opened, `ConfigError` for a malformed URL.
    """
    if not url or not url.strip():
        raise DeviceAbsent(
            f"{what}: no port given: set the port URL or device path in the rig file"
        )
    if timeout_s < 0:
        raise ValueError(f"timeout_s must be >= 0, got {timeout_s}")
    if write_timeout_s is None:
        write_timeout_s = max(timeout_s, 1.0)
    try:
        port = serial.serial_for_url(
            url,
            baudrate=baudrate,
            timeout=timeout_s,
            write_timeout=write_timeout_s,
            exclusive=exclusive,
        )
    except ValueError as exc:  # unknown URL scheme or bad URL parameters: a rig file mistake
        raise ConfigError(
            f"{what} at {url} could not be opened ({_one_line(exc)}): use a device path, "
            "socket://HOST:PORT, rfc2217://HOST:PORT or loop:// in the rig file"
        ) from exc
    except (serial.SerialException, OSError) as exc:
        raise DeviceAbsent(
            f"{what} at {url} could not be opened ({_one_line(exc)}): check that it is "
            "plugged in or listening, that the port in the rig file is right, and that no "
            "other program holds it"
        ) from exc
    _no_delay(port)
    return port


def find_port(
    serial_number: str | None = None,
    location: str | None = None,
    vid: int | None = None,
    pid: int | None = None,
) -> str:
    """The device path of the one serial port matching every criterion given.

    `serial_number` is the USB serial number (exact match). `location` is the USB physical
    path as pyserial reports it (``1-1.2:1.0``); the part before ``:`` (``1-1.2``, the hub
    port) also matches. `vid` and `pid` are the USB vendor and product ids.
    Raises `DeviceAbsent` listing the ports found when none or more than one matches.
    """
    if serial_number is None and location is None and vid is None and pid is None:
        raise ConfigError(
            "find_port: no criterion given: set serial_number, location, vid or pid in the rig file"
        )
    wanted = _criteria(serial_number, location, vid, pid)
    ports = sorted(list_ports.comports(), key=lambda p: p.device)
    matches = [p for p in ports if _matches(p, serial_number, location, vid, pid)]
    if len(matches) == 1:
        return str(matches[0].device)
    found = "; ".join(describe_port(p) for p in ports) or "no serial ports at all"
    if not matches:
        raise DeviceAbsent(
            f"no serial port matches {wanted} (found: {found}): plug the device in, or fix "
            "the serial number or location in the rig file"
        )
    raise DeviceAbsent(
        f"{len(matches)} serial ports match {wanted} "
        f"({'; '.join(describe_port(p) for p in matches)}): "
        "add the serial number or location to the rig file so exactly one matches"
    )


def describe_port(port: object) -> str:
    """One line about a `list_ports` entry: path, serial number, location, vid:pid."""
    device = getattr(port, "device", "?")
    parts = []
    serial_number = getattr(port, "serial_number", None)
    if serial_number:
        parts.append(f"serial={serial_number}")
    location = getattr(port, "location", None)
    if location:
        parts.append(f"location={location}")
    vid, pid = getattr(port, "vid", None), getattr(port, "pid", None)
    if vid is not None and pid is not None:
        parts.append(f"{vid:04x}:{pid:04x}")
    return f"{device} [{', '.join(parts)}]" if parts else str(device)


def read_until(
    port: serial.SerialBase,
    expected: bytes,
    deadline: float,
    *,
    max_bytes: int = 4096,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[bytes, bool]:
    """Read until `expected` arrives or `deadline` (on `clock`) passes: (data, found).

    Each read call waits at most the port's own timeout, so with a short port timeout the
    overrun past `deadline` is one poll interval. Reads what is waiting in whole chunks, so the
    data may go on past `expected`. Stops early after `max_bytes` (not found).
    """
    buf = bytearray()
    while True:
        waiting = port.in_waiting
        buf += port.read(waiting if waiting > 0 else 1)
        if expected in buf:
            return bytes(buf), True
        if len(buf) >= max_bytes or clock() >= deadline:
            return bytes(buf), False


def read_exactly(
    port: serial.SerialBase,
    size: int,
    deadline: float,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> bytes:
    """Read `size` bytes, or fewer if `deadline` passes first."""
    buf = bytearray()
    while len(buf) < size:
        buf += port.read(min(max(port.in_waiting, 1), size - len(buf)))
        if len(buf) < size and clock() >= deadline:
            break
    return bytes(buf)


def _no_delay(port: serial.SerialBase) -> None:
    """Send small writes at once on TCP URLs (socket://, rfc2217://).

    pyserial leaves Nagle's algorithm on; two small writes in a row (a KMTronic frame, then a
    read frame) then wait for the peer's delayed ACK, about 40 ms each. pyserial keeps the
    socket in a private attribute, hence the guarded lookup.
    """
    sock = getattr(port, "_socket", None)
    if isinstance(sock, socket.socket):
        with suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _criteria(
    serial_number: str | None, location: str | None, vid: int | None, pid: int | None
) -> str:
    parts = []
    if serial_number is not None:
        parts.append(f"serial_number={serial_number!r}")
    if location is not None:
        parts.append(f"location={location!r}")
    if vid is not None:
        parts.append(f"vid=0x{vid:04x}")
    if pid is not None:
        parts.append(f"pid=0x{pid:04x}")
    return " ".join(parts)


def _matches(
    port: object,
    serial_number: str | None,
    location: str | None,
    vid: int | None,
    pid: int | None,
) -> bool:
    if serial_number is not None and getattr(port, "serial_number", None) != serial_number:
        return False
    if location is not None:
        have = getattr(port, "location", None) or ""
        if location not in (have, have.split(":")[0]):
            return False
    if vid is not None and getattr(port, "vid", None) != vid:
        return False
    return pid is None or getattr(port, "pid", None) == pid


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__

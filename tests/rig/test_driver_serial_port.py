"""open_serial / find_port: URL forms, read deadlines, and the errors a rig author sees."""

from __future__ import annotations

import socket
import time

import pytest
from serial.tools import list_ports
from serial.tools.list_ports_common import ListPortInfo

from hil.errors import BenchFault, ConfigError, DeviceAbsent
from hil.rig.drivers.serial_port import find_port, open_serial, read_exactly, read_until
from hil.sim.transports import Faults, PtyEndpoint, TcpEndpoint


def echo(data: bytes, at: float) -> bytes:
    return data


def closed_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_opens_a_pty_path() -> None:
    with PtyEndpoint(echo) as pty:
        port = open_serial(pty.path, timeout_s=0.5)
        try:
            port.write(b"hello\n")
            assert port.readline() == b"hello\n"
        finally:
            port.close()


def test_opens_a_socket_url() -> None:
    with TcpEndpoint(lambda: echo) as tcp:
        port = open_serial(tcp.url, timeout_s=0.5)
        try:
            port.write(b"ping")
            assert port.read(4) == b"ping"
        finally:
            port.close()


def test_opens_loop_url() -> None:
    port = open_serial("loop://", timeout_s=0.1)
    try:
        port.write(b"x")
        assert port.read(1) == b"x"
    finally:
        port.close()


def test_missing_device_is_device_absent_naming_the_port() -> None:
    with pytest.raises(DeviceAbsent, match="relay board at /dev/no-such-port could not be opened"):
        open_serial("/dev/no-such-port", timeout_s=0.1, what="relay board")


def test_closed_tcp_port_is_device_absent() -> None:
    url = f"socket://127.0.0.1:{closed_tcp_port()}"
    start = time.monotonic()
    with pytest.raises(DeviceAbsent) as info:
        open_serial(url, timeout_s=0.1, what="probe")
    assert time.monotonic() - start < 2.0
    message = str(info.value)
    assert url in message and "\n" not in message
    assert isinstance(info.value, BenchFault)


def test_unknown_url_scheme_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="bogus://x"):
        open_serial("bogus://x", timeout_s=0.1)


def test_empty_url_is_device_absent() -> None:
    with pytest.raises(DeviceAbsent, match="no port given"):
        open_serial("", timeout_s=0.1)


def test_read_until_stops_at_the_deadline_on_a_silent_device() -> None:
    with PtyEndpoint(echo, faults=Faults(silent=True)) as pty:
        port = open_serial(pty.path, timeout_s=0.02)
        try:
            port.write(b"relay read 0\r")
            start = time.monotonic()
            data, found = read_until(port, b">", start + 0.2)
            elapsed = time.monotonic() - start
        finally:
            port.close()
    assert (data, found) == (b"", False)
    assert 0.2 <= elapsed < 0.5


def test_read_until_and_read_exactly_return_what_arrived() -> None:
    with PtyEndpoint(echo) as pty:
        port = open_serial(pty.path, timeout_s=0.02)
        try:
            port.write(b"ab>")
            assert read_until(port, b">", time.monotonic() + 1.0) == (b"ab>", True)
            port.write(b"cde")
            assert read_exactly(port, 2, time.monotonic() + 1.0) == b"cd"
            assert read_exactly(port, 1, time.monotonic() + 1.0) == b"e"
            assert read_exactly(port, 3, time.monotonic() + 0.1) == b""
        finally:
            port.close()


# -- find_port ------------------------------------------------------------------------------


def usb_port(device: str, serial_number: str, location: str, vid: int, pid: int) -> ListPortInfo:
    info = ListPortInfo(device, skip_link_detection=True)
    info.serial_number = serial_number
    info.location = location
    info.vid = vid
    info.pid = pid
    return info


@pytest.fixture
def two_boards(monkeypatch: pytest.MonkeyPatch) -> None:
    ports = [
        usb_port("/dev/ttyACM1", "NUM0042", "1-1.3:1.0", 0x2A19, 0x0C05),
        usb_port("/dev/ttyACM0", "NUM0007", "1-1.2:1.0", 0x2A19, 0x0C05),
        usb_port("/dev/ttyUSB0", "A50285BI", "1-1.4:1.0", 0x0403, 0x6001),
    ]
    monkeypatch.setattr(list_ports, "comports", lambda: list(ports))


@pytest.mark.usefixtures("two_boards")
def test_find_port_by_serial_number_location_or_ids() -> None:
    assert find_port(serial_number="NUM0042") == "/dev/ttyACM1"
    assert find_port(location="1-1.2:1.0") == "/dev/ttyACM0"
    assert find_port(location="1-1.2") == "/dev/ttyACM0"  # hub port without the interface
    assert find_port(vid=0x0403, pid=0x6001) == "/dev/ttyUSB0"
    assert find_port(serial_number="NUM0007", vid=0x2A19) == "/dev/ttyACM0"


@pytest.mark.usefixtures("two_boards")
def test_find_port_with_no_match_lists_what_was_found() -> None:
    with pytest.raises(DeviceAbsent) as info:
        find_port(serial_number="NUM9999")
    message = str(info.value)
    assert "serial_number='NUM9999'" in message
    assert "/dev/ttyACM0 [serial=NUM0007, location=1-1.2:1.0, 2a19:0c05]" in message
    assert "/dev/ttyUSB0" in message and "\n" not in message


@pytest.mark.usefixtures("two_boards")
def test_find_port_with_several_matches_is_device_absent() -> None:
    with pytest.raises(DeviceAbsent, match="2 serial ports match vid=0x2a19"):
        find_port(vid=0x2A19)


def test_find_port_needs_a_criterion() -> None:
    with pytest.raises(ConfigError, match="no criterion"):
        find_port()


def test_find_port_with_no_ports_at_all(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(list_ports, "comports", lambda: [])
    with pytest.raises(DeviceAbsent, match="no serial ports at all"):
        find_port(serial_number="X")

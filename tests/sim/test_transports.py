"""Endpoints over real OS transports, with the clients the harness drivers use.

Every read has a timeout, so a broken endpoint fails a test instead of hanging the suite.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import cast

import pytest
import pyvisa
import serial
from pyvisa.resources import MessageBasedResource

from hil.sim.instruments import AcSource, Dmm, StandalonePhysics
from hil.sim.numato import NumatoBoard
from hil.sim.relays import RelayChange, byte_handler
from hil.sim.transports import Faults, LineAdapter, PtyEndpoint, TcpEndpoint

READ_TIMEOUT_S = 1.0


def echo_upper(data: bytes, at: float) -> bytes:
    return data.upper()


def connect(tcp: TcpEndpoint) -> socket.socket:
    return socket.create_connection((tcp.host, tcp.port), timeout=READ_TIMEOUT_S)


@pytest.fixture(scope="module")
def visa_rm() -> Iterator[pyvisa.ResourceManager]:
    rm = pyvisa.ResourceManager("@py")
    yield rm
    rm.close()


def open_socket(rm: pyvisa.ResourceManager, tcp: TcpEndpoint) -> MessageBasedResource:
    resource = rm.open_resource(
        tcp.visa_resource, read_termination="\n", write_termination="\n", timeout=2000
    )
    return cast(MessageBasedResource, resource)


# -- LineAdapter (pure) ---------------------------------------------------------------------


def test_line_adapter_buffers_until_newline_and_strips_cr() -> None:
    seen: list[tuple[str, float]] = []

    def handle(line: str, at: float) -> str | None:
        seen.append((line, at))
        return None if line == "SET" else f"got {line}"

    adapter = LineAdapter(handle)
    assert adapter(b"*ID", 1.0) == b""
    assert adapter(b"N?\r\nSET\n\nX", 2.0) == b"got *IDN?\n"
    assert seen == [("*IDN?", 2.0), ("SET", 2.0)]
    assert adapter(b"\n", 3.0) == b"got X\n"


def test_line_adapter_survives_a_failing_handler() -> None:
    def handle(line: str, at: float) -> str | None:
        if line == "boom":
            raise RuntimeError("bug")
        return line

    assert LineAdapter(handle)(b"boom\nok\n", 0.0) == b"ok\n"


def test_line_adapter_discards_a_runaway_line() -> None:
    adapter = LineAdapter(lambda line, at: line, max_line=8)
    adapter(b"x" * 20, 0.0)
    assert adapter(b"ab\n", 0.0) == b"ab\n"


# -- pty ------------------------------------------------------------------------------------


def test_pyserial_drives_numato_board_over_pty() -> None:
    board = NumatoBoard()
    changes: list[RelayChange] = []
    with (
        PtyEndpoint(byte_handler(board, changes.append)) as pty,
        serial.Serial(pty.path, 115200, timeout=READ_TIMEOUT_S) as port,
    ):
        port.write(b"relay on 3\r")
        assert port.read_until(b">") == b"relay on 3\n\r>"
        port.write(b"relay read 3\r")
        assert port.read_until(b">") == b"relay read 3\n\ron\n\r>"
    assert [(c.channel, c.closed) for c in changes] == [(3, True)]


def test_pty_handler_gets_time_from_the_injected_clock() -> None:
    times: list[float] = []

    def handler(data: bytes, at: float) -> bytes:
        times.append(at)
        return b"ok"

    with (
        PtyEndpoint(handler, clock=lambda: 1234.5) as pty,
        serial.Serial(pty.path, timeout=READ_TIMEOUT_S) as port,
    ):
        port.write(b"x")
        assert port.read(2) == b"ok"
    assert times == [1234.5]


def test_pty_bytes_pass_unchanged_in_both_directions() -> None:
    every_byte = bytes(range(256))
    with (
        PtyEndpoint(lambda data, at: data) as pty,
        serial.Serial(pty.path, timeout=READ_TIMEOUT_S) as port,
    ):
        port.write(every_byte)
        assert port.read(256) == every_byte


def test_silent_endpoint_swallows_input_and_read_times_out() -> None:
    calls: list[bytes] = []

    def handler(data: bytes, at: float) -> bytes:
        calls.append(data)
        return data

    with (
        PtyEndpoint(handler, faults=Faults(silent=True)) as pty,
        serial.Serial(pty.path, timeout=0.2) as port,
    ):
        port.write(b"relay read 0\r")
        assert port.read(64) == b""
        assert calls == []
        pty.faults.silent = False  # faults change at run time
        port.write(b"hi")
        assert port.read(2) == b"hi"


def test_garble_rate_one_changes_every_byte() -> None:
    sent = b"relay read 0\r"
    with (
        PtyEndpoint(lambda data, at: data, faults=Faults(garble_rate=1.0, seed=7)) as pty,
        serial.Serial(pty.path, timeout=READ_TIMEOUT_S) as port,
    ):
        port.write(sent)
        got = port.read(len(sent))
    assert len(got) == len(sent)
    assert all(a != b for a, b in zip(got, sent, strict=True))


def test_drop_rate_one_loses_every_byte() -> None:
    with (
        PtyEndpoint(lambda data, at: data, faults=Faults(drop_rate=1.0)) as pty,
        serial.Serial(pty.path, timeout=0.2) as port,
    ):
        port.write(b"abc")
        assert port.read(3) == b""


def test_faults_are_reproducible_with_a_seed() -> None:
    data = bytes(range(200))
    first = Faults(drop_rate=0.3, garble_rate=0.3, seed=42).mangle(data)
    assert first == Faults(drop_rate=0.3, garble_rate=0.3, seed=42).mangle(data)
    assert first != data


def test_delay_holds_the_reply_but_handler_sees_arrival_time() -> None:
    times: list[float] = []

    def handler(data: bytes, at: float) -> bytes:
        times.append(at)
        return b"!"

    with (
        PtyEndpoint(handler, faults=Faults(delay_s=0.3)) as pty,
        serial.Serial(pty.path, timeout=READ_TIMEOUT_S) as port,
    ):
        start = time.monotonic()
        port.write(b"?")
        assert port.read(1) == b"!"
        elapsed = time.monotonic() - start
    assert 0.25 <= elapsed < READ_TIMEOUT_S
    assert times[0] - start < 0.2


def test_send_pushes_unsolicited_bytes() -> None:
    with (
        PtyEndpoint(echo_upper) as pty,
        serial.Serial(pty.path, timeout=READ_TIMEOUT_S) as port,
    ):
        pty.send(b"EVT KEY 5\r\n")
        assert port.readline() == b"EVT KEY 5\r\n"


def test_a_failing_handler_does_not_stop_the_endpoint() -> None:
    def handler(data: bytes, at: float) -> bytes:
        if b"boom" in data:
            raise RuntimeError("bug")
        return data

    with (
        PtyEndpoint(handler) as pty,
        serial.Serial(pty.path, timeout=READ_TIMEOUT_S) as port,
    ):
        port.write(b"boom")
        time.sleep(0.05)
        port.write(b"ok")
        assert port.read(2) == b"ok"


def test_pty_survives_client_reconnect() -> None:
    with PtyEndpoint(echo_upper) as pty:
        for _ in range(2):
            with serial.Serial(pty.path, timeout=READ_TIMEOUT_S) as port:
                port.write(b"ab")
                assert port.read(2) == b"AB"


# -- TCP ------------------------------------------------------------------------------------


def test_pyserial_socket_url_drives_numato_board() -> None:
    board = NumatoBoard()
    with TcpEndpoint(lambda: byte_handler(board)) as tcp:
        assert tcp.port > 0
        port = serial.serial_for_url(tcp.url, timeout=READ_TIMEOUT_S)
        try:
            port.write(b"relay writeall 0011\r")
            assert port.read_until(b">") == b"relay writeall 0011\n\r>"
            port.write(b"relay readall\r")
            assert port.read_until(b">") == b"relay readall\n\r0011\n\r>"
        finally:
            port.close()
    assert board.closed_mask == 0x11


def test_pyvisa_queries_instruments_over_tcp_socket(visa_rm: pyvisa.ResourceManager) -> None:
    physics = StandalonePhysics(source_on=False, source_voltage=230.0, load_relay_closed=True)
    source, dmm = AcSource(physics), Dmm(physics)
    with (
        TcpEndpoint(lambda: LineAdapter(source.handle)) as source_ep,
        TcpEndpoint(lambda: LineAdapter(dmm.handle)) as dmm_ep,
    ):
        src = open_socket(visa_rm, source_ep)
        meter = open_socket(visa_rm, dmm_ep)
        try:
            assert meter.query("*IDN?") == dmm.idn
            assert float(meter.query("MEAS:VOLT:AC?")) == 0.0
            src.write("OUTP ON")
            assert src.query("*OPC?") == "1"
            assert float(meter.query("MEAS:VOLT:AC?")) == 230.0
            meter.write("BOGUS")
            assert meter.query("SYST:ERR?") == '-113,"Undefined header"'
        finally:
            src.close()
            meter.close()


def test_each_tcp_client_has_its_own_line_buffer() -> None:
    physics = StandalonePhysics()
    dmm = Dmm(physics, idn="SIM,DMM")
    with (
        TcpEndpoint(lambda: LineAdapter(dmm.handle)) as tcp,
        connect(tcp) as a,
        connect(tcp) as b,
    ):
        a.sendall(b"*ID")
        b.sendall(b"*OPC")
        time.sleep(0.05)
        a.sendall(b"N?\n")
        b.sendall(b"?\n")
        assert a.recv(64) == b"SIM,DMM\n"
        assert b.recv(64) == b"1\n"


def test_tcp_serves_a_new_client_after_one_hangs_up() -> None:
    with TcpEndpoint(lambda: echo_upper) as tcp:
        for _ in range(2):
            with connect(tcp) as c:
                c.sendall(b"hi")
                assert c.recv(2) == b"HI"
        deadline = time.monotonic() + READ_TIMEOUT_S
        while tcp.client_count and time.monotonic() < deadline:
            time.sleep(0.01)
        assert tcp.client_count == 0


def test_tcp_silent_endpoint_read_times_out_with_nothing() -> None:
    with TcpEndpoint(lambda: echo_upper, faults=Faults(silent=True)) as tcp:
        port = serial.serial_for_url(tcp.url, timeout=0.2)
        try:
            port.write(b"relay read 0\r")
            assert port.read(64) == b""
        finally:
            port.close()


def test_tcp_send_reaches_every_client() -> None:
    with TcpEndpoint(lambda: echo_upper) as tcp, connect(tcp) as a, connect(tcp) as b:
        deadline = time.monotonic() + READ_TIMEOUT_S
        while tcp.client_count < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        tcp.send(b"EVT\n")
        assert a.recv(4) == b"EVT\n"
        assert b.recv(4) == b"EVT\n"


# -- shutdown -------------------------------------------------------------------------------


def test_close_is_prompt_with_clients_connected_and_idempotent() -> None:
    others = set(threading.enumerate())  # another test's bench may still be winding down
    pty = PtyEndpoint(echo_upper)
    tcp = TcpEndpoint(lambda: echo_upper)
    port = serial.Serial(pty.path, timeout=READ_TIMEOUT_S)
    conn = connect(tcp)
    try:
        start = time.monotonic()
        pty.close()
        tcp.close()
        assert time.monotonic() - start < 0.5
        pty.close()
        tcp.close()
        assert pty.closed and tcp.closed
        assert conn.recv(1) == b""  # server side hung up
        ours = set(threading.enumerate()) - others
        assert not any(t.name.startswith("sim-") for t in ours)
    finally:
        port.close()
        conn.close()


def test_client_that_never_reads_cannot_block_close() -> None:
    big = b"x" * 65536
    with PtyEndpoint(lambda data, at: big, write_timeout_s=0.2) as pty:
        port = serial.Serial(pty.path, timeout=READ_TIMEOUT_S)
        try:
            port.write(b"go")
            time.sleep(0.1)
            start = time.monotonic()
            pty.close()
            assert time.monotonic() - start < 1.0
        finally:
            port.close()

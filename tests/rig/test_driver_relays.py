"""Relay drivers against the simulator's board emulations over a real pty and real TCP."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from hil.errors import ConfigError, DeviceAbsent, DeviceError, ReplyTimeout
from hil.rig.drivers.relays import (
    KmtronicRelay,
    NumatoRelay,
    RelayDriver,
    make_relay,
    numato_channel_char,
)
from hil.sim.kmtronic import KmtronicBoard
from hil.sim.numato import NumatoBoard
from hil.sim.relays import RelayBoard, RelayChange, byte_handler
from hil.sim.transports import Faults, PtyEndpoint, TcpEndpoint

TIMEOUT_S = 0.3


@contextmanager
def serve(board: RelayBoard, transport: str, faults: Faults | None = None) -> Iterator[str]:
    """The board behind a real endpoint; yields the URL a driver opens."""
    lock = threading.Lock()
    if transport == "pty":
        with PtyEndpoint(byte_handler(board, lock=lock), faults=faults) as pty:
            yield pty.path
    else:
        with TcpEndpoint(lambda: byte_handler(board, lock=lock), faults=faults) as tcp:
            yield tcp.url


def closed_tcp_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"socket://127.0.0.1:{sock.getsockname()[1]}"


TRANSPORTS = ["pty", "tcp"]


def eventually(check: Callable[[], bool], timeout_s: float = 1.0) -> bool:
    """Poll `check` until true or `timeout_s` passes (for writes that get no reply)."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


# -- Numato ---------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_numato_switches_the_board_and_reads_back(transport: str) -> None:
    board = NumatoBoard(16)
    with serve(board, transport) as url, NumatoRelay(url, 16, TIMEOUT_S) as relay:
        assert isinstance(relay, RelayDriver)
        assert relay.identify() == "00000008"
        relay.set(3, True)
        relay.set(12, True)  # index character "C"
        assert board.is_closed(3) and board.is_closed(12)
        assert relay.get(3) and relay.get(12) and not relay.get(4)
        assert relay.read_all() == (1 << 3) | (1 << 12)
        relay.set(3, False, verify=True)
        assert not board.is_closed(3)
        relay.all_off()
        assert board.closed_mask == 0


def test_numato_switches_everything_off_on_open_and_on_close() -> None:
    board = NumatoBoard(16)
    board.feed(b"relay on 5\rrelay on A\r", at=0.0)  # left on by a crashed run
    assert board.closed_mask
    with serve(board, "pty") as url:
        relay = NumatoRelay(url, timeout_s=TIMEOUT_S)
        assert board.closed_mask == 0
        relay.set(7, True)
        relay.close()
        assert board.closed_mask == 0
        relay.close()  # idempotent
        assert relay.closed


def test_numato_channel_characters_cover_32_channels() -> None:
    assert [numato_channel_char(n) for n in (0, 9, 10, 31)] == ["0", "9", "A", "V"]
    board = NumatoBoard(32)
    changes: list[RelayChange] = []
    with (
        PtyEndpoint(byte_handler(board, changes.append)) as pty,
        NumatoRelay(pty.path, 32, TIMEOUT_S) as relay,
    ):
        for channel in (10, 25, 31):
            relay.set(channel, True)
    assert [(c.channel, c.closed) for c in changes] == [
        (10, True),
        (25, True),
        (31, True),
        (10, False),
        (25, False),
        (31, False),
    ]


def test_numato_rejects_a_channel_not_on_the_board() -> None:
    with serve(NumatoBoard(8), "pty") as url, NumatoRelay(url, 8, TIMEOUT_S) as relay:
        with pytest.raises(ValueError, match="channel 8 is not on the board"):
            relay.set(8, True)
        with pytest.raises(ValueError, match="channel -1"):
            relay.get(-1)


def test_numato_verify_catches_a_stuck_relay() -> None:
    board = NumatoBoard(16, stuck=[4])
    with serve(board, "pty") as url, NumatoRelay(url, timeout_s=TIMEOUT_S, verify=True) as relay:
        relay.set(3, True)  # verified fine
        with pytest.raises(DeviceError, match=r"relay 4 reads open after 'relay on 4'"):
            relay.set(4, True)


def test_numato_stuck_closed_relay_fails_verified_all_off_on_open() -> None:
    board = NumatoBoard(16)
    board.feed(b"relay on 2\r", at=0.0)
    board.stuck.add(2)
    with serve(board, "pty") as url:
        with pytest.raises(DeviceError, match=r"relays \[2\] still read closed"):
            NumatoRelay(url, timeout_s=TIMEOUT_S, verify=True)
        NumatoRelay(url, timeout_s=TIMEOUT_S).close()  # unverified: opens and closes


def test_numato_silent_board_is_absent_at_open() -> None:
    with serve(NumatoBoard(), "pty", Faults(silent=True)) as url:
        start = time.monotonic()
        with pytest.raises(DeviceAbsent, match="did not show its '>' prompt within 0.3 s"):
            NumatoRelay(url, timeout_s=TIMEOUT_S)
        assert time.monotonic() - start < 1.0


def test_numato_board_going_silent_later_is_a_reply_timeout() -> None:
    faults = Faults()
    with serve(NumatoBoard(), "pty", faults) as url, NumatoRelay(url, timeout_s=TIMEOUT_S) as relay:
        faults.silent = True
        start = time.monotonic()
        with pytest.raises(ReplyTimeout, match=r"did not answer 'relay on 1' within 0.3 s"):
            relay.set(1, True)
        assert 0.3 <= time.monotonic() - start < 1.0
        faults.silent = False


def test_numato_skips_a_late_prompt_from_an_earlier_command() -> None:
    board = NumatoBoard()
    with serve(board, "pty") as url, NumatoRelay(url, timeout_s=TIMEOUT_S) as relay:
        # A stale "...>" waiting in the input is discarded or skipped, never taken as the answer.
        relay._port.write(b"relay read 1\r")
        time.sleep(0.05)
        assert relay.get(2) is False
        relay.set(2, True)
        assert relay.get(2) is True


def test_numato_spacing_keeps_a_minimum_gap_between_commands() -> None:
    with serve(NumatoBoard(), "pty") as url:
        relay = NumatoRelay(url, timeout_s=TIMEOUT_S, spacing_s=0.05)
        try:
            start = time.monotonic()
            for _ in range(4):
                relay.set(0, True)
            assert time.monotonic() - start >= 0.15
        finally:
            relay.close()


def test_numato_one_command_in_flight_across_threads() -> None:
    board = NumatoBoard(16)
    errors: list[BaseException] = []
    with serve(board, "pty") as url, NumatoRelay(url, timeout_s=TIMEOUT_S) as relay:

        def worker(channel: int) -> None:
            try:
                for _ in range(10):
                    relay.set(channel, True)
                    assert relay.get(channel)
                    relay.set(channel, False)
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(5.0)
    assert not errors
    assert board.closed_mask == 0


# -- KMTronic -------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_kmtronic_switches_the_board_and_reads_back(transport: str) -> None:
    board = KmtronicBoard(8)
    with serve(board, transport) as url, KmtronicRelay(url, 8, TIMEOUT_S) as relay:
        assert isinstance(relay, RelayDriver)
        assert relay.identify() == "KMTronic 8-channel relay board (0 closed)"
        relay.set(1, True)
        relay.set(8, True, verify=True)
        assert board.is_closed(1) and board.is_closed(8)
        assert relay.get(1) and not relay.get(2)
        assert relay.read_all() == [True, False, False, False, False, False, False, True]
        relay.all_off()
        # Switching has no reply; a read behind it on the same stream proves it was done.
        assert relay.read_all() == [False] * 8
        assert not any(board.is_closed(n) for n in range(1, 9))


def test_kmtronic_switches_everything_off_on_open_and_close() -> None:
    board = KmtronicBoard(4)
    board.feed(b"\xff\x02\x01", at=0.0)
    with serve(board, "pty") as url:
        relay = KmtronicRelay(url, 4, TIMEOUT_S)
        assert relay.read_all() == [False] * 4
        assert not board.is_closed(2)
        relay.set(3, True, verify=True)
        relay.close()
        assert eventually(lambda: not board.is_closed(3))


def test_kmtronic_two_channel_board_reads_relays_one_by_one() -> None:
    board = KmtronicBoard(2)
    with serve(board, "pty") as url, KmtronicRelay(url, 2, TIMEOUT_S) as relay:
        relay.set(2, True)
        assert relay.read_all() == [False, True]


def test_kmtronic_channels_count_from_one() -> None:
    with (
        serve(KmtronicBoard(8), "pty") as url,
        KmtronicRelay(url, 8, TIMEOUT_S) as relay,
        pytest.raises(ValueError, match=r"channel 0 is not on the board \(channels 1..8\)"),
    ):
        relay.set(0, True)


def test_kmtronic_verify_catches_a_stuck_relay() -> None:
    board = KmtronicBoard(8, stuck=[5])
    with (
        serve(board, "pty") as url,
        KmtronicRelay(url, 8, TIMEOUT_S, verify=True) as relay,
        pytest.raises(DeviceError, match="relay 5 reads open"),
    ):
        relay.set(5, True)


def test_kmtronic_silent_port_is_absent_at_open() -> None:
    # A write to an empty port succeeds, so only the status read can tell nobody is there.
    with serve(KmtronicBoard(), "pty", Faults(silent=True)) as url:
        start = time.monotonic()
        with pytest.raises(DeviceAbsent, match="did not answer its status read"):
            KmtronicRelay(url, timeout_s=TIMEOUT_S)
        assert time.monotonic() - start < 1.0


def test_kmtronic_read_timeout_later() -> None:
    faults = Faults()
    with (
        serve(KmtronicBoard(), "pty", faults) as url,
        KmtronicRelay(url, timeout_s=TIMEOUT_S) as relay,
    ):
        faults.silent = True
        with pytest.raises(ReplyTimeout, match="did not answer frame FF 03 03"):
            relay.get(3)
        faults.silent = False


# -- factory and absent boards --------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "board_factory"),
    [("numato", lambda: NumatoBoard(16)), ("kmtronic", lambda: KmtronicBoard(8))],
)
def test_make_relay_by_kind(kind: str, board_factory: Callable[[], RelayBoard]) -> None:
    with serve(board_factory(), "tcp") as url:
        relay = make_relay(kind, url, timeout_s=TIMEOUT_S)
        try:
            assert isinstance(relay, RelayDriver)
            assert relay.identify()
        finally:
            relay.close()


def test_make_relay_unknown_kind() -> None:
    with pytest.raises(ConfigError, match="'denkovi' is not known: use one of kmtronic, numato"):
        make_relay("denkovi", "/dev/null")


@pytest.mark.parametrize("driver", [NumatoRelay, KmtronicRelay])
def test_absent_boards(driver: Callable[..., RelayDriver]) -> None:
    with pytest.raises(DeviceAbsent, match="/dev/ttyACM-missing could not be opened"):
        driver("/dev/ttyACM-missing", timeout_s=TIMEOUT_S)
    start = time.monotonic()
    with pytest.raises(DeviceAbsent, match="relay board at socket://"):
        driver(closed_tcp_url(), timeout_s=TIMEOUT_S)
    assert time.monotonic() - start < 2.0

"""KmtronicBoard: 3-byte binary frames, relays numbered from 1."""

from __future__ import annotations

import pytest

from hil.sim.kmtronic import KmtronicBoard
from hil.sim.relays import RelayChange


def test_on_and_off_frames_switch_relay_without_reply() -> None:
    board = KmtronicBoard()
    assert board.feed(b"\xff\x01\x01", 1.0) == (b"", [RelayChange(1, True, 1.0)])
    assert board.is_closed(1)
    assert board.feed(b"\xff\x01\x00", 2.0) == (b"", [RelayChange(1, False, 2.0)])


def test_read_replies_status_frame() -> None:
    board = KmtronicBoard()
    board.feed(b"\xff\x03\x01", 0.0)
    assert board.feed(b"\xff\x03\x03", 0.0)[0] == b"\xff\x03\x01"
    assert board.feed(b"\xff\x04\x03", 0.0)[0] == b"\xff\x04\x00"


def test_read_all_replies_one_byte_per_relay() -> None:
    board = KmtronicBoard(channels=4)
    board.feed(b"\xff\x02\x01\xff\x04\x01", 0.0)
    assert board.feed(b"\xff\x09\x00", 0.0)[0] == b"\x00\x01\x00\x01"


def test_partial_frame_stays_buffered() -> None:
    board = KmtronicBoard()
    assert board.feed(b"\xff\x05", 0.0) == (b"", [])
    assert board.feed(b"\x01", 3.0) == (b"", [RelayChange(5, True, 3.0)])


def test_garbage_before_start_byte_is_skipped() -> None:
    board = KmtronicBoard()
    assert board.feed(b"\x00\x12\xff\x02\x01", 0.0)[1] == [RelayChange(2, True, 0.0)]


@pytest.mark.parametrize("frame", [b"\xff\x00\x01", b"\xff\x09\x01", b"\xff\x02\x07"])
def test_unknown_relay_or_command_is_ignored(frame: bytes) -> None:
    board = KmtronicBoard()
    assert board.feed(frame, 0.0) == (b"", [])
    # and the stream stays in sync
    assert board.feed(b"\xff\x01\x03", 0.0)[0] == b"\xff\x01\x00"


def test_relay_beyond_a_small_board_is_ignored() -> None:
    board = KmtronicBoard(channels=2)
    assert board.feed(b"\xff\x03\x01", 0.0) == (b"", [])
    assert board.feed(b"\xff\x09\x00", 0.0)[0] == b"\x00\x00"


def test_several_frames_in_one_chunk_all_execute_in_order() -> None:
    board = KmtronicBoard()
    out, changes = board.feed(b"\xff\x01\x01\xff\x01\x03\xff\x01\x00", 0.0)
    assert out == b"\xff\x01\x01"
    assert changes == [RelayChange(1, True, 0.0), RelayChange(1, False, 0.0)]


def test_stuck_relay_ignores_commands_and_reports_its_stuck_state() -> None:
    board = KmtronicBoard(stuck={3})
    assert board.feed(b"\xff\x03\x01", 0.0) == (b"", [])
    assert board.feed(b"\xff\x03\x03", 0.0)[0] == b"\xff\x03\x00"


def test_bad_configuration_is_rejected() -> None:
    with pytest.raises(ValueError, match="channels"):
        KmtronicBoard(channels=16)
    with pytest.raises(IndexError):
        KmtronicBoard().is_closed(0)

"""NumatoBoard: echo, replies and prompt as a host driver sees them; relay changes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hil.sim.numato import LINE_MAX, NumatoBoard, channel_char
from hil.sim.relays import RelayChange


def send(board: NumatoBoard, text: str, at: float = 0.0) -> tuple[bytes, list[RelayChange]]:
    return board.feed(text.encode("ascii"), at)


def test_relay_on_echoes_command_then_prompt() -> None:
    out, changes = send(NumatoBoard(), "relay on 0\r", at=1.5)
    assert out == b"relay on 0\n\r>"
    assert changes == [RelayChange(0, True, 1.5)]


def test_relay_read_replies_state_then_prompt() -> None:
    board = NumatoBoard()
    assert send(board, "relay read 2\r")[0] == b"relay read 2\n\roff\n\r>"
    send(board, "relay on 2\r")
    assert send(board, "relay read 2\r")[0] == b"relay read 2\n\ron\n\r>"


def test_partial_line_is_echoed_at_once_and_executes_at_cr() -> None:
    board = NumatoBoard()
    assert board.feed(b"relay o", 0.0) == (b"relay o", [])
    out, changes = board.feed(b"n 5\r", 2.0)
    assert out == b"n 5\n\r>"
    assert changes == [RelayChange(5, True, 2.0)]


def test_relay_off_reports_opening() -> None:
    board = NumatoBoard()
    send(board, "relay on 1\r")
    assert send(board, "relay off 1\r", at=3.0)[1] == [RelayChange(1, False, 3.0)]
    assert not board.is_closed(1)


def test_switching_to_the_current_state_reports_no_change() -> None:
    board = NumatoBoard()
    send(board, "relay on 4\r")
    assert send(board, "relay on 4\r")[1] == []
    assert send(board, "relay off 7\r")[1] == []


def test_channels_above_9_use_uppercase_letters() -> None:
    board = NumatoBoard(channels=32)
    assert send(board, "relay on A\r")[1] == [RelayChange(10, True, 0.0)]
    assert send(board, "relay on V\r")[1] == [RelayChange(31, True, 0.0)]
    assert [channel_char(n) for n in (0, 9, 10, 31)] == ["0", "9", "A", "V"]


def test_lowercase_channel_letter_is_ignored() -> None:
    board = NumatoBoard()
    out, changes = send(board, "relay on a\r")
    assert (out, changes) == (b"relay on a\n\r>", [])


def test_channel_beyond_the_board_is_ignored() -> None:
    board = NumatoBoard(channels=8)
    assert send(board, "relay on 8\r")[1] == []
    assert send(board, "relay read 9\r")[0] == b"relay read 9\n\r>"


def test_index_is_one_character_and_trailing_data_is_ignored() -> None:
    # The firmware reads one index character: "relay on 10" switches relay 1.
    board = NumatoBoard()
    assert send(board, "relay on 10\r")[1] == [RelayChange(1, True, 0.0)]


def test_readall_is_hex_mask_with_one_digit_per_four_relays() -> None:
    board = NumatoBoard()
    send(board, "relay on 0\r")
    send(board, "relay on F\r")
    assert send(board, "relay readall\r")[0] == b"relay readall\n\r8001\n\r>"
    assert send(NumatoBoard(channels=32), "relay readall\r")[0].split(b"\n\r")[1] == b"00000000"
    assert send(NumatoBoard(channels=8), "relay readall\r")[0].split(b"\n\r")[1] == b"00"


def test_writeall_sets_every_relay_from_mask_and_reports_changes() -> None:
    board = NumatoBoard()
    send(board, "relay on 0\r")
    out, changes = send(board, "relay writeall 00A0\r", at=4.0)
    assert out == b"relay writeall 00A0\n\r>"
    assert changes == [
        RelayChange(0, False, 4.0),
        RelayChange(5, True, 4.0),
        RelayChange(7, True, 4.0),
    ]
    assert board.closed_mask == 0x00A0


@pytest.mark.parametrize("arg", ["A0", "000A0", "0x0A", "00G0", "+0A0"])
def test_writeall_needs_exactly_the_board_digit_count(arg: str) -> None:
    board = NumatoBoard()
    assert send(board, f"relay writeall {arg}\r")[1] == []
    assert board.closed_mask == 0


def test_reset_opens_all_relays() -> None:
    board = NumatoBoard()
    send(board, "relay writeall 0003\r")
    out, changes = send(board, "reset\r", at=5.0)
    assert out == b"reset\n\r>"
    assert changes == [RelayChange(0, False, 5.0), RelayChange(1, False, 5.0)]


def test_ver_and_id_get_reply_then_prompt() -> None:
    board = NumatoBoard(version="00000012", board_id="BENCH001")
    assert send(board, "ver\r")[0] == b"ver\n\r00000012\n\r>"
    assert send(board, "id get\r")[0] == b"id get\n\rBENCH001\n\r>"


def test_id_set_needs_eight_characters() -> None:
    board = NumatoBoard()
    assert send(board, "id set ABCDEFGH\r")[0] == b"id set ABCDEFGH\n\r>"
    send(board, "id set SHORT\r")
    assert board.board_id == "ABCDEFGH"


@pytest.mark.parametrize("line", ["bogus", "relay", "relay on", "RELAY ON 0", "gpio set 0", ""])
def test_unknown_or_malformed_command_is_echoed_and_ignored(line: str) -> None:
    board = NumatoBoard()
    out, changes = send(board, line + "\r")
    assert (out, changes) == (line.encode() + b"\n\r>", [])


def test_lf_is_echoed_but_does_not_end_or_corrupt_a_command() -> None:
    board = NumatoBoard()
    out, changes = send(board, "relay on 3\r\nrelay read 3\r\n")
    assert out == b"relay on 3\n\r>\nrelay read 3\n\ron\n\r>\n"
    assert changes == [RelayChange(3, True, 0.0)]


def test_stuck_relay_ignores_commands_and_reports_its_stuck_state() -> None:
    board = NumatoBoard(stuck={2})
    assert send(board, "relay on 2\r")[1] == []
    assert send(board, "relay read 2\r")[0].split(b"\n\r")[1] == b"off"
    board.stuck.clear()
    send(board, "relay on 2\r")
    board.stuck.add(2)  # now stuck closed
    assert send(board, "reset\r")[1] == []
    assert send(board, "relay readall\r")[0].split(b"\n\r")[1] == b"0004"


def test_overlong_line_is_echoed_but_truncated() -> None:
    board = NumatoBoard()
    line = "relay on 1" + " " * LINE_MAX + "x"
    out, changes = send(board, line + "\r")
    assert out == line.encode() + b"\n\r>"
    assert changes == [RelayChange(1, True, 0.0)]


def test_bad_configuration_is_rejected() -> None:
    with pytest.raises(ValueError, match="channels"):
        NumatoBoard(channels=12)
    with pytest.raises(ValueError, match="board_id"):
        NumatoBoard(board_id="123")


_COMMANDS = st.sampled_from(
    ["relay on 1", "relay off 1", "relay read 1", "relay readall", "relay writeall 00ff", "ver"]
)


@settings(max_examples=50, deadline=None)
@given(st.lists(_COMMANDS, max_size=6), st.data())
def test_output_does_not_depend_on_how_input_is_chunked(
    commands: list[str], data: st.DataObject
) -> None:
    stream = "".join(c + "\r" for c in commands).encode()
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    whole, whole_changes = NumatoBoard().feed(stream, 0.0)
    board = NumatoBoard()
    pieces, changes = b"", []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        out, ch = board.feed(stream[start:end], 0.0)
        pieces += out
        changes += ch
    assert (pieces, changes) == (whole, whole_changes)

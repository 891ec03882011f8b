"""KeypadDecoder: contact changes -> key presses, for both keypad wirings."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hil.sim.keypad import (
    METER_4X3,
    KeyMap,
    KeypadDecoder,
    KeyPress,
    LostPress,
    ScanState,
    grid_layout,
)
from hil.sim.numato import NumatoBoard, channel_char
from hil.sim.relays import RelayChange

KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "BACK", "0", "ENTER"]
PER_KEY = KeyMap.per_key({key: n for n, key in enumerate(KEYS)})
ROWS = {"R1": 0, "R2": 1, "R3": 2, "R4": 3}
COLS = {"C1": 4, "C2": 5, "C3": 6}
MATRIX = KeyMap.matrix(ROWS, COLS, grid_layout(METER_4X3, list(ROWS), list(COLS)))


def on(channel: int, at: float) -> RelayChange:
    return RelayChange(channel, True, at)


def off(channel: int, at: float) -> RelayChange:
    return RelayChange(channel, False, at)


def run(decoder: KeypadDecoder, *changes: RelayChange) -> list[KeyPress]:
    presses: list[KeyPress] = []
    for change in changes:
        presses += decoder.contact(change)
    return presses


def test_press_is_reported_once_at_release() -> None:
    decoder = KeypadDecoder(PER_KEY, debounce_s=0.02, min_press_s=0.1)
    assert decoder.contact(on(4, 1.0)) == []
    assert decoder.held == "5"
    assert decoder.contact(off(4, 1.2)) == [KeyPress("5", 1.2)]
    assert decoder.held is None


def test_press_shorter_than_min_press_is_lost() -> None:
    decoder = KeypadDecoder(PER_KEY, debounce_s=0.02, min_press_s=0.1)
    assert run(decoder, on(0, 1.0), off(0, 1.05)) == []
    assert list(decoder.lost) == [LostPress("1", "short", 1.05)]


def test_press_shorter_than_debounce_is_lost() -> None:
    decoder = KeypadDecoder(PER_KEY, debounce_s=0.2, min_press_s=0.1)
    assert run(decoder, on(0, 1.0), off(0, 1.15)) == []


def test_press_of_exactly_the_threshold_counts() -> None:
    decoder = KeypadDecoder(PER_KEY, debounce_s=0.05, min_press_s=0.1)
    assert run(decoder, on(0, 0.1), off(0, 0.2)) == [KeyPress("1", 0.2)]


def test_overlapping_presses_are_lost() -> None:
    decoder = KeypadDecoder(PER_KEY, debounce_s=0.02, min_press_s=0.1)
    presses = run(decoder, on(0, 0.0), on(1, 0.5), off(0, 1.0), off(1, 1.5))
    assert presses == []
    assert list(decoder.lost) == [LostPress("1", "overlap", 0.5)]


def test_after_an_overlap_nothing_counts_until_every_contact_is_open() -> None:
    decoder = KeypadDecoder(PER_KEY, debounce_s=0.02)
    run(decoder, on(0, 0.0), on(1, 0.1), off(0, 0.2))
    assert decoder.contact(on(2, 0.3)) == []  # key 2 still down: still blocked
    assert run(decoder, off(1, 0.4), off(2, 0.5)) == []
    assert run(decoder, on(2, 1.0), off(2, 1.5)) == [KeyPress("3", 1.5)]


def test_unmapped_channels_are_ignored() -> None:
    decoder = KeypadDecoder(PER_KEY, debounce_s=0.02)
    presses = run(decoder, on(15, 0.0), on(0, 0.1), off(0, 0.5), off(15, 0.6))
    assert presses == [KeyPress("1", 0.5)]


def test_matrix_key_needs_one_row_and_one_column() -> None:
    decoder = KeypadDecoder(MATRIX, debounce_s=0.02, min_press_s=0.1)
    # "6" is row 2, column 3
    presses = run(decoder, on(1, 0.0), on(6, 0.1), off(6, 0.4), off(1, 0.5))
    assert presses == [KeyPress("6", 0.4)]


def test_matrix_column_before_row_works_too() -> None:
    decoder = KeypadDecoder(MATRIX, debounce_s=0.02)
    presses = run(decoder, on(5, 0.0), on(3, 0.1), off(5, 0.4), off(3, 0.5))
    assert presses == [KeyPress("0", 0.4)]


def test_matrix_row_alone_is_not_a_press() -> None:
    decoder = KeypadDecoder(MATRIX, debounce_s=0.02)
    assert run(decoder, on(0, 0.0), off(0, 1.0)) == []
    assert list(decoder.lost) == []


def test_matrix_two_rows_closed_is_an_overlap() -> None:
    decoder = KeypadDecoder(MATRIX, debounce_s=0.02)
    presses = run(decoder, on(0, 0.0), on(4, 0.1), on(1, 0.2), off(1, 0.3), off(4, 0.9))
    assert presses == []
    assert MATRIX.resolve({0, 1, 4}) == (ScanState.OVERLAP, None)


def test_matrix_two_columns_closed_is_an_overlap() -> None:
    assert MATRIX.resolve({0, 4, 5}) == (ScanState.OVERLAP, None)


def test_matrix_typing_moves_column_then_row_between_keys() -> None:
    decoder = KeypadDecoder(MATRIX, debounce_s=0.02)
    # "1" then "2": same row kept closed, column 1 released before column 2 closes.
    presses = run(decoder, on(0, 0.0), on(4, 0.0), off(4, 0.2), on(5, 0.3), off(5, 0.5))
    assert presses == [KeyPress("1", 0.2), KeyPress("2", 0.5)]


def test_reset_discards_the_press_in_progress() -> None:
    decoder = KeypadDecoder(PER_KEY, debounce_s=0.02)
    decoder.contact(on(0, 0.0))
    decoder.reset(0.5)
    assert decoder.contact(off(0, 1.0)) == []
    assert decoder.lost[-1] == LostPress("1", "reset", 0.5)
    assert run(decoder, on(0, 2.0), off(0, 2.5)) == [KeyPress("1", 2.5)]


def test_contacts_tells_which_channels_make_a_key() -> None:
    assert PER_KEY.contacts("ENTER") == (11,)
    assert MATRIX.contacts("BACK") == (3, 4)
    assert MATRIX.keys == frozenset(KEYS)
    with pytest.raises(KeyError):
        MATRIX.contacts("*")


def test_keymap_rejects_a_channel_wired_twice() -> None:
    with pytest.raises(ValueError, match="channel 1"):
        KeyMap.per_key({"1": 1, "2": 1})
    with pytest.raises(ValueError, match="channel 4"):
        KeyMap.matrix({"R1": 4}, {"C1": 4}, {"1": ("R1", "C1")})


def test_layout_rejects_unknown_row_and_shared_position() -> None:
    with pytest.raises(ValueError, match="unknown"):
        KeyMap.matrix({"R1": 0}, {"C1": 1}, {"1": ("R9", "C1")})
    with pytest.raises(ValueError, match="share"):
        KeyMap.matrix({"R1": 0}, {"C1": 1}, {"1": ("R1", "C1"), "2": ("R1", "C1")})


def test_grid_layout_skips_empty_cells_and_checks_shape() -> None:
    assert grid_layout([["1", ""]], ["R"], ["A", "B"]) == {"1": ("R", "A")}
    with pytest.raises(ValueError, match="grid"):
        grid_layout([["1"]], ["R", "S"], ["A"])


def test_token_typed_through_a_numato_board_is_decoded() -> None:
    board = NumatoBoard()
    decoder = KeypadDecoder(MATRIX, debounce_s=0.05, min_press_s=0.1)
    typed: list[str] = []
    at = 0.0
    for key in [*"0123456789", "ENTER"]:
        for channel in MATRIX.contacts(key):
            _, changes = board.feed(f"relay on {channel_char(channel)}\r".encode(), at)
            typed += [p.key for c in changes for p in decoder.contact(c)]
        at += 0.15
        for channel in MATRIX.contacts(key):
            _, changes = board.feed(f"relay off {channel_char(channel)}\r".encode(), at)
            typed += [p.key for c in changes for p in decoder.contact(c)]
        at += 0.15
    assert typed == [*"0123456789", "ENTER"]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.sampled_from(KEYS), max_size=20), st.booleans())
def test_separate_presses_are_all_recovered_in_order(keys: list[str], matrix: bool) -> None:
    keymap = MATRIX if matrix else PER_KEY
    decoder = KeypadDecoder(keymap, debounce_s=0.05, min_press_s=0.1)
    got: list[str] = []
    at = 0.0
    for key in keys:
        for channel in keymap.contacts(key):
            got += [p.key for p in decoder.contact(on(channel, at))]
        at += 0.1
        for channel in reversed(keymap.contacts(key)):
            got += [p.key for p in decoder.contact(off(channel, at))]
        at += 0.05
    assert got == keys

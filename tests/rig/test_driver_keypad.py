"""KeypadDriver: unit tests with a fake relay and sleep, then real typing into the keypad decoder."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable

import pytest

from hil.errors import ConfigError, DeviceError
from hil.rig.drivers.keypad import KeypadDriver
from hil.rig.drivers.relays import KmtronicRelay, NumatoRelay
from hil.sim.keypad import METER_4X3, KeyMap, KeypadDecoder, KeyPress, grid_layout
from hil.sim.kmtronic import KmtronicBoard
from hil.sim.numato import NumatoBoard
from hil.sim.relays import RelayChange, byte_handler
from hil.sim.transports import PtyEndpoint, TcpEndpoint

KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "BACK", "0", "ENTER"]
PER_KEY = {key: (n,) for n, key in enumerate(KEYS)}
TOKEN = "1234 5678 9012 3456 7890"
DIGITS = TOKEN.replace(" ", "")


class FakeRelay:
    """Records every call; `fail_on` makes one (channel, closed) call raise."""

    def __init__(self, fail_on: tuple[int, bool] | None = None) -> None:
        self.calls: list[tuple[int, bool]] = []
        self.fail_on = fail_on

    def set(self, channel: int, closed: bool) -> None:
        self.calls.append((channel, closed))
        if (channel, closed) == self.fail_on:
            raise DeviceError(f"relay {channel} failed")

    def get(self, channel: int) -> bool:
        return False

    def all_off(self) -> None:
        pass

    def identify(self) -> str:
        return "fake"

    def close(self) -> None:
        pass


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds

    def clock(self) -> float:
        return self.now


def fake_keypad(
    relay: FakeRelay, keymap: dict[str, tuple[int, ...]] = PER_KEY, **kw: object
) -> tuple[KeypadDriver, FakeTime]:
    fake = FakeTime()
    options: dict = {"press_s": 0.1, "release_s": 0.2, "sleep": fake.sleep, "clock": fake.clock}
    options.update(kw)
    return KeypadDriver(relay, keymap, **options), fake


# -- unit: timing and order -----------------------------------------------------------------


def test_press_closes_holds_opens_and_waits() -> None:
    relay = FakeRelay()
    keypad, fake = fake_keypad(relay)
    keypad.press("5")
    assert relay.calls == [(4, True), (4, False)]
    assert fake.sleeps == [0.1, 0.2]


def test_tap_presses_without_waiting_for_confirmation() -> None:
    relay = FakeRelay()
    asked: list[str] = []
    keypad, fake = fake_keypad(relay, verify=lambda key, deadline: asked.append(key) or False)
    keypad.tap("5")  # a key the meter may ignore: no KEY event is awaited, none is missed
    assert relay.calls == [(4, True), (4, False)]
    assert fake.sleeps == [0.1, 0.2] and asked == []


def test_matrix_press_closes_row_then_column_and_opens_in_reverse() -> None:
    relay = FakeRelay()
    keypad, _ = fake_keypad(relay, {"5": (1, 5), "ENTER": (3, 6)})
    keypad.press("5")
    assert relay.calls == [(1, True), (5, True), (5, False), (1, False)]


def test_type_token_types_20_digits_then_enter() -> None:
    relay = FakeRelay()
    pressed: list[tuple[str, int | None]] = []
    keypad, fake = fake_keypad(relay, on_press=lambda key, pos: pressed.append((key, pos)))
    keypad.type_token(TOKEN)
    assert [key for key, _ in pressed] == [*DIGITS, "ENTER"]
    assert [pos for _, pos in pressed] == list(range(21))
    assert len(relay.calls) == 42
    assert fake.sleeps == [0.1, 0.2] * 21


def test_type_token_without_enter_for_auto_submit_meters() -> None:
    relay = FakeRelay()
    keypad, _ = fake_keypad(relay, enter_key=None)
    keypad.type_token(DIGITS, enter=False)
    assert len(relay.calls) == 40
    with pytest.raises(ConfigError, match="no enter key"):
        keypad.type_token(DIGITS)


@pytest.mark.parametrize("digits", ["123", "1" * 21, "1234567890123456789X"])
def test_type_token_needs_20_digits(digits: str) -> None:
    relay = FakeRelay()
    keypad, _ = fake_keypad(relay)
    with pytest.raises(ValueError, match="expected 20 digits"):
        keypad.type_token(digits)
    assert relay.calls == []


def test_type_keys_checks_every_key_before_pressing_any() -> None:
    relay = FakeRelay()
    keypad, _ = fake_keypad(relay)
    with pytest.raises(ConfigError, match="key '#' is not in the key map"):
        keypad.type_keys(["1", "2", "#"])
    assert relay.calls == []


def test_a_failing_close_still_opens_what_was_closed() -> None:
    relay = FakeRelay(fail_on=(5, True))
    keypad, _ = fake_keypad(relay, {"5": (1, 5)}, enter_key=None)
    with pytest.raises(DeviceError, match="relay 5 failed"):
        keypad.press("5")
    assert relay.calls == [(1, True), (5, True), (1, False)]


def test_verify_waits_until_the_deadline_and_never_retries() -> None:
    relay = FakeRelay()
    asked: list[tuple[str, float]] = []

    def verify(key: str, deadline: float) -> bool:
        asked.append((key, deadline))
        return key != "9"  # the meter never registers the 9

    keypad, _ = fake_keypad(relay, verify=verify, verify_timeout_s=0.5)
    with pytest.raises(DeviceError) as info:
        keypad.type_token("11111111911111111111")
    message = str(info.value)
    assert "key '9' (key 9 of 21)" in message and "not retried" in message
    assert "\n" not in message
    assert [key for key, _ in asked] == ["1"] * 8 + ["9"]
    assert len(relay.calls) == 18  # nothing pressed after the unconfirmed key, nothing re-typed
    assert asked[0][1] == pytest.approx(0.1 + 0.5)  # deadline: release time + verify_timeout_s


def test_release_gap_counts_from_the_release() -> None:
    relay = FakeRelay()
    keypad, fake = fake_keypad(relay, verify=lambda key, deadline: fake.sleep(0.05) or True)
    keypad.press("1")
    assert fake.sleeps == [0.1, 0.05, 0.15]  # hold, verification, rest of the 0.2 s gap


@pytest.mark.parametrize(
    ("keymap", "message"),
    [
        ({}, "empty"),
        ({"1": (0, 1, 2)}, "expected one channel, or a row channel"),
        ({"1": (3, 3)}, "uses channel 3 twice"),
        ({"1": (0,), "2": (0,)}, "use the same channels"),
        ({"1": (0,)}, "enter key 'ENTER' is not in the key map"),
    ],
)
def test_bad_key_maps(keymap: dict[str, tuple[int, ...]], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        KeypadDriver(FakeRelay(), keymap, press_s=0.1, release_s=0.1)


# -- real: relay board over a real port, decoded by the simulator's keypad ------------------


class DecodedKeys:
    """Board changes -> KeypadDecoder -> a queue; `verify` waits for a key like the probe's KEY."""

    def __init__(self, keymap: KeyMap) -> None:
        self.decoder = KeypadDecoder(keymap, debounce_s=0.005)
        self.presses: list[KeyPress] = []
        self._queue: queue.Queue[str] = queue.Queue()
        self._lock = threading.Lock()

    def on_change(self, change: RelayChange) -> None:
        with self._lock:
            for press in self.decoder.contact(change):
                self.presses.append(press)
                self._queue.put(press.key)

    def verify(self, key: str, deadline: float) -> bool:
        try:
            return self._queue.get(timeout=max(0.0, deadline - time.monotonic())) == key
        except queue.Empty:
            return False


def test_types_a_token_on_a_per_key_numato_board_over_a_pty() -> None:
    decoded = DecodedKeys(KeyMap.per_key({key: n for n, key in enumerate(KEYS)}))
    board = NumatoBoard(16)
    with (
        PtyEndpoint(byte_handler(board, decoded.on_change)) as pty,
        NumatoRelay(pty.path, timeout_s=0.5) as relay,
    ):
        keypad = KeypadDriver(relay, PER_KEY, press_s=0.02, release_s=0.02, verify=decoded.verify)
        start = time.monotonic()
        keypad.type_token(TOKEN)
        elapsed = time.monotonic() - start
    assert [p.key for p in decoded.presses] == [*DIGITS, "ENTER"]
    assert not decoded.decoder.lost
    assert board.closed_mask == 0
    assert 21 * 0.04 <= elapsed < 3.0


def test_types_a_token_on_a_matrix_kmtronic_board_over_tcp() -> None:
    rows = {"R1": 1, "R2": 2, "R3": 3, "R4": 4}
    cols = {"C1": 5, "C2": 6, "C3": 7}
    layout = grid_layout(METER_4X3, list(rows), list(cols))
    keymap = KeyMap.matrix(rows, cols, layout)
    decoded = DecodedKeys(keymap)
    board = KmtronicBoard(8)
    lock = threading.Lock()
    with (
        TcpEndpoint(lambda: byte_handler(board, decoded.on_change, lock=lock)) as tcp,
        KmtronicRelay(tcp.url, 8, timeout_s=0.5) as relay,
    ):
        contacts = {key: keymap.contacts(key) for key in keymap.keys}
        keypad = KeypadDriver(relay, contacts, press_s=0.02, release_s=0.02, verify=decoded.verify)
        keypad.type_token(TOKEN)
    assert [p.key for p in decoded.presses] == [*DIGITS, "ENTER"]
    assert not decoded.decoder.lost


def test_an_unconfirmed_press_stops_the_entry_on_a_real_board() -> None:
    # Key "7" is wired to a channel the decoder does not watch: the meter never sees it.
    wiring = {key: n for n, key in enumerate(KEYS) if key != "7"}
    decoded = DecodedKeys(KeyMap.per_key(wiring))
    board = NumatoBoard(16)
    changes: list[RelayChange] = []

    def record(change: RelayChange) -> None:
        changes.append(change)
        decoded.on_change(change)

    keymap = {**PER_KEY, "7": (15,)}
    with (
        PtyEndpoint(byte_handler(board, record)) as pty,
        NumatoRelay(pty.path, timeout_s=0.5) as relay,
    ):
        keypad = KeypadDriver(
            relay,
            keymap,
            press_s=0.02,
            release_s=0.02,
            verify=decoded.verify,
            verify_timeout_s=0.2,
        )
        start = time.monotonic()
        with pytest.raises(DeviceError, match=r"did not confirm key '7' \(key 7 of 21\)"):
            keypad.type_token(TOKEN)
        assert time.monotonic() - start < 1.5
    assert [p.key for p in decoded.presses] == list(DIGITS[:6])
    assert sum(1 for c in changes if c.channel == 15 and c.closed) == 1  # pressed once only
    assert board.closed_mask == 0


def keypad_with(verify: Callable[[str, float], bool]) -> KeypadDriver:
    return KeypadDriver(FakeRelay(), PER_KEY, press_s=0, release_s=0, verify=verify)


def test_verify_gets_a_deadline_on_the_real_clock() -> None:
    seen: list[float] = []
    keypad_with(lambda key, deadline: seen.append(deadline) or True).press("1")
    assert time.monotonic() < seen[0] <= time.monotonic() + 1.0

"""Pressing a meter's keys through a relay board.

A key map names the relay channels that make each key: one channel for a keypad with a relay
across every key, two (row, then column) for a row-bus/column-bus wiring (bench-notes 1.2).
A press closes the key's channels in order, holds `press_s`, opens them in reverse order, and
leaves at least `release_s` before the next press. Channels are opened again even when a press
fails half way, so a fault never leaves a key held down.

Confirmation: with a `verify` callable (the rig passes one that waits for the probe's ``KEY``
event), each press must be confirmed before its deadline, or `DeviceError` names the key and its
position. The driver never re-types anything: a token typed twice is a replay, which changes
the meter's state, so re-entry is always a decision of the test, not of the driver.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping

from hil.errors import ConfigError, DeviceError
from hil.rig.drivers.relays import RelayDriver

__all__ = ["KeypadDriver", "PressHook", "VerifyPress"]

VerifyPress = Callable[[str, float], bool]
"""``verify(key, deadline) -> bool``: True once the meter registered `key`; `deadline` is on
the driver's clock (time.monotonic by default)."""

PressHook = Callable[[str, int | None], object]
"""``on_press(key, position)``: called after each completed (and confirmed) press; `position`
is the 0-based index in the sequence being typed, or None for a single `press`."""

TOKEN_DIGITS = 20


class KeypadDriver:
    """Types keys and tokens on a meter keypad wired to a relay board."""

    def __init__(
        self,
        relay: RelayDriver,
        keymap: Mapping[str, Iterable[int]],
        *,
        press_s: float,
        release_s: float,
        enter_key: str | None = "ENTER",
        on_press: PressHook | None = None,
        verify: VerifyPress | None = None,
        verify_timeout_s: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if press_s < 0 or release_s < 0:
            raise ConfigError(
                f"keypad: press_s and release_s must be >= 0, got {press_s}, {release_s}"
            )
        if verify_timeout_s <= 0:
            raise ConfigError(f"keypad: verify_timeout_s must be > 0, got {verify_timeout_s}")
        self.relay = relay
        self.keymap = _check_keymap(keymap)
        if enter_key is not None and enter_key not in self.keymap:
            raise ConfigError(
                f"keypad: enter key {enter_key!r} is not in the key map: add it, or set "
                "enter_key to null for a meter that processes the 20th digit by itself"
            )
        self.press_s = press_s
        self.release_s = release_s
        self.enter_key = enter_key
        self.on_press = on_press
        self.verify = verify
        self.verify_timeout_s = verify_timeout_s
        self._sleep = sleep
        self._clock = clock

    @property
    def keys(self) -> frozenset[str]:
        return frozenset(self.keymap)

    def press(self, key: str, *, position: int | None = None, of: int | None = None) -> float:
        """Press and release one key; with `verify`, wait for the meter to confirm it.
        Returns when the meter registered the key: the clock reading at its confirmation
        with `verify`, else at the release (where a keypad scanner registers a key).

        `position` and `of` only label messages and the `on_press` call (0-based index and
        length of the sequence being typed).
        """
        channels = self._channels(key)
        self._tap(channels)
        released = self._clock()
        if self.verify is not None and not self.verify(key, released + self.verify_timeout_s):
            where = f" (key {position + 1} of {of})" if position is not None and of else ""
            raise DeviceError(
                f"keypad: the meter did not confirm key {key!r}{where} on channels "
                f"{list(channels)} within {self.verify_timeout_s} s; entry abandoned, not "
                "retried (re-typing a token is a replay): check the key map, the keypad "
                "wiring and the press/release timings"
            )
        registered = self._clock() if self.verify is not None else released
        if self.on_press is not None:
            self.on_press(key, position)
        rest = released + self.release_s - self._clock()
        if rest > 0:
            self._sleep(rest)
        return registered

    def tap(self, key: str) -> None:
        """Press and release ``key`` without waiting for the meter to confirm it: for keys a
        meter may rightly ignore (while it processes a token or shows a result), where no
        KEY event need come."""
        channels = self._channels(key)
        self._tap(channels)
        self._sleep(self.release_s)

    def type_keys(self, keys: Iterable[str]) -> None:
        """Press `keys` in order (any keys, any length: for entry, editing and negative tests).

        Every key is checked against the key map before the first press, so a typo never
        leaves a half-typed entry on the meter.
        """
        sequence = list(keys)
        for key in sequence:
            self._channels(key)
        for position, key in enumerate(sequence):
            self.press(key, position=position, of=len(sequence))

    def type_token(self, digits: str, enter: bool = True) -> None:
        """Type a 20-digit token (spaces and dashes ignored), then the Enter key if `enter`."""
        clean = digits.replace(" ", "").replace("-", "")
        if len(clean) != TOKEN_DIGITS or not clean.isascii() or not clean.isdigit():
            raise ValueError(
                f"token: expected {TOKEN_DIGITS} digits, got {len(clean)} characters "
                f"{clean[:24]!r}; use type_keys() to type anything else"
            )
        keys = list(clean)
        if enter:
            if self.enter_key is None:
                raise ConfigError(
                    "keypad: type_token(enter=True) but the key map has no enter key: "
                    "pass enter=False for a meter that processes the 20th digit by itself"
                )
            keys.append(self.enter_key)
        self.type_keys(keys)

    # -- internals -----------------------------------------------------------------------------

    def _channels(self, key: str) -> tuple[int, ...]:
        try:
            return self.keymap[key]
        except KeyError:
            known = " ".join(sorted(self.keymap))
            raise ConfigError(
                f"keypad: key {key!r} is not in the key map (keys: {known})"
            ) from None

    def _tap(self, channels: tuple[int, ...]) -> None:
        closed: list[int] = []
        try:
            for channel in channels:
                self.relay.set(channel, True)
                closed.append(channel)
            self._sleep(self.press_s)
        except BaseException:
            self._open(reversed(closed), report=False)  # the first fault is the one to report
            raise
        # Reverse order: a matrix key releases on its column first, as a finger would lift.
        self._open(reversed(closed), report=True)

    def _open(self, channels: Iterable[int], *, report: bool) -> None:
        error: Exception | None = None
        for channel in channels:
            try:
                self.relay.set(channel, False)
            except Exception as exc:  # open the others anyway
                error = error or exc
        if error is not None and report:
            raise error


def _check_keymap(keymap: Mapping[str, Iterable[int]]) -> dict[str, tuple[int, ...]]:
    if not keymap:
        raise ConfigError("keypad: the key map is empty")
    checked: dict[str, tuple[int, ...]] = {}
    for key, raw in keymap.items():
        channels = (raw,) if isinstance(raw, int) else tuple(raw)
        if not 1 <= len(channels) <= 2 or not all(isinstance(c, int) for c in channels):
            raise ConfigError(
                f"keypad: key {key!r} maps to {raw!r}: expected one channel, or a row channel "
                "and a column channel"
            )
        if len(set(channels)) != len(channels):
            raise ConfigError(f"keypad: key {key!r} uses channel {channels[0]} twice")
        checked[str(key)] = channels
    seen: dict[tuple[int, ...], str] = {}
    for key, channels in checked.items():
        if channels in seen:
            raise ConfigError(f"keypad: keys {seen[channels]!r} and {key!r} use the same channels")
        seen[channels] = key
    return checked

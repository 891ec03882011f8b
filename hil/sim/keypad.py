"""Turn relay contact changes into key presses, as a meter's keypad scanner would.

Two wirings (bench-notes 1.2):

* ``KeyMap.per_key``: one relay across each key. The key is down while its channel is closed.
* ``KeyMap.matrix``: a row bus and a column bus. Each row line and each column line has a
  relay to a common node; key (r, c) is down while exactly row r and column c are closed.

The decoder looks only at the channels in its key map; other channels on the board are
ignored. From the set of closed mapped channels it derives one of four states:

* idle: no mapped channel closed;
* partial: some closed but no key (matrix only: a row without a column, or the reverse, or a
  row/column crossing where the layout has no key);
* key K: per_key: exactly one channel closed; matrix: exactly one row and one column closed;
* overlap: per_key: two or more channels closed; matrix: two or more rows, or two or more
  columns, closed.

Exact rule for a press:

1. A press of K starts when the state becomes "key K" from idle or partial.
2. It ends when the state leaves "key K". If it ends in idle or partial and K was down for at
   least ``max(debounce_s, min_press_s)``, one ``KeyPress(K, at=<release time>)`` is reported.
   Shorter presses are lost (reason ``"short"``).
3. If the state becomes overlap, the press in progress is lost (reason ``"overlap"``), and
   nothing more is reported until every mapped channel is open again (idle). So both keys of
   an overlap are lost, even the one still held after the other is released.

Release bounce is not filtered: simulated relays do not bounce, and a harness that reopens a
contact has released the key. Lost presses are kept in `KeypadDecoder.lost` for diagnostics.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

from hil.sim.relays import RelayChange

__all__ = [
    "METER_4X3",
    "KeyMap",
    "KeyPress",
    "KeypadDecoder",
    "LostPress",
    "ScanState",
    "grid_layout",
]

# The usual prepaid-meter keypad, rows top to bottom.
METER_4X3: tuple[tuple[str, ...], ...] = (
    ("1", "2", "3"),
    ("4", "5", "6"),
    ("7", "8", "9"),
    ("BACK", "0", "ENTER"),
)


@dataclass(frozen=True, slots=True)
class KeyPress:
    key: str
    at: float  # release time: a scanner only knows the press was valid once it ends


@dataclass(frozen=True, slots=True)
class LostPress:
    key: str
    reason: str  # "short", "overlap" or "reset"
    at: float


def grid_layout(
    grid: Sequence[Sequence[str]], rows: Sequence[str], cols: Sequence[str]
) -> dict[str, tuple[str, str]]:
    """Key -> (row, column) from a table of key names; empty strings mark missing keys."""
    if len(grid) != len(rows) or any(len(line) != len(cols) for line in grid):
        raise ValueError(f"grid: expected {len(rows)} rows of {len(cols)} keys")
    layout: dict[str, tuple[str, str]] = {}
    for row, line in zip(rows, grid, strict=True):
        for col, key in zip(cols, line, strict=True):
            if key:
                layout[key] = (row, col)
    return layout


class ScanState(Enum):
    """What the scanner sees at one instant (see the module docstring)."""

    IDLE = "idle"
    PARTIAL = "partial"
    KEY = "key"
    OVERLAP = "overlap"


class KeyMap:
    """Which relay channels make which keys. Build with `per_key` or `matrix`."""

    def __init__(
        self,
        *,
        keys: Mapping[int, str] | None = None,
        rows: Mapping[str, int] | None = None,
        cols: Mapping[str, int] | None = None,
        layout: Mapping[str, tuple[str, str]] | None = None,
    ) -> None:
        # Private: use the classmethods, which validate.
        self._keys = dict(keys or {})
        self._row_of = {ch: name for name, ch in (rows or {}).items()}
        self._col_of = {ch: name for name, ch in (cols or {}).items()}
        self._rows = dict(rows or {})
        self._cols = dict(cols or {})
        self._layout = dict(layout or {})
        self._key_at = {pos: key for key, pos in self._layout.items()}
        self._channels = frozenset(self._keys) | frozenset(self._row_of) | frozenset(self._col_of)

    @classmethod
    def per_key(cls, mapping: Mapping[str, int]) -> KeyMap:
        """One channel per key: ``{"1": 0, "2": 1, ..., "ENTER": 11}``."""
        _check_unique_channels(mapping.values())
        return cls(keys={ch: key for key, ch in mapping.items()})

    @classmethod
    def matrix(
        cls,
        rows: Mapping[str, int],
        cols: Mapping[str, int],
        layout: Mapping[str, tuple[str, str]],
    ) -> KeyMap:
        """Row and column buses: channel per row and per column, and key -> (row, column)."""
        _check_unique_channels([*rows.values(), *cols.values()])
        seen: dict[tuple[str, str], str] = {}
        for key, (row, col) in layout.items():
            if row not in rows or col not in cols:
                raise ValueError(f"layout: key {key!r} at unknown row/column ({row!r}, {col!r})")
            if (row, col) in seen:
                raise ValueError(f"layout: keys {seen[(row, col)]!r} and {key!r} share a position")
            seen[(row, col)] = key
        return cls(rows=rows, cols=cols, layout=layout)

    @property
    def is_matrix(self) -> bool:
        return bool(self._rows)

    @property
    def channels(self) -> frozenset[int]:
        return self._channels

    @property
    def keys(self) -> frozenset[str]:
        return frozenset(self._layout) if self.is_matrix else frozenset(self._keys.values())

    def contacts(self, key: str) -> tuple[int, ...]:
        """Channels to close to press `key` (matrix: row first, then column)."""
        if self.is_matrix:
            if key not in self._layout:
                raise KeyError(key)
            row, col = self._layout[key]
            return (self._rows[row], self._cols[col])
        for channel, name in self._keys.items():
            if name == key:
                return (channel,)
        raise KeyError(key)

    def resolve(self, closed: Iterable[int]) -> tuple[ScanState, str | None]:
        """Scanner view of a set of closed channels: (state, key if state is KEY)."""
        closed = [ch for ch in closed if ch in self._channels]
        if not closed:
            return ScanState.IDLE, None
        if not self.is_matrix:
            if len(closed) > 1:
                return ScanState.OVERLAP, None
            return ScanState.KEY, self._keys[closed[0]]
        rows = [self._row_of[ch] for ch in closed if ch in self._row_of]
        cols = [self._col_of[ch] for ch in closed if ch in self._col_of]
        if len(rows) > 1 or len(cols) > 1:
            return ScanState.OVERLAP, None
        key = self._key_at.get((rows[0], cols[0])) if rows and cols else None
        return (ScanState.KEY, key) if key is not None else (ScanState.PARTIAL, None)


def _check_unique_channels(channels: Iterable[int]) -> None:
    seen: set[int] = set()
    for channel in channels:
        if channel in seen:
            raise ValueError(f"key map: channel {channel} is wired to more than one line")
        seen.add(channel)


class KeypadDecoder:
    """Feed it relay changes in time order; it returns the key presses they complete."""

    def __init__(self, keymap: KeyMap, debounce_s: float = 0.05, min_press_s: float = 0.0) -> None:
        if debounce_s < 0 or min_press_s < 0:
            raise ValueError("debounce_s and min_press_s must be >= 0")
        self.keymap = keymap
        self.debounce_s = debounce_s
        self.min_press_s = min_press_s
        self.lost: deque[LostPress] = deque(maxlen=1000)
        self._closed: set[int] = set()
        self._key: str | None = None  # key of the press in progress
        self._since = 0.0
        self._blocked = False  # after an overlap, until idle

    @property
    def threshold_s(self) -> float:
        return max(self.debounce_s, self.min_press_s)

    @property
    def held(self) -> str | None:
        """Key currently down and counting, if any."""
        return self._key

    def contact(self, change: RelayChange) -> list[KeyPress]:
        if change.channel not in self.keymap.channels:
            return []
        if change.closed:
            self._closed.add(change.channel)
        else:
            self._closed.discard(change.channel)
        kind, key = self.keymap.resolve(self._closed)
        at = change.at

        if kind is ScanState.OVERLAP:
            if self._key is not None:
                self.lost.append(LostPress(self._key, "overlap", at))
                self._key = None
            self._blocked = True
            return []
        if self._blocked:
            self._blocked = kind is not ScanState.IDLE
            return []

        presses: list[KeyPress] = []
        if self._key is not None and key != self._key:
            presses += self._release(at)
        if kind is ScanState.KEY and self._key is None:
            self._key, self._since = key, at
        return presses

    def reset(self, at: float) -> None:
        """Scanner restart (meter reboot): forget the press in progress.

        Contacts still closed stay closed; they count again only after all are released.
        """
        if self._key is not None:
            self.lost.append(LostPress(self._key, "reset", at))
            self._key = None
        self._blocked = bool(self._closed)

    def _release(self, at: float) -> list[KeyPress]:
        key, self._key = self._key, None
        if key is None:
            return []
        # A small epsilon so a press of exactly the threshold survives float rounding.
        if at - self._since >= self.threshold_s - 1e-9:
            return [KeyPress(key, at)]
        self.lost.append(LostPress(key, "short", at))
        return []

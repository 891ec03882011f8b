"""Pure emulation of a Numato Lab USB relay board (CDC-ACM, ASCII commands).

Wire behaviour modelled (what a host driver sees):

* Every received character is echoed as it arrives, so a partial command shows up at once and
  stays buffered until its CR.
* CR ends a command. The board answers the CR with ``\\n\\r``, then the reply line (if the command
  has one) followed by ``\\n\\r``, then the ``>`` prompt. LF is echoed and otherwise ignored, so
  a host that sends ``\\r\\n`` sees an extra ``\\n`` after the prompt, as on the real board.
* Commands (lower case, words separated by spaces):
  ``relay on N``, ``relay off N``, ``relay read N`` (-> ``on``/``off``), ``relay readall``
  (-> hex mask, one digit per 4 relays, bit n = relay n), ``relay writeall HEX`` (exactly that
  many digits), ``reset`` (all off), ``ver``, ``id get``, ``id set XXXXXXXX`` (8 characters).
* Relay index N is one character: ``0``-``9`` then upper-case ``A``-``V`` for 10-31. Lower-case
  letters and indices beyond the board are ignored. The firmware reads the single index
  character and ignores trailing data, so ``relay on 10`` switches relay 1 (a real pitfall).
* Anything unknown or malformed is ignored silently: echo, newline, prompt, no state change.
* The command buffer holds `LINE_MAX` characters; extra characters are echoed and dropped.

Fault injection: channels in `stuck` ignore every command and report the state they are stuck
in (the state they had when added).
"""

from __future__ import annotations

from collections.abc import Iterable

from hil.sim.relays import RelayChange

__all__ = ["LINE_MAX", "NumatoBoard", "channel_char"]

LINE_MAX = 64
_EOL = b"\n\r"
_PROMPT = b">"
_VALID_CHANNELS = (1, 2, 4, 8, 16, 32)
_HEX = frozenset("0123456789abcdefABCDEF")


def channel_char(channel: int) -> str:
    """The index character the board uses for `channel` (0-9, then A-V)."""
    return str(channel) if channel < 10 else chr(ord("A") + channel - 10)


class NumatoBoard:
    """A Numato relay board: feed it received bytes, get back the bytes it sends."""

    def __init__(
        self,
        channels: int = 16,
        *,
        version: str = "00000008",
        board_id: str = "00000000",
        stuck: Iterable[int] = (),
    ) -> None:
        if channels not in _VALID_CHANNELS:
            raise ValueError(f"channels: expected one of {_VALID_CHANNELS}, got {channels}")
        if len(board_id) != 8:
            raise ValueError(f"board_id: expected 8 characters, got {board_id!r}")
        self.channels = channels
        self.version = version
        self.board_id = board_id
        self.stuck: set[int] = set(stuck)
        self._closed = [False] * channels
        self._line = bytearray()

    # -- state -------------------------------------------------------------------------------

    def is_closed(self, channel: int) -> bool:
        if not 0 <= channel < self.channels:
            raise IndexError(f"channel: expected 0..{self.channels - 1}, got {channel}")
        return self._closed[channel]

    @property
    def closed_mask(self) -> int:
        """Bit n set when relay n is closed."""
        return sum(1 << n for n, on in enumerate(self._closed) if on)

    @property
    def hex_digits(self) -> int:
        return max(1, (self.channels + 3) // 4)

    # -- byte stream ---------------------------------------------------------------------------

    def feed(self, data: bytes, at: float) -> tuple[bytes, list[RelayChange]]:
        out = bytearray()
        changes: list[RelayChange] = []
        for byte in data:
            if byte == 0x0D:  # CR executes
                line = self._line.decode("ascii", errors="replace")
                self._line.clear()
                out += _EOL
                reply = self._execute(line, at, changes)
                if reply is not None:
                    out += reply.encode("ascii") + _EOL
                out += _PROMPT
                continue
            out.append(byte)  # echo first: the firmware echoes even what it drops
            if byte != 0x0A and len(self._line) < LINE_MAX:
                self._line.append(byte)
        return bytes(out), changes

    # -- commands ------------------------------------------------------------------------------

    def _execute(self, line: str, at: float, changes: list[RelayChange]) -> str | None:
        words = line.split()
        match words:
            case ["relay", "on", arg, *_]:
                self._set(self._index(arg), True, at, changes)
            case ["relay", "off", arg, *_]:
                self._set(self._index(arg), False, at, changes)
            case ["relay", "read", arg, *_]:
                index = self._index(arg)
                if index is not None:
                    return "on" if self._closed[index] else "off"
            case ["relay", "readall", *_]:
                return f"{self.closed_mask:0{self.hex_digits}x}"
            case ["relay", "writeall", arg, *_]:
                self._writeall(arg, at, changes)
            case ["reset", *_]:
                for index in range(self.channels):
                    self._set(index, False, at, changes)
            case ["ver", *_]:
                return self.version
            case ["id", "get", *_]:
                return self.board_id
            case ["id", "set", arg, *_] if len(arg) == 8:
                self.board_id = arg
        return None

    def _index(self, arg: str) -> int | None:
        char = arg[0]
        if "0" <= char <= "9":
            index = ord(char) - ord("0")
        elif "A" <= char <= "V":
            index = ord(char) - ord("A") + 10
        else:
            return None
        return index if index < self.channels else None

    def _writeall(self, arg: str, at: float, changes: list[RelayChange]) -> None:
        # int(.., 16) would also take "0x", "+" and "_": the firmware takes plain digits only
        if len(arg) != self.hex_digits or any(c not in _HEX for c in arg):
            return
        mask = int(arg, 16)
        for index in range(self.channels):
            self._set(index, bool(mask >> index & 1), at, changes)

    def _set(self, index: int | None, closed: bool, at: float, changes: list[RelayChange]) -> None:
        if index is None or index in self.stuck or self._closed[index] == closed:
            return
        self._closed[index] = closed
        changes.append(RelayChange(index, closed, at))

"""What every simulated relay board shares: the contact-change record and the board contract.

Boards are pure: `feed(data, at)` returns the bytes the board sends back and the contact
changes the bytes caused. `byte_handler` turns a board into the `bytes -> bytes` handler a
transport endpoint expects, passing each change to a callback (the keypad decoder, a log).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Protocol

__all__ = ["RelayBoard", "RelayChange", "byte_handler"]


@dataclass(frozen=True, slots=True)
class RelayChange:
    """One relay contact changing state.

    `channel` is the board's own wire numbering (Numato counts from 0, KMTronic from 1), so a
    key map written for a board uses the numbers printed on that board.
    """

    channel: int
    closed: bool
    at: float


class RelayBoard(Protocol):
    """The shape shared by `NumatoBoard` and `KmtronicBoard`."""

    stuck: set[int]

    def feed(self, data: bytes, at: float) -> tuple[bytes, list[RelayChange]]: ...

    def is_closed(self, channel: int) -> bool: ...


def byte_handler(
    board: RelayBoard,
    on_change: Callable[[RelayChange], object] | None = None,
    *,
    lock: AbstractContextManager[object] | None = None,
) -> Callable[[bytes, float], bytes]:
    """Adapt `board` to a transport handler; `on_change` sees every contact change in order.

    Pass a shared `lock` when several endpoints (threads) drive the same board or model.
    """
    guard: AbstractContextManager[object] = lock if lock is not None else nullcontext()

    def handle(data: bytes, at: float) -> bytes:
        with guard:
            reply, changes = board.feed(data, at)
            if on_change is not None:
                for change in changes:
                    on_change(change)
        return reply

    return handle

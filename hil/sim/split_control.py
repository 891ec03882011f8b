"""The split simulator's control port: inspection and the clock (no key values).

Plain text, one command per line, ``OK ...`` or ``ERR <text>``: ``state`` (a JSON snapshot
of the link, the CIU and every meter), ``speed X``, ``help``. The caller holds the bench's
lock.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from hil.errors import ConfigError

if TYPE_CHECKING:
    from hil.sim.split_bench import SplitBench

HELP = "state | speed X (refused on a real-time meter) | help"


class SplitControl:
    def __init__(self, bench: SplitBench) -> None:
        self.bench = bench

    def handle(self, line: str) -> str:
        words = line.split()
        if not words:
            return "ERR empty command; try: help"
        cmd, args = words[0].lower(), words[1:]
        if cmd == "help":
            return f"OK {HELP}"
        if cmd == "state" and not args:
            return "OK " + json.dumps(self.state(), separators=(",", ":"))
        if cmd == "speed" and len(args) == 1:
            try:
                speed = float(args[0])
            except ValueError:
                return f"ERR speed must be a number, got {args[0]!r}"
            if not speed > 0:
                return "ERR speed must be greater than 0"
            try:
                self.bench.set_speed(speed)
            except ConfigError as exc:
                return f"ERR {exc}"
            return "OK"
        return f"ERR unknown command {cmd!r}; try: help"

    def state(self) -> dict[str, object]:
        bench = self.bench
        system = bench.system
        ciu = system.ciu
        shown = ciu.display
        link = system.link
        meters = {}
        for number, end in system.ends.items():
            model = end.meter
            last = model.last_result
            meters[bench.parts.names[number]] = {
                "number": number,
                "powered": model.powered,
                "credit_wh": model.credit_wh,
                "relay_closed": model.relay_closed,
                "last_result": None if last is None else int(last.result),
                "tid_memory": list(model.tid_memory),
            }
        return {
            "time": round(bench.clock.now(), 3),
            "speed": bench.clock.speed,
            "link": {"state": str(link.state), **vars(link.stats)},
            "ciu": {
                "defects": sorted(d.value for d in ciu.defects),
                "powered": ciu.powered,
                "paired": ciu.paired,
                "screen": str(shown.screen),
                "link": str(shown.link),
                "credit_wh": shown.credit_wh,
            },
            "meters": meters,
            "board_closed": _closed(bench),
            "lost_presses": len(bench.decoder.lost),
        }


def _closed(bench: SplitBench) -> list[int]:
    """Closed channels in the board's own numbering (Numato from 0, KMTronic from 1)."""
    out = []
    for channel in range(bench.board.channels + 1):
        try:
            if bench.board.is_closed(channel):
                out.append(channel)
        except (IndexError, ValueError):
            continue
    return out

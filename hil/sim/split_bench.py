"""The simulated split bench: one SplitSystem (a CIU, a link, N meters) on real endpoints.

* the relay board: the CIU's keypad channels become key presses on the CIU (through the same
  keypad scanner as the integrated bench), and the link's ``cut_channel`` / ``short_channel``
  open or short the link (on applies the fault; both off restores it), and the CIU's
  ``supply_channel`` cuts its own supply while on;
* one probe per meter: today's probe server around that meter's model
  (docs/probe-protocol.md), each on its own pty or TCP port;
* one readback for the CIU (docs/split-meters.md, "The CIU readback protocol");
* a control port: ``state``, ``speed X``, ``help``.

One lock guards the system, one accelerated clock drives it (model time = wall time times
``speed``), and one ticker thread advances it when something falls due. Time handed to
the pure models never goes back: every input is clamped to the latest time already seen.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from hil.errors import ConfigError
from hil.meter.events import Event
from hil.meter.link import LinkState
from hil.sim.bench import MAX_SLEEP_S, BenchCore
from hil.sim.ciu_probe import CiuProbeServer
from hil.sim.keypad import KeyMap, KeypadDecoder
from hil.sim.options import MeterOptions
from hil.sim.probe_server import ProbeServer
from hil.sim.relays import RelayChange, byte_handler
from hil.sim.split_build import SplitParts
from hil.sim.split_control import SplitControl
from hil.sim.transports import ByteHandler, LineAdapter, LineHandler, PtyEndpoint, TcpEndpoint

Endpoint = PtyEndpoint | TcpEndpoint


class SplitBench(BenchCore):
    """Owns the split system, the device emulations, the endpoints and the ticker."""

    def __init__(
        self,
        parts: SplitParts,
        keymap: KeyMap,
        *,
        cut_channel: int | None = None,
        short_channel: int | None = None,
        supply_channel: int | None = None,
        board: str = "numato",
        channels: int = 16,
        speed: float = 1.0,
        options: MeterOptions | None = None,
    ) -> None:
        self.options = options or MeterOptions()
        if self.options.real_time and speed != 1.0:
            raise ConfigError(f"speed {speed:g}: a real-time meter's clock runs at 1.0")
        if self.options.supply_off_at_start:
            raise ConfigError("supply off at start: the split simulator has no AC source yet")
        super().__init__(keymap, board=board, channels=channels, speed=speed, ticker="split-ticker")
        self.parts = parts
        self.system = parts.system
        self.cut_channel, self.short_channel = cut_channel, short_channel
        self.supply_channel = supply_channel  # on: the CIU's own supply is cut
        timing = parts.profiles[next(iter(parts.profiles))].keypad  # as the meter's keypad
        self.decoder = KeypadDecoder(keymap, timing.debounce_s, timing.min_press_s)
        self._t = self.system.ciu.now
        self.probes: dict[str, ProbeServer] = {}
        for number, end in self.system.ends.items():
            self.probes[number] = ProbeServer(
                end.meter, reset=self._meter_reset(number), options=self.options
            )
        self.ciu_probe = CiuProbeServer(
            lambda: self.system.ciu,
            press=self._ciu_key,
            reset=self._ciu_reset,
            set_setting=self._ciu_setting,
            start=self._t,
        )
        self.control = SplitControl(self)
        with self.lock:
            for probe in self.probes.values():
                probe.power_up(self._t)  # evseq 1 is POWER_UP, as after a real boot
            self.ciu_probe.started(self._t)

    # -- time --------------------------------------------------------------------------
    def _now(self, at: float | None = None) -> float:
        """A time for the models: ``at`` (or the clock), never before the latest one used."""
        self._t = max(self._t, self.clock.now() if at is None else at)
        return self._t

    def _advance(self) -> float:
        t = self._now()
        self._broadcast(self.system.advance(t))
        return t

    # -- coupling (the caller holds the lock) ------------------------------------------
    def _publish(self, events: list[Event]) -> list[Event]:
        """Send meter events to their probes; return the CIU's (callers decide where)."""
        if threading.current_thread() is not self._ticker:
            self._wake.set()
        ciu: list[Event] = []
        for event in events:
            unit = event.data.get("unit")
            if str(event.name).startswith("CIU_"):
                ciu.append(event)
            elif unit in self.probes:
                self._send(f"meter:{self.parts.names[unit]}", self.probes[unit].publish([event]))
        return ciu

    def _broadcast(self, events: list[Event]) -> None:
        self._send("ciu", self.ciu_probe.publish(self._publish(events)))

    def _send(self, endpoint: str, lines: list[str]) -> None:
        ep = self._endpoints.get(endpoint)
        if ep is not None and lines:
            ep.send("".join(line + "\n" for line in lines).encode())

    def _on_contact(self, change: RelayChange) -> None:
        for press in self.decoder.contact(change):
            self._broadcast(self.system.press_key(press.key, self._now(press.at)))
        if change.channel in (self.cut_channel, self.short_channel):
            self._set_line(self._now(change.at))
        if change.channel == self.supply_channel:
            on = not self.board.is_closed(change.channel)
            self._broadcast(self.system.ciu_supply(on, self._now(change.at)))

    def _set_line(self, at: float) -> None:
        shorted = self.short_channel is not None and self.board.is_closed(self.short_channel)
        cut = self.cut_channel is not None and self.board.is_closed(self.cut_channel)
        wanted = LinkState.SHORT if shorted else LinkState.CUT if cut else LinkState.OK
        if wanted is self.system.link.state:
            return
        action = {
            LinkState.SHORT: self.system.short,
            LinkState.CUT: self.system.cut,
            LinkState.OK: self.system.restore,
        }[wanted]
        self._broadcast(action(at))

    def _ciu_key(self, key: str, at: float) -> list[Event]:
        return self._publish(self.system.press_key(key, self._now(at)))

    def _ciu_setting(self, name: str, value: int, at: float) -> list[Event]:
        return self._publish(self.system.set_ciu_setting(name, value, self._now(at)))

    def _ciu_reset(self, at: float) -> list[Event]:
        t = self._now(at)
        return self._publish(self.system.replace_ciu(self.parts.fresh_ciu(t), t))

    def _meter_reset(self, number: str) -> Callable[[float], list[Event]]:
        end = self.system.ends[number]

        def reset(at: float) -> list[Event]:
            end.forget()  # a token out with the meter is dropped by its reset
            return end.meter.factory_reset(self._now(at))

        return reset

    # -- line handlers (each takes the lock) -------------------------------------------
    def _meter_line(self, number: str) -> LineHandler:
        def handle(line: str, at: float) -> str | None:
            with self.lock:
                t = self._advance()
                lines = self.probes[number].handle(line, t)
                self._wake.set()
                return "\n".join(lines) if lines else None

        return handle

    def _ciu_line(self, line: str, at: float) -> str | None:
        with self.lock:
            t = self._advance()
            lines = self.ciu_probe.handle(line, t)
            self._wake.set()
            return "\n".join(lines) if lines else None

    def _control_line(self, line: str, at: float) -> str | None:
        with self.lock:
            self._advance()
            return self.control.handle(line)

    def _tick_loop(self) -> None:
        while not self._stop.is_set():
            with self.lock:
                now = self._now()
                self._broadcast(self.system.advance(now))
                due = self.system.next_deadline
                wait = (due - now) / self.clock.speed if due is not None else MAX_SLEEP_S
            self._doze(wait)

    def set_speed(self, speed: float) -> None:
        if self.options.real_time:
            raise ConfigError("speed refused: real-time meter (its clock runs at 1.0)")
        with self.lock:
            self.clock.set_speed(speed)
            self._wake.set()

    # -- endpoints ---------------------------------------------------------------------
    def start(self, transport: str = "pty", port_base: int | None = None) -> dict[str, str]:
        """Open every endpoint and start the ticker; returns name -> address. Names:
        ``relay_board``, ``ciu``, ``control`` and ``meter:<name>`` per meter. TCP ports from
        ``port_base``: board, CIU, control, then the meters in rig order."""
        board = byte_handler(self.board, self._on_contact, lock=self.lock)
        serial: list[tuple[str, Callable[[], ByteHandler]]] = [
            ("relay_board", lambda: board),
            ("ciu", lambda: LineAdapter(self._ciu_line)),
        ]
        meters = [
            (f"meter:{name}", self._meter_line(number)) for number, name in self.parts.names.items()
        ]
        control = TcpEndpoint(
            lambda: LineAdapter(self._control_line),
            port=0 if port_base is None else port_base + 2,
            clock=self.clock.now,
            name="control",
        )
        for offset, (name, factory) in enumerate([*serial, *((n, _adapter(h)) for n, h in meters)]):
            port = 0 if port_base is None else port_base + offset + (1 if offset >= 2 else 0)
            self._endpoints[name] = self._open(name, factory, transport, port)
        self._endpoints["control"] = control
        self._ticker.start()
        return self.addresses()

    def _open(
        self, name: str, factory: Callable[[], ByteHandler], transport: str, port: int
    ) -> Endpoint:
        if transport == "pty":
            return PtyEndpoint(factory(), clock=self.clock.now, name=name.replace(":", "-"))
        return TcpEndpoint(factory, port=port, clock=self.clock.now, name=name)

    def addresses(self) -> dict[str, str]:
        return {
            name: ep.path if isinstance(ep, PtyEndpoint) else ep.url
            for name, ep in self._endpoints.items()
        }


def _adapter(handle: LineHandler) -> Callable[[], ByteHandler]:
    return lambda: LineAdapter(handle)

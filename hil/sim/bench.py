"""The simulated bench: a meter model coupled to its relay board, keypad, probe and
instruments, each on a real OS endpoint (pty or TCP), with fault injection.

One lock guards the model: every endpoint thread and the ticker take it, so the pure
model sees one call at a time. Model time is wall time times ``speed``. ``MeterOptions``
make it behave like a plainer conforming meter (real-time clock, coarse credit readout,
supply off at start, mandatory events only).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hil.errors import ConfigError
from hil.meter.model import MeterModel
from hil.sim.dlms_server import DlmsServer, ModelMeter
from hil.sim.instruments import AcSource, Dmm, ReferenceLoad
from hil.sim.keypad import KeyMap, KeypadDecoder
from hil.sim.kmtronic import KmtronicBoard
from hil.sim.numato import NumatoBoard
from hil.sim.options import MeterOptions
from hil.sim.probe_server import ProbeServer
from hil.sim.relays import RelayChange, byte_handler
from hil.sim.transports import ByteHandler, Faults, LineAdapter, PtyEndpoint, TcpEndpoint

if TYPE_CHECKING:
    from hil.display.layout import DisplayMap
    from hil.display.render import DisplayState
    from hil.sim.display_server import DisplayServer

MAX_SLEEP_S = 0.05  # the ticker wakes at least this often (fault plans, clock changes)
BROWN_OUT_V = 100.0  # below this supply voltage the meter is off


class SimClock:
    """Model seconds: wall-clock seconds since start, times ``speed``."""

    def __init__(self, speed: float = 1.0, source: Callable[[], float] = time.monotonic) -> None:
        self._source, self._t0, self._base, self.speed = source, source(), 0.0, speed

    def now(self) -> float:
        return self._base + (self._source() - self._t0) * self.speed

    def set_speed(self, speed: float) -> None:
        self._base, self._t0, self.speed = self.now(), self._source(), speed


class MeterPhysics:
    """The bench's wiring: the AC source powers the meter, the load draws through its relay.

    Implements the instruments' BenchPhysics protocol on top of the model.
    """

    def __init__(
        self, model: MeterModel, publish: Callable[[list], None], *, source_on: bool = True
    ) -> None:
        self.model, self._publish = model, publish
        self._source_on, self._voltage = source_on, 230.0
        self._setpoint_w, self._energy_wh, self._last_at = 0.0, 0.0, 0.0
        self._flowing = model.powered and model.relay_closed

    @property
    def source_on(self) -> bool:
        return self._source_on

    @property
    def source_voltage(self) -> float:
        return self._voltage

    def _integrate(self, at: float) -> None:
        if at > self._last_at:
            if self._flowing:
                self._energy_wh += self._setpoint_w * (at - self._last_at) / 3600.0
            self._last_at = at

    def note_events(self, events: list) -> None:
        """Integrate piecewise: the load flows between relay and power events, not across."""
        for event in events:
            name = str(event.name)
            if name in ("RELAY_CHANGED", "POWER_FAIL", "POWER_UP"):
                self._integrate(event.at)
                if name == "RELAY_CHANGED":
                    self._flowing = bool(event.data.get("closed")) and self.supplied
                else:
                    self._flowing = name == "POWER_UP" and self.model.relay_closed

    @property
    def supplied(self) -> bool:
        """The AC source feeds the meter: output on and above the brown-out voltage."""
        return self._source_on and self._voltage >= BROWN_OUT_V

    def set_source(
        self, *, at: float, on: bool | None = None, voltage: float | None = None
    ) -> None:
        self._integrate(at)
        was = self.supplied
        if on is not None:
            self._source_on = on
        if voltage is not None:
            self._voltage = voltage
        now = self.supplied
        if was and not now:
            self._publish(self.model.power_off(at))
        elif now and not was:
            self._publish(self.model.power_on(at))

    def load_voltage(self, at: float) -> float:
        closed = self.model.powered and self.model.relay_closed
        return self._voltage if self.supplied and closed else 0.0

    def set_load_power(self, watts: float, at: float) -> None:
        self._integrate(at)
        self._setpoint_w = watts
        self._publish(self.model.set_load(watts, at) or [])

    def load_power(self, at: float) -> float:
        return self._setpoint_w if self.load_voltage(at) > 0 else 0.0

    def energy_wh(self, at: float) -> float:
        self._integrate(at)
        return self._energy_wh


@dataclass
class PowerLossPlan:
    """Fault: cut the supply after N more key presses, or mid-way through processing."""

    after_keys: int | None = None
    during_processing: bool = False
    restore_after_s: float = 1.0
    cut_at: float | None = None  # when the supply was cut, for the restore


@dataclass
class BenchFaults:
    probe: Faults = field(default_factory=Faults)
    board: Faults = field(default_factory=Faults)
    dlms: Faults = field(default_factory=Faults)
    power_loss: PowerLossPlan | None = None
    keypad_slowdown: float = 1.0


class BenchCore:
    """What every simulated bench owns: one lock, one accelerated clock, the relay board,
    the endpoints and the ticker thread (its loop is the subclass's ``_tick_loop``)."""

    def __init__(
        self, keymap: KeyMap, *, board: str, channels: int, speed: float, ticker: str
    ) -> None:
        self.lock = threading.RLock()
        self.clock = SimClock(speed)
        self.board = NumatoBoard(channels) if board == "numato" else KmtronicBoard(channels)
        self.keymap = keymap
        self._endpoints: dict[str, PtyEndpoint | TcpEndpoint] = {}
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._ticker = threading.Thread(target=self._tick_loop, name=ticker, daemon=True)

    def _tick_loop(self) -> None:
        raise NotImplementedError

    def _doze(self, wait: float) -> None:
        """The ticker sleeps ``wait`` real seconds (within bounds) or until woken."""
        self._wake.wait(min(MAX_SLEEP_S, max(0.0005, wait)))
        self._wake.clear()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._ticker.is_alive():
            self._ticker.join(timeout=1.0)
        for ep in self._endpoints.values():
            ep.close()
        self._endpoints.clear()


class SimBench(BenchCore):
    """Owns the model, the device emulations, the endpoints and the ticker thread."""

    def __init__(
        self,
        model: MeterModel,
        keymap: KeyMap,
        *,
        board: str = "numato",
        channels: int = 16,
        speed: float = 1.0,
        load_w: float = 0.0,
        options: MeterOptions | None = None,
    ) -> None:
        self.options = options or MeterOptions()
        if self.options.real_time and speed != 1.0:
            raise ConfigError(
                f"speed {speed:g}: a real-time meter's clock runs at 1.0 "
                "(drop --speed / simulator.speed, or --real-time / simulator.real_time)"
            )
        super().__init__(keymap, board=board, channels=channels, speed=speed, ticker="sim-ticker")
        self.model = model
        self.faults = BenchFaults()
        timing = model.profile.keypad
        self._debounce = (timing.debounce_s, timing.min_press_s)
        self.decoder = KeypadDecoder(keymap, *self._debounce)
        self.probe = ProbeServer(model, reset=self._factory_reset, options=self.options)
        supply_on = not self.options.supply_off_at_start
        if not supply_on:
            # An unpowered meter from the start: no POWER_FAIL to report, it never ran.
            model.power_off(self.clock.now())
        self.physics = MeterPhysics(model, self._publish, source_on=supply_on)
        self.ac_source = AcSource(self.physics)
        self.dmm = Dmm(self.physics)
        self.load = ReferenceLoad(self.physics)
        self._lines_out: list[str] = []
        self._dlms: DlmsServer | None = None
        self._display: DisplayServer | None = None
        with self.lock:
            if supply_on:  # evseq 1 is POWER_UP, as after a real boot
                self.probe.power_up(self.clock.now())
            if load_w:
                self.physics.set_load_power(load_w, self.clock.now())

    # -- coupling ----------------------------------------------------------------------
    def _publish(self, events: list) -> None:
        """Send the model's events to the probe as '!' lines (caller holds the lock)."""
        if threading.current_thread() is not self._ticker:
            self._wake.set()  # a request changed the state: the ticker re-plans its sleep
        if not events:
            return
        self.physics.note_events(events)
        lines = self.probe.publish(events)
        probe = self._endpoints.get("probe")
        if probe is not None and self.model.powered:
            for line in lines:
                probe.send((line + "\n").encode())
        self._check_power_loss(events)

    def _on_contact(self, change: RelayChange) -> None:
        self._cut_if_due(change.at)
        for press in self.decoder.contact(change):
            self._publish(self.model.press_key(press.key, press.at))

    def _probe_line(self, line: str, at: float) -> str | None:
        with self.lock:
            now = self.clock.now()
            self._cut_if_due(now)
            self._publish(self.model.advance(now))
            lines = self.probe.handle(line, now)
            if lines:
                self._check_power_loss([])
            return "\n".join(lines) if lines else None

    def _tick_loop(self) -> None:
        """Advance the model when something falls due; sleep otherwise (no busy polling)."""
        while not self._stop.is_set():
            with self.lock:
                now = self.clock.now()
                self._cut_if_due(now)
                self._publish(self.model.advance(now))
                self._check_power_loss([])
                deadlines = [d for d in (self.model.next_deadline, self._processing_cut_time())
                             if d is not None]  # fmt: skip
                wait = (min(deadlines) - now) / self.clock.speed if deadlines else MAX_SLEEP_S
            self._doze(wait)

    def wake(self) -> None:
        """Something changed (a request, a key, a load): re-plan the ticker's sleep."""
        self._wake.set()

    # -- faults ------------------------------------------------------------------------
    def _check_power_loss(self, events: list) -> None:
        """Restore a cut supply when due; count key presses for a 'cut after N keys' plan."""
        plan = self.faults.power_loss
        if plan is None:
            return
        now = self.clock.now()
        if plan.cut_at is not None:
            if now - plan.cut_at >= plan.restore_after_s:
                self.faults.power_loss = None
                self.physics.set_source(at=now, on=True)
            return
        if plan.after_keys is not None:
            plan.after_keys -= sum(1 for e in events if str(e.name) == "KEY")
            if plan.after_keys <= 0:
                self._cut(plan, now)

    def _processing_cut_time(self) -> float | None:
        """Model time at which a 'cut during processing' plan must cut: half-way through."""
        plan = self.faults.power_loss
        if plan is None or not plan.during_processing or plan.cut_at is not None:
            return None
        until = self.model.processing_until if self.model.processing else None
        return None if until is None else until - self.model.profile.processing_s / 2

    def _cut_if_due(self, now: float) -> None:
        """Cut exactly at the planned model time, however late this thread runs: advance
        the model to that moment first, so processing never finishes before the cut."""
        due = self._processing_cut_time()
        if due is not None and now >= due:
            self._publish(self.model.advance(due))
            self._cut(self.faults.power_loss, due)  # type: ignore[arg-type]

    def _cut(self, plan: PowerLossPlan, now: float) -> None:
        plan.cut_at = now
        self.physics.set_source(at=now, on=False)

    def _factory_reset(self, at: float) -> list:
        """Test firmware's RESET STATE: back to the state the bench started with (the scope
        is in docs/probe-protocol.md); supply, load and injected faults are left alone."""
        return self.model.factory_reset(at)

    def set_keypad_slowdown(self, factor: float) -> None:
        """Fault: a slow keypad scanner needs presses ``factor`` times longer."""
        with self.lock:
            self.faults.keypad_slowdown = factor
            debounce, min_press = self._debounce
            self.decoder = KeypadDecoder(self.keymap, debounce * factor, min_press * factor)

    def reboot(self) -> None:
        with self.lock:
            if not self.physics.supplied:
                return  # a meter without supply cannot restart
            now = self.clock.now()
            self._publish(self.model.power_off(now))
            self._publish(self.model.power_on(now))

    # -- endpoints ---------------------------------------------------------------------
    def _sync(self, at: float) -> None:
        """Bring the model up to now (a DLMS request is about to read it); lock held."""
        now = self.clock.now()
        self._cut_if_due(now)
        self._publish(self.model.advance(now))

    def dlms_server(self) -> DlmsServer:
        """The meter's DLMS face over this bench's model (built once)."""
        if self._dlms is None:
            self._dlms = DlmsServer(ModelMeter(self.model, self._sync, self.lock))
        return self._dlms

    def _dlms_handler(self) -> ByteHandler:
        """One DLMS wrapper client; an unpowered meter stays silent, as a real one does."""
        inner = self.dlms_server().wrapper_handler()

        def handle(data: bytes, at: float) -> bytes:
            return inner(data, at) if self.model.powered else b""

        return handle

    def start(
        self,
        transport: str = "pty",
        port_base: int | None = None,
        *,
        dlms: bool = False,
        probe: bool = True,
        display: DisplayMap | None = None,
    ) -> dict[str, str]:
        """Open every endpoint and start the ticker; returns name -> address. ``dlms``: the
        meter's DLMS/COSEM face too, the wrapper on TCP (port base + 6). ``probe=False``: no
        probe port, as on a meter without test firmware (a pty nobody reads would fill up
        and stall the bench). ``display``: the LCD as a camera sees it, on HTTP (port base
        + 7), laid out by this display map."""

        def port(offset: int) -> int:
            return 0 if port_base is None else port_base + offset

        board_handler = byte_handler(self.board, self._on_contact, lock=self.lock)
        probe_handler = LineAdapter(self._probe_line, lock=None)
        clock = self.clock.now
        if transport == "pty":
            self._endpoints["relay_board"] = PtyEndpoint(
                board_handler, clock=clock, faults=self.faults.board, name="relay"
            )
            if probe:
                self._endpoints["probe"] = PtyEndpoint(
                    probe_handler, clock=clock, faults=self.faults.probe, name="probe"
                )
        else:
            self._endpoints["relay_board"] = TcpEndpoint(
                lambda: board_handler, port=port(0), clock=clock, faults=self.faults.board
            )
            if probe:
                self._endpoints["probe"] = TcpEndpoint(
                    lambda: LineAdapter(self._probe_line),
                    port=port(1),
                    clock=clock,
                    faults=self.faults.probe,
                )
        for offset, (name, inst) in enumerate(
            (("ac_source", self.ac_source), ("dmm", self.dmm), ("load", self.load)), start=2
        ):
            self._endpoints[name] = TcpEndpoint(
                lambda inst=inst: LineAdapter(inst.handle, lock=self.lock),
                port=port(offset),
                clock=clock,
                name=name,
            )
        from hil.sim.control import ControlServer  # control needs the bench: import late

        self.control = ControlServer(self)
        self._endpoints["control"] = TcpEndpoint(
            lambda: LineAdapter(self.control.handle), port=port(5), clock=clock, name="control"
        )
        if dlms:
            self._endpoints["dlms"] = TcpEndpoint(
                self._dlms_handler, port=port(6), clock=clock, faults=self.faults.dlms,
                name="dlms",
            )  # fmt: skip
        if display is not None:
            from hil.sim.display_server import DisplayServer  # Pillow and OpenCV: import late

            self._display = DisplayServer(lambda: self._screen(display), display, port=port(7))
        self._ticker.start()
        return self.addresses()

    def _screen(self, display: DisplayMap) -> DisplayState:
        from hil.display.screen import meter_screen  # the display server imported it already

        with self.lock:
            self._sync(self.clock.now())
            return meter_screen(self.model, display, self.clock.now(),
                                self.options.credit_resolution_kwh)  # fmt: skip

    def stop(self) -> None:
        if self._display is not None:
            self._display.close()
            self._display = None
        super().stop()

    def addresses(self) -> dict[str, str]:
        out = {}
        for name, ep in self._endpoints.items():
            if isinstance(ep, PtyEndpoint):
                out[name] = ep.path
            elif name in ("ac_source", "dmm", "load"):
                out[name] = ep.visa_resource
            elif name == "dlms":
                out[name] = f"tcp://{ep.host}:{ep.port}"  # the wrapper (IEC 62056-47)
            else:
                out[name] = ep.url
        if self._display is not None:
            out["display"] = self._display.url
        return out

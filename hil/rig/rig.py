"""One ``Rig`` object over a bench, whatever is behind it (real hardware or the simulator).

Resources come from the rig file, drivers are built by kind, and the suites use only this
API. Every I/O call has a deadline; a bench fault raises a ``BenchFault`` (an *error*
verdict); a token entry is never retried.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Self, TypeVar

from hil.errors import BenchFault, ConfigError, DeviceError, ReplyTimeout, SupplyFault
from hil.meter.functions import MeterFunctions
from hil.meter.profile import KeypadTiming, MeterProfile
from hil.probe.protocol import Event
from hil.rig.binding import bind_rig
from hil.rig.config import (
    KeypadWiring,
    RelayBoardResource,
    RigConfig,
    SerialResource,
    SplitRigConfig,
    load_rig,
)
from hil.rig.drivers.keypad import KeypadDriver
from hil.rig.drivers.probe import CreditStatus, ProbeClient, ProbeLog, TokenLogEntry
from hil.rig.drivers.relays import RelayDriver, make_relay
from hil.rig.drivers.serial_port import find_port
from hil.rig.readback import Capabilities, Readback, Reading, TokenOutcome, make_readback
from hil.rig.readback.base import RecordReading
from hil.rig.sim_launcher import SimProcess

RELAY_SENSE_V = 50.0  # load-side voltage above this means the relay is closed
POWER_UP_TIMEOUT_S = 10.0  # supply on -> POWER_UP (docs/probe-protocol.md)
COARSEST_CREDIT_RESOLUTION_KWH = 0.1  # the coarsest GET CREDIT the probe contract allows


def serial_url(res: SerialResource) -> str:
    """The pyserial URL of a serial resource (a USB identity looked up now)."""
    if res.url is not None:
        return res.url
    assert res.usb is not None
    return find_port(
        serial_number=res.usb.serial_number,
        location=res.usb.location,
        vid=res.usb.vid,
        pid=res.usb.pid,
    )


def open_relay_board(board: RelayBoardResource) -> RelayDriver:
    """The relay board's driver, by its kind."""
    return make_relay(
        board.kind,
        serial_url(board),
        channels=board.channels,
        timeout_s=board.timeout_s,
        spacing_s=board.min_spacing_s,
    )


def keypad_driver(
    relay: RelayDriver,
    wiring: KeypadWiring,
    timing: KeypadTiming,
    speed: float,
    verify: Callable[[str, float], bool] | None,
) -> KeypadDriver:
    """A keypad on the relay board, pressing at the profile's timing (model seconds, so
    divided by the simulator's ``speed``); ``verify(key, deadline)`` confirms each key
    (None: a readback that cannot see key presses; the keys are timed only)."""
    return KeypadDriver(
        relay,
        wiring.contacts(),
        press_s=timing.press_s / speed,
        release_s=timing.release_s / speed,
        verify=verify,
        verify_timeout_s=max(1.0, 10 * timing.press_s),
    )


def probe_saw(probe: ProbeClient, name: str, fields: dict[str, str], deadline: float) -> bool:
    """The probe reported event ``name`` with ``fields`` (after its last mark) by ``deadline``."""
    try:
        probe.expect(name, fields=fields, timeout_s=max(0.0, deadline - time.monotonic()))
    except ReplyTimeout:
        return False
    return True


_Config = TypeVar("_Config", RigConfig, SplitRigConfig)
_Bench = TypeVar("_Bench")


def at_speed(config: _Config, speed: float | None) -> _Config:
    """A simulated rig's config, its simulator's speed set to ``speed`` when one is given."""
    if speed is None:
        return config
    assert config.simulator is not None
    return config.model_copy(
        update={"simulator": config.simulator.model_copy(update={"speed": speed})}
    )


def built_or_stopped(sim: SimProcess | None, build: Callable[[], _Bench]) -> _Bench:
    """``build()``; the simulator already started for it is stopped if that fails."""
    try:
        return build()
    except BaseException:
        if sim is not None:
            sim.stop()
        raise


class BenchBase:
    """What every opened bench shares: its closers, the simulator it started, its identity
    and the simulator's control port. A context manager."""

    config: RigConfig | SplitRigConfig
    sim: SimProcess | None
    _closers: list[Any]

    def close(self) -> None:
        """All relays off, ports closed, simulator stopped; safe to call twice."""
        for closer in reversed(self._closers):
            with contextlib.suppress(Exception):  # closing goes on whatever one device does
                closer.close()
        self._closers.clear()
        if self.sim is not None:
            self.sim.stop()
            self.sim = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- identity -------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.config.name

    def has(self, feature: str) -> bool:
        return feature in self.features

    @property
    def features(self) -> list[str]:
        """The rig file's features, plus fault_injection on the simulated bench."""
        return [*self.config.features, *(["fault_injection"] if self.sim else [])]

    # -- simulator only -------------------------------------------------------------------
    def sim_control(self, command: str) -> str:
        """A command on the simulator's control port (fault injection); sim rigs only."""
        if self.sim is None:
            raise ConfigError(f"rig {self.name} is not a simulated bench")
        host, port = self.sim.control_url.removeprefix("socket://").rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=2.0) as conn:
            conn.sendall(command.encode() + b"\n")
            reply = conn.makefile().readline().strip()
        if not reply.startswith("OK"):
            raise DeviceError(f"simulator control {command!r}: {reply}")
        return reply.removeprefix("OK").strip()


class Rig(BenchBase):
    """A bench, opened. Use ``Rig.open(path)`` as a context manager."""

    config: RigConfig

    def __init__(
        self,
        config: RigConfig,
        *,
        base: Path,
        digest: str = "",
        sim: SimProcess | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.config, self.base, self.digest, self.sim = config, base, digest, sim
        self.meter = config.meter
        self.profile: MeterProfile = config.meter.behaviour(base)
        self.functions: MeterFunctions = config.meter.declared(base)  # what the meter declares
        self.speed = config.simulator.speed if config.simulator else 1.0
        self._t0, self._base_time = time.monotonic(), 0.0
        self._closers: list[Any] = []
        res = config.resources
        self.probe_log = ProbeLog(log_path) if log_path else ProbeLog()
        self.probe: ProbeClient | None = None  # the probe, where the rig has one
        if res.probe is not None:
            self.probe = ProbeClient(
                serial_url(res.probe),
                timeout_s=res.probe.timeout_s,
                log=self.probe_log,
                baudrate=res.probe.baudrate,
            )
            self._closers.append(self.probe)
        self.reading_listeners: list[RecordReading] = []  # told of each evidence reading
        # Evidence images (display frames) go beside the run's probe log and report.
        self.evidence_dir = log_path.parent / "evidence" if log_path else None
        self.readback: Readback = make_readback(self, res.readback)  # reads the meter
        self._closers.append(self.readback)
        self.relay: RelayDriver | None = None
        self.keypad: KeypadDriver | None = None
        if res.relay_board is not None and res.keypad is not None:
            self.relay = open_relay_board(res.relay_board)
            self._closers.append(self.relay)
            confirms = self.readback.capabilities.confirms_keys
            self.keypad = keypad_driver(
                self.relay, res.keypad, self.profile.keypad, self.speed,
                self.readback.confirm_key if confirms else None,
            )  # fmt: skip
        self.ac_source = self.dmm = self.load = None
        inst = res.instruments
        if inst.ac_source or inst.dmm or inst.load:
            from hil.rig.drivers import instruments as visa

            if inst.ac_source:
                self.ac_source = visa.AcSourceDriver(*self._visa(visa, inst.ac_source))
            if inst.dmm:
                self.dmm = visa.DmmDriver(*self._visa(visa, inst.dmm))
            if inst.load:
                self.load = visa.ReferenceLoadDriver(*self._visa(visa, inst.load))
        self._info: dict[str, str] | None = None
        self._result_at = 0.0  # when the last token result arrived
        self.token_listeners: list[Callable[[str], None]] = []  # told of each token entered

    def record_reading(self, reading: Reading) -> None:
        """A readback took ``reading`` as evidence of its own: the test's evidence gets it."""
        for listener in self.reading_listeners:
            listener(reading)

    def _visa(self, visa: Any, res: Any) -> tuple[Any, Any]:
        handle = visa.open_resource(res.resource, backend=res.backend, timeout_s=res.timeout_s)
        self._closers.append(handle)
        return handle, visa.load_command_map(res.commands)

    # -- opening and closing -------------------------------------------------------------
    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        defect: str | None = None,
        log_path: Path | None = None,
        speed: float | None = None,
        name: str | None = None,
        bindings: Mapping[str, str] | None = None,
    ) -> Rig:
        """Load a rig file; start the simulator first if the rig has a ``simulator:`` section.

        ``name`` and ``bindings`` come from a lease (``hil.broker``): the rig's name in its
        pool and the addresses of its ``place:NAME`` resources.
        """
        path = Path(path)
        config, digest = load_rig(path)
        config = bind_rig(config, path, name=name, bindings=bindings)
        sim = None
        if config.simulator is not None:
            sim = SimProcess(path, config, defect=defect, speed=speed)
            sim.start()
            config = at_speed(sim.wired_rig(), speed)
        elif defect is not None:
            raise ConfigError(f"{path}: --defect needs a simulated bench (a simulator: section)")
        rig = built_or_stopped(
            sim, lambda: cls(config, base=path.parent, digest=digest, sim=sim, log_path=log_path)
        )
        try:
            rig.ensure_supply()
        except BaseException:
            rig.close()
            raise
        return rig

    def ensure_supply(self, timeout_s: float = POWER_UP_TIMEOUT_S) -> None:
        """Switch the meter's supply on if it is off and wait for its POWER_UP: a meter
        without supply ignores the probe, so this comes before the first probe request."""
        if self.ac_source is None or self.ac_source.is_on():
            return
        self.readback.mark()
        self.ac_source.output(True)
        try:
            self.wait_for("POWER_UP", timeout_s=timeout_s)
        except ReplyTimeout:
            raise SupplyFault(
                f"rig {self.name}: the supply was off; after switching it on the meter sent no "
                f"POWER_UP within {timeout_s:g} s: is the meter wired to the AC source output?"
            ) from None

    # -- identity -------------------------------------------------------------------------
    @property
    def serial(self) -> str:
        return self.meter.pan

    def info(self, refresh: bool = False) -> dict[str, str]:
        """The meter's identity as the readback reads it (the probe's INFO)."""
        if self._info is None or refresh:
            self._info = self.readback.info()
        return self._info

    @property
    def capabilities(self) -> Capabilities:
        """What the rig's readback can observe of the meter."""
        return self.readback.capabilities

    def identity(self, defect: str | None = None) -> dict[str, Any]:
        """Who is on the bench, for run records: meter INFO, key identity and instrument
        *IDN? (never key values)."""
        instruments = {}
        for name in ("ac_source", "dmm", "load"):
            device = getattr(self, name)
            if device is not None:
                try:
                    instruments[name] = device.idn()
                except BenchFault as exc:
                    instruments[name] = f"no answer: {exc}"
        meter = {**self.meter.key_info.describe(), "pan": self.serial, "profile": self.profile.name}
        return {"name": self.name, "serial": self.serial, "simulated": self.sim is not None,
                "defect": defect, "meter": meter, "probe_info": self.info(),
                "readback": self.readback.kind, "instruments": instruments,
                "features": self.features}  # fmt: skip

    def now(self) -> float:
        """Meter time in seconds since the rig opened (wall time times the simulator speed)."""
        return self._base_time + (time.monotonic() - self._t0) * self.speed

    # -- tokens and keys ------------------------------------------------------------------
    def result_timeout_s(self) -> float:
        p = self.profile
        return max(2.0, 5 * (p.processing_s + p.result_hold_s) / self.speed)

    def enter_token(self, digits: str, *, via: str | None = None) -> TokenOutcome:
        """Enter a token once (keypad or virtual carrier) and return the meter's result.

        Never retried: entering a token twice is a replay, a test action of its own.
        """
        via = via or self.config.token_entry
        for listener in self.token_listeners:
            listener(digits)
        self.settle()
        self.readback.mark()
        start = time.monotonic()
        if via == "keypad":
            self._keypad().type_token(digits, enter=not self.profile.keypad.auto_submit_at_20)
        else:
            self._probe("virtual_carrier").send_token(digits)
        return self._await_result(start)

    def enter_keys(self, entry: str) -> TokenOutcome:
        """Type ``entry`` (digits that need not make a token) and ENTER on the keypad, and
        return the meter's result: how a malformed entry is tried."""
        keypad = self._keypad()
        if keypad.enter_key is None:
            raise ConfigError(f"rig {self.name}: the keypad has no ENTER key")
        self.settle()
        self.readback.mark()
        start = time.monotonic()
        keypad.type_keys([*entry, keypad.enter_key])
        return self._await_result(start)

    def begin_entry(self) -> float:
        """Wait out the result display, mark the probe log; the clock reading at the start
        (for `await_result`)."""
        self.settle()
        self.readback.mark()
        return time.monotonic()

    def press_keys(self, keys: Sequence[str], *, confirm: bool = True) -> None:
        """Press ``keys`` on the keypad (digits, ENTER, BACK), each confirmed by the meter's
        KEY event; ``confirm=False`` waits for no KEY event (keys a meter may ignore)."""
        keypad = self._keypad()
        if confirm:
            keypad.type_keys(keys)
            return
        for key in keys:
            keypad.tap(key)

    def await_result(self, start: float) -> TokenOutcome:
        """The meter's next token result after the last mark (``start``: `begin_entry`)."""
        return self._await_result(start)

    def _probe(self, feature: str) -> ProbeClient:
        if self.probe is None:
            raise ConfigError(f"rig {self.name} has no probe: {feature} needs resources.probe")
        return self.probe

    def _keypad(self) -> KeypadDriver:
        if self.keypad is None:
            raise ConfigError(f"rig {self.name} has no keypad: add relay_board and keypad")
        return self.keypad

    def _await_result(self, start: float) -> TokenOutcome:
        outcome = self.readback.await_result(start, self.result_timeout_s())
        self._result_at = time.monotonic()
        return outcome

    def settle(self) -> None:
        """Wait out what is left of the meter's result display (it ignores keys meanwhile)."""
        rest = self._result_at + self.profile.result_hold_s / self.speed - time.monotonic()
        if rest > 0:
            time.sleep(rest)

    def press(self, key: str) -> None:
        if self.keypad is None:
            self._probe("a key press without a keypad").key(key)
        else:
            self.keypad.press(key)

    # -- readback: the rig's readback driver (hil.rig.readback) ----------------------------
    def read_credit(self) -> float:
        """Credit in kWh."""
        return self.readback.read_credit()

    def read_relay(self) -> tuple[bool, str]:
        """(closed, reason) as the meter reports it."""
        return self.readback.read_relay()

    @property
    def credit_resolution_kwh(self) -> float:
        """The credit readout's resolution: the readback's, else the meter's INFO field, else
        the rig file's, else the coarsest the probe contract allows."""
        own = self.readback.capabilities.credit_resolution_kwh
        declared = self.info().get("credit_resolution_kwh", "") if own is None else own
        try:
            value = float(declared)
        except ValueError:
            value = 0.0
        if 0 < value <= COARSEST_CREDIT_RESOLUTION_KWH:
            return value
        return self.meter.credit_resolution_kwh or COARSEST_CREDIT_RESOLUTION_KWH

    def wait_relay(self, closed: bool, timeout_s: float, poll_s: float = 0.5) -> float | None:
        """Wait until the meter reports its relay ``closed`` (or open), by event where the
        readback has one and by polling where not. Seconds waited, or None at the timeout."""
        return self.readback.wait_relay(closed, timeout_s, poll_s)

    def read_token_result(self) -> dict[str, int | str | None]:
        return self.readback.read_token_result()

    def read_tid_memory(self) -> list[int]:
        return self.readback.read_tid_memory()

    def read_lockout(self) -> Mapping[str, bool | float | int]:
        return self.readback.read_lockout()

    # Protocol 2 readings: a meter without the function (or speaking protocol 1) raises
    # NotOffered (hil.rig.drivers.probe) from the list readers and the clock, as does a
    # readback that cannot take the reading (NotReadable); GET CREDIT's optional fields are
    # None instead.
    def read_credit_status(self) -> CreditStatus:
        """Credit in kWh, the low-credit warning and the emergency credit owed."""
        return self.readback.read_credit_status()

    def read_token_log(self) -> list[TokenLogEntry]:
        """The meter's token log, oldest first."""
        return self.readback.read_token_log()

    def read_event_log(self) -> list[str]:
        """The meter's event log, oldest first (``RELAY_CHANGED/open/credit``, ...)."""
        return self.readback.read_event_log()

    def read_clock(self) -> datetime:
        """The meter clock, timezone-aware (UTC)."""
        return self.readback.read_clock()

    def set_clock(self, when: datetime) -> None:
        """Set the meter clock (``when`` timezone-aware). Sent once, never retried."""
        self.readback.set_clock(when)

    def wait_for(self, name: str, timeout_s: float | None = None, **fields: str) -> Event:
        """Wait for a meter event (after the last mark) with these fields: pushed by the
        meter, or seen by polling where the readback cannot be told."""
        return self.readback.wait_for(
            name, timeout_s if timeout_s is not None else 5.0, fields or None
        )

    def mark(self) -> None:
        self.readback.mark()

    # -- bench ----------------------------------------------------------------------------
    def _need(self, device: Any, feature: str) -> Any:
        if device is None:
            raise ConfigError(f"rig {self.name} lacks {feature}: the test should require it")
        return device

    def power_off(self) -> None:
        self._need(self.ac_source, "power_control").output(False)

    def power_on(self) -> None:
        self._need(self.ac_source, "power_control").output(True)

    def power_cycle(self, off_s: float = 0.5) -> None:
        """Supply off, wait, on, and wait until the probe answers again."""
        self.power_off()
        time.sleep(off_s)
        self.readback.mark()
        self.power_on()
        self.wait_for("POWER_UP", timeout_s=POWER_UP_TIMEOUT_S)

    def set_load(self, watts: float) -> None:
        self._need(self.load, "load_control").set_power(watts)

    def sense_relay(self) -> bool:
        """Relay state from the DMM on the load side, independent of the probe."""
        return self._need(self.dmm, "relay_sensing").read_ac_voltage() > RELAY_SENSE_V

    def reset_state(self) -> None:
        """Back to a known state: no injected faults (simulator), supply on (awaiting
        POWER_UP if it was off), no load, then test firmware's RESET STATE (its scope is in
        docs/probe-protocol.md); a readback without one resets through the simulator's
        fault port, where there is one, and otherwise leaves the meter as it is."""
        if self.sim is not None:
            self.sim_control("fault clear")
        self.ensure_supply()
        if self.load is not None:
            self.set_load(0)
        if self.readback.capabilities.reset:
            self.readback.reset_state()
        elif self.sim is not None:
            self.sim_control("reset")  # the fault-injection port: a factory reset
        self.readback.mark()

    def cut_power_during_processing(
        self, digits: str, fraction: float, restore_after_s: float = 0.5
    ) -> float:
        """Type ``digits``, press ENTER and cut the supply through the AC source ``fraction``
        of the way through the meter's processing time (its timing profile), counted from
        when the meter registered ENTER (its KEY event where the probe confirms keys, else
        the key's release). Returns the seconds from then to the cut command (the source's own
        delay is capabilities.supply_cut_jitter_s); more than the processing time is late."""
        ac = self._need(self.ac_source, "power_control")
        keys = self._need(self.keypad, "keypad")
        self.settle()
        keys.type_token(digits, enter=False)
        registered = keys.press("ENTER")
        target = registered + fraction * self.profile.processing_s / self.speed
        time.sleep(max(0.0, target - time.monotonic()))
        cut_after = time.monotonic() - registered  # when told; its jitter is a capability
        ac.output(False)
        time.sleep(restore_after_s)
        self.readback.mark()
        ac.output(True)
        self.wait_for("POWER_UP", timeout_s=POWER_UP_TIMEOUT_S)
        return cut_after

"""Pure SCPI bench instruments over a shared physics interface.

Each instrument is a line handler: ``handle(line, at) -> reply | None``. Nothing here reads a
clock or does I/O; a transport (`hil.sim.transports.LineAdapter`) connects it to a socket.

SCPI subset, shared by all instruments:

* Headers are case-insensitive and take the short or long form (``VOLT`` / ``voltage``);
  optional nodes may be left out (``[SOURce:]VOLTage``). A leading ``:`` is accepted.
* ``;`` separates commands in one line; the replies of queries are joined with ``;``. Each
  header after ``;`` is taken from the root (the compound-path rule is not modelled).
* IEEE 488.2: ``*IDN?``, ``*RST``, ``*CLS``, ``*OPC?``, ``*OPC``, ``*WAI``, ``*ESR?``.
* Errors never raise: they go to a 10-entry error queue read by ``SYST:ERR?``
  (``-113,"Undefined header"``; ``0,"No error"`` when empty; ``-350,"Queue overflow"`` when
  full) and set the matching ``*ESR?`` bit.
* Numbers are returned in NR3 form (``+2.30000000E+02``), booleans as ``1``/``0``.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable
from typing import Protocol

__all__ = [
    "AcSource",
    "BenchPhysics",
    "Dmm",
    "ReferenceLoad",
    "ScpiInstrument",
    "StandalonePhysics",
]

log = logging.getLogger(__name__)

ERROR_QUEUE_SIZE = 10


class BenchPhysics(Protocol):
    """What the instruments need from the simulated bench (AC source, meter relay, load).

    The bench (meter model wiring) implements this; `StandalonePhysics` is a simple stand-in.
    """

    @property
    def source_on(self) -> bool: ...

    @property
    def source_voltage(self) -> float: ...

    def set_source(
        self, *, at: float, on: bool | None = None, voltage: float | None = None
    ) -> None:
        """Switch the AC source output and/or set its voltage; None leaves a field as it is."""

    def load_voltage(self, at: float) -> float:
        """Mains voltage at the meter's load terminals (about 0 V when relay open or source off)."""

    def set_load_power(self, watts: float, at: float) -> None:
        """Electronic load set point (constant power)."""

    def load_power(self, at: float) -> float:
        """Power actually drawn: 0 when the meter relay is open or the source is off."""

    def energy_wh(self, at: float) -> float:
        """Reference-meter energy integral since the physics started, in Wh (never decreases)."""


class StandalonePhysics:
    """Source -> meter load relay -> constant-power load, integrating energy. For tests."""

    def __init__(
        self,
        *,
        source_on: bool = False,
        source_voltage: float = 230.0,
        load_relay_closed: bool = True,
        open_circuit_v: float = 0.0,
    ) -> None:
        self._source_on = source_on
        self._source_voltage = source_voltage
        self.load_relay_closed = load_relay_closed
        self.open_circuit_v = open_circuit_v
        self.load_setpoint_w = 0.0
        self._energy_wh = 0.0
        self._last_at: float | None = None

    @property
    def source_on(self) -> bool:
        return self._source_on

    @property
    def source_voltage(self) -> float:
        return self._source_voltage

    def set_source(
        self, *, at: float, on: bool | None = None, voltage: float | None = None
    ) -> None:
        self._advance(at)
        if on is not None:
            self._source_on = on
        if voltage is not None:
            self._source_voltage = voltage

    def set_load_relay(self, closed: bool, at: float) -> None:
        """The meter's supply-control switch (the bench drives this from the meter model)."""
        self._advance(at)
        self.load_relay_closed = closed

    def load_voltage(self, at: float) -> float:
        if self._source_on and self.load_relay_closed:
            return self._source_voltage
        return self.open_circuit_v

    def set_load_power(self, watts: float, at: float) -> None:
        self._advance(at)
        self.load_setpoint_w = watts

    def load_power(self, at: float) -> float:
        return self._power_now()

    def energy_wh(self, at: float) -> float:
        self._advance(at)
        return self._energy_wh

    def _power_now(self) -> float:
        live = self._source_on and self.load_relay_closed and self._source_voltage > 0
        return self.load_setpoint_w if live else 0.0

    def _advance(self, at: float) -> None:
        # Piecewise-constant power: integrate the segment since the last state change.
        if self._last_at is not None and at > self._last_at:
            self._energy_wh += self._power_now() * (at - self._last_at) / 3600.0
        if self._last_at is None or at > self._last_at:
            self._last_at = at


# -- SCPI plumbing --------------------------------------------------------------------------

_ERROR_TEXT = {
    -100: "Command error",
    -104: "Data type error",
    -108: "Parameter not allowed",
    -109: "Missing parameter",
    -113: "Undefined header",
    -222: "Data out of range",
    -224: "Illegal parameter value",
    -230: "Data corrupt or stale",
    -300: "Device-specific error",
    -350: "Queue overflow",
}

# *ESR? bit per error class (IEEE 488.2): command, execution, device-dependent, query.
_ESR_BIT = {1: 32, 2: 16, 3: 8, 4: 4}

Handler = Callable[[str, float], str | None]


class ScpiError(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(_ERROR_TEXT[code])
        self.code = code


def _node(spec: str) -> tuple[str, str, bool]:
    """``[LEVel]`` -> ("LEV", "LEVEL", optional=True)."""
    optional = spec.startswith("[")
    name = spec.strip("[]")
    short = "".join(c for c in name if not c.islower())
    return short.upper(), name.upper(), optional


def _match(nodes: list[str], pattern: list[tuple[str, str, bool]]) -> bool:
    if not pattern:
        return not nodes
    short, full, optional = pattern[0]
    if nodes and nodes[0].upper() in (short, full) and _match(nodes[1:], pattern[1:]):
        return True
    return optional and _match(nodes, pattern[1:])


def parse_number(args: str, unit: str, low: float, high: float) -> float:
    """A numeric parameter with an optional unit suffix, checked against [low, high]."""
    text = args.strip()
    if not text:
        raise ScpiError(-109)
    if unit and text.upper().endswith(unit.upper()):
        text = text[: -len(unit)].strip()
    try:
        value = float(text)
    except ValueError:
        raise ScpiError(-104) from None
    if not math.isfinite(value) or not low <= value <= high:
        raise ScpiError(-222)
    return value


def parse_bool(args: str) -> bool:
    text = args.strip().upper()
    if not text:
        raise ScpiError(-109)
    if text in ("ON", "1"):
        return True
    if text in ("OFF", "0"):
        return False
    raise ScpiError(-224)


def no_args(args: str) -> None:
    if args.strip():
        raise ScpiError(-108)


def nr3(value: float) -> str:
    return f"{value:+.8E}"


class ScpiInstrument:
    """Base: command table, IEEE 488.2 common commands, error queue. Subclasses add commands."""

    def __init__(self, idn: str) -> None:
        self.idn = idn
        self.errors: deque[int] = deque()
        self._esr = 0
        self._commands: list[tuple[list[tuple[str, str, bool]], bool, Handler]] = []
        self.on("*IDN?", self._idn)
        self.on("*RST", self._rst)
        self.on("*CLS", self._cls)
        self.on("*OPC?", self._opc_query)
        self.on("*OPC", self._nothing)
        self.on("*WAI", self._nothing)  # every command completes at once here
        self.on("*ESR?", self._esr_query)
        self.on("SYSTem:ERRor:[NEXT]?", self._next_error)

    # -- table ---------------------------------------------------------------------------------

    def on(self, header: str, handler: Handler) -> None:
        """Register `handler(args, at)` for `header`, e.g. ``[SOURce]:VOLTage?``."""
        query = header.endswith("?")
        pattern = [_node(spec) for spec in header.rstrip("?").split(":")]
        self._commands.append((pattern, query, handler))

    def handle(self, line: str, at: float) -> str | None:
        replies: list[str] = []
        for part in line.split(";"):
            part = part.strip()
            if not part:
                continue
            try:
                reply = self._dispatch(part, at)
            except ScpiError as exc:
                self.push_error(exc.code)
                continue
            except Exception:  # a bug or a physics fault must not kill the server
                log.exception("instrument %s failed on %r", self.idn, part)
                self.push_error(-300)
                continue
            if reply is not None:
                replies.append(reply)
        return ";".join(replies) if replies else None

    def _dispatch(self, text: str, at: float) -> str | None:
        header, *rest = text.split(None, 1)
        args = rest[0] if rest else ""
        header = header.lstrip(":")
        query = header.endswith("?")
        nodes = header.rstrip("?").split(":")
        for pattern, is_query, handler in self._commands:
            if is_query == query and _match(nodes, pattern):
                return handler(args, at)
        raise ScpiError(-113)

    # -- errors --------------------------------------------------------------------------------

    def push_error(self, code: int) -> None:
        self._esr |= _ESR_BIT.get(-code // 100, 0)
        if len(self.errors) >= ERROR_QUEUE_SIZE:
            self.errors[-1] = -350  # SCPI: the newest entry becomes "Queue overflow"
            return
        self.errors.append(code)

    def _next_error(self, args: str, at: float) -> str:
        no_args(args)
        if not self.errors:
            return '0,"No error"'
        code = self.errors.popleft()
        return f'{code},"{_ERROR_TEXT[code]}"'

    # -- common commands -----------------------------------------------------------------------

    def _idn(self, args: str, at: float) -> str:
        no_args(args)
        return self.idn

    def _rst(self, args: str, at: float) -> None:
        no_args(args)
        self.reset(at)

    def _cls(self, args: str, at: float) -> None:
        no_args(args)
        self.errors.clear()
        self._esr = 0

    def _opc_query(self, args: str, at: float) -> str:
        no_args(args)
        return "1"

    def _nothing(self, args: str, at: float) -> None:
        no_args(args)

    def _esr_query(self, args: str, at: float) -> str:
        no_args(args)
        value, self._esr = self._esr, 0
        return str(value)

    def reset(self, at: float) -> None:
        """*RST: back to the power-on settings. Subclasses extend."""


# -- instruments ----------------------------------------------------------------------------


class AcSource(ScpiInstrument):
    """Programmable AC source feeding the meter: OUTP, VOLT, FREQ."""

    def __init__(
        self,
        physics: BenchPhysics,
        *,
        idn: str = "HIL-SIM,AC-SOURCE,SIM0001,1.0",
        default_voltage: float = 230.0,
        default_frequency: float = 50.0,
        max_voltage: float = 300.0,
    ) -> None:
        super().__init__(idn)
        self.physics = physics
        self.default_voltage = default_voltage
        self.default_frequency = default_frequency
        self.max_voltage = max_voltage
        self.frequency = default_frequency
        self.on("OUTPut:[STATe]", self._set_output)
        self.on("OUTPut:[STATe]?", self._get_output)
        self.on("[SOURce]:VOLTage:[LEVel]:[IMMediate]:[AMPLitude]", self._set_voltage)
        self.on("[SOURce]:VOLTage:[LEVel]:[IMMediate]:[AMPLitude]?", self._get_voltage)
        self.on("[SOURce]:FREQuency:[CW]", self._set_frequency)
        self.on("[SOURce]:FREQuency:[CW]?", self._get_frequency)

    def reset(self, at: float) -> None:
        self.physics.set_source(on=False, voltage=self.default_voltage, at=at)
        self.frequency = self.default_frequency

    def _set_output(self, args: str, at: float) -> None:
        self.physics.set_source(on=parse_bool(args), at=at)

    def _get_output(self, args: str, at: float) -> str:
        no_args(args)
        return "1" if self.physics.source_on else "0"

    def _set_voltage(self, args: str, at: float) -> None:
        self.physics.set_source(voltage=parse_number(args, "V", 0.0, self.max_voltage), at=at)

    def _get_voltage(self, args: str, at: float) -> str:
        no_args(args)
        return nr3(self.physics.source_voltage)

    def _set_frequency(self, args: str, at: float) -> None:
        self.frequency = parse_number(args, "HZ", 15.0, 1000.0)

    def _get_frequency(self, args: str, at: float) -> str:
        no_args(args)
        return nr3(self.frequency)


class Dmm(ScpiInstrument):
    """DMM across the meter's load terminals; AC volts only (relay state check)."""

    def __init__(self, physics: BenchPhysics, *, idn: str = "HIL-SIM,DMM,SIM0002,1.0") -> None:
        super().__init__(idn)
        self.physics = physics
        self._last: float | None = None
        self.on("CONFigure:VOLTage:AC", self._configure)
        self.on("CONFigure?", self._configuration)
        self.on("READ?", self._read)
        self.on("MEASure:VOLTage:AC?", self._measure)
        self.on("INITiate:[IMMediate]", self._init)
        self.on("FETCh?", self._fetch)

    def reset(self, at: float) -> None:
        self._last = None

    def _configure(self, args: str, at: float) -> None:
        """Range/resolution arguments are accepted and ignored: the sim has one ideal range."""

    def _configuration(self, args: str, at: float) -> str:
        no_args(args)
        return '"VOLT:AC"'

    def _measure(self, args: str, at: float) -> str:
        return self._read("", at)  # MEAS? = CONF (arguments ignored) + READ?

    def _read(self, args: str, at: float) -> str:
        no_args(args)
        self._last = self.physics.load_voltage(at)
        return nr3(self._last)

    def _init(self, args: str, at: float) -> None:
        no_args(args)
        self._last = self.physics.load_voltage(at)

    def _fetch(self, args: str, at: float) -> str:
        no_args(args)
        if self._last is None:
            raise ScpiError(-230)
        return nr3(self._last)


class ReferenceLoad(ScpiInstrument):
    """Electronic load (constant power) plus reference energy meter in one box."""

    def __init__(
        self,
        physics: BenchPhysics,
        *,
        idn: str = "HIL-SIM,REF-LOAD,SIM0003,1.0",
        # A simulated load bank: up to what the sim rig files declare (capabilities.load_max_w).
        max_power_w: float = 1_000_000.0,
    ) -> None:
        super().__init__(idn)
        self.physics = physics
        self.max_power_w = max_power_w
        self.setpoint_w = 0.0
        self._energy_zero_wh = 0.0  # physics energy at the last ENER:RES
        self.on("[LOAD]:POWer:[LEVel]", self._set_power)
        self.on("[LOAD]:POWer:[LEVel]?", self._get_power)
        self.on("MEASure:POWer:[ACTive]?", self._measure_power)
        self.on("MEASure:ENERgy?", self._measure_energy)
        self.on("MEASure:VOLTage?", self._measure_voltage)
        self.on("ENERgy:RESet", self._reset_energy)

    def reset(self, at: float) -> None:
        self.setpoint_w = 0.0
        self.physics.set_load_power(0.0, at)
        self._energy_zero_wh = self.physics.energy_wh(at)

    def _set_power(self, args: str, at: float) -> None:
        self.setpoint_w = parse_number(args, "W", 0.0, self.max_power_w)
        self.physics.set_load_power(self.setpoint_w, at)

    def _get_power(self, args: str, at: float) -> str:
        no_args(args)
        return nr3(self.setpoint_w)

    def _measure_power(self, args: str, at: float) -> str:
        no_args(args)
        return nr3(self.physics.load_power(at))

    def _measure_energy(self, args: str, at: float) -> str:
        no_args(args)
        return nr3(self.physics.energy_wh(at) - self._energy_zero_wh)

    def _measure_voltage(self, args: str, at: float) -> str:
        no_args(args)
        return nr3(self.physics.load_voltage(at))

    def _reset_energy(self, args: str, at: float) -> None:
        no_args(args)
        self._energy_zero_wh = self.physics.energy_wh(at)

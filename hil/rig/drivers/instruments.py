"""Bench instruments over VISA: AC source, DMM on the load side, electronic load / reference meter.

Instruments of the same kind speak different SCPI dialects, so the command strings live in a
per-model command map (``hil/data/instruments/<model>.yaml``, loaded by `load_command_map`, the
only place these files are read). A map has a section per role (``ac_source``, ``dmm``,
``reference_load``); each section lists its commands as Python format templates
(``VOLT {volts:.2f}``), the lines sent once when a driver starts (``setup``), and whether the
error queue (``SYST:ERR?``) is read after every setting command (``check_errors``). A command
set to ``null`` is one the model cannot do; calling it raises `ConfigError`.

Faults: cannot open or no answer to ``*IDN?`` when opened -> `DeviceAbsent`; VISA timeout ->
`ReplyTimeout`; a reply that is not the number asked for -> `GarbledReply`; an entry in the error
queue after a setting command -> `DeviceError`.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, cast

import pyvisa
import yaml
from pyvisa.constants import StatusCode
from pyvisa.resources import MessageBasedResource

from hil.errors import ConfigError, DeviceAbsent, DeviceError, GarbledReply, ReplyTimeout
from hil.paths import INSTRUMENT_MAPS

__all__ = [
    "COMMAND_MAPS",
    "ROLE_COMMANDS",
    "AcSourceDriver",
    "CommandMap",
    "CommandSet",
    "DmmDriver",
    "ReferenceLoadDriver",
    "load_command_map",
    "open_resource",
]

COMMAND_MAPS = INSTRUMENT_MAPS

# Every command a role's section must list (null = not available on this model), with the
# placeholder each template is given.
ROLE_COMMANDS: dict[str, dict[str, dict[str, float]]] = {
    "ac_source": {
        "idn": {},
        "output_on": {},
        "output_off": {},
        "output_query": {},
        "set_voltage": {"volts": 230.0},
    },
    "dmm": {
        "idn": {},
        "read_ac_voltage": {},
    },
    "reference_load": {
        "idn": {},
        "set_power": {"watts": 100.0},
        "read_power": {},
        "read_energy_wh": {},
        "reset_energy": {},
    },
}

_ERROR_QUEUE_MAX = 20  # reads of the error queue after one command, at most


# -- command maps ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Command:
    template: str
    check_errors: bool


@dataclass(frozen=True, slots=True)
class CommandSet:
    """The commands of one role in one model's map."""

    map_name: str
    model: str
    role: str
    error_query: str
    check_errors: bool
    setup: tuple[str, ...]
    commands: Mapping[str, Command | None]

    def command(self, name: str) -> Command:
        if name not in self.commands:
            raise ConfigError(f"command map {self.map_name} ({self.role}): no command {name!r}")
        found = self.commands[name]
        if found is None:
            raise ConfigError(
                f"command map {self.map_name}: {self.model} cannot {name.replace('_', ' ')} "
                f"(marked null in its {self.role} section): use an instrument that can"
            )
        return found


@dataclass(frozen=True, slots=True)
class CommandMap:
    """One model's command map file: a `CommandSet` per role it fills."""

    name: str
    path: Path
    model: str
    sections: Mapping[str, CommandSet]

    def for_role(self, role: str) -> CommandSet:
        try:
            return self.sections[role]
        except KeyError:
            have = ", ".join(sorted(self.sections)) or "none"
            raise ConfigError(
                f"command map {self.name} ({self.path}) has no {role} section (it has: {have})"
            ) from None


def load_command_map(name_or_path: str | Path) -> CommandMap:
    """Load ``hil/data/instruments/<name>.yaml``, or a map file given by path."""
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or "/" in text or text.endswith((".yaml", ".yml")):
        path = Path(name_or_path)
    else:
        path = COMMAND_MAPS / f"{text}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in COMMAND_MAPS.glob("*.yaml"))) or "none"
        raise ConfigError(
            f"instrument command map {text!r} not found ({path}): use one of {known} "
            "or a path to a map file"
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        reason = " ".join(str(exc).split())
        raise ConfigError(f"{path}: not a readable YAML command map ({reason})") from exc
    return _parse_map(path, data)


def _parse_map(path: Path, data: object) -> CommandMap:
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with model:, error_query: and role sections")
    allowed = {"model", "error_query", "notes", *ROLE_COMMANDS}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ConfigError(f"{path}: unknown keys {unknown}; allowed: {sorted(allowed)}")
    model = data.get("model")
    if not isinstance(model, str) or not model:
        raise ConfigError(f"{path}: model: expected the instrument model as text")
    error_query = data.get("error_query", "SYST:ERR?")
    if not isinstance(error_query, str) or not error_query:
        raise ConfigError(f"{path}: error_query: expected a query such as 'SYST:ERR?'")
    sections = {
        role: _parse_section(path, model, role, str(error_query), data[role])
        for role in ROLE_COMMANDS
        if role in data
    }
    if not sections:
        raise ConfigError(f"{path}: no role section: add one of {sorted(ROLE_COMMANDS)}")
    return CommandMap(path.stem, path, model, sections)


def _parse_section(path: Path, model: str, role: str, error_query: str, raw: object) -> CommandSet:
    where = f"{path}: {role}"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping with check_errors, setup and commands")
    unknown = sorted(set(raw) - {"check_errors", "setup", "commands"})
    if unknown:
        raise ConfigError(
            f"{where}: unknown keys {unknown}; allowed: check_errors, setup, commands"
        )
    check = raw.get("check_errors", True)
    if not isinstance(check, bool):
        raise ConfigError(f"{where}.check_errors: expected true or false, got {check!r}")
    setup = raw.get("setup") or []
    if not isinstance(setup, list) or not all(isinstance(s, str) and s for s in setup):
        raise ConfigError(f"{where}.setup: expected a list of command lines")
    commands_raw = raw.get("commands")
    if not isinstance(commands_raw, dict):
        raise ConfigError(f"{where}.commands: expected a mapping of command name to template")
    required = ROLE_COMMANDS[role]
    missing = sorted(set(required) - set(commands_raw))
    extra = sorted(set(commands_raw) - set(required))
    if missing or extra:
        raise ConfigError(
            f"{where}.commands: missing {missing}, unknown {extra}; a {role} map lists exactly "
            f"{sorted(required)} (null for a command the model lacks)"
        )
    commands: dict[str, Command | None] = {}
    for name, entry in commands_raw.items():
        commands[name] = _parse_command(f"{where}.commands.{name}", entry, check, required[name])
    return CommandSet(path.stem, model, role, error_query, check, tuple(setup), commands)


def _parse_command(
    where: str, entry: object, default_check: bool, sample: dict[str, float]
) -> Command | None:
    if entry is None:
        return None
    check = default_check
    if isinstance(entry, dict):
        unknown = sorted(set(entry) - {"cmd", "check_errors"})
        if unknown:
            raise ConfigError(f"{where}: unknown keys {unknown}; allowed: cmd, check_errors")
        check = entry.get("check_errors", default_check)
        if not isinstance(check, bool):
            raise ConfigError(f"{where}.check_errors: expected true or false, got {check!r}")
        entry = entry.get("cmd")
    if not isinstance(entry, str) or not entry.strip():
        raise ConfigError(
            f"{where}: expected a command line, {{cmd: ..., check_errors: ...}} or null"
        )
    try:
        entry.format(**sample)
    except (KeyError, IndexError, ValueError) as exc:
        names = ", ".join("{" + k + "}" for k in sample) or "no placeholders"
        raise ConfigError(
            f"{where}: bad template {entry!r} ({exc!r}); it may use {names}"
        ) from None
    return Command(entry, check)


# -- opening --------------------------------------------------------------------------------

_managers: dict[str, pyvisa.ResourceManager] = {}
_managers_lock = threading.Lock()


def resource_manager(backend: str = "@py") -> pyvisa.ResourceManager:
    """The process's ResourceManager for `backend` (``@py`` = pyvisa-py), created once."""
    with _managers_lock:
        manager = _managers.get(backend)
        if manager is None:
            try:
                manager = pyvisa.ResourceManager(backend)
            except (OSError, ValueError, pyvisa.errors.Error) as exc:
                raise ConfigError(
                    f"VISA backend {backend!r} is not available ({exc}): use '@py' (pyvisa-py) "
                    "or install the vendor VISA library"
                ) from exc
            _managers[backend] = manager
        return manager


def open_resource(
    resource: str,
    backend: str = "@py",
    timeout_s: float = 2.0,
    *,
    check_query: str | None = "*IDN?",
) -> MessageBasedResource:
    """Open a VISA resource with ``\\n`` terminations and a `timeout_s` I/O timeout.

    With pyvisa-py a TCP socket resource "opens" even when nothing listens, so the instrument
    is asked `check_query` (``*IDN?``) at once; None skips that. Raises `DeviceAbsent`.
    """
    if timeout_s <= 0:
        raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
    manager = resource_manager(backend)
    millis = max(1, round(timeout_s * 1000))
    hint = (
        "check that it is powered and connected, and the VISA resource string in the rig file "
        "(e.g. TCPIP::HOST::5025::SOCKET, USB0::0x2A8D::0x1301::SERIAL::INSTR)"
    )
    try:
        inst = manager.open_resource(
            resource,
            read_termination="\n",
            write_termination="\n",
            timeout=millis,
            open_timeout=millis,
        )
    except Exception as exc:  # pyvisa-py raises plain Exception for some connect failures
        raise DeviceAbsent(
            f"instrument at {resource} could not be opened ({_one_line(exc)}): {hint}"
        ) from exc
    if not isinstance(inst, MessageBasedResource):
        inst.close()
        raise ConfigError(
            f"VISA resource {resource} is not message based: expected an INSTR or SOCKET"
        )
    if check_query is not None:
        try:
            inst.query(check_query)
        except Exception as exc:
            inst.close()
            raise DeviceAbsent(
                f"instrument at {resource} did not answer {check_query!r} within {timeout_s} s "
                f"({_one_line(exc)}): {hint}"
            ) from exc
    return cast(MessageBasedResource, inst)


# -- drivers --------------------------------------------------------------------------------


class _ScpiDriver:
    role: ClassVar[str]
    label: ClassVar[str]

    def __init__(self, inst: MessageBasedResource, commands: CommandMap | CommandSet) -> None:
        command_set = commands.for_role(self.role) if isinstance(commands, CommandMap) else commands
        if command_set.role != self.role:
            raise ConfigError(
                f"{type(self).__name__} needs the {self.role} section of a command map, "
                f"got {command_set.role} from {command_set.map_name}"
            )
        self.inst = inst
        self.commands = command_set
        self.resource_name = str(getattr(inst, "resource_name", "?"))
        self._lock = threading.RLock()
        for line in command_set.setup:
            self._send(line, check=command_set.check_errors)

    def idn(self) -> str:
        return self._query("idn")

    def close(self) -> None:
        """Release the VISA session (the instrument keeps its state)."""
        self.inst.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.resource_name!r}, {self.commands.map_name!r})"

    # -- plumbing ------------------------------------------------------------------------------

    def _where(self) -> str:
        return f"{self.label} at {self.resource_name}"

    def _write(self, name: str, **values: float) -> None:
        command = self.commands.command(name)
        self._send(command.template.format(**values), check=command.check_errors)

    def _query(self, name: str) -> str:
        return self._ask(self.commands.command(name).template)

    def _query_float(self, name: str) -> float:
        reply = self._query(name)
        value = _to_float(reply.split(";")[0].split(",")[0])
        if value is None:
            raise GarbledReply(
                f"{self._where()} answered {self.commands.command(name).template!r} with "
                f"{reply[:60]!r}, not a number: check the command map {self.commands.map_name}"
            )
        return value

    def _send(self, line: str, *, check: bool) -> None:
        with self._lock:
            self._io(lambda: self.inst.write(line), line)
            if check:
                self._check_errors(line)

    def _ask(self, line: str) -> str:
        with self._lock:
            return str(self._io(lambda: self.inst.query(line), line)).strip()

    def _check_errors(self, sent: str) -> None:
        errors: list[str] = []
        query = self.commands.error_query
        for _ in range(_ERROR_QUEUE_MAX):
            reply = self._ask(query)
            code = reply.partition(",")[0].strip()
            try:
                number = int(code)
            except ValueError:
                raise GarbledReply(
                    f"{self._where()} answered {query!r} with {reply[:60]!r}, not "
                    f"'<code>,\"<text>\"': check error_query in the command map "
                    f"{self.commands.map_name}"
                ) from None
            if number == 0:
                break
            errors.append(reply)
        if errors:
            raise DeviceError(
                f"{self._where()} reported {'; '.join(errors)} after {sent!r}: check the value "
                f"against the instrument's range and the command map {self.commands.map_name}"
            )

    def _io(self, call: Callable[[], object], line: str) -> object:
        try:
            return call()
        except pyvisa.errors.VisaIOError as exc:
            if exc.error_code == StatusCode.error_timeout:
                raise ReplyTimeout(
                    f"{self._where()} did not answer {line!r} within "
                    f"{self.inst.timeout / 1000:g} s: check that it is powered, connected and "
                    "in remote mode"
                ) from exc
            if exc.error_code in (StatusCode.error_connection_lost, StatusCode.error_io):
                raise DeviceAbsent(
                    f"{self._where()} was lost during {line!r} ({_one_line(exc)}): check the "
                    "cable or network and that the instrument is powered"
                ) from exc
            raise DeviceError(f"{self._where()}: {line!r} failed ({_one_line(exc)})") from exc
        except (OSError, pyvisa.errors.InvalidSession) as exc:
            raise DeviceAbsent(
                f"{self._where()} failed during {line!r} ({_one_line(exc)}): check the cable or "
                "network and that the instrument is powered"
            ) from exc


class AcSourceDriver(_ScpiDriver):
    """Programmable AC source feeding the meter."""

    role = "ac_source"
    label = "AC source"

    def output(self, on: bool) -> None:
        self._write("output_on" if on else "output_off")

    def set_voltage(self, v: float) -> None:
        """Output voltage, V rms."""
        self._write("set_voltage", volts=_finite(v, "voltage"))

    def is_on(self) -> bool:
        reply = self._query("output_query")
        text = reply.strip().upper()
        if text in ("ON", "OFF"):
            return text == "ON"
        value = _to_float(text)
        if value is None:
            raise GarbledReply(
                f"{self._where()} answered the output query with {reply[:60]!r}, not 0/1/ON/OFF: "
                f"check the command map {self.commands.map_name}"
            )
        return value != 0


class DmmDriver(_ScpiDriver):
    """DMM across the meter's load terminals (load relay state)."""

    role = "dmm"
    label = "DMM"

    def read_ac_voltage(self) -> float:
        """One AC voltage reading, V rms."""
        return self._query_float("read_ac_voltage")


class ReferenceLoadDriver(_ScpiDriver):
    """Electronic load (constant power) with the reference energy measurement."""

    role = "reference_load"
    label = "reference load"

    def set_power(self, w: float) -> None:
        """Load set point, W."""
        self._write("set_power", watts=_finite(w, "power"))

    def read_power(self) -> float:
        """Power actually drawn, W."""
        return self._query_float("read_power")

    @property
    def measures_energy(self) -> bool:
        """The model integrates energy (its map has read_energy_wh and reset_energy)."""
        commands = self.commands.commands
        return all(commands.get(n) is not None for n in ("read_energy_wh", "reset_energy"))

    def read_energy_wh(self) -> float:
        """Energy since the last `reset_energy`, Wh."""
        return self._query_float("read_energy_wh")

    def reset_energy(self) -> None:
        self._write("reset_energy")


def _finite(value: float, what: str) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{what}: expected a finite number, got {value!r}")
    return number


def _to_float(text: str) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__

"""Meter behaviour profile: keypad timing, processing times, TID memory, lockout, limits.

Pure data. ``MeterProfile()`` holds the realistic defaults (bench-notes 1.3); the files in
``hil/data/profiles/`` give named profiles (``realistic``, ``fast`` for CI) and are read by
`hil.meter.profile_file.load_profile`. Every field is described in docs/meter-model.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any

from hil.errors import ConfigError

# Class 2 management subclasses a meter may support (key change sections are not listed:
# 3/4 are always supported, 8/9 whenever the meter has a 128-bit key).
MANAGEMENT_SUBCLASSES = {
    0: "SetMaximumPowerLimit",
    1: "ClearCredit",
    2: "SetTariffRate",
    5: "ClearTamperCondition",
    6: "SetMaximumPhasePowerUnbalanceLimit",
    7: "SetWaterMeterFactor",
}
CREDIT_KINDS = {0: "electricity", 1: "water", 2: "gas", 3: "time"}
# Class 1 control bits by number (hil.sts.tokens.TEST_CONTROLS: the project's Table 27).
CLASS1_BITS = ("load-switch", "display", "totals", "key-info", "tid", "power-limit")


class ProfileError(ConfigError):
    """A profile field is missing, of the wrong type or out of range (one line, names the field)."""


def _number(name: str, value: float, *, positive: bool = False) -> None:
    ok = math.isfinite(value) and (value > 0 if positive else value >= 0)
    if not ok:
        need = "> 0" if positive else ">= 0"
        raise ProfileError(f"profile field {name!r}: must be a finite number {need}, got {value!r}")


@dataclass(frozen=True)
class KeypadTiming:
    """Keypad timing. The model uses ``inter_digit_timeout_s`` and ``auto_submit_at_20``; the
    press/release/debounce values tell the bench how fast to type and the simulated keypad
    scanner what it accepts."""

    press_s: float = 0.15
    release_s: float = 0.15
    debounce_s: float = 0.05
    min_press_s: float = 0.05
    inter_digit_timeout_s: float = 20.0
    auto_submit_at_20: bool = False  # True: the 20th digit submits; False: ENTER submits

    def __post_init__(self) -> None:
        for name in ("press_s", "release_s", "debounce_s", "min_press_s"):
            _number(f"keypad.{name}", getattr(self, name))
        _number("keypad.inter_digit_timeout_s", self.inter_digit_timeout_s, positive=True)
        if self.press_s < max(self.debounce_s, self.min_press_s):
            raise ProfileError(
                f"profile field 'keypad.press_s': {self.press_s} s is shorter than the"
                f" debounce/minimum press ({max(self.debounce_s, self.min_press_s)} s);"
                " every press would be lost"
            )

    @property
    def key_period_s(self) -> float:
        """Time one key press takes at this timing (press + release)."""
        return self.press_s + self.release_s


@dataclass(frozen=True)
class LockoutPolicy:
    """Token lockout after consecutive rejected tokens (bench-notes 1.3, CLOU practice)."""

    after_rejects: int = 3
    base_s: float = 10.0
    max_s: float = 1280.0
    reset_by_power_cycle: bool = True

    def __post_init__(self) -> None:
        if self.after_rejects < 1:
            raise ProfileError(
                f"profile field 'lockout.after_rejects': must be >= 1, got {self.after_rejects}"
            )
        _number("lockout.base_s", self.base_s, positive=True)
        _number("lockout.max_s", self.max_s, positive=True)
        if self.max_s < self.base_s:
            raise ProfileError(
                f"profile field 'lockout.max_s': {self.max_s} is below lockout.base_s {self.base_s}"
            )

    def duration_s(self, rejects: int) -> float:
        """Lock length after ``rejects`` consecutive rejects (0 when no lock is due).

        ``after_rejects`` rejects lock for ``base_s``; each further reject doubles it, up to
        ``max_s``: with 3/10/1280, rejects 3, 4, 5, ... 10 lock for 10, 20, 40, ... 1280 s.
        """
        extra = rejects - self.after_rejects
        if extra < 0:
            return 0.0
        return min(self.base_s * 2 ** min(extra, 64), self.max_s)


@dataclass(frozen=True)
class MeterProfile:
    """How a particular meter model behaves where meters differ. Defaults: realistic timings."""

    name: str = "default"
    keypad: KeypadTiming = field(default_factory=KeypadTiming)
    processing_s: float = 0.5  # decrypt/validate time from submit to result
    result_hold_s: float = 3.0  # result shown; keypad ignored meanwhile
    tid_memory_depth: int = 50
    old_only_when_full: bool = False  # Old rule only once the TID memory is full
    lockout: LockoutPolicy = field(default_factory=LockoutPolicy)
    kct_timeout_s: float = 600.0  # a partial key change set is forgotten after this
    kct_lost_on_power_cycle: bool = True
    power_limit_retry_s: float = 60.0  # reclose this long after a power-limit trip
    credit_max_units: int = 9_999_999  # credit register limit, 0.1 kWh units (999 999.9 kWh)
    credit_kinds: tuple[int, ...] = (0,)  # class 0 subclasses accepted (0 electricity)
    management_subclasses: tuple[int, ...] = (0, 1, 5)  # class 2 functions supported
    key_expiry: bool = True  # KEN checked (and updated by key changes)
    load_switch_test_s: float = 10.0  # class 1 "load-switch": relay open this long
    display_test_s: float = 10.0  # class 1 display tests shown this long
    class1_bits: tuple[int, ...] = (0, 1, 2, 3, 4, 5)  # class 1 control bits the meter runs
    class1_other_form: bool = False  # a test token of the other MfrCode length is taken
    long_outage_s: float = 300.0  # the supply-off time of the long-outage retention test
    # Payment functions (declared in the meter file, hil.meter.functions; 0 / empty: none).
    low_credit_wh: int = 0  # low-credit warning while the credit is below this
    emergency_credit_wh: int = 0  # emergency credit granted on request
    emergency_below_wh: int = 0  # ...only while the credit is below this
    emergency_code: str = ""  # the short code typed before ENTER that requests it
    friendly_hours: tuple[int, ...] = ()  # (start, end) hour of the meter clock: no cut-off
    trip_retries: int = 0  # power-limit retries before the relay latches open (0: no latch)
    token_log_depth: int = 0  # tokens the meter's token log keeps
    event_log_depth: int = 0  # entries the meter's event log keeps

    def __post_init__(self) -> None:
        if not self.name:
            raise ProfileError("profile field 'name': must not be empty")
        for name in ("processing_s", "result_hold_s", "load_switch_test_s", "display_test_s"):
            _number(name, getattr(self, name))
        _number("kct_timeout_s", self.kct_timeout_s, positive=True)
        _number("power_limit_retry_s", self.power_limit_retry_s, positive=True)
        _number("long_outage_s", self.long_outage_s, positive=True)
        for name in ("low_credit_wh", "emergency_credit_wh", "emergency_below_wh",
                     "trip_retries", "token_log_depth", "event_log_depth"):  # fmt: skip
            value = getattr(self, name)
            if value < 0:
                raise ProfileError(f"profile field {name!r}: must be >= 0, got {value}")
        if self.friendly_hours and (
            len(self.friendly_hours) != 2
            or not all(0 <= h <= 23 for h in self.friendly_hours)
            or self.friendly_hours[0] == self.friendly_hours[1]
        ):
            raise ProfileError(
                "profile field 'friendly_hours': expected [start, end], two different hours 0..23,"
                f" got {list(self.friendly_hours)}"
            )
        if self.tid_memory_depth < 1:
            raise ProfileError(
                f"profile field 'tid_memory_depth': must be >= 1, got {self.tid_memory_depth}"
            )
        if self.credit_max_units < 1:
            raise ProfileError(
                f"profile field 'credit_max_units': must be >= 1, got {self.credit_max_units}"
            )
        if not self.credit_kinds or not set(self.credit_kinds) <= CREDIT_KINDS.keys():
            raise ProfileError(
                f"profile field 'credit_kinds': must be a non-empty list of 0..3"
                f" (0 electricity, 1 water, 2 gas, 3 time), got {list(self.credit_kinds)}"
            )
        if not set(self.management_subclasses) <= MANAGEMENT_SUBCLASSES.keys():
            raise ProfileError(
                "profile field 'management_subclasses': accepted values are"
                f" {sorted(MANAGEMENT_SUBCLASSES)}, got {list(self.management_subclasses)}"
            )

        if not set(self.class1_bits) <= set(range(len(CLASS1_BITS))):
            raise ProfileError(
                f"profile field 'class1_bits': accepted values are 0..{len(CLASS1_BITS) - 1}"
                f" ({', '.join(CLASS1_BITS)}), got {list(self.class1_bits)}"
            )

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> MeterProfile:
        """Build from a mapping (a parsed YAML file). Missing fields take the defaults.

        Raises `ProfileError` with a one-line message naming the bad field.
        """
        return _build(cls, data, "")

    def as_mapping(self) -> dict[str, Any]:
        """Plain dict (lists for the tuples): ``from_mapping(p.as_mapping()) == p``."""
        out = asdict(self)
        for key in ("credit_kinds", "management_subclasses", "class1_bits", "friendly_hours"):
            out[key] = list(out[key])
        return out

    def typing_time_s(self, digits: int = 20) -> float:
        """How long typing ``digits`` keys takes at this keypad timing (ENTER not included)."""
        return digits * self.keypad.key_period_s


def _default(f: Any) -> Any:
    return f.default_factory() if f.default is MISSING else f.default


def _build(cls: type, data: Any, prefix: str) -> Any:
    where = prefix.rstrip(".") or "profile"
    if not isinstance(data, Mapping):
        raise ProfileError(f"{where}: expected a mapping of fields, got {type(data).__name__}")
    known = {f.name: f for f in fields(cls)}
    unknown = [k for k in data if k not in known]
    if unknown:
        raise ProfileError(
            f"profile field {prefix + str(unknown[0])!r}: unknown field; known fields:"
            f" {', '.join(known)}"
        )
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        kwargs[key] = _convert(prefix + key, value, _default(known[key]))
    return cls(**kwargs)


def _convert(name: str, value: Any, default: Any) -> Any:
    bad = f"profile field {name!r}: expected {{}}, got {value!r}"
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ProfileError(bad.format("true or false"))
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ProfileError(bad.format("a whole number"))
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ProfileError(bad.format("a number (seconds)"))
        return float(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise ProfileError(bad.format("text"))
        return value
    if isinstance(default, tuple):
        if not isinstance(value, list | tuple) or any(
            isinstance(v, bool) or not isinstance(v, int) for v in value
        ):
            raise ProfileError(bad.format("a list of whole numbers"))
        return tuple(value)
    return _build(type(default), value, name + ".")

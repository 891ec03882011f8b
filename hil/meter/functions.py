"""What a meter model declares it has: the optional functions that differ between meters.

Pure data. A meter file (``hil/data/meters/<name>.yaml``, named by the rig file's
``meter.functions``) says which optional functions the meter has and how they behave where
meters differ: credit registers, class 1 tests, the class 2 management functions beyond
power limit, clear credit and clear tamper, and how its keypad submits an entry. The timing
profile (``hil/data/profiles/``) keeps the figures (seconds); this file keeps the facts.

A function the file does not mention is *not declared*: the suites cannot know what a
conforming meter of this model does, so a test of it is skipped as *not applicable* (the
report's matrix shows the requirement so), which is not the same as a skip because the bench
lacks a feature. See docs/rig-files.md (meter files) and docs/conformance.md.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hil.errors import ConfigError
from hil.meter.profile import CREDIT_KINDS, MeterProfile
from hil.sts.tokens import TEST_CONTROLS

# The class 2 functions a meter file declares as applied or refused (sts-notes 3: 2/2, 2/6
# and 2/7; their payloads are reserved or unconfirmed, so meters differ).
OTHER_MANAGEMENT = {
    "set_tariff_rate": 2,
    "set_phase_unbalance_limit": 6,
    "set_water_meter_factor": 7,
}
# Always supported by this project's meters (MPL, ClearCredit, ClearTamperCondition).
CORE_MANAGEMENT = (0, 1, 5)
SUBMIT_MODES = ("enter", "twentieth_digit")
FIELDS = ("name", "description", "credit_kinds", "class1", "management", "keypad", "payment",
          "supply", "logs", "clock")  # fmt: skip
CLOCKS = ("battery", "none")  # the meter clock runs without supply, or stops


class FunctionsError(ConfigError):
    """A meter file field is unknown, of the wrong type or out of range (one line)."""


@dataclass(frozen=True)
class MeterFunctions:
    """The declarations of one meter model. ``None``: not declared (tests not applicable)."""

    name: str = ""  # empty: no meter file
    description: str = ""
    credit_kinds: tuple[int, ...] | None = None  # class 0 subclasses accepted
    class1_tests: tuple[str, ...] | None = None  # TEST_CONTROLS names the meter runs
    class1_other_form: str | None = None  # "refused" or "accepted": the other MfrCode length
    management: Mapping[str, bool] | None = None  # OTHER_MANAGEMENT name -> applied
    submit: str | None = None  # "enter" or "twentieth_digit"
    back_key: bool | None = None  # BACK deletes the last digit
    entry_timeout: bool | None = None  # a partial entry is discarded after the timeout
    low_credit_wh: int | None = None  # low-credit warning below this
    emergency: tuple[int, int, str] | None = None  # (granted Wh, only below Wh, short code)
    friendly_hours: tuple[int, int] | None = None  # (start, end) hour: no cut-off between
    trip_retries: int | None = None  # power-limit retries before the relay latches open
    token_log: int | None = None  # entries in the token log
    event_log: int | None = None  # entries in the event log
    clock: str | None = None  # "battery": keeps time without supply; "none": stops

    # -- what the suites ask ------------------------------------------------------------
    def not_declared(self, function: str) -> str | None:
        """Why ``function`` does not apply to this meter, or None when it is declared.

        Functions: ``credit:<kind>``, ``class1:<test>``, ``class1:other_form``,
        ``management:<name>``, ``keypad:submit``, ``keypad:back``, ``keypad:entry_timeout``,
        and the `OPTIONAL` ones (``payment:emergency_credit``, ``logs:tokens``, ...).
        """
        group, _, item = function.partition(":")
        if group not in ("class1", "management", "credit", "keypad") and function not in OPTIONAL:
            raise ValueError(f"unknown function {function!r}")
        if not self.name:
            return "the rig file names no meter file (meter.functions): nothing is declared"
        where = f"meter file {self.name!r}"
        if function in OPTIONAL:
            field, wanted = OPTIONAL[function]
            value = getattr(self, field)
            if value is None:
                return f"{where} does not declare {function.replace(':', '.')}"
            if wanted is not None and value != wanted:
                return f"{where} declares {function.replace(':', '.')}: {value}"
            return None
        if group == "class1" and item == "other_form":
            if self.class1_other_form is None:
                return f"{where} does not declare class1.other_mfr_form"
            return None
        if group == "class1":
            if self.class1_tests is None:
                return f"{where} declares no class 1 tests (class1.tests)"
            if item not in self.class1_tests:
                return f"{where} does not declare the class 1 test {item!r}"
            return None
        if group == "management":
            if self.management is None or item not in self.management:
                return f"{where} does not declare management.{item} (applied or refused)"
            return None
        if group == "credit":
            if self.credit_kinds is None:
                return f"{where} declares no credit_kinds"
            return None
        if group == "keypad":
            field = {"submit": "submit", "back": "back_key", "entry_timeout": "entry_timeout"}
            value = getattr(self, field[item]) if item in field else None
            if value is None:
                return f"{where} does not declare keypad.{field.get(item, item)}"
            if value is False:
                return f"{where} says the meter has no keypad.{field[item]}"
            return None
        raise ValueError(f"unknown function {function!r}")

    def applied(self, name: str) -> bool:
        """A declared other management function: applied (True) or refused (False)."""
        assert self.management is not None
        return self.management[name]

    # -- the model's behaviour -----------------------------------------------------------
    def apply(self, profile: MeterProfile) -> MeterProfile:
        """``profile`` with the declared functions in place of its own function fields."""
        changes: dict[str, Any] = {}
        if self.credit_kinds is not None:
            changes["credit_kinds"] = self.credit_kinds
        if self.class1_tests is not None:
            changes["class1_bits"] = tuple(
                sorted(TEST_CONTROLS[t].bit_length() - 1 for t in self.class1_tests)
            )
        if self.class1_other_form is not None:
            changes["class1_other_form"] = self.class1_other_form == "accepted"
        if self.management is not None:
            others = [OTHER_MANAGEMENT[n] for n, applied in self.management.items() if applied]
            kept = [s for s in profile.management_subclasses
                    if s in CORE_MANAGEMENT or s not in
                    {OTHER_MANAGEMENT[n] for n in self.management}]  # fmt: skip
            changes["management_subclasses"] = tuple(sorted({*kept, *others}))
        if self.low_credit_wh is not None:
            changes["low_credit_wh"] = self.low_credit_wh
        if self.emergency is not None:
            granted, below, code = self.emergency
            changes.update(emergency_credit_wh=granted, emergency_below_wh=below,
                           emergency_code=code)  # fmt: skip
        if self.friendly_hours is not None:
            changes["friendly_hours"] = self.friendly_hours
        if self.trip_retries is not None:
            changes["trip_retries"] = self.trip_retries
        if self.token_log is not None:
            changes["token_log_depth"] = self.token_log
        if self.event_log is not None:
            changes["event_log_depth"] = self.event_log
        if self.submit is not None:
            keypad = dataclasses.replace(
                profile.keypad, auto_submit_at_20=self.submit == "twentieth_digit"
            )
            changes["keypad"] = keypad
        return dataclasses.replace(profile, **changes) if changes else profile

    # -- reading ------------------------------------------------------------------------
    @classmethod
    def from_mapping(cls, data: Any) -> MeterFunctions:
        """Build from a parsed meter file; `FunctionsError` names the bad field."""
        if not isinstance(data, Mapping):
            raise FunctionsError("expected a mapping of fields (name:, credit_kinds:, ...)")
        _known(data, FIELDS, "")
        name = data.get("name", "meter")
        if not isinstance(name, str) or not name:
            raise FunctionsError("field 'name': expected text")
        out: dict[str, Any] = {"name": name, "description": str(data.get("description", ""))}
        if "credit_kinds" in data:
            out["credit_kinds"] = _credit_kinds(data["credit_kinds"])
        if "class1" in data:
            class1 = _section(data["class1"], "class1", ("tests", "other_mfr_form"))
            if "tests" in class1:
                out["class1_tests"] = _names(class1["tests"], "class1.tests", TEST_CONTROLS)
            if "other_mfr_form" in class1:
                out["class1_other_form"] = _choice(
                    class1["other_mfr_form"], "class1.other_mfr_form", ("refused", "accepted")
                )
        if "management" in data:
            mgmt = _section(data["management"], "management", tuple(OTHER_MANAGEMENT))
            out["management"] = {
                k: _choice(v, f"management.{k}", ("applied", "refused")) == "applied"
                for k, v in mgmt.items()
            }
        if "keypad" in data:
            keypad = _section(data["keypad"], "keypad", ("submit", "back_key", "entry_timeout"))
            if "submit" in keypad:
                out["submit"] = _choice(keypad["submit"], "keypad.submit", SUBMIT_MODES)
            for key, attr in (("back_key", "back_key"), ("entry_timeout", "entry_timeout")):
                if key in keypad:
                    if not isinstance(keypad[key], bool):
                        raise FunctionsError(
                            f"field 'keypad.{key}': expected true or false, got {keypad[key]!r}"
                        )
                    out[attr] = keypad[key]
        if "payment" in data:
            out.update(_payment(data["payment"]))
        if "supply" in data:
            supply = _section(data["supply"], "supply", ("trip_retries",))
            if "trip_retries" in supply:
                out["trip_retries"] = _count(supply["trip_retries"], "supply.trip_retries", 1)
        if "logs" in data:
            logs = _section(data["logs"], "logs", ("tokens", "events"))
            for key in logs:
                out[f"{key[:-1]}_log"] = _count(logs[key], f"logs.{key}", 1)
        if "clock" in data:
            out["clock"] = _choice(data["clock"], "clock", CLOCKS)
        return cls(**out)


# Optional functions the suites ask about by name -> (field, the value it must have; None:
# any declared value).
OPTIONAL: dict[str, tuple[str, object]] = {
    "payment:low_credit": ("low_credit_wh", None),
    "payment:emergency_credit": ("emergency", None),
    "payment:friendly_hours": ("friendly_hours", None),
    "supply:trip_retries": ("trip_retries", None),
    "logs:tokens": ("token_log", None),
    "logs:events": ("event_log", None),
    "clock:battery": ("clock", "battery"),
}


def _payment(value: Any) -> dict[str, Any]:
    known = ("low_credit_kwh", "emergency_credit", "friendly_hours")
    payment = _section(value, "payment", known)
    out: dict[str, Any] = {}
    if "low_credit_kwh" in payment:
        out["low_credit_wh"] = _wh(payment["low_credit_kwh"], "payment.low_credit_kwh")
    if "emergency_credit" in payment:
        name = "payment.emergency_credit"
        ec = _section(payment["emergency_credit"], name, ("amount_kwh", "below_kwh", "code"))
        missing = [k for k in ("amount_kwh", "below_kwh", "code") if k not in ec]
        if missing:
            raise FunctionsError(f"field {name!r}: missing {', '.join(missing)}")
        code = str(ec["code"])
        if not code.isdigit() or not 1 <= len(code) <= 6:
            raise FunctionsError(
                f"field '{name}.code': expected 1-6 digits typed before ENTER, got {ec['code']!r}"
            )
        granted = _wh(ec["amount_kwh"], f"{name}.amount_kwh")
        if not granted:
            raise FunctionsError(f"field '{name}.amount_kwh': must be > 0")
        out["emergency"] = (granted, _wh(ec["below_kwh"], f"{name}.below_kwh"), code)
    if "friendly_hours" in payment:
        hours = payment["friendly_hours"]
        if (
            not isinstance(hours, list)
            or len(hours) != 2
            or any(isinstance(h, bool) or not isinstance(h, int) or not 0 <= h <= 23 for h in hours)
            or hours[0] == hours[1]
        ):
            raise FunctionsError(
                "field 'payment.friendly_hours': expected [start, end], two different hours"
                f" 0..23 of the meter clock (UTC), e.g. [17, 8]; got {hours!r}"
            )
        out["friendly_hours"] = (hours[0], hours[1])
    return out


def _wh(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise FunctionsError(f"field {name!r}: expected a number of kWh >= 0, got {value!r}")
    return round(value * 1000)


def _count(value: Any, name: str, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise FunctionsError(f"field {name!r}: expected a whole number >= {least}, got {value!r}")
    return value


def _known(data: Mapping[str, Any], known: tuple[str, ...], prefix: str) -> None:
    for key in data:
        if key not in known:
            raise FunctionsError(
                f"field {prefix + str(key)!r}: unknown field; known: {', '.join(known)}"
            )


def _section(value: Any, name: str, known: tuple[str, ...]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise FunctionsError(f"field {name!r}: expected a mapping ({', '.join(known)})")
    _known(value, known, name + ".")
    return value


def _choice(value: Any, name: str, accepted: tuple[str, ...]) -> str:
    if value not in accepted:
        raise FunctionsError(f"field {name!r}: accepted: {', '.join(accepted)}; got {value!r}")
    return str(value)


def _names(value: Any, name: str, known: Mapping[str, Any]) -> tuple[str, ...]:
    if not isinstance(value, list) or any(v not in known for v in value):
        raise FunctionsError(
            f"field {name!r}: expected a list of {', '.join(known)}; got {value!r}"
        )
    return tuple(dict.fromkeys(value))


def _credit_kinds(value: Any) -> tuple[int, ...]:
    by_name = {v: k for k, v in CREDIT_KINDS.items()}
    if not isinstance(value, list) or not value or any(v not in by_name for v in value):
        raise FunctionsError(
            f"field 'credit_kinds': expected a non-empty list of {', '.join(by_name)};"
            f" got {value!r}"
        )
    return tuple(sorted({by_name[v] for v in value}))

"""The physical minimum of a test: how long the meter and the bench must take, whatever the
harness does. Pure: no I/O, no clock; ``hil run --plan`` and benchmarks/harness_overhead.py
feed it.

A test declares what it asks of the meter beside its code, as data (``@pytest.mark.cost``
in the suites; ``cost:FIELD=VALUE[,FIELD=VALUE]`` tags with the same names in Robot
suites): how many tokens by which path, key change sets, TID memory fills, and the waits
it has to sit out (lockout back-offs, partial key change timeouts, credit run out under the
bench's largest load, supply cycles, class 1 meter tests, plain meter time). Several
declarations on one test add up, so a parametrized case can carry its own share.
``estimate`` turns one declaration, the rig's timing profile and what the rig declares it
can do into seconds:

- keypad entry: every key is held ``press_s`` and followed by ``release_s`` (the keypad
  driver's timing), 20 digits plus ENTER unless the meter submits at the 20th digit; a token
  through the virtual carrier takes no keypad time;
- processing: ``processing_s`` from submit to result, whatever the path;
- result display: ``result_hold_s`` before the next token (the meter ignores keys while
  it shows a result), so the very first token of a run waits for none;
- waits: lockout back-offs doubling from ``lockout.base_s`` up to ``lockout.max_s``,
  ``kct_timeout_s`` per partial key change timeout, energy / power for credit run out at
  ``capabilities.load_max_w``, the supply's off time per cycle, the longest class 1 test
  asked for, and plain meter time. A wait starts at a token's result, so the result display
  runs inside it (and any token entered while the meter is locked out): a wait counts only
  the time beyond those, and the estimate stays a lower bound.

Everything is meter time: a simulated bench running its clock ``speed`` times faster takes
that much less (the rig divides its keypad timing the same way).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from hil.meter.profile import MeterProfile

TOKEN_DIGITS = 20
POWER_OFF_S = 0.5  # the supply's off time in ConformanceSession.power_cycle and a cut entry
METER_TESTS = ("display", "load-switch", "all")
ROBOT_DEFAULT_TOKENS = 2  # a Robot test without cost tags: two keypad tokens, no waits
# pytest marker and Robot tag of a test whose waits come from physics or the meter's
# timeouts (minutes on a real bench): hil run --quick leaves it out
LONG_MARKER = "long"


class CostError(ValueError):
    """A cost declaration names an unknown field or gives a value of the wrong kind."""


@dataclass(frozen=True)
class Cost:
    """What one test asks of the meter (counts, not seconds)."""

    tokens: int = 0  # by the rig's token entry (token_entry: keypad on most benches)
    bulk: int = 0  # by the bulk path: the virtual carrier where the rig has one
    fills: int = 0  # TID memory fills by the bulk path: tid_memory_depth tokens each
    key_changes: int = 0  # key change sets by the bulk path: 2 sections (64-bit key) or 4
    keys: int = 0  # single key presses on the keypad (an entry left unfinished)
    lockouts: int = 0  # lockout back-offs waited out, the first lockout.base_s, then doubling
    locked: int = 0  # of the bulk tokens, those entered inside the first back-off (Lockout)
    kct_timeouts: float = 0.0  # partial key change timeouts waited, in kct_timeout_s
    entry_timeouts: int = 0  # unfinished keypad entries waited out (inter_digit_timeout_s)
    credit_out_kwh: float = 0.0  # credit run out under capabilities.load_max_w
    power_cycles: int = 0  # supply off POWER_OFF_S and on again
    meter_tests: tuple[str, ...] = ()  # class 1 tests waited for: display, load-switch, all
    wait_s: float = 0.0  # plain meter time (let_time_pass)

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "meter_tests":
                unknown = [t for t in value if t not in METER_TESTS]
                if unknown:
                    raise CostError(f"cost meter_tests: {unknown[0]!r} is not one of "
                                    f"{', '.join(METER_TESTS)}")  # fmt: skip
            elif not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise CostError(f"cost {f.name}: expected a number >= 0, got {value!r}")

    @classmethod
    def of(cls, **values: Any) -> Cost:
        """A cost from keyword values (a marker's kwargs); unknown names are refused."""
        known = {f.name for f in fields(cls)}
        for name in values:
            if name not in known:
                raise CostError(f"cost: unknown field {name!r}; known: {', '.join(sorted(known))}")
        if isinstance(values.get("meter_tests"), str):
            values = {**values, "meter_tests": (values["meter_tests"],)}
        elif "meter_tests" in values:
            values = {**values, "meter_tests": tuple(values["meter_tests"])}
        return cls(**values)

    @classmethod
    def from_tags(cls, tags: Iterable[str]) -> Cost | None:
        """A Robot test's cost from tags ``cost:FIELD=VALUE[,FIELD=VALUE...]`` with the
        marker's field names: ``cost:tokens=3``, ``cost:keys=12,power_cycles=1``,
        ``cost:meter_tests=display,load-switch`` (a piece without ``=`` continues the list
        before it). Several tags add up, as several markers do; None without a cost tag."""
        total: Cost | None = None
        for tag in tags:
            if tag[:5].lower() != "cost:":
                continue
            try:
                total = (total or cls()) + cls.of(**_tag_values(tag))
            except CostError as exc:
                text = str(exc)
                raise CostError(text if tag in text else f"tag {tag!r}: {text}") from None
        return total

    def __add__(self, other: Cost) -> Cost:
        summed = {f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        return Cost(**summed)

    @property
    def empty(self) -> bool:
        return self == Cost()


def _tag_values(tag: str) -> dict[str, Any]:
    """``cost:keys=12,power_cycles=1`` -> {"keys": 12, "power_cycles": 1}."""
    values: dict[str, Any] = {}
    name = ""
    for piece in tag[5:].split(","):
        field_name, sep, text = piece.partition("=")
        if sep:
            name = field_name.strip()
            if name in values:
                raise CostError(f"tag {tag!r}: {name} given twice; give it once")
        elif name == "meter_tests" and piece.strip():  # the next test of the list
            values[name] += (piece.strip(),)
            continue
        else:
            raise CostError(
                f"tag {tag!r}: {piece!r} has no value; expected cost:FIELD=VALUE[,FIELD=VALUE], "
                "e.g. cost:keys=12,power_cycles=1"
            )
        text = text.strip()
        if name == "meter_tests":
            values[name] = (text,) if text else ()
            continue
        try:
            values[name] = float(text) if "." in text else int(text)
        except ValueError:
            raise CostError(f"tag {tag!r}: {name}={text!r} is not a number") from None
    return values


def total_cost(costs: Iterable[Cost]) -> Cost:
    out = Cost()
    for cost in costs:
        out = out + cost
    return out


@dataclass(frozen=True)
class Bench:
    """What an estimate needs from a rig: the meter's timing profile and what the bench
    declares (rig file ``capabilities``, ``features``, ``token_entry``, key size)."""

    profile: MeterProfile
    load_max_w: float = 3000.0
    key_sections: int = 4  # sections of a key change set: 2 for a 64-bit key, 4 for 128
    entry_by_carrier: bool = False  # token_entry: virtual_carrier
    bulk_by_carrier: bool = False  # the rig has the virtual_carrier feature
    speed: float = 1.0  # meter seconds per bench second (a simulated bench's clock)

    def __post_init__(self) -> None:
        if self.load_max_w <= 0 or self.speed <= 0:
            raise ValueError("load_max_w and speed must be > 0")
        if self.key_sections not in (2, 4):
            raise ValueError(f"key_sections: 2 or 4, got {self.key_sections}")

    @property
    def keys_per_token(self) -> int:
        return TOKEN_DIGITS + (0 if self.profile.keypad.auto_submit_at_20 else 1)

    @property
    def key_s(self) -> float:
        """One key on the keypad: held, then released."""
        return self.profile.keypad.press_s + self.profile.keypad.release_s

    @property
    def keypad_token_s(self) -> float:
        return self.keys_per_token * self.key_s


@dataclass(frozen=True)
class Estimate:
    """Seconds one test takes at least, by part, and the token counts behind them."""

    keypad_tokens: int = 0
    carrier_tokens: int = 0
    entry_s: float = 0.0
    processing_s: float = 0.0
    display_s: float = 0.0
    waits: Mapping[str, float] = field(default_factory=dict)  # name -> seconds

    @property
    def tokens(self) -> int:
        return self.keypad_tokens + self.carrier_tokens

    @property
    def waits_s(self) -> float:
        return sum(self.waits.values())

    @property
    def total_s(self) -> float:
        return self.entry_s + self.processing_s + self.display_s + self.waits_s

    def __add__(self, other: Estimate) -> Estimate:
        waits = dict(self.waits)
        for name, seconds in other.waits.items():
            waits[name] = waits.get(name, 0.0) + seconds
        return Estimate(
            self.keypad_tokens + other.keypad_tokens,
            self.carrier_tokens + other.carrier_tokens,
            self.entry_s + other.entry_s,
            self.processing_s + other.processing_s,
            self.display_s + other.display_s,
            waits,
        )


def lockout_waits_s(profile: MeterProfile, count: int) -> float:
    """``count`` successive back-offs: the meter's lockout durations after the rejects that
    lock it and each one more (10 s, 20 s, 40 s, ... up to max_s on the realistic profile)."""
    first = profile.lockout.after_rejects
    return sum(profile.lockout.duration_s(first + i) for i in range(count))


def meter_test_s(profile: MeterProfile, tests: Iterable[str]) -> float:
    """A class 1 token's tests run together: as long as the longest one asked for."""
    longest = 0.0
    for test in tests:
        if test in ("load-switch", "all"):
            longest = max(longest, profile.load_switch_test_s)
        if test in ("display", "all"):
            longest = max(longest, profile.display_test_s)
    return longest


def estimate(cost: Cost, bench: Bench, *, first_in_run: bool = False) -> Estimate:
    """The physical minimum of one test on ``bench``. ``first_in_run``: the test's first
    token follows no result display (nothing was entered before it in the run)."""
    p = bench.profile
    hold = p.result_hold_s
    bulk = cost.bulk + cost.fills * p.tid_memory_depth + cost.key_changes * bench.key_sections
    keypad = 0 if bench.entry_by_carrier else cost.tokens
    carrier = cost.tokens - keypad
    bulk_by_carrier = bench.bulk_by_carrier or bench.entry_by_carrier
    if bulk_by_carrier:
        carrier += bulk
    else:
        keypad += bulk
    tokens = keypad + carrier
    shown = max(0, tokens - 1) if first_in_run else tokens
    # A wait starts at a token's result, while the meter shows it: the display before the
    # next token (counted with that token) runs inside the wait, and so does everything
    # entered while the meter is locked out.
    backoffs = [p.lockout.duration_s(p.lockout.after_rejects + i) for i in range(cost.lockouts)]
    if backoffs and cost.locked:
        bulk_entry_s = 0.0 if bulk_by_carrier else bench.keypad_token_s
        inside = cost.locked * (hold + bulk_entry_s + p.processing_s)
        backoffs[0] = max(0.0, backoffs[0] - inside)

    def beyond(wait_s: float) -> float:
        return max(0.0, wait_s - hold) if wait_s > 0 else 0.0

    waits = {
        "lockout back-off": sum(beyond(b) for b in backoffs),
        "key change timeout": beyond(cost.kct_timeouts * p.kct_timeout_s),
        "entry timeout": beyond(cost.entry_timeouts * p.keypad.inter_digit_timeout_s),
        "credit run out": beyond(cost.credit_out_kwh * 3.6e6 / bench.load_max_w),
        "supply off": cost.power_cycles * POWER_OFF_S,
        "meter test": beyond(meter_test_s(p, cost.meter_tests)),
        "meter time": beyond(cost.wait_s),
    }
    scale = 1.0 / bench.speed
    return Estimate(
        keypad_tokens=keypad,
        carrier_tokens=carrier,
        entry_s=(keypad * bench.keypad_token_s + cost.keys * bench.key_s) * scale,
        processing_s=tokens * p.processing_s * scale,
        display_s=shown * hold * scale,
        waits={name: s * scale for name, s in waits.items() if s > 0},
    )


def estimate_run(costs: Iterable[Cost | None], bench: Bench) -> list[Estimate | None]:
    """Estimates of a run's tests in order (None: the test will not run, e.g. skipped); only
    the first test that enters a token waits for no result display."""
    out: list[Estimate | None] = []
    first = True
    for cost in costs:
        if cost is None:
            out.append(None)
            continue
        one = estimate(cost, bench, first_in_run=first)
        first = first and one.tokens == 0
        out.append(one)
    return out


def duration_text(seconds: float) -> str:
    """``0.63 s``, ``12.5 s``, ``12 min 5 s``, ``2 h 13 min``: what a reader needs."""
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"

"""Reference model of a conforming STS prepaid meter (IEC 62055-41), as a pure state machine.

The model serves twice: as the core of the simulated bench, and as the oracle that predicts
what a conforming meter must do with each token a test injects (replay the same history
into a fresh model). It does no I/O, reads no clock and starts no thread: every method takes
``at``, the model time in seconds, which must never go backwards. Token decoding is the
engine's (`hil.sts.codec.decode`); this module holds only the meter-side rules, written
out in docs/meter-model.md in processing order.

Readbacks (properties) show the state as of the last call; call ``advance(at)`` first to
see the state at a later time.
"""

from __future__ import annotations

import bisect
import copy
import functools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from hil.meter.defects import OVER_REGISTER_FACTOR, SMALL_TID_MEMORY_DEPTH, Defect
from hil.meter.entry import KEYS, TOKEN_DIGITS, type_key
from hil.meter.events import Event, EventName
from hil.meter.logs import EventEntry, MeterLogs, TokenEntry
from hil.meter.profile import CREDIT_KINDS, MeterProfile
from hil.meter.results import TokenResult
from hil.sts.amount import encode_amount
from hil.sts.codec import decode
from hil.sts.digits import extract_class, parse_token
from hil.sts.ea07 import SAMPLE_TABLES, StaTables
from hil.sts.errors import CrcError, MfrCodeError, StsError, TokenFormatError, UnsupportedError
from hil.sts.identity import LEGACY_IIN, MeterPan
from hil.sts.keychange import NewKey, assemble, sections_needed
from hil.sts.keys import KEY_TYPES, DecoderKey, KeyInfo
from hil.sts.tokens import (
    KEY_CHANGE_TYPES,
    TEST_CONTROLS,
    ClearCreditToken,
    ClearTamperToken,
    CreditToken,
    MaxPowerLimitToken,
    MeterTestToken,
    PhaseUnbalanceLimitToken,
    TidToken,
    Token,
)

__all__ = ["KEYS", "NEXT_BASE_DATE", "MeterModel", "MeterOffError", "Outcome", "friendly_window"]

R = TokenResult
EV = EventName
NEXT_BASE_DATE = {1993: 2014, 2014: 2035}
# Class 2 settings the model only stores (readback `settings`), by subclass.
_SETTING_NAMES = {2: "tariff_rate", 6: "phase_unbalance_limit_w", 7: "water_meter_factor"}
_OTHER_MANAGEMENT = frozenset(_SETTING_NAMES)
_MANTISSA = 0x3FFF
CLOCK_START = 1_767_261_600.0  # 2026-01-01T10:00:00Z: the meter clock at model time 0
_DAY_S = 86_400.0


def friendly_window(hours: tuple[int, ...], second_of_day: float) -> tuple[bool, float, float]:
    """For friendly ``hours`` (start, end) and a time of day (s): whether it is inside them,
    and the seconds until they next start and next end (each in (0, 1 day])."""
    start, end = (h * 3600.0 for h in hours)
    to_start = (start - second_of_day) % _DAY_S or _DAY_S
    to_end = (end - second_of_day) % _DAY_S or _DAY_S
    return to_end < to_start, to_start, to_end


def _logged(method: Callable[..., Any]) -> Callable[..., Any]:
    """Feed what an input made the meter do into its own logs, once per outermost call."""

    @functools.wraps(method)
    def logged(self: MeterModel, *args: Any, **kwargs: Any) -> Any:
        self._depth += 1
        try:
            result = method(self, *args, **kwargs)
        finally:
            self._depth -= 1
        if not self._depth:
            events = result.events if isinstance(result, Outcome) else result
            self._logs.record(events, power_fails=Defect.NO_POWER_FAIL_LOG not in self._defects)
        return result

    return logged


class MeterOffError(RuntimeError):
    """``enter_token`` was called while the meter has no supply."""


@dataclass(frozen=True)
class Outcome:
    """What the meter did with one token.

    ``events``: for `MeterModel.enter_token`, every event of that call in time order
    (including timeouts that fell due before ``at``); for the two-phase paths, the events
    of the token's completion. ``credit_delta_wh`` is the change of the electricity credit
    register caused by the token (negative for ClearCredit).
    """

    result: TokenResult
    token: Token | None
    tid: int | None
    token_class: int | None
    subclass: int | None
    credit_delta_wh: int
    events: list[Event]
    at: float = 0.0
    source: str = "direct"  # "direct" (enter_token), "keypad" or "carrier" (submit_token)
    detail: str = ""

    @property
    def accepted(self) -> bool:
        return self.result.accepted


@dataclass
class _Verdict:
    """The decision on one token, before it is applied."""

    result: TokenResult
    token: Token | None = None
    token_class: int | None = None
    detail: str = ""
    units: int = 0  # credit amount as this meter reads it (0.1 kWh units for electricity)
    new_key: NewKey | None = None
    tests: tuple[str, ...] = ()

    def refuse(self, result: TokenResult, detail: str) -> _Verdict:
        self.result = result
        self.detail = detail
        return self


@dataclass
class _Processing:
    """A submitted token being decrypted/validated (volatile)."""

    digits: str
    submit_at: float
    source: str
    verdict: _Verdict | None = None  # decided half-way (DOUBLE_CREDIT_ON_POWER_FAIL only)
    credit_delta_wh: int = 0
    credit_committed: bool = False


# Attributes shared, not copied, by clone()/deepcopy: immutable objects.
_SHARED = ("_pan", "_profile", "_defects", "_sta_tables", "_key", "_info", "_last", "_initial")


class MeterModel:
    """A conforming STS keypad meter, or one with deliberate `Defect` s."""

    def __init__(
        self,
        pan: MeterPan,
        key_info: KeyInfo,
        decoder_key: DecoderKey,
        profile: MeterProfile,
        *,
        defects: Iterable[Defect | str] = frozenset(),
        firmware: str = "sim-1.0",
        credit_units: int = 0,
        credit_wh: int | None = None,
        sta_tables: StaTables = SAMPLE_TABLES,
        tid_memory: Iterable[int] = (),
        power_limit_w: int | None = None,
        at: float = 0.0,
        clock_start: float = CLOCK_START,
    ) -> None:
        if decoder_key.ea != key_info.ea:
            raise ValueError(
                f"decoder key is for EA{decoder_key.ea:02d} but key_info says EA{key_info.ea:02d}"
            )
        start_wh = credit_units * 100 if credit_wh is None else int(credit_wh)
        if not 0 <= start_wh <= profile.credit_max_units * 100:
            raise ValueError(
                f"initial credit {start_wh} Wh is outside 0..{profile.credit_max_units * 100} Wh"
            )
        self._pan = pan
        self._profile = profile
        self._defects = frozenset(Defect(d) for d in defects)
        self._firmware = firmware
        self._sta_tables = sta_tables
        # Non-volatile state.
        self._key = decoder_key
        self._info = key_info
        self._shown: KeyInfo | None = None  # the key register INFO shows, when not _info
        self._credit_wh = start_wh
        self._frac_wh = 0.0  # energy used from the next whole Wh, 0 <= frac <= 1
        self._other_units = {k: 0 for k in profile.credit_kinds if k != 0}
        self._tids: list[int] = sorted(set(tid_memory))[-self.tid_memory_depth :]
        self._mpl = power_limit_w
        self._settings: dict[str, int] = {}
        self._tamper = False
        self._emergency_owed_wh = 0  # emergency credit granted and not yet repaid
        self._logs = MeterLogs(profile.token_log_depth, profile.event_log_depth)
        self._clock_base = float(clock_start)  # meter clock (epoch s) at model time 0
        self._kct: dict[int, Token] = {}
        self._kct_since: float | None = None
        self._rejects = 0
        self._locked_until: float | None = None
        # Supply and load (set by the bench).
        self._powered = True
        self._load_w = 0.0
        self._now = float(at)
        # Volatile state: lost on power fail.
        self._entry = ""
        self._entry_deadline: float | None = None
        self._processing: _Processing | None = None
        self._hold_until: float | None = None
        self._trip_until: float | None = None
        self._test_relay_until: float | None = None
        self._test_until: float | None = None
        self._tests: tuple[str, ...] = ()
        self._last: Outcome | None = None
        self._trips = 0  # power-limit trips since the relay last stayed closed
        self._latched = False  # tripped more than the declared retries: open until a key
        self._off_at: float | None = None
        self._depth = 0  # nesting of logged inputs (_logged)
        self._relay_closed, self._relay_reason = True, ""
        reason = self._open_reason()
        self._relay_closed = not reason
        self._relay_reason = reason
        # What factory_reset() restores.
        self._initial = (decoder_key, key_info, start_wh, tuple(self._tids), power_limit_w)

    # ------------------------------------------------------------------ copying

    def clone(self) -> MeterModel:
        """An independent copy (same as ``copy.deepcopy``; immutable parts are shared)."""
        return copy.deepcopy(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> MeterModel:
        for name in _SHARED:
            value = self.__dict__[name]
            memo[id(value)] = value
        new = object.__new__(type(self))
        memo[id(self)] = new
        new.__dict__.update(copy.deepcopy(self.__dict__, memo))
        return new

    # ------------------------------------------------------------------ readbacks

    @property
    def now(self) -> float:
        """Model time of the last call."""
        return self._now

    @property
    def pan(self) -> MeterPan:
        return self._pan

    @property
    def profile(self) -> MeterProfile:
        return self._profile

    @property
    def defects(self) -> frozenset[Defect]:
        return self._defects

    @property
    def firmware(self) -> str:
        return self._firmware

    @property
    def credit_wh(self) -> int:
        """Electricity credit in whole Wh (energy used below 1 Wh is carried, not shown)."""
        return self._credit_wh

    def credit_units(self, kind: int = 0) -> int:
        """Credit register of a credit kind in 0.1 units (electricity: whole 0.1 kWh)."""
        if kind == 0:
            return self._credit_wh // 100
        if kind not in self._other_units:
            raise ValueError(f"this meter has no {CREDIT_KINDS.get(kind, kind)} credit register")
        return self._other_units[kind]

    @property
    def relay_closed(self) -> bool:
        return self._relay_closed

    @property
    def relay_reason(self) -> str:
        """Why the load switch is open: "tamper", "credit", "power_limit", "test"; "" if closed."""
        return self._relay_reason

    @property
    def last_result(self) -> Outcome | None:
        return self._last

    @property
    def result_code(self) -> TokenResult:
        """The "last token result" register: NOT_READY while a token is processing."""
        if self._processing is not None:
            return R.NOT_READY
        return self._last.result if self._last else R.RESERVED

    @property
    def tid_memory(self) -> list[int]:
        """TIDs in the memory, ascending."""
        return list(self._tids)

    @property
    def tid_memory_depth(self) -> int:
        if Defect.SMALL_TID_MEMORY in self._defects:
            return SMALL_TID_MEMORY_DEPTH
        return self._profile.tid_memory_depth

    @property
    def key_info(self) -> KeyInfo:
        """Current key identity: SGC, TI, KRN, KT, KEN, base date, EA, DKGA."""
        return self._info

    @property
    def locked_out_until(self) -> float | None:
        return self._locked_until

    @property
    def consecutive_rejects(self) -> int:
        """Consecutive rejected tokens counted toward the lockout."""
        return self._rejects

    @property
    def powered(self) -> bool:
        return self._powered

    @property
    def load_w(self) -> float:
        """Load demanded by the bench (flows only while powered and the relay is closed)."""
        return self._load_w

    @property
    def power_w(self) -> float:
        """Power actually drawn through the meter."""
        return self._load_w if self._powered and self._relay_closed else 0.0

    @property
    def power_limit_w(self) -> int | None:
        return self._mpl

    @property
    def tamper_active(self) -> bool:
        return self._tamper

    @property
    def low_credit(self) -> bool:
        """The low-credit warning: on while the credit is below the declared threshold."""
        if Defect.NO_LOW_CREDIT_WARNING in self._defects:
            return False
        return self._credit_wh < self._profile.low_credit_wh

    @property
    def emergency_owed_wh(self) -> int:
        """Emergency credit granted and not yet repaid from a purchase (Wh)."""
        return self._emergency_owed_wh

    @property
    def trip_latched(self) -> bool:
        return self._latched

    @property
    def token_log(self) -> list[TokenEntry]:
        """The meter's token log, oldest first."""
        return list(self._logs.tokens)

    @property
    def event_log(self) -> list[EventEntry]:
        """The meter's event log (supply, tamper, relay), oldest first."""
        return list(self._logs.events)

    def clock(self, at: float | None = None) -> float:
        """The meter clock (UNIX seconds, UTC) at model time ``at`` (default: now)."""
        return self._clock_base + (self._now if at is None else at)

    @property
    def kct_pending(self) -> list[int]:
        """Subclasses of the key change sections held, waiting for the rest of the set."""
        return sorted(self._kct)

    @property
    def entry(self) -> str:
        """Digits typed so far on the keypad."""
        return self._entry

    @property
    def processing(self) -> bool:
        return self._processing is not None

    @property
    def processing_until(self) -> float | None:
        """When the token being processed will be decided (None when idle)."""
        p = self._processing
        return None if p is None else p.submit_at + self._profile.processing_s

    @property
    def tests_running(self) -> tuple[str, ...]:
        return self._tests

    @property
    def settings(self) -> dict[str, int]:
        """Stored class 2 settings without a modelled effect (tariff rate, MPPUL, water factor)."""
        return dict(self._settings)

    @property
    def next_deadline(self) -> float | None:
        """Model time of the next thing that falls due by itself (a timeout, the end of
        processing, credit running out), or None; lets a driver sleep until then."""
        due = self._next_due()
        return None if due is None else due[0]

    def info(self) -> dict[str, Any]:
        """Identity as a probe INFO shows it. Never key values."""
        return {
            "firmware": self._firmware,
            "pan": self._pan.digits,
            "mfr_code": self._pan.mfr_code,
            **(self._shown or self._info).describe(),
            "key_type": KEY_TYPES[(self._shown or self._info).kt],
            "tid_memory_depth": self.tid_memory_depth,
        }

    # ------------------------------------------------------------------ inputs

    @_logged
    def advance(self, at: float) -> list[Event]:
        """Move model time to ``at``; report what fell due on the way, at its own time."""
        events: list[Event] = []
        self._run_until(at, events)
        return events

    @_logged
    def enter_token(self, digits: str, at: float) -> Outcome:
        """Process a whole token now (virtual token carrier without delay; the oracle path)."""
        events = self.advance(at)
        if not self._powered:
            raise MeterOffError("the meter is powered off: power_on() before entering a token")
        if self._processing is not None:
            return self._not_ready(at, "direct", events)
        outcome = self._apply(self._judge(digits), at, "direct", events)
        self._last = replace(outcome, events=events)
        return self._last

    @_logged
    def submit_token(self, digits: str, at: float) -> list[Event]:
        """Hand a token to the meter (carrier path): decided ``processing_s`` later by advance().

        While another token is processing the meter answers Not ready and drops this one.
        Without supply nothing happens.
        """
        events = self.advance(at)
        if not self._powered:
            return events
        if self._processing is not None:
            self._not_ready(at, "carrier", events)
            return events
        self._processing = _Processing(str(digits), float(at), "carrier")
        return events

    @_logged
    def press_key(self, key: str, at: float) -> list[Event]:
        """One key press seen by the keypad: "0".."9", "ENTER" or "BACK"."""
        if key not in KEYS:
            raise ValueError(f"unknown key {key!r}; keys are 0-9, ENTER and BACK")
        events = self.advance(at)
        if not self._powered:
            return events
        busy = ""
        if self._processing is not None:
            busy = "processing"
        elif self._hold_until is not None and at < self._hold_until:
            busy = "result_hold"
        if busy:
            events.append(self._key_event(key, at, accepted=False, reason=busy))
            return events
        if self._latched:  # the customer's key press after the fault: supply back on
            self._latched, self._trips = False, 0
            events.append(self._key_event(key, at, accepted=False, reason="trip_latch_reset"))
            self._update_relay(at, events)
            return events
        step = type_key(self._entry, key, auto_submit_at_20=self._profile.keypad.auto_submit_at_20,
                        back_works=Defect.BACK_KEY_IGNORED not in self._defects)  # fmt: skip
        if step.refused:
            events.append(self._key_event(key, at, accepted=False, reason=step.refused))
            return events
        self._entry, submit = step.entry, step.submitted
        if submit:
            events.append(self._key_event(key, at, accepted=True, submitted=True))
            self._processing = _Processing(self._entry, float(at), "keypad")
            self._entry = ""
            self._entry_deadline = None
        else:
            events.append(self._key_event(key, at, accepted=True))
            timeout = self._profile.keypad.inter_digit_timeout_s
            self._entry_deadline = at + timeout if self._entry else None
        return events

    @_logged
    def set_load(self, watts: float, at: float) -> list[Event]:
        """Set the load the bench demands (W). It flows while powered and the relay is closed."""
        if not math.isfinite(watts) or watts < 0:
            raise ValueError(f"load {watts!r} W must be a finite number >= 0")
        events = self.advance(at)
        self._load_w = float(watts)
        self._update_relay(at, events)
        return events

    @_logged
    def power_off(self, at: float) -> list[Event]:
        """Supply fails: volatile state is lost, non-volatile state is kept."""
        events = self.advance(at)
        if not self._powered:
            return events
        lost: dict[str, Any] = {}
        if self._entry:
            lost["entry_digits"] = len(self._entry)
        if self._processing is not None:
            lost["token"] = self._processing.source
            lost["credit_committed"] = self._processing.credit_committed
        if self._tests:
            lost["tests"] = list(self._tests)
        if self._kct and self._profile.kct_lost_on_power_cycle:
            lost["kct_sections"] = sorted(self._kct)
            self._kct = {}
            self._kct_since = None
        if self._tids and Defect.FORGETS_TIDS_ON_POWER_CYCLE in self._defects:
            lost["tids"] = len(self._tids)
            self._tids = []
        self._entry = ""
        self._entry_deadline = None
        self._processing = None
        self._hold_until = None
        self._trip_until = None
        self._test_relay_until = None
        self._test_until = None
        self._tests = ()
        self._latched, self._trips = False, 0
        if Defect.TOKEN_LOG_VOLATILE in self._defects:
            self._logs.tokens.clear()
        self._powered = False
        self._off_at = at
        events.append(Event(EV.POWER_FAIL, at, lost))
        return events

    @_logged
    def power_on(self, at: float) -> list[Event]:
        """Supply returns: lockout reset (per profile), relay re-evaluated."""
        events = self.advance(at)
        if self._powered:
            return events
        self._powered = True
        off_s = at - (self._off_at if self._off_at is not None else at)
        if Defect.CLOCK_STOPS_WITHOUT_SUPPLY in self._defects:
            self._clock_base -= off_s
        if Defect.TAMPER_CLEARED_BY_POWER_CYCLE in self._defects:
            self._tamper = False
        if (
            Defect.FORGETS_CREDIT_IN_LONG_OUTAGE in self._defects
            and off_s > self._profile.long_outage_s / 2
        ):
            self._credit_wh, self._frac_wh, self._tids = 0, 0.0, []
        events.append(Event(EV.POWER_UP, at, {"credit_wh": self._credit_wh}))
        if self._profile.lockout.reset_by_power_cycle:
            self._rejects = 0
            if self._locked_until is not None:
                self._locked_until = None
                events.append(Event(EV.LOCKOUT_END, at, {"reason": "power_cycle"}))
        self._update_relay(at, events)
        return events

    @_logged
    def tamper(self, at: float) -> list[Event]:
        """A tamper condition is detected: the relay opens until a ClearTamper token."""
        events = self.advance(at)
        self._tamper = True
        events.append(Event(EV.TAMPER, at, {}))
        self._update_relay(at, events)
        return events

    @_logged
    def request_emergency(self, at: float) -> list[Event]:
        """The emergency credit short code entered (the oracle path; the keypad path is the
        code typed before ENTER)."""
        events = self.advance(at)
        if not self._powered:
            raise MeterOffError("the meter is powered off: power_on() before asking for credit")
        self._grant_emergency(at, events)
        return events

    @_logged
    def set_clock(self, epoch_s: float, at: float) -> list[Event]:
        """Set the meter clock to ``epoch_s`` (UNIX seconds, UTC) at model time ``at``."""
        events = self.advance(at)
        self._clock_base = float(epoch_s) - at
        self._update_relay(at, events)
        return events

    def factory_reset(self, at: float) -> list[Event]:
        """Test-mode reset to the state the model was built with.

        Restores the initial key, key identity, credit, TID memory and power limit; clears
        tamper, lockout, pending key change sections, keypad entry and any processing token.
        Supply and load are left as they are. Not an STS function: the probe's RESET STATE.
        """
        events = self.advance(at)  # logged by advance: it happened before the reset
        start = len(events)
        key, info, credit_wh, tids, mpl = self._initial
        self._key, self._info = key, info
        self._shown = None
        if credit_wh != self._credit_wh:
            delta = credit_wh - self._credit_wh
            data = {"credit_wh": credit_wh, "delta_wh": delta, "reason": "reset"}
            events.append(Event(EV.CREDIT_CHANGED, at, data))
        self._credit_wh, self._frac_wh = credit_wh, 0.0
        self._other_units = dict.fromkeys(self._other_units, 0)
        self._tids = list(tids)
        self._mpl = mpl
        self._settings = {}
        self._tamper = False
        self._emergency_owed_wh = 0
        self._latched, self._trips = False, 0
        self._logs.clear()
        self._kct, self._kct_since = {}, None
        self._rejects = 0
        if self._locked_until is not None:
            self._locked_until = None
            events.append(Event(EV.LOCKOUT_END, at, {"reason": "reset"}))
        if self._tests:
            events.append(
                Event(
                    EV.TEST_ENDED,
                    at,
                    {"tests": list(self._tests), "test": ",".join(self._tests), "reason": "reset"},
                )
            )
        self._entry, self._entry_deadline = "", None
        self._processing = None
        self._hold_until = self._trip_until = None
        self._test_relay_until = self._test_until = None
        self._tests = ()
        self._last = None
        self._update_relay(at, events)
        self._logs.record(events[start:])  # the logs start afresh with what the reset did
        return events

    # ------------------------------------------------------------------ time

    def _run_until(self, at: float, events: list[Event]) -> None:
        at = float(at)
        if not math.isfinite(at):
            raise ValueError(f"model time {at!r} must be finite")
        if at < self._now:
            raise ValueError(f"model time cannot go back: at={at} is before {self._now}")
        while True:
            due = self._next_due()
            if due is None or due[0] > at:
                break
            when, _, handler = due
            self._integrate(when)
            handler(when, events)
        self._integrate(at)

    def _next_due(self) -> tuple[float, int, Any] | None:
        """The earliest pending deadline; ties broken by a fixed order (second item)."""
        due: list[tuple[float, int, Any]] = []
        if self._locked_until is not None:
            due.append((self._locked_until, 0, self._on_lockout_end))
        if self._kct_since is not None:
            due.append((self._kct_since + self._profile.kct_timeout_s, 1, self._on_kct_timeout))
        p = self._processing
        if p is not None:
            end = p.submit_at + self._profile.processing_s
            if Defect.DOUBLE_CREDIT_ON_POWER_FAIL in self._defects and p.verdict is None:
                half = p.submit_at + self._profile.processing_s / 2
                due.append((half, 2, self._on_processing_half))
            due.append((end, 3, self._on_processing_done))
        exhausted = self._exhaustion_time()
        if exhausted is not None:
            due.append((exhausted, 4, self._on_credit_exhausted))
        if self._trip_until is not None:
            due.append((self._trip_until, 5, self._on_trip_retry))
        if self._test_relay_until is not None:
            due.append((self._test_relay_until, 6, self._on_test_relay_end))
        if self._test_until is not None:
            due.append((self._test_until, 7, self._on_test_end))
        if self._entry_deadline is not None:
            due.append((self._entry_deadline, 8, self._on_entry_timeout))
        friendly_end = self._friendly_end()
        if friendly_end is not None:
            due.append((friendly_end, 9, self._on_friendly_end))
        return min(due, key=lambda d: (d[0], d[1])) if due else None

    @property
    def _metered_w(self) -> float:
        """The power the energy register counts (the delivered power, or a defect's)."""
        factor = OVER_REGISTER_FACTOR if Defect.OVER_REGISTERS in self._defects else 1.0
        return self.power_w * factor

    def _exhaustion_time(self) -> float | None:
        power = self._metered_w
        if power <= 0 or self._credit_wh <= 0:
            return None
        return self._now + (self._credit_wh - self._frac_wh) * 3600.0 / power

    def _integrate(self, until: float) -> None:
        """Consume energy from self._now to ``until`` at the present (constant) power."""
        power = self._metered_w
        if until > self._now and power > 0 and self._credit_wh > 0:
            total = self._frac_wh + power * (until - self._now) / 3600.0
            # Zero is reached only by _on_credit_exhausted, exactly at its time.
            whole = min(int(total), self._credit_wh - 1)
            self._credit_wh -= whole
            self._frac_wh = min(total - whole, 1.0)
        self._now = max(self._now, until)

    def _on_lockout_end(self, at: float, events: list[Event]) -> None:
        self._locked_until = None
        events.append(Event(EV.LOCKOUT_END, at, {"reason": "expired", "rejects": self._rejects}))

    def _on_kct_timeout(self, at: float, events: list[Event]) -> None:
        held = sorted(self._kct)
        self._kct = {}
        self._kct_since = None
        events.append(Event(EV.KCT_TIMEOUT, at, {"sections": held}))

    def _on_processing_half(self, at: float, events: list[Event]) -> None:
        # Defect DOUBLE_CREDIT_ON_POWER_FAIL: decide and commit the credit now, the TID later.
        p = self._processing
        assert p is not None
        verdict = self._judge(p.digits)
        p.verdict = verdict
        if verdict.result is R.ACCEPT and isinstance(verdict.token, CreditToken):
            p.credit_delta_wh = self._add_credit(verdict.token.kind, verdict.units, at, events)
            p.credit_committed = True
            self._update_relay(at, events)

    def _on_processing_done(self, at: float, events: list[Event]) -> None:
        p = self._processing
        assert p is not None
        self._processing = None
        self._hold_until = at + self._profile.result_hold_s
        code = self._profile.emergency_code
        if code and p.source == "keypad" and p.digits == code:  # a short code, not a token
            self._grant_emergency(at, events)
            return
        verdict = p.verdict if p.verdict is not None else self._judge(p.digits)
        self._last = self._apply(
            verdict, at, p.source, events, credit_done=p.credit_committed, delta=p.credit_delta_wh
        )

    def _on_credit_exhausted(self, at: float, events: list[Event]) -> None:
        before = self._credit_wh
        self._credit_wh = 0
        self._frac_wh = 0.0
        data = {"credit_wh": 0, "delta_wh": -before, "reason": "exhausted"}
        events.append(Event(EV.CREDIT_CHANGED, at, data))
        self._update_relay(at, events)

    def _on_trip_retry(self, at: float, events: list[Event]) -> None:
        self._trip_until = None
        self._update_relay(at, events)  # trips again at once if the load is still over

    def _on_test_relay_end(self, at: float, events: list[Event]) -> None:
        self._test_relay_until = None
        self._update_relay(at, events)

    def _on_test_end(self, at: float, events: list[Event]) -> None:
        data = {"tests": list(self._tests), "test": ",".join(self._tests)}
        events.append(Event(EV.TEST_ENDED, at, data))
        self._test_until = None
        self._tests = ()

    def _on_friendly_end(self, at: float, events: list[Event]) -> None:
        self._update_relay(at, events)  # no longer friendly: zero credit now cuts off

    def _in_friendly_hours(self, at: float) -> bool:
        hours = self._profile.friendly_hours
        if not hours or Defect.DISCONNECTS_IN_FRIENDLY_HOURS in self._defects:
            return False
        return friendly_window(hours, self.clock(at) % _DAY_S)[0]

    def _friendly_end(self) -> float | None:
        """Model time the present friendly period ends, while it holds off a cut-off."""
        if not self._relay_closed or self._credit_wh > 0 or not self._in_friendly_hours(self._now):
            return None
        return self._now + friendly_window(self._profile.friendly_hours, self.clock() % _DAY_S)[2]

    def _on_entry_timeout(self, at: float, events: list[Event]) -> None:
        events.append(Event(EV.ENTRY_TIMEOUT, at, {"digits": len(self._entry)}))
        self._entry = ""
        self._entry_deadline = None

    # ------------------------------------------------------------------ relay

    def _open_reason(self) -> str:
        if self._tamper:
            return "tamper"
        if self._credit_wh <= 0 and Defect.RELAY_STAYS_CLOSED_AT_ZERO not in self._defects:
            # Friendly hours hold off a cut-off; a relay already open stays open.
            held_off = self._relay_reason != "credit" and self._in_friendly_hours(self._now)
            if not held_off:
                return "credit"
        if self._trip_until is not None or self._latched:
            return "power_limit"
        if self._test_relay_until is not None:
            return "test"
        return ""

    def _over_limit(self) -> bool:
        return (
            self._mpl is not None
            and Defect.IGNORES_POWER_LIMIT not in self._defects
            and self._load_w > self._mpl
        )

    def _update_relay(self, at: float, events: list[Event]) -> None:
        """Set the relay from the conditions; trip on the power limit when it would close."""
        if not self._powered:
            return
        reason = self._open_reason()
        if not reason and self._over_limit():
            self._trips += 1
            retries = self._profile.trip_retries
            if retries and self._trips > retries and Defect.NO_TRIP_LATCH not in self._defects:
                self._latched = True  # retried enough: open until the customer presses a key
            else:
                self._trip_until = at + self._profile.power_limit_retry_s
            reason = "power_limit"
        elif not reason:
            self._trips = 0
        closed = not reason
        if (closed, reason) != (self._relay_closed, self._relay_reason):
            self._relay_closed = closed
            self._relay_reason = reason
            events.append(Event(EV.RELAY_CHANGED, at, {"closed": closed, "reason": reason}))

    # ------------------------------------------------------------------ deciding

    def _not_ready(self, at: float, source: str, events: list[Event]) -> Outcome:
        start = len(events)
        data = {"result": int(R.NOT_READY), "label": R.NOT_READY.label, "source": source}
        events.append(Event(EV.TOKEN_RESULT, at, data))
        detail = "another token is still processing"
        return Outcome(R.NOT_READY, None, None, None, None, 0, events[start:], at, source, detail)

    def _judge(self, digits: str) -> _Verdict:
        """Decide a token against the current state, without changing anything."""
        if Defect.ACCEPTS_SHORT_ENTRY in self._defects:
            digits = _as_number(digits)
        try:
            token_class: int | None = extract_class(parse_token(digits))[0]
            problem = ""
        except TokenFormatError as exc:
            token_class, problem = None, str(exc)
        verdict = _Verdict(R.ACCEPT, token_class=token_class)
        if self._locked_until is not None and token_class != 1:
            return verdict.refuse(R.LOCKOUT, f"token entry locked until t={self._locked_until:g} s")
        if token_class is None:
            return verdict.refuse(R.FORMAT, problem)
        try:
            token = decode(digits, self._key, self._pan.mfr_code).token
        except CrcError as exc:
            return verdict.refuse(R.CRC, str(exc))
        except MfrCodeError as exc:
            return verdict.refuse(R.MFR_CODE, str(exc))
        except UnsupportedError as exc:
            return verdict.refuse(R.FUNCTION, str(exc))
        except StsError as exc:
            return verdict.refuse(R.FORMAT, str(exc))
        verdict.token = token
        if isinstance(token, MeterTestToken):
            return self._judge_test(verdict, token)
        if isinstance(token, KEY_CHANGE_TYPES):
            return self._judge_key_change(verdict, token)
        kinds = self._profile.credit_kinds
        if isinstance(token, CreditToken):
            if token.kind not in kinds:
                name = CREDIT_KINDS[token.kind]
                return verdict.refuse(R.FUNCTION, f"{name} credit is not supported by this meter")
        elif token.subclass not in self._profile.management_subclasses and not (
            Defect.ACCEPTS_UNSUPPORTED_MANAGEMENT in self._defects
            and token.subclass in _OTHER_MANAGEMENT
        ):
            return verdict.refuse(R.FUNCTION, f"{token.title} is not supported by this meter")
        if isinstance(token, ClearCreditToken):
            register = token.value
            if (
                register != ClearCreditToken.ALL_REGISTERS
                and register not in kinds
                and Defect.CLEARS_MISSING_REGISTER not in self._defects
            ):
                return verdict.refuse(
                    R.RANGE, f"ClearCredit register {register:#06x} does not exist on this meter"
                )
        assert isinstance(token, TidToken)
        return self._judge_tid(verdict, token)

    def _judge_tid(self, verdict: _Verdict, token: TidToken) -> _Verdict:
        tid = token.tid
        memory = self._tids
        full = len(memory) >= self.tid_memory_depth
        if (
            Defect.NO_OLD_RULE not in self._defects
            and memory
            and tid < memory[0]
            and (full or not self._profile.old_only_when_full)
        ):
            return verdict.refuse(R.OLD, f"TID {tid} is below the oldest TID in memory {memory[0]}")
        if Defect.ACCEPTS_REPLAYS not in self._defects and self._remembers(tid):
            return verdict.refuse(R.USED, f"TID {tid} is in the TID memory")
        if (
            self._profile.key_expiry
            and Defect.IGNORES_KEY_EXPIRY not in self._defects
            and tid >> 16 > self._info.ken
        ):
            return verdict.refuse(
                R.KEY_EXPIRED, f"TID {tid} top byte {tid >> 16} is above KEN {self._info.ken}"
            )
        if not isinstance(token, CreditToken):
            return verdict
        if self._info.kt == 1 and Defect.ACCEPTS_CREDIT_UNDER_DDTK not in self._defects:
            return verdict.refuse(R.DDTK, "credit tokens are refused under a default key (DDTK)")
        units = self._read_amount(token)
        limit = self._profile.credit_max_units
        if token.kind == 0:
            over = self._credit_wh + units * 100 > limit * 100
        else:
            over = self._other_units[token.kind] + units > limit
        if over:
            return verdict.refuse(
                R.OVERFLOW, f"{units} units would take the credit register above {limit} units"
            )
        verdict.units = units
        return verdict

    def _read_amount(self, token: CreditToken) -> int:
        if Defect.WRONG_AMOUNT_AT_EXPONENT_BOUNDARY in self._defects:
            field16 = encode_amount(token.amount)  # the field the token carried
            return (field16 & _MANTISSA) * 10 ** (field16 >> 14)  # offset forgotten
        return token.amount

    def _judge_test(self, verdict: _Verdict, token: MeterTestToken) -> _Verdict:
        legacy = self._pan.iin == LEGACY_IIN
        if token.four_digit == legacy and not self._profile.class1_other_form:
            return verdict.refuse(
                R.MFR_CODE,
                f"test token has a {4 if token.four_digit else 2}-digit MfrCode; this meter's"
                f" MfrCode has {2 if legacy else 4} digits",
            )
        runs = {1 << bit for bit in self._profile.class1_bits}
        if Defect.CLASS1_IGNORES_TOTALS in self._defects:
            runs.discard(TEST_CONTROLS["totals"])
        tests = tuple(
            name for name, bit in TEST_CONTROLS.items() if token.control & bit and bit in runs
        )
        if not tests:
            return verdict.refuse(
                R.FUNCTION, f"control {token.control:#x} selects no test this meter knows"
            )
        verdict.tests = tests
        return verdict

    def _judge_key_change(self, verdict: _Verdict, token: Token) -> _Verdict:
        bits = self._info.key_bits
        needed = sections_needed(bits)
        sub = token.subclass
        if sub not in needed:
            return verdict.refuse(
                R.FUNCTION,
                f"{token.title} belongs to 128-bit key changes; this meter has a {bits}-bit key",
            )
        order = sorted(needed)
        if Defect.KEY_CHANGE_ONE_ORDER in self._defects:
            expected = order[len(self._kct) % len(order)]
            if sub != expected:
                return verdict.refuse(
                    R.FORMAT, f"expected key change section {order.index(expected) + 1} next"
                )
        sections = {**self._kct, sub: token}
        missing = needed - sections.keys()
        if missing:
            verdict.result = R.KCT1
            wanted = ", ".join(str(order.index(s) + 1) for s in sorted(missing))
            verdict.detail = f"key change section {order.index(sub) + 1} held; waiting for {wanted}"
            return verdict
        new = assemble(sections, bits)
        problem = self._key_change_problem(new)
        if problem is not None:
            return verdict.refuse(*problem)
        verdict.result = R.KCT2
        verdict.new_key = new
        base = NEXT_BASE_DATE[self._info.base_year] if new.rollover else self._info.base_year
        verdict.detail = (
            f"key changed: KRN {new.krn}, KT {new.kt}, TI {new.ti:02d},"
            f" KEN {new.ken}, base date {base}" + (" (rollover)" if new.rollover else "")
        )
        return verdict

    def _key_change_problem(self, new: NewKey) -> tuple[TokenResult, str] | None:
        if new.kt == 3 and Defect.ACCEPTS_ILLEGAL_KEY_TYPE not in self._defects:
            return R.KEY_TYPE, "a DCTK (KT 3) is for magnetic-card meters; keypad meters refuse it"
        if not 1 <= new.krn <= 9:
            return R.RANGE, f"new KRN {new.krn} is outside 1..9"
        if new.ti > 99:
            return R.RANGE, f"new TI {new.ti} is outside 00..99"
        if new.sgc is not None and new.sgc > 999_999:
            return R.RANGE, f"new SGC {new.sgc} has more than 6 digits"
        if new.rollover and self._info.base_year not in NEXT_BASE_DATE:
            return R.RANGE, f"rollover asked but base date {self._info.base_year} is the last"
        return None

    # ------------------------------------------------------------------ applying

    def _apply(
        self,
        verdict: _Verdict,
        at: float,
        source: str,
        events: list[Event],
        *,
        credit_done: bool = False,
        delta: int = 0,
    ) -> Outcome:
        start = len(events)
        token = verdict.token
        tid = token.tid if isinstance(token, TidToken) else None
        subclass = token.subclass if token is not None else None
        data: dict[str, Any] = {
            "result": int(verdict.result),
            "label": verdict.result.label,
            "class": verdict.token_class,
            "subclass": subclass,
            "tid": tid,
            "source": source,
        }
        if verdict.detail:
            data["detail"] = verdict.detail
        events.append(Event(EV.TOKEN_RESULT, at, data))
        result = verdict.result
        if result is R.ACCEPT:
            if tid is not None:
                self._remember(tid)
            delta += self._act(verdict, at, events, credit_done)
        elif result is R.KCT1:
            assert token is not None
            self._kct[token.subclass] = token
            if self._kct_since is None:
                self._kct_since = at
            missing = sections_needed(self._info.key_bits) - self._kct.keys()
            data = {"have": sorted(self._kct), "missing": sorted(missing)}
            events.append(Event(EV.KCT_PENDING, at, data))
        elif result is R.KCT2:
            assert verdict.new_key is not None
            self._install_key(verdict.new_key)
        elif isinstance(token, KEY_CHANGE_TYPES) and result in (R.KEY_TYPE, R.RANGE):
            self._kct = {}  # a complete but refused set is discarded
            self._kct_since = None
        self._count(verdict, at, events)
        self._update_relay(at, events)
        return Outcome(
            result,
            token,
            tid,
            verdict.token_class,
            subclass,
            delta,
            events[start:],
            at,
            source,
            verdict.detail,
        )

    def _act(self, verdict: _Verdict, at: float, events: list[Event], credit_done: bool) -> int:
        token = verdict.token
        if isinstance(token, CreditToken):
            return 0 if credit_done else self._add_credit(token.kind, verdict.units, at, events)
        if isinstance(token, ClearCreditToken):
            return self._clear_credit(token.value, at, events)
        if isinstance(token, MaxPowerLimitToken):
            self._mpl = token.watts
        elif isinstance(token, ClearTamperToken):
            self._tamper = False
        elif isinstance(token, MeterTestToken):
            self._start_tests(verdict.tests, at, events)
        elif isinstance(token, PhaseUnbalanceLimitToken):
            self._settings[_SETTING_NAMES[token.subclass]] = token.watts
        elif token is not None and token.subclass in _SETTING_NAMES:
            self._settings[_SETTING_NAMES[token.subclass]] = token.value  # type: ignore[attr-defined]
        return 0

    def _remembers(self, tid: int) -> bool:
        i = bisect.bisect_left(self._tids, tid)
        return i < len(self._tids) and self._tids[i] == tid

    def _remember(self, tid: int) -> None:
        """Add a TID; when the memory is over its depth, drop the smallest TID."""
        if self._remembers(tid):
            return
        bisect.insort(self._tids, tid)
        while len(self._tids) > self.tid_memory_depth:
            del self._tids[0]

    def _add_credit(self, kind: int, units: int, at: float, events: list[Event]) -> int:
        if kind != 0:
            self._other_units[kind] += units
            data = {
                "kind": kind,
                "reason": "token",
                "credit_units": self._other_units[kind],
                "delta_units": units,
            }
            events.append(Event(EV.CREDIT_CHANGED, at, data))
            return 0
        delta = units * 100
        if Defect.EMERGENCY_CREDIT_NOT_REPAID not in self._defects:
            repaid = min(self._emergency_owed_wh, delta)  # emergency credit is paid back first
            self._emergency_owed_wh -= repaid
            delta -= repaid
        self._credit_wh += delta
        data = {"credit_wh": self._credit_wh, "delta_wh": delta, "reason": "token"}
        events.append(Event(EV.CREDIT_CHANGED, at, data))
        return delta

    def _grant_emergency(self, at: float, events: list[Event]) -> None:
        """Emergency credit on request: only below the threshold and once until repaid."""
        profile = self._profile
        refused = ""
        if not profile.emergency_credit_wh:
            refused = "this meter has no emergency credit"
        elif Defect.EMERGENCY_CREDIT_ANY_TIME not in self._defects:
            if self._emergency_owed_wh:
                refused = "emergency credit is still owed"
            elif self._credit_wh >= profile.emergency_below_wh:
                refused = "credit is not below the emergency credit threshold"
        granted = 0 if refused else profile.emergency_credit_wh
        granted = min(granted, profile.credit_max_units * 100 - self._credit_wh)
        data: dict[str, Any] = {"granted_wh": granted}
        if refused:
            data["reason"] = refused
        events.append(Event(EV.EMERGENCY_CREDIT, at, data))
        if granted:
            self._emergency_owed_wh += granted
            self._credit_wh += granted
            data = {"credit_wh": self._credit_wh, "delta_wh": granted, "reason": "emergency"}
            events.append(Event(EV.CREDIT_CHANGED, at, data))
            self._update_relay(at, events)

    def _clear_credit(self, register: int, at: float, events: list[Event]) -> int:
        every = register == ClearCreditToken.ALL_REGISTERS
        delta = 0
        if every or register == 0:
            delta = -self._credit_wh
            self._credit_wh = 0
            self._frac_wh = 0.0
            data = {"credit_wh": 0, "delta_wh": delta, "reason": "clear"}
            events.append(Event(EV.CREDIT_CHANGED, at, data))
        for kind in self._other_units:
            if every or register == kind:
                cleared = self._other_units[kind]
                self._other_units[kind] = 0
                events.append(
                    Event(
                        EV.CREDIT_CHANGED,
                        at,
                        {
                            "kind": kind,
                            "reason": "clear",
                            "credit_units": 0,
                            "delta_units": -cleared,
                        },
                    )
                )
        return delta

    def _start_tests(self, tests: tuple[str, ...], at: float, events: list[Event]) -> None:
        if self._tests:
            events.append(
                Event(
                    EV.TEST_ENDED,
                    at,
                    {
                        "tests": list(self._tests),
                        "test": ",".join(self._tests),
                        "reason": "replaced",
                    },
                )
            )
        shows: dict[str, Any] = {}
        if "totals" in tests:
            shows["credit_wh"] = self._credit_wh
        if "key-info" in tests:
            shows.update(krn=self._info.krn, kt=self._info.kt, ti=self._info.ti)
        if "tid" in tests:
            shows["last_tid"] = self._tids[-1] if self._tids else None
        if "power-limit" in tests:
            shows["power_limit_w"] = self._mpl
        durations = []
        self._test_relay_until = None
        if "load-switch" in tests:
            durations.append(self._profile.load_switch_test_s)
            self._test_relay_until = at + self._profile.load_switch_test_s
        if set(tests) - {"load-switch"}:
            durations.append(self._profile.display_test_s)
        self._tests = tests
        self._test_until = at + max(durations)
        events.append(
            Event(
                EV.TEST_STARTED,
                at,
                {
                    "tests": list(tests),
                    "test": ",".join(tests),
                    "until": self._test_until,
                    "shows": shows,
                },
            )
        )

    def _install_key(self, new: NewKey) -> None:
        old = shown = self._info
        if self._shown is not None:
            shown = self._shown
        self._info = KeyInfo(
            sgc=new.sgc if new.sgc is not None else 0,  # a 2-section change carries no SGC
            ti=new.ti,
            krn=new.krn,
            kt=new.kt,
            ken=new.ken if self._profile.key_expiry else old.ken,
            base_year=NEXT_BASE_DATE[old.base_year] if new.rollover else old.base_year,
            ea=old.ea,
            dkga=old.dkga,
        )
        if Defect.KEY_READBACK_STALE in self._defects:  # INFO keeps the old TI and KEN
            self._shown = replace(self._info, ti=shown.ti, ken=shown.ken)
        self._key = DecoderKey(new.key, old.ea, self._sta_tables)
        self._kct = {}
        self._kct_since = None
        if new.rollover and Defect.ROLLOVER_KEEPS_TID_MEMORY not in self._defects:
            self._tids = []

    def _count(self, verdict: _Verdict, at: float, events: list[Event]) -> None:
        """Lockout bookkeeping: meter-specific rejects count, accepts reset the count."""
        if verdict.token_class == 1 or verdict.result in (R.LOCKOUT, R.NOT_READY):
            return
        if verdict.result.accepted:
            self._rejects = 0
            return
        self._rejects += 1
        if Defect.NO_LOCKOUT in self._defects:
            return
        duration = self._profile.lockout.duration_s(self._rejects)
        if duration > 0:
            self._locked_until = at + duration
            events.append(
                Event(
                    EV.LOCKOUT_START,
                    at,
                    {"until": self._locked_until, "seconds": duration, "rejects": self._rejects},
                )
            )

    def _key_event(
        self, key: str, at: float, *, accepted: bool, reason: str = "", submitted: bool = False
    ) -> Event:
        data: dict[str, Any] = {"key": key, "accepted": accepted, "entry": len(self._entry)}
        if reason:
            data["reason"] = reason
        if submitted:
            data["submitted"] = True
        return Event(EV.KEY, at, data)


def _as_number(digits: str) -> str:
    """Defect ACCEPTS_SHORT_ENTRY: a short all-digit entry read as a number (zero-padded)."""
    text = digits.strip()
    if text.isascii() and text.isdigit() and len(text) < TOKEN_DIGITS:
        return text.zfill(TOKEN_DIGITS)
    return digits

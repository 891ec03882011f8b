"""A conformance session: one test's bench, conforming model, evidence and tokens together.

Every bench action (enter a token, set the load, cycle the supply, tamper, let time pass,
change the key) acts on the bench and on the oracle alike and records evidence, so no test
keeps the two in step by hand; every judgement is a ``Check`` carrying the requirement it
judges, made once, here. The pytest plugin gives a test its session as a fixture; the
Robot keywords are thin wrappers over the same methods.

Waits come from physics and what the rig declares it can do (``capabilities`` in the rig
file): credit runs out after energy / power, with the meter's allowed metering error and a
margin, never on a simulator's clock.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from datetime import datetime, timedelta

from hil.conformance.checks import Check, CreditRule
from hil.conformance.evidence import Evidence
from hil.conformance.factory import Case, TokenFactory
from hil.conformance.oracle import Expectation, Oracle
from hil.conformance.outcome import BenchCannot, NotApplicable
from hil.errors import ReplyTimeout
from hil.meter.functions import MeterFunctions
from hil.meter.model import friendly_window
from hil.meter.profile import MeterProfile
from hil.meter.results import TokenResult
from hil.rig.drivers.probe import NotOffered
from hil.rig.readback import Capabilities, NotReadable
from hil.rig.rig import Rig, TokenOutcome
from hil.sts.keys import KeyInfo

# The requirement a token's expected result speaks for, where the test covers it.
RESULT_REQUIREMENT = {
    TokenResult.USED: "TID-USED",
    TokenResult.OLD: "TID-OLD",
    TokenResult.CRC: "AUTH-CRC",
    TokenResult.KEY_EXPIRED: "KEY-EXPIRY",
    TokenResult.DDTK: "KEY-DDTK",
    TokenResult.FUNCTION: "CREDIT-FUNCTION",
    TokenResult.OVERFLOW: "CREDIT-OVERFLOW",
    TokenResult.RANGE: "RANGE",
    TokenResult.LOCKOUT: "LOCKOUT",
    TokenResult.MFR_CODE: "CLASS1-TEST",
    TokenResult.KCT1: "KCT-SET",
    TokenResult.KCT2: "KCT-SET",
}
# The requirement an open load relay speaks for, by why a conforming meter holds it open.
RELAY_REQUIREMENT = {
    "credit": "RELAY-ZERO-CREDIT",
    "power_limit": "MPL",
    "trip_latch": "RECONNECT-POLICY",  # the model's cause; a meter reports power_limit
    "tamper": "TAMPER-DETECT",
}
# Results whose rule many tests lean on without testing it: a replay a conforming meter
# refuses as Used, a key change section it holds. Another test's step expecting one of
# these judges TID-USED or KCT-SET, not that test's own requirement.
SHARED_RULES = frozenset({TokenResult.USED, TokenResult.KCT1, TokenResult.KCT2})
TIMING_MARGIN_S = 3.0  # probe round trips, polling and the meter's own tick
RELAY_POLL_S = 0.5
FULL_READBACK = Capabilities()  # a rig that does not say: it reads everything (the probe)


class KeyRing:
    """The token factories of a meter whose key may change: ``current`` (the key the meter
    holds), ``previous`` (before the last completed change) and ``pending`` (a set entered
    in part). TIDs keep rising across all of them."""

    def __init__(self, base: TokenFactory) -> None:
        self.base = self.current = base
        self.previous: TokenFactory | None = None
        self.pending: TokenFactory | None = None
        self._pending_set: set[str] = set()

    def reset(self) -> None:
        """The meter is back on the rig file's key (RESET STATE)."""
        self.current, self.previous, self.pending = self.base, None, None
        self._pending_set = set()

    def key_change(
        self,
        new: KeyInfo,
        *,
        order: Sequence[int] | None = None,
        rollover: bool = False,
    ) -> list[Case]:
        """The set changing the meter's key to ``new``, under the current key."""
        cases = self.current.key_change(new, order=tuple(order) if order else None,
                                        rollover=rollover)  # fmt: skip
        # After a rollover TIDs count from the new base date (a low TID is valid there).
        self.pending = self.current.with_key(new, tid_start=1000 if rollover else None)
        self._pending_set = {c.digits for c in cases}
        return cases

    def observed(self, digits: str, result: TokenResult) -> None:
        """The meter completed a pending set: new tokens use the new key from now on."""
        if result is TokenResult.KCT2 and digits in self._pending_set and self.pending:
            self.previous, self.current = self.current, self.pending
            self._pending_set = set()

    @property
    def cursor(self) -> int:
        factories = [self.base, self.current, self.previous, self.pending]
        return max(f.cursor for f in factories if f is not None)


class ConformanceSession:
    def __init__(
        self,
        rig: Rig,
        keys: KeyRing | TokenFactory,
        evidence: Evidence | None = None,
        requirements: Sequence[str] = (),
    ) -> None:
        self.rig = rig
        self.keys = keys if isinstance(keys, KeyRing) else KeyRing(keys)
        self.evidence = evidence if evidence is not None else Evidence()
        self.requirements = list(requirements)
        self.credit = CreditRule(rig.credit_resolution_kwh)
        self._oracle: Oracle | None = None
        self._load_w = 0.0
        self._load_since = time.monotonic()
        self._noted: set[str] = set()  # what the readback cannot judge, noted once

    # -- what the readback can observe ------------------------------------------------------
    @property
    def readback(self) -> Capabilities:
        return getattr(self.rig, "capabilities", FULL_READBACK)

    def _readback_kind(self) -> str:
        return getattr(getattr(self.rig, "readback", None), "kind", "probe")

    def _note_once(self, text: str) -> None:
        if text not in self._noted:
            self._noted.add(text)
            self.note(text)

    def _tid_memory(self) -> list[int] | None:
        """The meter's TID memory, or None (noted) where the readback cannot read it."""
        if self.readback.tid_memory:
            return self.rig.read_tid_memory()
        self._note_once(f"not judged: {self._readback_kind()} cannot read the TID memory "
                        "(the replay tests judge it through Used results)")  # fmt: skip
        return None

    def _result_check(
        self, rid: str, what: str, expected: TokenResult, observed: TokenOutcome
    ) -> Check:
        """The token result against the oracle's: the code, or where the readback sees only
        classes of results, the class (noted)."""
        if observed.exact:
            return Check(rid, what, expected.label, observed.result.label, "",
                         _ok(observed.result == expected))  # fmt: skip
        kind = self._readback_kind()
        want = self.rig.readback.result_class(expected)
        self._note_once(f"token results compared by class: {kind} shows only result classes "
                        "(Old and Used alike), not the 16 codes")  # fmt: skip
        return Check(rid, what, f"{expected.label} ({want})", str(observed.result_class),
                     f"class only ({kind})", _ok(observed.result_class == want))  # fmt: skip

    def _code_seen(self, observed: TokenOutcome, expected: TokenResult) -> TokenResult:
        """The result code the key ring follows. A readback that shows only classes of
        results cannot tell 2nd KCT from Accept: where the class agrees with the oracle's,
        its code stands for the meter's (else every key change would look unfinished and
        the tokens after it would be made under the old key, judging nothing)."""
        if observed.exact or observed.result_class != self.rig.readback.result_class(expected):
            return observed.result
        return expected

    def _record(
        self,
        case: Case,
        expected: Expectation,
        observed: TokenOutcome,
        delta: float,
        relay_closed: bool,
        *,
        ok: bool,
        credit_kwh: float,
        mismatches: list[str],
    ) -> None:
        step = self.evidence.record(case, expected, observed, delta, relay_closed, ok=ok,
                                    credit_kwh=credit_kwh, mismatches=mismatches)  # fmt: skip
        if not observed.exact:
            step.observed_result = observed.label  # the class the readback saw, not a code

    # -- parts ---------------------------------------------------------------------------
    @property
    def tokens(self) -> TokenFactory:
        """Tokens under the key the meter holds now."""
        return self.keys.current

    @property
    def oracle(self) -> Oracle:
        """A conforming model, started from the state the meter reports at first use."""
        if self._oracle is None:
            rig = self.rig
            self._oracle = Oracle.start(
                rig.meter.meter_pan,
                self.tokens.info,
                self.tokens.key,
                self._declared_profile(),
                credit_wh=round(rig.read_credit() * 1000),
                tid_memory=self._tid_memory() or [],  # unreadable: empty after the reset
                clock=rig.now,
                sta_tables=rig.meter.tables(rig.base),
                load_w=self._load_w,
            )
            if self._oracle.model.profile.friendly_hours:  # its relay at zero credit needs it
                clock = self._meter_clock()
                if clock is not None:
                    self._oracle.set_clock(clock.timestamp())
        return self._oracle

    def _declared_profile(self) -> MeterProfile:
        """The rig's timing profile with what the meter declares of itself (INFO): a
        conforming meter may hold more TIDs than the profile's figure."""
        profile = self.rig.profile
        try:
            depth = self.rig.info().get("tid_mem_depth")
        except NotReadable:  # the readback cannot say: the profile's figure stands
            depth = None
        if depth and str(depth).isdigit():
            profile = dataclasses.replace(profile, tid_memory_depth=int(depth))
        return profile

    def requirement(self, result: TokenResult | None = None, given: str | None = None) -> str:
        """The requirement a check judges: as given, else the one the expected result speaks
        for if the test covers it (always for the SHARED_RULES), else the test's first."""
        if given:
            return given
        candidate = RESULT_REQUIREMENT.get(result) if result is not None else None
        if candidate and (candidate in self.requirements or result in SHARED_RULES):
            return candidate
        return self.requirements[0] if self.requirements else "UNATTRIBUTED"

    def relay_requirement(
        self, reason: str, given: str | None = None, consequence: str | None = None
    ) -> str:
        """The requirement a relay reading judges. A relay that only follows a wrong result
        or credit of the same step is that fault's ``consequence``. An open relay a rule
        explains is that rule's, whichever test saw it: a meter that leaves the relay closed
        at zero credit breaks RELAY-ZERO-CREDIT. Any other state is ``given``'s, else the
        test's first requirement."""
        return consequence or RELAY_REQUIREMENT.get(reason) or given or self.requirement()

    def _relay_cause(self) -> str:
        """Why a conforming meter holds its relay open now (a latched trip apart)."""
        model = self.oracle.model
        return "trip_latch" if model.trip_latched else model.relay_reason

    # -- judging ---------------------------------------------------------------------------
    def check(
        self,
        requirement: str | None,
        what: str,
        *,
        expected: object,
        observed: object,
        ok: bool,
        tolerance: str = "",
        message: str = "",
    ) -> None:
        """Record one judgement of the meter; a failed one fails the test here."""
        check = Check(self.requirement(None, requirement), what, str(expected), str(observed),
                      tolerance, "pass" if ok else "fail")  # fmt: skip
        self.evidence.judge([check], message)

    def note(self, text: str) -> None:
        self.evidence.note(text)

    def require_function(self, function: str) -> None:
        """Go on only if the meter declares ``function`` in its meter file (see
        hil.meter.functions: ``class1:totals``, ``management:set_tariff_rate``, ...);
        otherwise the test does not apply to this meter: `NotApplicable`, with the reason."""
        declared = getattr(self.rig, "functions", None) or MeterFunctions()
        reason = declared.not_declared(function)
        if reason:
            raise NotApplicable(reason)

    def _slack_kwh(self, seconds: float) -> float:
        """Energy the meter may have used, by its clock against ours, while a load was on."""
        if not self._load_w:
            return 0.0
        error = self.rig.config.capabilities.metering_error_pct / 100
        return self._load_w * (TIMING_MARGIN_S + seconds * (1 + error)) / 3.6e6

    # -- bench actions -----------------------------------------------------------------------
    def inject(
        self,
        case: Case,
        *,
        via: str | None = None,
        check_relay: bool = True,
        requirement: str | None = None,
        if_refused: str | None = None,
    ) -> TokenOutcome:
        """Enter ``case`` once; check result, credit change and relay against the oracle.

        ``if_refused``: the requirement a refusal of a token a conforming meter takes speaks
        for, where the test's scenario rests on another rule (a key change timeout test
        enters a set's later sections first; a meter refusing them breaks KCT-SET, and says
        nothing yet about the timeout)."""
        rig, oracle = self.rig, self.oracle
        before = rig.read_credit()
        start = time.monotonic()
        observed = rig.enter_token(case.digits, via=via)
        # Asked when the result arrives: the meter decided at the end of entry, not its start.
        expected: Expectation = oracle.expect(case.digits)
        after = rig.read_credit()
        relay_closed, _reason = rig.read_relay()
        self.keys.observed(case.digits, self._code_seen(observed, expected.result))
        delta = after - before
        slack = self._slack_kwh(time.monotonic() - start)
        rid = self.requirement(expected.result, requirement)
        if if_refused and expected.result.accepted and not observed.result.accepted:
            rid = if_refused
        relay = "closed" if relay_closed else "open"
        want_relay = "closed" if expected.relay_closed else "open"
        checks = [
            self._result_check(rid, f"{case.label}: token result", expected.result, observed),
            Check(rid, f"{case.label}: credit change (kWh)",
                  f"{expected.credit_delta_wh / 1000:+.3f}", f"{delta:+.3f}",
                  self.credit.describe(slack),
                  _ok(self.credit.change_ok(expected.credit_delta_wh / 1000, delta, slack))),
        ]  # fmt: skip
        if check_relay:
            # A relay that follows a wrong result or credit is that fault's consequence.
            consequence = rid if any(not c.passed for c in checks) else None
            reason = self._relay_cause()
            relay_rid = self.relay_requirement(reason, requirement, consequence)
            checks.append(Check(relay_rid, f"{case.label}: load relay", want_relay, relay, "",
                                _ok(relay == want_relay)))  # fmt: skip
        problems = [c for c in checks if not c.passed]
        parts = {"token result": "result", "credit change (kWh)": "credit", "load relay": "relay"}
        differ = [parts[c.what.rsplit(": ", 1)[1]] for c in problems]
        self._record(case, expected, observed, delta, relay_closed, ok=not problems,
                     credit_kwh=after, mismatches=differ)  # fmt: skip
        message = ""
        if problems:
            said = {"token result": f"answered {observed.label}" + (
                        f" (code {int(observed.result)})" if observed.exact else " (class)"),
                    "credit change (kWh)": f"changed credit by {delta:+.3f} kWh",
                    "load relay": f"left the relay {relay}"}  # fmt: skip
            parts = [said[c.what.rsplit(": ", 1)[1]] for c in problems]
            message = (f"{case.label}: the meter {', '.join(parts)}; a conforming meter: "
                       f"{expected.describe()} ({expected.detail or 'IEC 62055-41'})")  # fmt: skip
        self.evidence.judge(checks, message)
        return observed

    def enter_malformed(self, entry: str, label: str, requirement: str | None = None) -> None:
        """Type ``entry`` (not a 20-digit token) and ENTER on the keypad; check the result,
        the credit change and the TID memory against the oracle. No token step is recorded:
        the entry is no token."""
        rig, oracle = self.rig, self.oracle
        before = rig.read_credit()
        observed = rig.enter_keys(entry)
        expected = oracle.expect(entry)
        rig.settle()  # the meter shows its result, ignoring keys, for result_hold_s
        delta = rig.read_credit() - before
        tids = self._tid_memory()
        code = f"code {int(observed.result)}" if observed.exact else "class"
        self.note(f"{label}: {len(entry)} digits and ENTER; the meter answered "
                  f"{observed.label} ({code})")  # fmt: skip
        want_credit = expected.credit_delta_wh / 1000
        rid = self.requirement(None, requirement)
        checks = [
            self._result_check(rid, f"{label}: token result", expected.result, observed),
            Check(rid, f"{label}: credit change (kWh)",
                  f"{want_credit:+.3f}", f"{delta:+.3f}", self.credit.describe(),
                  _ok(self.credit.change_ok(want_credit, delta))),
        ]  # fmt: skip
        if tids is not None:
            checks.append(Check(rid, f"{label}: TID memory", _tids(oracle.model.tid_memory),
                                _tids(tids), "", _ok(tids == oracle.model.tid_memory)))  # fmt: skip
        self.evidence.judge(checks, f"{label}: the meter answered {observed.label}, credit "
                            f"{delta:+.3f} kWh; a conforming meter: "
                            f"{expected.describe()}")  # fmt: skip

    def press_keys(
        self, keys: Sequence[str], what: str, *, confirm: bool = True, oracle_sees: bool = False
    ) -> None:
        """Press ``keys`` on the keypad (digits, ENTER, BACK) after the last result display,
        without awaiting a result (a partial entry, a token not yet submitted). The oracle is
        told only with ``oracle_sees`` (keys that change something: a latched trip's reset);
        otherwise a conforming meter changes nothing for keys alone. ``confirm=False``: wait
        for no KEY event (keys a meter may rightly ignore)."""
        self.rig.begin_entry()
        self.rig.press_keys(keys, confirm=confirm)
        if oracle_sees:
            oracle = self.oracle
            for key in keys:
                oracle.model.press_key(key, oracle.model.now)
        self.note(f"pressed {len(keys)} key(s): {what}")

    def expect_no_result(self, within_s: float, what: str, requirement: str | None = None) -> None:
        """Check that the meter decides no token within ``within_s`` real seconds of the last
        keys (an entry not yet submitted)."""
        try:
            event = self.rig.wait_for("TOKEN_RESULT", timeout_s=within_s)
            seen = f"TOKEN_RESULT {event.fields.get('name', '?')}"
        except ReplyTimeout:
            seen = "no result"
        self.check(requirement, what, expected="no result", observed=seen,
                   ok=seen == "no result", tolerance=f"within {within_s:.2f} s")  # fmt: skip

    def inject_typed(
        self,
        case: Case,
        keys: Sequence[str],
        what: str,
        *,
        stray: Sequence[str] = (),
        after_result: Sequence[str] = (),
        requirement: str | None = None,
        credit_before: float | None = None,
    ) -> TokenOutcome:
        """Type ``keys`` on the keypad, an entry a conforming meter reads as ``case`` (for
        example a token corrected with BACK), then tap ``stray`` keys at once, unconfirmed,
        while the meter processes it, and ``after_result`` keys as soon as its result comes
        (while it shows it); check the result, the credit change, the TID memory and the relay
        against the oracle entering ``case`` (a conforming meter ignores the taps).
        ``credit_before``: the credit read before earlier keys of the same entry (a display
        shows the typed digits, not the credit, once an entry has begun)."""
        rig, oracle = self.rig, self.oracle
        before = rig.read_credit() if credit_before is None else credit_before
        start = rig.begin_entry()
        rig.press_keys(keys)
        if stray:
            rig.press_keys(stray, confirm=False)
        observed = rig.await_result(start)
        if after_result:
            rig.press_keys(after_result, confirm=False)
        expected = oracle.expect(case.digits)
        after = rig.read_credit()
        relay_closed, _reason = rig.read_relay()
        tids = self._tid_memory()
        self.keys.observed(case.digits, self._code_seen(observed, expected.result))
        delta = after - before
        rid = self.requirement(None, requirement)
        want_credit = expected.credit_delta_wh / 1000
        label = f"{case.label}, {what}"
        checks = [
            self._result_check(rid, f"{label}: token result", expected.result, observed),
            Check(rid, f"{label}: credit change (kWh)", f"{want_credit:+.3f}", f"{delta:+.3f}",
                  self.credit.describe(), _ok(self.credit.change_ok(want_credit, delta))),
        ]  # fmt: skip
        if tids is not None:
            checks.append(Check(rid, f"{label}: TID memory", _tids(oracle.model.tid_memory),
                                _tids(tids), "", _ok(tids == oracle.model.tid_memory)))  # fmt: skip
        want_relay = oracle.model.relay_closed
        relay_rid = rid if any(not c.passed for c in checks) else self.relay_requirement(
            self._relay_cause())  # fmt: skip
        checks.append(Check(relay_rid, f"{label}: load relay",
                            "closed" if want_relay else "open",
                            "closed" if relay_closed else "open", "",
                            _ok(relay_closed == want_relay)))  # fmt: skip
        problems = [c for c in checks if not c.passed]
        self._record(case, expected, observed, delta, relay_closed, ok=not problems,
                     credit_kwh=after,
                     mismatches=[_PARTS[c.what.rsplit(": ", 1)[1]] for c in problems
                                 if c.what.rsplit(": ", 1)[1] in _PARTS])  # fmt: skip
        self.evidence.judge(checks, f"{label}: the meter answered {observed.label}, "
                                    f"credit {delta:+.3f} kWh; a conforming meter: "
                                    f"{expected.describe()}" if problems else "")  # fmt: skip
        return observed

    def check_state(self, what: str = "state", requirement: str | None = None) -> None:
        """Credit, relay and TID memory against the oracle (after tokens or time passing)."""
        rig, oracle = self.rig, self.oracle
        oracle.advance()
        model = oracle.model
        credit = rig.read_credit()
        relay_closed, reason = rig.read_relay()
        tids = self._tid_memory()
        slack = self._slack_kwh(0.0)
        rid = self.requirement(None, requirement)
        relay = f"{'closed' if relay_closed else 'open'} ({reason or 'no reason'})"
        want = (f"{'closed' if model.relay_closed else 'open'} "
                f"({model.relay_reason or 'no reason'})")  # fmt: skip
        credit_ok = self.credit.reading_ok(model.credit_wh / 1000, credit, slack)
        # A relay that follows a wrong credit is that fault's consequence.
        relay_rid = self.relay_requirement(self._relay_cause(), requirement,
                                           None if credit_ok else rid)  # fmt: skip
        checks = [
            Check(rid, f"{what}: credit (kWh)", f"{model.credit_wh / 1000:.3f}", f"{credit:.3f}",
                  self.credit.describe(slack), _ok(credit_ok)),
            Check(relay_rid, f"{what}: load relay", want, relay, "",
                  _ok(relay_closed == model.relay_closed)),
        ]  # fmt: skip
        if tids is not None:
            checks.append(Check(rid, f"{what}: TID memory", _tids(model.tid_memory),
                                _tids(tids) + _first_diff(tids, model.tid_memory), "",
                                _ok(tids == model.tid_memory)))  # fmt: skip
        failed = [c for c in checks if not c.passed]
        held = "TID memory not read" if tids is None else f"{len(tids)} TIDs in memory"
        self.note(
            f"{what}: credit {credit:.3f} kWh, relay {'closed' if relay_closed else 'open'},"
            f" {held}" + (" - MISMATCH" if failed else "")
        )
        detail = "; ".join(f"{c.what.split(': ', 1)[1]} {c.observed} (expected {c.expected})"
                           for c in failed)  # fmt: skip
        self.evidence.judge(checks, f"{what}: the meter shows {detail}" if failed else "")

    def check_credit_status(self, what: str, requirement: str | None = None) -> None:
        """The low-credit warning and the emergency credit owed, where the meter reports
        them (GET CREDIT low= and emergency_owed_kwh=, probe protocol 2), against the oracle.
        `BenchCannot` when it reports neither."""
        self.oracle.advance()
        model = self.oracle.model
        status = self.rig.read_credit_status()
        rid = self.requirement(None, requirement)
        checks = []
        if status.low is not None and model.profile.low_credit_wh:
            # The warning is LOW-CREDIT's rule, whichever test reads it.
            checks.append(Check("LOW-CREDIT", f"{what}: low-credit warning", _on(model.low_credit),
                                _on(status.low), f"below {model.profile.low_credit_wh / 1000:g}"
                                " kWh", _ok(status.low == model.low_credit)))  # fmt: skip
        if status.emergency_owed_kwh is not None and model.profile.emergency_credit_wh:
            owed = model.emergency_owed_wh / 1000
            seen = status.emergency_owed_kwh
            checks.append(Check(rid, f"{what}: emergency credit owed (kWh)", f"{owed:.3f}",
                                f"{seen:.3f}", self.credit.describe(),
                                _ok(self.credit.reading_ok(owed, seen))))  # fmt: skip
        if not checks:
            raise BenchCannot("the meter reports neither its low-credit warning nor the"
                              " emergency credit owed (GET CREDIT low=, emergency_owed_kwh=;"
                              " probe protocol 2)")  # fmt: skip
        failed = [c for c in checks if not c.passed]
        self.note(f"{what}: " + ", ".join(f"{c.what.split(': ', 1)[1]} {c.observed}"
                                          for c in checks))  # fmt: skip
        self.evidence.judge(checks, f"{what}: the meter shows " + "; ".join(
            f"{c.what.split(': ', 1)[1]} {c.observed} (expected {c.expected})" for c in failed
        ) if failed else "")  # fmt: skip

    def deliver_energy(self, watts: float, kwh: float) -> tuple[float, float]:
        """Draw ``watts`` through the meter until about ``kwh`` has flowed, then no load;
        (the credit the meter took, the energy the load's reference measured), in kWh. A
        load that cannot integrate energy gives power x time from our clock instead."""
        rig = self.rig
        load = rig.load
        measured = load is not None and getattr(load, "measures_energy", False)
        before = rig.read_credit()
        if measured:
            load.reset_energy()
        start = time.monotonic()
        self.set_load(watts)
        time.sleep(kwh * 3.6e6 / watts / rig.speed)
        self.set_load(0)
        elapsed = time.monotonic() - start
        energy = load.read_energy_wh() / 1000 if measured else watts * elapsed * rig.speed / 3.6e6
        taken = before - rig.read_credit()
        how = "the load measured" if measured else "power x time gives"
        self.note(f"{watts:g} W for {elapsed:.2f} s: the meter took {taken:.3f} kWh of "
                  f"credit; {how} {energy:.3f} kWh")  # fmt: skip
        return taken, energy

    def set_load(self, watts: float) -> None:
        """The load on the meter's output, on the bench and in the oracle."""
        oracle = self.oracle
        self.rig.mark()
        self.rig.set_load(watts)
        oracle.set_load(watts)
        self._load_w, self._load_since = float(watts), time.monotonic()
        self.note(f"load set to {watts:g} W")

    def power_cycle(self, off_s: float = 0.5) -> None:
        oracle = self.oracle
        self.rig.power_cycle(off_s=off_s)
        oracle.power_cycle(off_s * self.rig.speed)
        self.note(f"supply cycled ({off_s:g} s off)")

    def tamper(self) -> None:
        """Trip the meter's tamper detection (the simulator's fault port: a bench has no
        standard way to open a meter's case)."""
        oracle = self.oracle
        self.rig.mark()
        self.rig.sim_control("tamper")
        oracle.tamper()
        self.note("tamper detection tripped")

    def request_emergency(self) -> None:
        """Type the declared emergency credit short code and ENTER, and wait out its
        processing and result display (a short code has no token result to await)."""
        oracle, profile = self.oracle, self.rig.profile
        code = profile.emergency_code
        self.rig.begin_entry()
        self.rig.press_keys([*code, "ENTER"])
        oracle.request_emergency()
        self.let_time_pass(profile.processing_s + profile.result_hold_s + RELAY_POLL_S)
        self.note(f"emergency credit asked for with the short code {code} and ENTER")

    # -- the meter clock ------------------------------------------------------------------
    def _meter_clock(self) -> datetime | None:
        """The meter clock (CLOCK GET), or None when the meter does not offer it."""
        try:
            return self.rig.read_clock()
        except NotOffered:
            return None

    def set_meter_clock(self, when: datetime) -> None:
        """Set the meter clock (CLOCK SET), and the oracle's with it."""
        self.rig.set_clock(when)
        self.oracle.set_clock(when.timestamp())
        self.note(f"meter clock set to {when:%Y-%m-%d %H:%M:%S} UTC")

    def clear_of_friendly_hours(self, seconds: float) -> None:
        """Make sure no friendly hours (declared: no cut-off for credit) fall in the next
        ``seconds``: if the meter clock is inside them or they begin before then, set it to
        a minute after they end. `BenchCannot` when the meter clock cannot be read or set."""
        hours = self.rig.profile.friendly_hours
        if not hours:
            return
        now = self._meter_clock()
        if now is None:
            raise BenchCannot(f"the meter declares friendly hours {hours[0]:02d}-{hours[1]:02d}"
                              " and its clock cannot be read (probe CLOCK GET): a cut-off at"
                              " zero credit may rightly not come")  # fmt: skip
        day_s = now.hour * 3600 + now.minute * 60 + now.second
        inside, to_start, to_end = friendly_window(hours, day_s)
        if not inside and to_start > seconds + 2 * TIMING_MARGIN_S:
            return
        after = now + timedelta(seconds=to_end + 60)
        try:
            self.set_meter_clock(after.replace(microsecond=0))
        except NotOffered:
            raise BenchCannot(f"the meter clock reads {now:%H:%M} UTC, inside or close to its"
                              f" friendly hours {hours[0]:02d}-{hours[1]:02d}, and cannot be"
                              " set (probe CLOCK SET): test the cut-off outside them"
                              ) from None  # fmt: skip

    def let_time_pass(self, seconds: float) -> None:
        """Wait ``seconds`` of the meter's time (the rig's declared clock rate: 1 on a real
        meter), then bring the oracle up to date."""
        oracle = self.oracle
        time.sleep(seconds / self.rig.speed)
        oracle.advance()
        self.note(f"{seconds:g} s of meter time passed")

    def change_key(
        self,
        new: KeyInfo,
        *,
        order: Sequence[int] | None = None,
        rollover: bool = False,
        via: str | None = None,
        requirement: str | None = None,
    ) -> TokenFactory:
        """Enter the whole key change set to ``new`` in ``order``; the factory for ``new``."""
        for case in self.keys.key_change(new, order=order, rollover=rollover):
            self.inject(case, via=via, requirement=requirement)
        return self.keys.current

    def next_key(self, **changes: int) -> KeyInfo:
        """The meter's key identity with the next key revision (and ``changes``)."""
        info = self.tokens.info
        return dataclasses.replace(info, **{"krn": info.krn % 9 + 1, **changes})

    # -- waiting for the meter -------------------------------------------------------------
    def await_event(
        self,
        name: str,
        *,
        timeout_s: float = 5.0,
        requirement: str | None = None,
        **fields: str,
    ) -> None:
        """Wait for an event the meter must push (docs/probe-protocol.md, mandatory events).
        If it never comes, that is the meter's failure, not the bench's."""
        wanted = " ".join(f"{k}={v}" for k, v in fields.items())
        try:
            self.rig.wait_for(name, timeout_s=timeout_s, **fields)
            seen = f"{name} {wanted}".strip()
        except ReplyTimeout:  # the probe answers, the meter never told: the meter's failure
            seen = f"nothing within {timeout_s:g} s"
        self.check(requirement, f"probe event {name}", expected=f"{name} {wanted}".strip(),
                   observed=seen, ok=not seen.startswith("nothing"),
                   tolerance=f"within {timeout_s:g} s")  # fmt: skip

    def await_relay(
        self,
        closed: bool,
        *,
        timeout_s: float,
        requirement: str | None = None,
        what: str = "load relay",
    ) -> float | None:
        """Wait until the meter reports its relay closed (or open), by event or by polling;
        seconds waited, or a failed check at the timeout."""
        waited = self.rig.wait_relay(closed, timeout_s, poll_s=RELAY_POLL_S)
        state = "closed" if closed else "open"
        self.check(requirement, what, expected=f"{state} within {timeout_s:.0f} s",
                   observed=f"{state} after {waited:.1f} s" if waited is not None
                   else f"not {state} after {timeout_s:.0f} s",
                   ok=waited is not None)  # fmt: skip
        return waited

    def run_credit_out(self, *, requirement: str | None = None) -> None:
        """Draw the largest load the rig declares until the credit is used up; check that
        the relay opened when energy / power says, within the metering error and a margin."""
        caps = self.rig.config.capabilities
        oracle = self.oracle
        oracle.advance()
        credit_kwh = oracle.model.credit_wh / 1000
        load_w = caps.load_max_w
        meter_s = credit_kwh * 3.6e6 / load_w
        error = caps.metering_error_pct / 100
        self.clear_of_friendly_hours(meter_s * (1 + error) + TIMING_MARGIN_S)
        early_s = meter_s * (1 - error) / self.rig.speed - TIMING_MARGIN_S
        late_s = meter_s * (1 + error) / self.rig.speed + TIMING_MARGIN_S
        self.note(f"{credit_kwh:.3f} kWh at {load_w:g} W lasts {meter_s:.1f} s of meter time "
                  f"(+/- {caps.metering_error_pct:g} % metering error)")  # fmt: skip
        self.set_load(load_w)
        waited = self.await_relay(False, timeout_s=late_s, requirement=requirement,
                                  what="relay opens when the credit is used up")  # fmt: skip
        # Open too early: the register counted more energy than the load drew.
        self.check("METERING-DECREMENT", "relay did not open before the credit was used up",
                   expected=f"after at least {max(0.0, early_s):.1f} s",
                   observed=f"after {waited:.1f} s", ok=waited is not None and waited >= early_s,
                   tolerance=f"{caps.metering_error_pct:g} % metering error, "
                             f"{TIMING_MARGIN_S:g} s margin")  # fmt: skip
        # The meter's register is the truth for consumption: the oracle ran the same load on
        # its own clock, so it is moved to its own zero-credit time if that is still ahead.
        self._load_w = 0.0  # the credit is spent: no slack is due from here on
        oracle.advance()
        model = oracle.model
        if model.credit_wh > 0 and model.load_w > 0:
            ahead_s = model.credit_wh * 3600 / model.load_w
            model.advance(model.now + ahead_s + 1.0)

    def sense_relay(self, closed: bool, requirement: str | None = None) -> None:
        """The relay state measured by the DMM on the load side (not the meter's word)."""
        sensed = self.rig.sense_relay()
        self.check(requirement, "mains on the load side (DMM)",
                   expected="present" if closed else "absent",
                   observed="present" if sensed else "absent", ok=sensed == closed)  # fmt: skip


_PARTS = {"token result": "result", "credit change (kWh)": "credit", "load relay": "relay"}


def _on(flag: bool) -> str:
    return "on" if flag else "off"


def _ok(passed: bool) -> str:
    return "pass" if passed else "fail"


def _tids(tids: Sequence[int]) -> str:
    if not tids:
        return "empty"
    if len(tids) > 2:
        return f"{len(tids)} TIDs, {tids[0]}..{tids[-1]}"
    return ", ".join(map(str, tids))


def _first_diff(seen: Sequence[int], want: Sequence[int]) -> str:
    if list(seen) == list(want):
        return ""
    for i, (x, y) in enumerate(zip(seen, want, strict=False)):
        if x != y:
            return f" (first difference at position {i}: {x} vs {y})"
    return f" (first difference at position {min(len(seen), len(want))})"

"""The Robot Framework keyword library over the harness's ``Rig`` (``Library    hil.robot``).

A thin keyword layer over the same object the pytest front end uses: a
``ConformanceSession`` per test (the bench, the conforming model, the tokens with their key
ring, the evidence and checks), so both front ends act and judge the same way.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from robot.api import logger
from robot.api.deco import keyword, library
from robot.api.exceptions import SkipExecution
from robot.libraries.BuiltIn import BuiltIn, RobotNotRunningError

from hil import __version__
from hil.broker.base import parse_tags
from hil.broker.hold import DEFAULT_WAIT_S, LeaseHold
from hil.conformance.checks import CheckFailed
from hil.conformance.evidence import Evidence
from hil.conformance.factory import Case, TokenFactory
from hil.conformance.outcome import BenchCannot, outcome_of
from hil.conformance.session import ConformanceSession, KeyRing
from hil.errors import BenchFault, HarnessError
from hil.meter.results import TokenResult
from hil.paths import DEFAULT_RIG, REPO_ROOT, resolve_rig
from hil.rig.rig import Rig
from hil.robot.state import RUN
from hil.sts.tid import tid_from_datetime

try:  # labels on allure results when the allure_robotframework listener runs
    import allure
except ImportError:  # pragma: no cover - allure-python-commons comes with allure-pytest
    allure = None

BENCH_FAULT_TAG = "bench-fault"
HARNESS_ERROR_TAG = "harness-error"
NEXT_BASE_DATE = {1993: 2014, 2014: 2035}
_TID_CURSOR: dict[str, int] = {}  # meter PAN -> next TID, so TIDs rise across suites
_F = TypeVar("_F", bound=Callable[..., Any])


class BenchFaultError(RuntimeError):
    """The bench or the harness (not the meter) is at fault; the verdict is *error*."""

    ROBOT_SUPPRESS_NAME = True


class KeywordUsageError(ValueError):
    """A keyword was given arguments it cannot use (a mistake in the test, not the meter)."""

    ROBOT_SUPPRESS_NAME = True


class MeterNonconformance(AssertionError):
    """The meter did something a conforming meter does not (a *fail* verdict)."""

    ROBOT_SUPPRESS_NAME = True


def _tag_test(tag: str) -> None:
    # Outside Robot there is no test; in a suite teardown Set Tags is refused.
    with contextlib.suppress(RobotNotRunningError, RuntimeError):
        BuiltIn().set_tags(tag)


def _current_test() -> str | None:
    try:
        return str(BuiltIn().get_variable_value("${TEST NAME}") or "") or None
    except RobotNotRunningError:
        return None


def _kw(name: str | None = None) -> Callable[[_F], _F]:
    """A keyword judged by the one outcome rule (hil.conformance.outcome): a failed check of
    the meter -> *fail*; anything else -> *error*, never the meter's failure.

    ``BenchFault`` -> "BENCH FAULT: ..." and tag ``bench-fault``; other harness errors
    (a rig file problem, a missing device) -> "HARNESS ERROR: ..." and tag
    ``harness-error``; a bad argument -> the usage error. The journal listener reads the
    library's judgement of the test.
    """

    def decorate(func: _F) -> _F:
        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except SkipExecution:
                raise
            except BenchCannot as exc:  # the bench cannot set the test up: no verdict
                raise SkipExecution(str(exc)) from exc
            except Exception as exc:
                owner = args[0] if args and isinstance(args[0], StsMeter) else None
                if owner is not None and owner._test is not None:
                    RUN.judged(owner._test, outcome_of(exc))
                if isinstance(exc, CheckFailed):
                    raise MeterNonconformance(str(exc)) from exc
                if isinstance(exc, BenchFault):
                    _tag_test(BENCH_FAULT_TAG)
                    raise BenchFaultError(f"BENCH FAULT: {exc}") from exc
                if isinstance(exc, HarnessError):
                    _tag_test(HARNESS_ERROR_TAG)
                    raise BenchFaultError(f"HARNESS ERROR: {exc}") from exc
                if isinstance(exc, ValueError):
                    raise KeywordUsageError(str(exc)) from exc
                raise

        return keyword(name)(run)  # type: ignore[return-value]

    return decorate


def resolve_rig_path(rig: str | Path | None) -> Path:
    """The rig file ``Open Rig`` uses: ``rigs/sim.yaml`` by default; a relative path from
    the working directory, else from the repository root."""
    path = resolve_rig(rig) if rig else DEFAULT_RIG
    if not path.is_absolute() and not path.exists() and (REPO_ROOT / path).exists():
        path = REPO_ROOT / path
    return path


def _tags(text: str | None) -> dict[str, str]:
    """``model=sim,firmware=2_1`` -> {"model": "sim", "firmware": "2_1"}"""
    try:
        return parse_tags(part.strip() for part in (text or "").split(",") if part.strip())
    except ValueError:
        raise ValueError(f"pool_tags {text!r}: write KEY=VALUE[,KEY=VALUE...]") from None


def _digits(token: str) -> str:
    digits = re.sub(r"[\s-]", "", str(token))
    if not re.fullmatch(r"\d{20}", digits):
        raise ValueError(f"a token is 20 digits, got {token!r}")
    return digits


def _units(kwh: float) -> int:
    units = round(kwh * 10)
    if abs(kwh * 10 - units) > 1e-6 or units < 0:
        raise ValueError(f"credit tokens carry whole 0.1 kWh units, got {kwh:g} kWh")
    return units


def _result(name: str) -> TokenResult:
    try:
        return TokenResult.from_label(name)
    except ValueError:
        pass
    try:
        return TokenResult[re.sub(r"[\s-]+", "_", name.strip()).upper()]
    except KeyError:
        raise ValueError(
            f"unknown token result {name!r}; known: "
            + ", ".join(result.label for result in TokenResult)
        ) from None


def _same(expected: object, actual: str) -> bool:
    text = str(expected).strip()
    if text.isdigit() and actual.strip().isdigit():
        return int(text) == int(actual)
    return text.casefold() == actual.strip().casefold()


class _TestLifecycle:
    """The library's own listener: per-test evidence and a fresh oracle for every test."""

    ROBOT_LISTENER_API_VERSION = 3

    def __init__(self, owner: StsMeter) -> None:
        self._owner = owner

    def start_test(self, data: Any, result: Any) -> None:
        self._owner._begin_test(result.full_name)

    def end_test(self, data: Any, result: Any) -> None:
        self._owner._end_test()


@library(scope="SUITE", version=__version__, doc_format="ROBOT")
class StsMeter:
    """Keywords for testing an STS (IEC 62055-41) prepaid meter on a HIL bench.

    Import it as ``Library    hil.robot``. One instance serves one suite
    (``ROBOT_LIBRARY_SCOPE = SUITE``): open the bench in ``Suite Setup``, put the meter
    back in its factory state in ``Test Setup`` and close the bench in ``Suite Teardown``:

    | ***** Settings *****
    | Library           hil.robot
    | Suite Setup       `Open Rig`    ${RIG}    defect=${DEFECT}
    | Suite Teardown    `Close Rig`
    | Test Setup        `Reset Meter`
    |
    | ***** Test Cases *****
    | Replayed Token Is Used
    |     [Tags]    req:TID-USED
    |     ${token} =    `Generate Credit Token`    5
    |     `Enter Token And Expect`    ${token}    Accept
    |     ${replay} =    `Generate Replay Of`    ${token}
    |     `Enter Token And Expect`    ${replay}    Used
    |     `Credit Should Be`    5

    = Rig =

    `Open Rig` reads a rig file (default ``rigs/sim.yaml``, the simulated bench, which the
    library starts and stops itself). ``defect`` names a simulated meter defect profile,
    for checking that the suites catch it. The same rig files serve pytest and Robot.

    = Tokens =

    Tokens are plain 20-digit strings. The ``Generate ...`` keywords build them for the
    meter under test from its identity and key in the rig file. Their TIDs rise across the
    whole run, so tokens from different tests never collide. The library remembers what
    each token is for; that label appears in the evidence.

    The ``key`` argument of the generators selects the decoder key: ``current`` (the key
    the meter holds: after a key change set that the meter completed, the new one),
    ``old`` (the key before the last completed key change) or ``new`` (the key of the last
    `Generate Key Change Tokens`, whether or not the meter has it yet).

    = Conforming meter (oracle) =

    Each test has an oracle: a conforming meter model started from the state the meter
    reports at the first token or bench action of the test. `Enter Token And Expect`
    fails when the meter's result, credit change or relay differ from the oracle's, with a
    message that says what the meter did and what the standard requires.
    `Meter State Should Conform` compares credit, relay and TID memory.

    = Entry path =

    ``via`` selects how a token reaches the meter: ``keypad``, ``virtual_carrier`` or
    ``bulk`` (the virtual carrier where the rig has one, else the keypad: for filling
    the meter quickly). By default the rig file's ``token_entry``.

    = Verdicts =

    Only a failed check of the meter (the ``... Should ...`` keywords, `Enter Token And
    Expect`, `Meter State Should Conform`, `Wait For Meter Event`) is the meter's *fail*
    verdict. Anything else that stops a test is an *error*: a bench fault (message
    ``BENCH FAULT:``, tag ``bench-fault``), a rig file or configuration problem
    (``HARNESS ERROR:``, tag ``harness-error``), a keyword given wrong arguments, a BuiltIn
    assertion. The journal listener (``hil.robot.listener.JournalListener``) journals them
    so: a broken bench or suite says nothing about the meter. Every check is recorded
    (requirement, what, expected, observed, tolerance) for the report.

    Give each test its requirement ids as tags ``req:<ID>`` (ids from
    ``hil/data/requirements.yaml``); the journal lists them as the test's clauses.
    """

    def __init__(self) -> None:
        self.ROBOT_LIBRARY_LISTENER = _TestLifecycle(self)
        self._rig: Rig | None = None
        self._hold: LeaseHold | None = None
        self._defect: str | None = None
        self._keys: KeyRing | None = None  # the rig file's key, and the meter's since
        self._cases: dict[str, Case] = {}
        self._entered: set[str] = set()  # tokens entered since the last reset
        self._session: ConformanceSession | None = None
        self._evidence = Evidence()
        self._test: str | None = None
        self._last: TokenResult | None = None
        self._credit_mark: float | None = None

    # -- lifecycle (the library's listener) ---------------------------------------------------
    def _begin_test(self, full_name: str) -> None:
        self._evidence = RUN.begin_test(full_name)
        self._test = full_name
        self._session = None
        self._last = None
        self._credit_mark = None
        if allure is not None and self._rig is not None:
            allure.dynamic.label("rig", self._rig.name)
            allure.dynamic.label("meter", self._rig.serial)

    def _end_test(self) -> None:
        self._evidence = Evidence()  # keywords between tests must not add to the last test's
        self._test = None
        self._session = None

    # -- helpers --------------------------------------------------------------------------------
    @property
    def rig(self) -> Rig:
        """The open bench (for Python keywords layered on this library)."""
        if self._rig is None:
            raise RuntimeError("no rig is open: call Open Rig first (e.g. in Suite Setup)")
        if self._hold is not None:
            self._hold.check()  # a lost lease: the rig may be someone else's by now
        return self._rig

    def _factory(self, key: str = "current") -> TokenFactory:
        ring = self._keys
        if ring is None:
            raise RuntimeError("no rig is open: call Open Rig first (e.g. in Suite Setup)")
        chosen = {"current": ring.current, "old": ring.previous, "new": ring.pending}
        if key not in chosen:
            raise ValueError(f"key must be current, old or new, got {key!r}")
        factory = chosen[key]
        if factory is None:
            what = "completed key change" if key == "old" else "Generate Key Change Tokens"
            raise ValueError(f"key={key} needs a {what} earlier in the suite")
        return factory

    def _remember(self, case: Case) -> str:
        self._cases[case.digits] = case
        logger.info(f"{case.label}: {case.digits}")
        return case.digits

    def _via(self, via: str | None) -> str | None:
        if via == "bulk":
            return "virtual_carrier" if self.rig.has("virtual_carrier") else None
        if via not in (None, "keypad", "virtual_carrier"):
            raise ValueError(f"via must be keypad, virtual_carrier or bulk, got {via!r}")
        return via

    def _now(self) -> ConformanceSession:
        """The test's session, made at its first bench action or check; its checks carry
        the test's ``req:<ID>`` tags."""
        if self._session is None:
            assert self._keys is not None
            try:
                tags = list(BuiltIn().get_variable_value("@{TEST TAGS}") or [])
            except RobotNotRunningError:
                tags = []
            reqs = [tag[4:] for tag in tags if tag.lower().startswith("req:")]
            self._session = ConformanceSession(self.rig, self._keys, self._evidence, reqs)
        return self._session

    def _enter(
        self, token: str, via: str | None, check_relay: bool
    ) -> tuple[TokenResult, CheckFailed | None]:
        digits = _digits(token)
        case = self._cases.get(digits) or Case(digits, None, "token given by the test")
        if digits in self._entered:
            case = dataclasses.replace(case, label=f"{case.label}, entered again")
        session = self._now()
        failure = None
        try:
            session.inject(case, via=self._via(via), check_relay=check_relay)
        except CheckFailed as exc:
            failure = exc
        step = self._evidence.steps[-1]
        result = TokenResult.from_label(step.observed_result)
        self._entered.add(digits)
        self._last = result
        self._credit_mark = step.credit_kwh - step.observed_credit_delta_kwh
        logger.info(
            f"{case.label}: the meter answered {result.label}; a conforming meter: "
            f"{step.expected_result}"
        )
        return result, failure

    # -- rig ------------------------------------------------------------------------------------
    @_kw()
    def open_rig(
        self,
        rig: str | None = None,
        defect: str | None = None,
        speed: float | None = None,
        probe_log: str | None = None,
        pool: str | None = None,
        pool_tags: str | None = None,
        lease_wait: float | None = None,
    ) -> None:
        """Opens the bench described by the rig file ``rig`` (default ``rigs/sim.yaml``).

        With ``pool`` (a pool file) the bench is leased instead: a free rig whose tags
        include ``pool_tags`` (``model=sim,firmware=2_1``; ``rig=NAME`` for one rig), kept
        until `Close Rig`; ``lease_wait`` is how long to wait for one (default 600 s). This is
        how parallel runs (pabot) share a pool. A lease lost meanwhile fails every keyword
        that uses the bench as a harness error.

        For a simulated bench (a rig file with a ``simulator:`` section) the simulator is
        started here and stopped by `Close Rig`. ``defect`` makes the simulated meter
        non-conforming (a defect profile name such as ``accepts_replays``; ``${None}`` for a
        conforming one). ``speed`` overrides the simulator clock speed. ``probe_log``
        appends every probe line to that file.

        A relative ``rig`` path is taken from the working directory, else from the
        repository root. An already open bench is closed first.

        | Open Rig    rigs/sim.yaml    defect=${DEFECT}
        """
        if self._rig is not None:
            self.close_rig()
        hold = None
        if pool:
            wait = DEFAULT_WAIT_S if lease_wait is None else float(lease_wait)
            hold = LeaseHold(resolve_rig_path(pool), _tags(pool_tags), wait_s=wait)
            lease = hold.acquire()
        try:
            opened = Rig.open(
                resolve_rig_path(lease.rig_file if hold else rig),
                defect=defect or None,
                speed=speed,
                log_path=Path(probe_log) if probe_log else None,
                name=lease.rig if hold else None,
                bindings=lease.bindings if hold else None,
            )
        except BaseException:
            if hold is not None:
                hold.release()
            raise
        self._hold = hold
        try:
            spec = opened.meter
            start = max(
                _TID_CURSOR.get(spec.pan, 0),
                tid_from_datetime(datetime.now(UTC), spec.base_date),
            )
            vending_key = (
                spec.vending_key.load(
                    "vending key", (160,) if spec.dkga == 4 else (64, 128), opened.base
                )
                if spec.vending_key
                else None
            )
            base = TokenFactory(
                spec.meter_pan,
                spec.key_info,
                spec.load_decoder_key(opened.base),
                vending_key=vending_key,
                tid_start=start,
                sta_tables=spec.tables(opened.base),
            )
            self._keys = KeyRing(base)
            self._rig, self._defect = opened, defect or None
            self._forget_meter_state()
            RUN.rig_opened(opened, self._defect)
        except BaseException:
            self._rig = None
            opened.close()
            self._release()
            raise
        logger.info(f"rig {opened.name}: meter {opened.serial}, features {opened.features}")

    def _release(self) -> None:
        hold, self._hold = self._hold, None
        if hold is not None:
            hold.release()

    @_kw()
    def close_rig(self) -> None:
        """Closes the bench: relays off, ports closed, simulator stopped. Safe to call twice."""
        rig, self._rig = self._rig, None
        if rig is None:
            return
        if self._keys is not None:
            _TID_CURSOR[rig.serial] = self._keys.cursor + 10
        RUN.rig_closed(rig)
        try:
            rig.close()
        finally:
            self._release()

    @_kw()
    def reset_meter(self) -> None:
        """Puts the meter back in its factory state (test firmware's RESET STATE): no
        credit, empty TID memory, the rig file's key; supply on and no load on the bench.

        Use it as ``Test Setup`` so every test starts from the same state."""
        self.rig.reset_state()
        self._forget_meter_state()

    def _forget_meter_state(self) -> None:
        if self._keys is not None:
            self._keys.reset()
        self._entered = set()
        self._session = None
        self._last = None
        self._credit_mark = None

    @_kw()
    def require_rig_feature(self, *features: str) -> None:
        """Skips the test unless the rig has all these features (``keypad``,
        ``virtual_carrier``, ``power_control``, ``load_control``, ``relay_sensing``,
        ``fault_injection``)."""
        missing = [f for f in features if not self.rig.has(f)]
        if missing:
            raise SkipExecution(f"rig {self.rig.name} lacks feature {', '.join(missing)}")

    @_kw()
    def rig_has_feature(self, feature: str) -> bool:
        """Returns ``${True}`` if the rig has ``feature`` (see `Require Rig Feature`)."""
        return self.rig.has(feature)

    # -- tokens -----------------------------------------------------------------------------------
    @_kw()
    def generate_credit_token(self, kwh: float, kind: int = 0, key: str = "current") -> str:
        """Returns a credit token (class 0) for ``kwh`` kWh, a multiple of 0.1.

        ``kind`` is the register: 0 electricity, 1 water, 2 gas, 3 time. ``key``:
        ``current``, ``old`` or ``new`` (see `Tokens`).

        | ${token} =    Generate Credit Token    25.6
        """
        return self._remember(self._factory(key).credit(_units(kwh), kind=kind))

    @_kw()
    def generate_replay_of(self, token: str) -> str:
        """Returns ``token`` itself, to enter it a second time (a replay).

        Only a name for the intent: entering the same token twice is the replay. The
        evidence labels the second entry as entered again."""
        digits = _digits(token)
        logger.info(f"replay of {self._cases[digits].label if digits in self._cases else digits}")
        return digits

    @_kw()
    def generate_wrong_meter_token(self) -> str:
        """Returns a credit token for another meter (the next DRN): the meter must refuse
        it (CRC)."""
        return self._remember(self._factory().wrong_meter())

    @_kw("Generate Wrong SGC Token")
    def generate_wrong_sgc_token(self) -> str:
        """Returns a credit token under another supply group code's key (refused: CRC)."""
        return self._remember(self._factory().wrong_sgc())

    @_kw("Generate Wrong TI Token")
    def generate_wrong_ti_token(self) -> str:
        """Returns a credit token under another tariff index's key (refused: CRC)."""
        return self._remember(self._factory().wrong_ti())

    @_kw("Generate Wrong KRN Token")
    def generate_wrong_krn_token(self) -> str:
        """Returns a credit token under another key revision's key (refused: CRC)."""
        return self._remember(self._factory().wrong_krn())

    @_kw()
    def generate_wrong_vending_key_token(self) -> str:
        """Returns a credit token under a key derived from another vending key (refused:
        CRC)."""
        return self._remember(self._factory().wrong_vending_key())

    @_kw()
    def generate_mistyped_token(self, token: str | None = None) -> str:
        """Returns ``token`` (default: a fresh credit token) with one digit changed so that
        its CRC fails, as a customer's typo would (refused: CRC)."""
        base = self._cases.get(_digits(token)) if token else None
        if token and base is None:
            base = Case(_digits(token), None, "token given by the test")
        return self._remember(self._factory().mistyped(base))

    @_kw()
    def generate_swapped_token(self, token: str | None = None) -> str:
        """Returns ``token`` (default: a fresh credit token) with two adjacent digits
        swapped so that its CRC fails (refused: CRC)."""
        base = self._cases.get(_digits(token)) if token else None
        if token and base is None:
            base = Case(_digits(token), None, "token given by the test")
        return self._remember(self._factory().swapped(base))

    @_kw()
    def generate_power_limit_token(self, watts: int, key: str = "current") -> str:
        """Returns a SetMaximumPowerLimit token (class 2) for ``watts``."""
        return self._remember(self._factory(key).power_limit(watts))

    @_kw()
    def generate_clear_credit_token(self, key: str = "current") -> str:
        """Returns a ClearCredit token (class 2) for all registers."""
        return self._remember(self._factory(key).clear_credit())

    @_kw()
    def generate_clear_tamper_token(self, key: str = "current") -> str:
        """Returns a ClearTamperCondition token (class 2)."""
        return self._remember(self._factory(key).clear_tamper())

    @_kw()
    def generate_test_token(self, *tests: str, mfr_code: int | None = None) -> str:
        """Returns a class 1 InitiateMeterTest/Display token for these tests (``display``,
        ``load-switch``, ...; none given: all tests).

        ``mfr_code`` defaults to the meter's manufacturer code; another code must be
        refused (Mfr code).

        | ${token} =    Generate Test Token    display
        """
        return self._remember(self._factory().meter_test(*tests, mfr_code=mfr_code))

    @_kw()
    def generate_key_change_tokens(
        self,
        krn: int | None = None,
        order: str = "forward",
        rollover: bool = False,
        kt: int | None = None,
        ken: int | None = None,
    ) -> list[str]:
        """Returns the key change token set (2 or 4 sections) that changes the meter's key
        to key revision ``krn`` (default: the next revision), under the current key.

        ``order``: ``forward`` (sections 1, 2, ...), ``reverse``, or the section numbers
        separated by commas (``2,1``). ``rollover=True`` makes a TID rollover key change
        to the next base date. ``kt`` and ``ken`` change the key type and the key expiry
        number too.

        When the meter completes the set (2nd KCT), tokens with ``key=current`` use the new
        key and ``key=old`` the previous one; ``key=new`` selects the new key before that.

        | @{set} =    Generate Key Change Tokens    krn=2    order=reverse
        | FOR    ${section}    IN    @{set}
        |     Enter Token And Expect    ${section}
        | END
        | Token Result Should Be    2nd KCT
        """
        factory = self._factory()
        info = factory.info
        changes: dict[str, int] = {"krn": krn if krn is not None else info.krn % 9 + 1}
        if kt is not None:
            changes["kt"] = kt
        if ken is not None:
            changes["ken"] = ken
        if rollover:
            if info.base_year not in NEXT_BASE_DATE:
                raise ValueError(f"base date {info.base_year} has no later base date")
            changes["base_year"] = NEXT_BASE_DATE[info.base_year]
        new = dataclasses.replace(info, **changes)
        sections = list(range(1, (4 if info.key_bits == 128 else 2) + 1))
        if order == "forward":
            wanted = sections
        elif order == "reverse":
            wanted = sections[::-1]
        else:
            wanted = [int(part) for part in re.split(r"[,\s]+", order.strip()) if part]
            if sorted(wanted) != sections:
                raise ValueError(f"order {order!r} must name each of sections {sections} once")
        assert self._keys is not None
        ordered = self._keys.key_change(new, order=wanted, rollover=rollover)
        return [self._remember(case) for case in ordered]

    # -- entering tokens ------------------------------------------------------------------------
    @_kw()
    def enter_token(self, token: str, via: str | None = None) -> str:
        """Enters ``token`` once and returns the meter's result name (``Accept``, ``Used``,
        ``CRC``, ``1st KCT``, ...). Never retried: entering a token twice is a replay.

        Does not judge the result (see `Token Result Should Be` and `Enter Token And
        Expect`), but the oracle sees the token too, and the evidence records what a
        conforming meter would have done. ``via``: see `Entry path`.
        """
        result, failure = self._enter(token, via, check_relay=True)
        if failure is not None:
            logger.info(f"the meter differs from a conforming meter: {failure}")
        return result.label

    @_kw()
    def enter_token_and_expect(
        self,
        token: str,
        expected: str | None = None,
        via: str | None = None,
        check_relay: bool = True,
    ) -> str:
        """Enters ``token`` once and checks the meter against a conforming meter (the
        oracle): result code, credit change and relay. Returns the result name.

        Fails with the conformance message (what the meter did, what the standard requires)
        when the meter differs from the oracle. ``expected`` (a result name such as
        ``Accept``, ``Used``, ``CRC``, ``1st KCT``) is what the test expects in addition;
        it is checked before entering, so a misspelt name does not spend the token.
        ``check_relay=False`` skips the relay comparison (a load-switch test opens it for
        a while).

        | Enter Token And Expect    ${token}    Used
        """
        wanted = _result(expected) if expected else None
        result, failure = self._enter(token, via, check_relay=check_relay)
        if failure is not None:
            raise failure
        if wanted is not None and result is not wanted:
            raise KeywordUsageError(
                f"the test expects {wanted.label}, but the meter answered {result.label} "
                "as a conforming meter does: the test's expectation is wrong"
            )
        return result.label

    @_kw()
    def token_result_should_be(self, expected: str) -> None:
        """Checks the result of the last token this suite entered (``Accept``, ``Used``,
        ``CRC``, ...); before any, the meter's last-token-result register."""
        wanted = _result(expected)
        if self._last is not None:
            actual = self._last
        else:
            code = self.rig.read_token_result().get("code")
            actual = TokenResult(int(code)) if code is not None else TokenResult.RESERVED
        self._now().check(None, "token result", expected=wanted.label, observed=actual.label,
                          ok=actual is wanted)  # fmt: skip

    # -- credit -----------------------------------------------------------------------------------
    @_kw()
    def read_credit(self) -> float:
        """Returns the meter's credit in kWh."""
        return self.rig.read_credit()

    @_kw()
    def credit_should_be(self, kwh: float, tolerance: float = 0.001) -> None:
        """Checks that the meter's credit is ``kwh`` kWh, at the resolution the meter declares
        (read rounded down, docs/probe-protocol.md), plus ``tolerance``."""
        session = self._now()
        credit = self.rig.read_credit()
        session.check(None, "credit (kWh)", expected=f"{kwh:.3f}", observed=f"{credit:.3f}",
                      ok=session.credit.reading_ok(kwh, credit, tolerance),
                      tolerance=session.credit.describe(tolerance))  # fmt: skip

    @_kw()
    def remember_credit(self) -> float:
        """Reads the credit and keeps it as the base of `Credit Should Increase By`."""
        self._credit_mark = self.rig.read_credit()
        return self._credit_mark

    @_kw()
    def credit_should_increase_by(self, kwh: float, tolerance: float = 0.001) -> None:
        """Checks that the credit rose by ``kwh`` kWh since the last token entered or the
        last `Remember Credit`, whichever came later."""
        if self._credit_mark is None:
            raise RuntimeError("no base: enter a token or call Remember Credit first")
        session = self._now()
        credit = self.rig.read_credit()
        delta = credit - self._credit_mark
        session.check(None, "credit change (kWh)", expected=f"{kwh:+.3f}",
                      observed=f"{delta:+.3f} (to {credit:.3f})",
                      ok=session.credit.change_ok(kwh, delta, tolerance),
                      tolerance=session.credit.describe(tolerance))  # fmt: skip

    # -- relay ------------------------------------------------------------------------------------
    def _relay(self, closed: bool, reason: str | None) -> None:
        actual, why = self.rig.read_relay()
        state = "closed" if actual else f"open ({why or 'no reason'})"
        want = "closed" if closed else f"open ({reason})" if reason else "open"
        ok = actual == closed and (reason is None or closed or why == reason)
        self._now().check(None, "load relay (the meter's word)", expected=want, observed=state,
                          ok=ok)  # fmt: skip

    @_kw()
    def relay_should_be_open(self, reason: str | None = None) -> None:
        """Checks that the meter reports its load relay open (supply off), for ``reason``
        (``credit``, ``power_limit``, ``tamper``, ...) when given."""
        self._relay(False, reason)

    @_kw()
    def relay_should_be_closed(self) -> None:
        """Checks that the meter reports its load relay closed (supply on)."""
        self._relay(True, None)

    def _sensed(self, closed: bool) -> None:
        self._now().sense_relay(closed)

    @_kw()
    def relay_should_be_sensed_open(self) -> None:
        """Checks with the DMM on the load side (not the meter's word) that the relay is
        open. Needs the ``relay_sensing`` feature."""
        self._sensed(False)

    @_kw()
    def relay_should_be_sensed_closed(self) -> None:
        """Checks with the DMM on the load side (not the meter's word) that the relay is
        closed. Needs the ``relay_sensing`` feature."""
        self._sensed(True)

    # -- meter state ------------------------------------------------------------------------------
    @_kw()
    def meter_state_should_conform(self, what: str = "state") -> None:
        """Checks credit, relay and TID memory against the conforming meter (the oracle);
        ``what`` names the moment in the message and the evidence."""
        self._now().check_state(what)

    @_kw()
    def get_meter_info(self) -> dict[str, str]:
        """Returns the meter's INFO fields (``krn``, ``sgc``, ``base_date``, ...), read now."""
        return dict(self.rig.info(refresh=True))

    @_kw()
    def meter_info_should_match(self, **fields: str) -> None:
        """Checks INFO fields read from the meter now; numbers compare as numbers.

        | Meter Info Should Match    krn=2    base_date=2014
        """
        info = self.rig.info(refresh=True)
        wrong = [
            f"{name} is {info.get(name, '(missing)')}, expected {value}"
            for name, value in fields.items()
            if not _same(value, info.get(name, ""))
        ]
        self._now().check(None, "meter INFO", expected=", ".join(f"{k}={v}" for k, v in
                          fields.items()), observed="; ".join(wrong) or "as expected",
                          ok=not wrong)  # fmt: skip

    # -- bench ------------------------------------------------------------------------------------
    @_kw()
    def set_load(self, watts: float) -> None:
        """Sets the load on the meter's output to ``watts`` (electronic load or reference
        load). Meter events are looked for from here on (see `Wait For Meter Event`)."""
        self._now().set_load(watts)

    @_kw()
    def power_cycle_meter(self, off: timedelta = timedelta(seconds=0.5)) -> None:
        """Switches the meter's supply off for ``off`` and on again, and waits until it
        answers. Needs the ``power_control`` feature."""
        self._now().power_cycle(off_s=off.total_seconds())

    @_kw()
    def mark_meter_events(self) -> None:
        """Forgets the meter events seen so far: `Wait For Meter Event` looks from here on.
        (Token entry, `Set Load` and `Power Cycle Meter` mark by themselves.)"""
        self.rig.mark()

    @_kw()
    def wait_for_meter_event(
        self,
        event: str,
        timeout: timedelta = timedelta(seconds=5),
        **fields: str,
    ) -> None:
        """Waits for the meter to push ``event`` with these fields on its probe, since the
        last mark (token entry, `Set Load`, `Power Cycle Meter`, `Mark Meter Events`). For
        the events a meter must push (docs/probe-protocol.md); a missing one is the meter's
        failure. For the relay use `Wait For Relay`, which also polls.

        | Wait For Meter Event    TEST_ENDED    timeout=10s
        """
        self._now().await_event(event, timeout_s=timeout.total_seconds(), **fields)

    @_kw()
    def wait_for_relay(self, state: str, timeout: timedelta = timedelta(seconds=5)) -> None:
        """Waits until the meter reports its relay ``open`` or ``closed``, by its
        RELAY_CHANGED event where it pushes one and by polling GET RELAY where it does not.

        | Wait For Relay    open    timeout=5s
        """
        if state not in ("open", "closed"):
            raise ValueError(f"state must be open or closed, got {state!r}")
        self._now().await_relay(state == "closed", timeout_s=timeout.total_seconds())

    @_kw()
    def run_credit_out(self) -> None:
        """Draws the largest load the rig declares (``capabilities.load_max_w``) until the
        credit is used up, and checks that the relay opened when energy / power says, within
        the meter's declared metering error and a margin. Waits real time: size the credit
        to the bench (0.1 kWh at 3600 W takes 100 s)."""
        self._now().run_credit_out()

    @_kw()
    def let_meter_time_pass(self, duration: timedelta) -> None:
        """Lets ``duration`` of meter time pass (real time on a real meter: the rig's
        declared clock rate)."""
        self._now().let_time_pass(duration.total_seconds())

    @_kw()
    def note_evidence(self, text: str) -> None:
        """Adds ``text`` to the test's evidence notes (shown in the run record)."""
        self._evidence.note(text)

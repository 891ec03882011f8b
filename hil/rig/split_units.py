"""The handles of a split rig's units: the CIU (its keys and its readback) and each meter
(its probe). ``hil.rig.split_rig.SplitRig`` builds them; tests use them as ``rig.ciu`` and
``rig.meters[name]``.

The CIU is read through the CIU readback protocol (docs/split-meters.md), a meter through
the probe protocol (docs/probe-protocol.md). A token is typed once and never retried: a
communication failure is an outcome of its own, and re-entry is the test's decision.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from hil.errors import ConfigError, ReplyTimeout
from hil.meter.profile import MeterProfile
from hil.meter.results import TokenResult
from hil.probe.protocol import Event
from hil.rig.config import CiuConfig, SplitMeterSpec
from hil.rig.drivers.keypad import KeypadDriver
from hil.rig.drivers.probe import NotOffered, ProbeClient
from hil.sts.keys import DecoderKey

MESSAGE_SCREENS = frozenset({"result", "comms_failure", "number", "pair_ok", "pair_failed"})
ANSWERS = ("CIU_RESULT", "CIU_COMMS_FAILURE")
PAIR_ANSWERS = ("CIU_PAIRED", "CIU_PAIR_FAILED")
SHOW_EVENT_S = 1.0  # wall seconds to wait for CIU_NUMBER after the show code's ENTER


@dataclass(frozen=True)
class CiuOutcome:
    """What the CIU showed for one entry: the meter's result, or a communication failure
    (``comms_failure`` names why: ``no_answer``, ``short``, ``not_paired``), never both."""

    result: TokenResult | None
    comms_failure: str | None
    credit_wh: int | None
    elapsed_s: float

    @property
    def accepted(self) -> bool:
        return self.result is not None and self.result.accepted


@dataclass(frozen=True)
class PairOutcome:
    paired: bool
    number: str
    reason: str  # empty when paired


@dataclass(frozen=True)
class CiuDisplay:
    """``GET DISPLAY`` of the CIU readback."""

    powered: bool
    screen: str
    entry: str
    result: TokenResult | None
    credit_wh: int | None
    number: str | None
    link: str
    low_credit: bool
    busy: bool

    @classmethod
    def from_fields(cls, f: Mapping[str, str]) -> CiuDisplay:
        def num(key: str) -> int | None:
            value = f.get(key, "")
            return int(value) if value.isdigit() else None

        code = num("result")
        return cls(
            powered=f.get("powered") == "1",
            screen=f.get("screen", ""),
            entry=f.get("entry", ""),
            result=None if code is None else TokenResult(code),
            credit_wh=num("credit_wh"),
            number=f.get("number") or None,
            link=f.get("link", ""),
            low_credit=f.get("low_credit") == "1",
            busy=f.get("busy") == "1",
        )


class CiuHandle:
    """The CIU: keys through the relay board, what it shows through its readback."""

    def __init__(
        self,
        config: CiuConfig,
        probe: ProbeClient,
        keypad: KeypadDriver | None,
        *,
        numbers: Mapping[str, str],
        answer_timeout_s: float,
    ) -> None:
        self.config = config
        self.probe = probe
        self.keypad = keypad
        self._numbers = dict(numbers)  # unit name -> meter number
        self.answer_timeout_s = answer_timeout_s

    # -- readback -------------------------------------------------------------------------
    def display(self) -> CiuDisplay:
        return CiuDisplay.from_fields(self.probe.request("GET DISPLAY", idempotent=True))

    @property
    def paired(self) -> str | None:
        return self.probe.request("GET PAIRED", idempotent=True).get("number") or None

    def link_state(self) -> str:
        return self.probe.request("GET LINK", idempotent=True)["state"]

    def settings(self) -> dict[str, str]:
        return self.probe.request("GET SETTINGS", idempotent=True)

    def set_setting(self, name: str, value: int) -> bool:
        """Set a CIU-local setting (``SET SETTING``, as the CIU's menu would). False when
        the readback does not offer it (an optional command)."""
        try:
            self.probe.request(f"SET SETTING {name} {int(value)}", idempotent=False)
        except NotOffered:
            return False
        return True

    def wait_powered(self, powered: bool, timeout_s: float) -> CiuDisplay:
        """What the CIU shows once its ``powered`` flag is as asked, or after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while (shown := self.display()).powered != powered and time.monotonic() < deadline:
            time.sleep(0.01)
        return shown

    def reset_state(self) -> None:
        self.probe.reset_state()
        self.probe.mark()

    def settle(self, timeout_s: float = 10.0) -> None:
        """Wait until the CIU takes keys: no request out, no message on hold."""
        deadline = time.monotonic() + timeout_s
        while True:
            shown = self.display()
            if not shown.busy and shown.screen not in MESSAGE_SCREENS | {"wait"}:
                return
            if time.monotonic() > deadline:
                raise ReplyTimeout(
                    f"CIU still shows {shown.screen} (busy={int(shown.busy)}) after {timeout_s} s"
                )
            time.sleep(0.01)

    # -- keys -----------------------------------------------------------------------------
    def press_keys(self, keys: Sequence[str], *, confirm: bool = True) -> None:
        """Keys on the CIU's keypad, each confirmed by its CIU_KEY event (``confirm``)."""
        keypad = self._keypad()
        if confirm:
            keypad.type_keys(keys)
        else:
            for key in keys:
                keypad.tap(key)

    def enter_token(
        self,
        digits: str,
        *,
        before_enter: Callable[[], None] | None = None,
        after_enter: Callable[[], None] | None = None,
    ) -> CiuOutcome:
        """Type ``digits`` and ENTER on the CIU: the CIU forwards it to the meter it is
        paired with. Returns what the CIU showed. Never retried. ``before_enter`` runs
        between the last digit and ENTER, ``after_enter`` once the CIU took ENTER (its
        request is out): a link disturbance at that moment, for example."""
        entry = digits.replace(" ", "").replace("-", "")
        return self.enter_keys(entry, before_enter=before_enter, after_enter=after_enter)

    def enter_keys(
        self,
        entry: str,
        *,
        before_enter: Callable[[], None] | None = None,
        after_enter: Callable[[], None] | None = None,
    ) -> CiuOutcome:
        """Any digits and ENTER (a short entry is forwarded too: the meter judges it)."""
        self.settle()
        self.probe.mark()
        start = time.monotonic()
        self.press_keys(list(entry))
        if before_enter is not None:
            before_enter()
        self.press_keys(["ENTER"])
        if after_enter is not None:
            after_enter()
        event = self._expect_any(ANSWERS)
        elapsed = time.monotonic() - start
        if event.name == "CIU_COMMS_FAILURE":
            return CiuOutcome(None, event.fields.get("reason", ""), None, elapsed)
        code = event.fields.get("code", "")
        credit = event.fields.get("credit_wh", "")
        return CiuOutcome(
            TokenResult(int(code)), None, int(credit) if credit.isdigit() else None, elapsed
        )

    def pair(self, meter: str) -> PairOutcome:
        """Pair with a meter by its number (or unit name): pair code, number, ENTER."""
        number = self._numbers.get(meter, meter)
        self.settle()
        self.probe.mark()
        self.press_keys([*self.config.pair_code, *number, "ENTER"])
        event = self._expect_any(PAIR_ANSWERS)
        if event.name == "CIU_PAIRED":
            return PairOutcome(event.fields.get("number") == number, number, "")
        return PairOutcome(False, number, event.fields.get("reason", ""))

    def show_paired(self) -> str | None:
        """Key the show code: the number the CIU shows (None when it shows none). Read
        from its CIU_NUMBER event: the screen is held only briefly; a readback without
        that optional event is read from GET DISPLAY at once."""
        self.settle()
        self.probe.mark()
        self.press_keys([*self.config.show_code, "ENTER"])
        deadline = time.monotonic() + SHOW_EVENT_S
        while time.monotonic() < deadline:
            for event in self.probe.drain_events():
                if event.name == "CIU_NUMBER":
                    return event.fields.get("number") or None
            time.sleep(0.005)
        shown = self.display()
        return shown.number if shown.screen == "number" else None

    def _expect_any(self, names: tuple[str, ...]) -> Event:
        deadline = time.monotonic() + self.answer_timeout_s
        while True:
            for event in self.probe.drain_events():
                if event.name in names:
                    return event
            if time.monotonic() > deadline:
                raise ReplyTimeout(
                    f"CIU at {self.probe.url}: no {' or '.join(names)} within "
                    f"{self.answer_timeout_s:g} s: is the CIU powered, its readback wired?"
                )
            time.sleep(0.005)

    def _keypad(self) -> KeypadDriver:
        if self.keypad is None:
            raise ConfigError("this split rig has no CIU keypad: add ciu.keypad and a relay board")
        return self.keypad


class MeterHandle:
    """One meter (measurement unit) of a split rig, read through its own probe."""

    def __init__(
        self, spec: SplitMeterSpec, probe: ProbeClient, profile: MeterProfile, base: Path | None
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self.number = spec.meter_pan.drn
        self.probe = probe
        self.profile = profile
        self._base = base

    @property
    def decoder_key(self) -> DecoderKey:
        """The meter's key (from the rig file's key source), to make its tokens."""
        return self.spec.load_decoder_key(self._base)

    def info(self) -> dict[str, str]:
        return self.probe.info()

    def read_credit(self) -> float:
        return self.probe.credit_kwh()

    def read_tid_memory(self) -> list[int]:
        return self.probe.tid_memory()

    def read_token_result(self) -> dict[str, int | str | None]:
        return self.probe.token_result()

    def read_relay(self) -> tuple[bool, str]:
        return self.probe.relay()

    def read_lockout(self) -> Mapping[str, bool | float | int]:
        return self.probe.lockout()

    def wait_for(self, name: str, timeout_s: float = 5.0, **fields: str) -> Event:
        return self.probe.expect(name, fields=fields or None, timeout_s=timeout_s)

    def mark(self) -> None:
        self.probe.mark()

    def reset_state(self) -> None:
        self.probe.reset_state()
        self.probe.mark()

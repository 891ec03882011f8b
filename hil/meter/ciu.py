"""The customer interface unit (CIU) of a split meter: a pure model of a remote keypad.

Rules (real-meters.md §5, one maker's manual each; docs/split-meters.md has the table):

* The CIU does not decrypt. It collects an entry like the meter's own keypad does and sends
  every submitted entry to the meter it is paired with; the meter decides. So a token made
  for another meter is judged by the paired meter (CRC) and never reaches the other one.
* Pairing: the pairing code followed by the meter's 11- or 13-digit number, then ENTER. The
  pairing holds only when that meter answers ("OK"); otherwise the old pairing stays. The
  show code displays the paired number.
* It shows the result and credit the meter returns, with an accept or a reject tone. A request
  that gets no answer after the link's retries shows a communication failure, never a result:
  the meter may or may not have applied the token, and only re-entry can tell (Accept or Used).
* Link state as one maker's LED shows it: ``ok``, ``no_communication`` (no answer) and
  ``short`` (sensed on the line; the CIU does not send into a short).
* Its own power: without supply (and without a battery) it shows nothing and sees no keys; an
  entry or request in progress is lost. CIU-local settings (its low-credit alarm) go back to
  their defaults at a power loss when the profile says they are volatile.

Pure like the meter model: every method takes ``at`` and returns events; the frames to put on
the link are taken with ``take_frames()``. The caller (``hil.meter.split``) carries them.

``defects`` (``hil.meter.split_defects``) makes the CIU break one of these rules on purpose,
for the split self-test; a CIU without defects follows all of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from hil.meter.entry import KEYS, KeyStep, type_key
from hil.meter.events import Event
from hil.meter.link import Delivery, Frame, LinkSpec
from hil.meter.results import TokenResult
from hil.meter.split_defects import SplitDefect
from hil.sts.errors import StsError
from hil.sts.identity import MeterPan

CIU_ADDRESS = "CIU"


class CiuEventName(StrEnum):
    KEY = "CIU_KEY"  # data: key, accepted, reason if ignored
    ENTRY_TIMEOUT = "CIU_ENTRY_TIMEOUT"
    SENT = "CIU_SENT"  # a request went out (data: kind, seq, try)
    RESULT = "CIU_RESULT"  # the meter's answer to a token (data: result, label, credit_wh)
    TONE = "CIU_TONE"  # data: tone (accept, reject)
    COMMS_FAILURE = "CIU_COMMS_FAILURE"  # data: kind, reason (no_answer, short)
    PAIRED = "CIU_PAIRED"  # data: number
    NUMBER = "CIU_NUMBER"  # the show code: data: number (empty when not paired)
    PAIR_FAILED = "CIU_PAIR_FAILED"  # data: number, reason
    LINK_STATE = "CIU_LINK_STATE"  # data: state
    POWER_FAIL = "CIU_POWER_FAIL"  # data: lost (entry, request, settings)
    POWER_UP = "CIU_POWER_UP"


class Screen(StrEnum):
    OFF = "off"
    CREDIT = "credit"  # the idle screen: the meter's last reported credit
    ENTRY = "entry"
    WAIT = "wait"  # a request is out, keys locked
    RESULT = "result"
    COMMS_FAILURE = "comms_failure"
    NUMBER = "number"  # the paired meter number (show code)
    PAIR_OK = "pair_ok"
    PAIR_FAILED = "pair_failed"


class CiuLinkState(StrEnum):
    OK = "ok"
    NO_COMMUNICATION = "no_communication"
    SHORT = "short"


@dataclass(frozen=True)
class CiuProfile:
    """What differs between CIU models. Defaults are one maker's behaviour where known."""

    pair_code: str = "800"  # maker-specific; the 11/13-digit number follows it
    show_code: str = "801"  # shows the paired number
    inter_digit_timeout_s: float = 20.0
    auto_submit_at_20: bool = False
    result_hold_s: float = 3.0  # result or message shown, keys ignored
    poll_s: float | None = None  # credit refresh by STATUS; None: only after a token
    battery_backup: bool = False  # keeps the CIU running without supply
    settings_volatile: bool = True  # local settings revert at a power loss (one maker)
    low_credit_alarm_wh: int = 0  # factory default of the local alarm; 0 is off

    def __post_init__(self) -> None:
        for code in (self.pair_code, self.show_code):
            if not code.isdigit() or not 1 <= len(code) <= 6:
                raise ValueError(f"CIU code {code!r} must be 1 to 6 digits")
        if self.pair_code == self.show_code:
            raise ValueError("CIU pair_code and show_code must differ")
        if self.poll_s is not None and self.poll_s <= 0:
            raise ValueError("CIU poll_s must be > 0 or None")


@dataclass(frozen=True)
class Display:
    """What the CIU shows. ``credit_wh`` is the meter's last report (None: never heard)."""

    screen: Screen
    entry: str = ""
    result: TokenResult | None = None
    credit_wh: int | None = None
    number: str | None = None
    link: CiuLinkState = CiuLinkState.OK
    low_credit: bool = False


@dataclass
class _Request:
    frame: Frame
    tries: int
    deadline: float
    target: str  # the number the request is for (a pairing asks a new number)
    resent: bool = False  # CIU_RESENDS_REJECTED_TOKEN: this is the second sending


@dataclass
class _Settings:
    low_credit_alarm_wh: int

    def as_dict(self) -> dict[str, int]:
        return {"low_credit_alarm_wh": self.low_credit_alarm_wh}


@dataclass
class _State:
    screen: Screen = Screen.CREDIT
    entry: str = ""
    entry_deadline: float | None = None
    hold_until: float | None = None
    result: TokenResult | None = None
    shown_number: str | None = None
    credit_wh: int | None = None
    link: CiuLinkState = CiuLinkState.OK
    request: _Request | None = None
    outbox: list[tuple[float, Frame]] = field(default_factory=list)


class CiuModel:
    def __init__(
        self,
        profile: CiuProfile | None = None,
        link: LinkSpec | None = None,
        *,
        paired: str | None = None,
        at: float = 0.0,
        defects: frozenset[SplitDefect] = frozenset(),
    ) -> None:
        self._profile = profile or CiuProfile()
        self._link = link or LinkSpec()
        self._paired = _number(paired) if paired is not None else None
        # Where tokens go: the paired number, except for CIU_KEEPS_OLD_PAIRING.
        self._route = self._paired
        self.defects = frozenset(defects)
        self._now = float(at)
        self._powered = True
        self._seq = 0
        self._poll_at = self._next_poll(at)
        self._settings = _Settings(self._profile.low_credit_alarm_wh)
        self._s = _State()

    # ------------------------------------------------------------------ readback

    @property
    def now(self) -> float:
        return self._now

    @property
    def profile(self) -> CiuProfile:
        return self._profile

    @property
    def paired(self) -> str | None:
        """The number of the meter tokens go to (kept at a power loss: non-volatile)."""
        return self._paired

    @property
    def routed_to(self) -> str | None:
        """The number tokens are sent to: ``paired`` on a conforming CIU."""
        return self._route

    @property
    def powered(self) -> bool:
        return self._powered

    @property
    def link_state(self) -> CiuLinkState:
        return self._s.link

    @property
    def settings(self) -> dict[str, int]:
        return self._settings.as_dict()

    @property
    def busy(self) -> bool:
        """A request is out and unanswered."""
        return self._s.request is not None

    @property
    def display(self) -> Display:
        s = self._s
        if not self._powered:
            return Display(Screen.OFF)
        alarm = self._settings.low_credit_alarm_wh
        low = s.credit_wh is not None and alarm > 0 and s.credit_wh < alarm
        return Display(
            screen=s.screen,
            entry=s.entry,
            result=s.result if s.screen is Screen.RESULT else None,
            credit_wh=s.credit_wh,
            number=s.shown_number if s.screen in (Screen.NUMBER, Screen.PAIR_OK) else None,
            link=s.link,
            low_credit=low,
        )

    @property
    def next_deadline(self) -> float | None:
        s = self._s
        times = [s.entry_deadline, s.hold_until, self._poll_at]
        if s.request is not None:
            times.append(s.request.deadline)
        due = [t for t in times if t is not None]
        return min(due) if due and self._powered else None

    def take_frames(self) -> list[tuple[float, Frame]]:
        """The frames to put on the link, with the time each was sent; empties the outbox."""
        out, self._s.outbox = self._s.outbox, []
        return out

    # ------------------------------------------------------------------ inputs

    def advance(self, at: float) -> list[Event]:
        if at < self._now:
            raise ValueError(f"CIU time went back: {at} < {self._now}")
        events: list[Event] = []
        while (due := self.next_deadline) is not None and due <= at:
            self._now = due
            self._fall_due(due, events)
        self._now = float(at)
        return events

    def press_key(self, key: str, at: float) -> list[Event]:
        if key not in KEYS:
            raise ValueError(f"unknown key {key!r}; keys are 0-9, ENTER and BACK")
        events = self.advance(at)
        if not self._powered:
            return events
        s = self._s
        reason = self._ignore_reason(key, at)
        if reason:
            events.append(
                Event(CiuEventName.KEY, at, {"key": key, "accepted": False, "reason": reason})
            )
            return events
        events.append(Event(CiuEventName.KEY, at, {"key": key, "accepted": True}))
        s.hold_until = None
        s.entry, submit = self._step(key)[1:]
        s.screen = Screen.ENTRY if s.entry else Screen.CREDIT
        if submit:
            entry, s.entry, s.entry_deadline = s.entry, "", None
            self._submit(entry, at, events)
        else:
            s.entry_deadline = at + self._profile.inter_digit_timeout_s if s.entry else None
        return events

    def receive(self, delivery: Delivery, at: float) -> list[Event]:
        """A frame the link delivered to the CIU. Garbled or unexpected frames are ignored:
        only the answer to the request that is out, from the unit it was sent to, counts."""
        events = self.advance(at)
        req = self._s.request
        frame = delivery.frame
        if (
            not self._powered
            or delivery.garbled
            or req is None
            or frame.seq != req.frame.seq
            or frame.src != req.target
        ):
            return events
        self._s.request = None
        self._set_link(CiuLinkState.OK, at, events)
        if req.frame.kind == "PAIR":
            self._paired_with(req.target, at, events)
        elif req.frame.kind == "TOKEN":
            if self._resends(req, TokenResult(int(frame.body["code"]))):
                # The defect: a reject sent again as a new request, so the meter counts twice.
                self._request("TOKEN", dict(req.frame.body), req.target, at, events, resent=True)
                return events
            self._show_result(frame, at, events)
        elif req.frame.kind == "STATUS":
            self._heard_credit(int(frame.body["credit_wh"]))
        return events

    def sense_line(self, shorted: bool, at: float) -> list[Event]:
        """The line voltage the CIU measures: a short is seen at once, and fails the request
        that is out (the CIU does not send into a short)."""
        events = self.advance(at)
        if not self._powered or SplitDefect.CIU_NO_SHORT_INDICATION in self.defects:
            return events  # that CIU has no line sensing: a short is only silence to it
        if shorted:
            self._set_link(CiuLinkState.SHORT, at, events)
            if self._s.request is not None:
                self._fail(self._s.request, "short", at, events)
        elif self._s.link is CiuLinkState.SHORT:
            self._set_link(CiuLinkState.OK, at, events)
        return events

    def power_off(self, at: float) -> list[Event]:
        """Supply lost. With a battery the CIU runs on and nothing is lost."""
        events = self.advance(at)
        if not self._powered or self._profile.battery_backup:
            return events
        s = self._s
        lost = {"entry": s.entry, "request": s.request.frame.kind if s.request else None}
        if self._profile.settings_volatile and SplitDefect.CIU_KEEPS_VOLATILE_SETTINGS not in (
            self.defects
        ):
            lost["settings"] = self._settings.as_dict()
            self._settings = _Settings(self._profile.low_credit_alarm_wh)
        self._powered = False
        # The pairing is kept (non-volatile); what the meter last said is not.
        self._s = _State(credit_wh=None)
        events.append(Event(CiuEventName.POWER_FAIL, at, {"lost": lost}))
        return events

    def power_on(self, at: float) -> list[Event]:
        events = self.advance(at)
        if self._powered:
            return events
        self._powered = True
        if SplitDefect.CIU_FORGETS_PAIRING_AT_POWER_LOSS in self.defects:
            self._paired = self._route = None  # the defect: the pairing was not stored
        self._poll_at = self._next_poll(at)
        events.append(Event(CiuEventName.POWER_UP, at, {"paired": self._paired}))
        return events

    def set_setting(self, name: str, value: int, at: float) -> list[Event]:
        """A CIU-local setting (``low_credit_alarm_wh``), as its menu would set it."""
        events = self.advance(at)
        if name != "low_credit_alarm_wh":
            raise ValueError(f"unknown CIU setting {name!r}; known: low_credit_alarm_wh")
        if value < 0:
            raise ValueError(f"CIU setting {name} must be >= 0, got {value}")
        if self._powered:
            self._settings.low_credit_alarm_wh = int(value)
        return events

    # ------------------------------------------------------------------ internals

    def _ignore_reason(self, key: str, at: float) -> str:
        s = self._s
        if s.request is not None and s.request.frame.kind != "STATUS":
            return "waiting"  # a refresh poll does not lock the keys; a token or pairing does
        if s.hold_until is not None and at < s.hold_until:
            return "result_hold"
        return self._step(key).refused

    def _step(self, key: str) -> KeyStep:
        return type_key(self._s.entry, key, auto_submit_at_20=self._profile.auto_submit_at_20)

    def _submit(self, entry: str, at: float, events: list[Event]) -> None:
        p = self._profile
        if entry == p.show_code:
            self._message(Screen.NUMBER, at, number=self._paired)
            # Pushed too: the screen is held only result_hold_s, a reader may come later.
            events.append(Event(CiuEventName.NUMBER, at, {"number": self._paired or ""}))
            return
        rest = entry.removeprefix(p.pair_code)
        if entry.startswith(p.pair_code) and len(rest) in (11, 13):
            self._start_pairing(rest, at, events)
            return
        if self._route is None:
            # Nowhere to send it: a refusal shown by the CIU, not a meter result.
            self._fail_local("not_paired", "TOKEN", at, events)
            return
        self._request("TOKEN", {"digits": entry}, self._route, at, events)

    def _start_pairing(self, number: str, at: float, events: list[Event]) -> None:
        try:
            MeterPan.from_drn(number)
        except StsError:
            self._message(Screen.PAIR_FAILED, at)
            events.append(
                Event(CiuEventName.PAIR_FAILED, at, {"number": number, "reason": "check_digit"})
            )
            return
        if SplitDefect.CIU_RESTARTS_SEQ_ON_PAIRING in self.defects:
            self._seq = 0  # the contract says seq counts on; this CIU starts again
        self._request("PAIR", {"number": number}, number, at, events)

    def _request(
        self,
        kind: str,
        body: dict[str, str | int],
        target: str,
        at: float,
        events: list[Event],
        *,
        resent: bool = False,
    ) -> None:
        if self._s.link is CiuLinkState.SHORT:
            self._fail_local("short", kind, at, events)
            return
        self._seq = self._seq % 65535 + 1  # 1..65535, as the link contract says
        frame = Frame(CIU_ADDRESS, target, self._seq, kind, body)
        self._s.request = _Request(frame, 1, at + self._link.reply_timeout_s, target, resent)
        if kind != "STATUS":
            self._s.screen = Screen.WAIT
        self._send(frame, 1, at, events)

    def _send(self, frame: Frame, attempt: int, at: float, events: list[Event]) -> None:
        self._s.outbox.append((at, frame))
        events.append(
            Event(CiuEventName.SENT, at, {"kind": frame.kind, "seq": frame.seq, "try": attempt})
        )

    def _fall_due(self, at: float, events: list[Event]) -> None:
        s = self._s
        req = s.request
        if req is not None and req.deadline <= at:
            if req.tries <= self._link.retries:
                req.tries += 1
                req.deadline = at + self._link.reply_timeout_s
                self._send(req.frame, req.tries, at, events)  # same seq: the meter dedups
            else:
                self._fail(req, "no_answer", at, events)
        if s.entry_deadline is not None and s.entry_deadline <= at:
            events.append(Event(CiuEventName.ENTRY_TIMEOUT, at, {"digits": s.entry}))
            s.entry, s.entry_deadline, s.screen = "", None, Screen.CREDIT
        if s.hold_until is not None and s.hold_until <= at:
            s.hold_until = None
            if s.screen is not Screen.ENTRY:
                s.screen = Screen.CREDIT
        if self._poll_at is not None and self._poll_at <= at:
            self._poll_at = self._next_poll(at)
            if s.request is None and self._route is not None and s.link is not CiuLinkState.SHORT:
                self._request("STATUS", {}, self._route, at, events)

    def _fail(self, req: _Request, reason: str, at: float, events: list[Event]) -> None:
        self._s.request = None
        if reason == "no_answer":
            self._set_link(CiuLinkState.NO_COMMUNICATION, at, events)
        if req.frame.kind == "STATUS":
            return  # a failed refresh changes only the link state
        if (
            reason == "no_answer"
            and req.frame.kind == "TOKEN"
            and SplitDefect.CIU_FALSE_ACCEPT_ON_TIMEOUT in self.defects
        ):
            self._show(TokenResult.ACCEPT, at, events)  # the defect: silence taken as OK
            return
        self._fail_local(reason, req.frame.kind, at, events)

    def _fail_local(self, reason: str, kind: str, at: float, events: list[Event]) -> None:
        if kind == "PAIR":
            self._message(Screen.PAIR_FAILED, at)
            events.append(Event(CiuEventName.PAIR_FAILED, at, {"reason": reason}))
        else:
            self._message(Screen.COMMS_FAILURE, at)
            events.append(Event(CiuEventName.COMMS_FAILURE, at, {"kind": kind, "reason": reason}))
        events.append(Event(CiuEventName.TONE, at, {"tone": "reject"}))

    def _paired_with(self, number: str, at: float, events: list[Event]) -> None:
        if number != self._paired:
            self._s.credit_wh = None  # another meter's credit is not this one's
        self._paired = number
        if self._route is None or SplitDefect.CIU_KEEPS_OLD_PAIRING not in self.defects:
            self._route = number
        self._message(Screen.PAIR_OK, at, number=number)
        events.append(Event(CiuEventName.PAIRED, at, {"number": number}))

    def _resends(self, req: _Request, result: TokenResult) -> bool:
        return (
            SplitDefect.CIU_RESENDS_REJECTED_TOKEN in self.defects
            and not req.resent
            and not result.accepted
            and result not in (TokenResult.LOCKOUT, TokenResult.NOT_READY)
        )

    def _show_result(self, frame: Frame, at: float, events: list[Event]) -> None:
        if "credit_wh" in frame.body:
            self._heard_credit(int(frame.body["credit_wh"]))
        self._show(TokenResult(int(frame.body["code"])), at, events)

    def _heard_credit(self, credit_wh: int) -> None:
        if SplitDefect.CIU_STALE_CREDIT in self.defects and self._s.credit_wh is not None:
            return  # the defect: the first credit heard stays on the display
        self._s.credit_wh = credit_wh

    def _show(self, result: TokenResult, at: float, events: list[Event]) -> None:
        self._message(Screen.RESULT, at)
        self._s.result = result
        data: dict[str, Any] = {"result": int(result), "label": result.label}
        data["credit_wh"] = self._s.credit_wh
        events.append(Event(CiuEventName.RESULT, at, data))
        tone = "accept" if result.accepted else "reject"
        events.append(Event(CiuEventName.TONE, at, {"tone": tone}))

    def _message(self, screen: Screen, at: float, number: str | None = None) -> None:
        self._s.screen = screen
        self._s.shown_number = number
        self._s.hold_until = at + self._profile.result_hold_s

    def _set_link(self, state: CiuLinkState, at: float, events: list[Event]) -> None:
        # A sensed short is cleared only by the line itself (sense_line), not by silence.
        if self._s.link is CiuLinkState.SHORT and state is CiuLinkState.NO_COMMUNICATION:
            return
        if state is not self._s.link:
            self._s.link = state
            events.append(Event(CiuEventName.LINK_STATE, at, {"state": str(state)}))

    def _next_poll(self, at: float) -> float | None:
        return None if self._profile.poll_s is None else at + self._profile.poll_s


def _number(text: str) -> str:
    """A meter number as keyed (11 or 13 digits, check digit verified)."""
    return MeterPan.from_drn(text).drn

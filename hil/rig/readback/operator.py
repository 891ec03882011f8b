"""Readback by an operator (docs/drivers.md, "The operator"): a person reads the meter's
display and answers the harness's questions, the last resort for a meter with no other port.

What a person can tell: the credit on the display (at its resolution), whether the load is on,
and which message the meter showed for a token, one of the display map's result classes
(hil/data/displays). Not the TID memory, lockout state, key register or clock. Every answer
is journalled as a `Reading` with the operator's name and time; an operator who does not
answer in time ends the test in error.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from hil.errors import ConfigError
from hil.meter.results import TokenResult
from hil.probe.protocol import Event
from hil.rig.drivers.operator import (
    Operator,
    Question,
    ScriptedOperator,
    TerminalOperator,
    default_name,
)
from hil.rig.readback.base import (
    NO_FIRMWARE_LACKS,
    Identity,
    PolledEvents,
    Reading,
    RecordReading,
    TokenOutcome,
    WithoutTestFirmware,
    display_capabilities,
)

if TYPE_CHECKING:
    from hil.display.layout import DisplayMap
    from hil.rig.config import ReadbackResource
    from hil.rig.rig import Rig

RELAY = {"closed": "closed", "on": "closed", "open": "open", "off": "open"}


class OperatorReadback(WithoutTestFirmware):
    kind = "operator"

    def __init__(self, operator: Operator, display: DisplayMap, *, resolution_kwh: float | None,
                 timeout_s: float, record: RecordReading) -> None:  # fmt: skip
        self.operator, self.display, self.timeout_s = operator, display, timeout_s
        self._record = record
        self._events = PolledEvents()
        self.capabilities = display_capabilities(resolution_kwh)
        choices: dict[str, str] = {}
        for name, message in display.messages.items():
            choices[name.casefold()] = choices[message.text.casefold()] = name
        self._result_choices = choices  # a class name or the word the display shows

    def _ask(self, question: Question, extra_s: float = 0.0) -> str:
        answer = self.operator.ask(question, self.timeout_s + extra_s)
        self._record(Reading(question.reading, answer.text, self.kind, by=answer.operator,
                             at=answer.at))  # fmt: skip
        return answer.text

    # -- readings -----------------------------------------------------------------------
    def info(self) -> Identity:
        fields = {"readback": self.kind, "operator": self.operator.name,
                  "display": self.display.name}  # fmt: skip
        resolution = self.capabilities.credit_resolution_kwh
        if resolution is not None:
            fields["credit_resolution_kwh"] = f"{resolution:g}"
        return Identity(fields, readback=self.kind, lacks=NO_FIRMWARE_LACKS)

    def read_credit(self) -> float:
        return float(self._ask(Question(
            "credit", "Read the credit on the meter's display, in kWh.", number=True
        )))  # fmt: skip

    def read_relay(self) -> tuple[bool, str]:
        text = self._ask(Question(
            "relay", "Is the meter's load relay closed (load on) or open (load off)?", RELAY
        ))  # fmt: skip
        return text == "closed", ""

    def _result(self, prompt: str) -> str:
        return self._ask(Question("result", prompt, self._result_choices))

    def read_token_result(self) -> dict[str, int | str | None]:
        name = self._result("Which result message does the meter's display show now?")
        return {"code": None, "class": name, "accepted": int(self._accepted(name))}

    def _accepted(self, name: str) -> bool:
        return any(r.accepted for r in self.display.results_of(name))

    def result_class(self, result: TokenResult) -> str:
        return self.display.class_of(result)

    # -- waiting: the operator answers when it has happened -------------------------------
    def mark(self) -> None:
        pass  # a person is asked after the action: what they see comes after it

    def await_result(self, start: float, timeout_s: float) -> TokenOutcome:
        name = self._result("Which result message did the meter show for the token just "
                            "entered?")  # fmt: skip
        stand_in = TokenResult.ACCEPT if self._accepted(name) else TokenResult.RESERVED
        return TokenOutcome(stand_in, None, None, None, None, time.monotonic() - start,
                            result_class=name)  # fmt: skip

    def wait_for(self, name: str, timeout_s: float, fields: dict[str, str] | None) -> Event:
        """TOKEN_RESULT (the result message), RELAY_CHANGED (relay=closed/open) and
        POWER_UP (the display is on again), each as the operator sees it."""
        fields = dict(fields or {})
        if name == "TOKEN_RESULT":
            return self._events.event(name, name=self.await_result(time.monotonic(),
                                                                   timeout_s).label)  # fmt: skip
        if name == "RELAY_CHANGED":
            closed = self._watch_relay(fields.get("relay", "closed") == "closed", timeout_s)
            return self._events.event(name, relay="closed" if closed else "open")
        if name == "POWER_UP":
            self._ask(Question("power_up", "Answer 'on' once the meter's display is on again.",
                               {"on": "on", "yes": "on"}), extra_s=timeout_s)  # fmt: skip
            return self._events.event(name)
        raise self._lacks(f"the {name} event (an operator is not asked for it)")

    def _watch_relay(self, closed: bool, timeout_s: float) -> bool:
        want, other = ("closed", "open") if closed else ("open", "closed")
        text = self._ask(Question(
            "relay", f"Watch the load relay: answer '{want}' once it is {want}, or '{other}' "
            f"if it is still {other} after {timeout_s:g} s.", RELAY,
        ), extra_s=timeout_s)  # fmt: skip
        return text == "closed"

    def wait_relay(self, closed: bool, timeout_s: float, poll_s: float) -> float | None:
        start = time.monotonic()
        seen = self._watch_relay(closed, timeout_s)
        return time.monotonic() - start if seen == closed else None

    def reset_state(self) -> None:
        raise self._lacks("(reset) the meter state: an operator cannot")

    def close(self) -> None:
        self.operator.close()


def operator_for(rig: Rig, resource: ReadbackResource) -> Operator:
    """The operator the readback block names: a script of answers, or a person at the
    terminal."""
    spec = resource.operator
    if spec is None:
        raise ConfigError(f"rig {rig.name}: resources.readback: kind operator needs "
                          "operator: {name, script or none, answer_timeout_s}")  # fmt: skip
    if spec.script is not None:
        return ScriptedOperator.load(rig.base / spec.script)
    return TerminalOperator.open(spec.name or default_name())


def open_operator_readback(rig: Rig, resource: ReadbackResource) -> OperatorReadback:
    operator = operator_for(rig, resource)
    assert resource.operator is not None  # operator_for refused it otherwise
    return OperatorReadback(operator, resource.display_map(rig.base),
                            resolution_kwh=resource.credit_resolution_kwh,
                            timeout_s=resource.operator.answer_timeout_s,
                            record=rig.record_reading)  # fmt: skip

"""The operator as a device: a person at a terminal (a real pty here) and a scripted stand-in."""

from __future__ import annotations

import os
import select
import threading
import time
from pathlib import Path

import pytest

from hil.errors import BenchFault, ConfigError, ReplyTimeout
from hil.rig.drivers.operator import (
    OperatorScriptError,
    OperatorSilent,
    Question,
    ScriptedOperator,
    TerminalOperator,
)

RELAY = Question("relay", "Is the relay closed?", {"closed": "closed", "on": "closed",
                                                    "open": "open"})  # fmt: skip
CREDIT = Question("credit", "Read the credit.", number=True)


@pytest.fixture
def terminal():
    master, slave = os.openpty()
    yield master, TerminalOperator("Ada", slave, slave)
    os.close(master)
    os.close(slave)


def _read_all(fd: int, wait_s: float = 0.2) -> str:
    out = b""
    while select.select([fd], [], [], wait_s)[0]:
        out += os.read(fd, 4096)
    return out.decode(errors="replace")


def _type_later(fd: int, *lines: str, after_s: float = 0.05) -> threading.Thread:
    def typing() -> None:
        for line in lines:
            time.sleep(after_s)
            os.write(fd, line.encode() + b"\n")

    thread = threading.Thread(target=typing, daemon=True)
    thread.start()
    return thread


def test_terminal_operator_answers_a_number_and_is_named(terminal) -> None:
    master, operator = terminal
    _type_later(master, "12.5")
    answer = operator.ask(CREDIT, timeout_s=5)
    assert (answer.reading, answer.text, answer.operator) == ("credit", "12.5", "Ada")
    assert answer.at.endswith("+00:00") and 0 < answer.waited_s < 5
    assert "Read the credit." in _read_all(master)


def test_terminal_operator_asks_again_after_an_answer_that_is_not_offered(terminal) -> None:
    master, operator = terminal
    _type_later(master, "maybe", "ON")
    assert operator.ask(RELAY, timeout_s=5).text == "closed"  # the alias, case-insensitive
    assert "'maybe' is not closed/open" in _read_all(master)


def test_a_silent_terminal_operator_is_an_error_after_the_timeout(terminal) -> None:
    master, operator = terminal
    start = time.monotonic()
    with pytest.raises(OperatorSilent, match="no answer to 'relay' within 0.3 s") as caught:
        operator.ask(RELAY, timeout_s=0.3)
    assert 0.3 <= time.monotonic() - start < 2
    assert isinstance(caught.value, ReplyTimeout) and isinstance(caught.value, BenchFault)
    assert "no answer: the test ends in error" in _read_all(master)


def test_no_terminal_is_a_one_line_error_naming_the_script_option(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="operator.script") as caught:
        TerminalOperator.open("Ada", str(tmp_path / "no-such-tty"))
    assert "\n" not in str(caught.value)


def _script(tmp_path: Path, text: str) -> ScriptedOperator:
    path = tmp_path / "answers.yaml"
    path.write_text(text)
    return ScriptedOperator.load(path)


def test_scripted_operator_answers_in_order_and_the_same_every_time(tmp_path: Path) -> None:
    op = _script(tmp_path, "operator: CI\nanswers:\n  relay: on\n  credit: [0, 1.5]\n")
    assert [op.ask(RELAY, 1).text for _ in range(3)] == ["closed"] * 3
    answers = [op.ask(CREDIT, 1) for _ in range(2)]
    assert [(a.text, a.operator) for a in answers] == [("0", "CI"), ("1.5", "CI")]
    with pytest.raises(OperatorScriptError, match="no answer left for 'credit'"):
        op.ask(CREDIT, 1)


def test_scripted_operator_refuses_an_answer_that_does_not_fit(tmp_path: Path) -> None:
    op = _script(tmp_path, "answers:\n  relay: half\n  credit: lots\n")
    with pytest.raises(OperatorScriptError, match="'half' is not an answer to 'relay'"):
        op.ask(RELAY, 1)
    with pytest.raises(OperatorScriptError, match="a number"):
        op.ask(CREDIT, 1)


def test_a_silent_scripted_operator_waits_out_the_timeout(tmp_path: Path) -> None:
    op = _script(tmp_path, "answers:\n  relay: [closed, silent]\n")
    assert op.ask(RELAY, 1).text == "closed"
    start = time.monotonic()
    with pytest.raises(OperatorSilent, match="within 0.2 s"):
        op.ask(RELAY, 0.2)
    assert time.monotonic() - start >= 0.2


@pytest.mark.parametrize(
    "text", ["answers: [1, 2]\n", "operator: x\n", "answers:\n  credit: {a: 1}\n", "a: [\n"]
)
def test_a_broken_script_is_a_one_line_error(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError, match="answers.yaml: .*(operator script|YAML)") as caught:
        _script(tmp_path, text)
    assert "\n" not in str(caught.value)

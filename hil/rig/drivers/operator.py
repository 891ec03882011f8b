"""The operator as a device: a person at the bench who is asked what the meter shows, or a
script of answers standing in for one (docs/drivers.md, "The operator").

An operator answers a `Question` within a timeout or not at all: silence is an error of the
bench (`OperatorSilent`), never a guess and never a verdict on the meter. Every answer
carries who gave it and when, as evidence.
"""

from __future__ import annotations

import getpass
import os
import select
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from hil.errors import BenchFault, ConfigError, ReplyTimeout
from hil.yamlfile import read_yaml

SILENT = "silent"  # a scripted answer that never comes (how CI tests the timeout)


class OperatorSilent(ReplyTimeout):
    """The operator gave no answer before the timeout: the test's verdict is error."""


class OperatorScriptError(BenchFault):
    """A scripted operator has no fitting answer: the script is out of step with the run."""


@dataclass(frozen=True)
class Question:
    """What the operator is asked. ``reading`` names it (credit, relay, result, ...);
    ``choices`` maps each accepted answer (lower case) to the answer it stands for; a
    ``number`` question takes a decimal number; otherwise any text."""

    reading: str
    prompt: str
    choices: Mapping[str, str] = field(default_factory=dict)
    number: bool = False

    def accepts(self, text: str) -> str | None:
        """The answer ``text`` stands for, or None if it is not an answer to this."""
        text = text.strip()
        if self.number:
            try:
                float(text)
            except ValueError:
                return None
            return text
        if self.choices:
            return self.choices.get(text.casefold())
        return text or None

    def hint(self) -> str:
        if self.number:
            return "a number"
        return "/".join(dict.fromkeys(self.choices.values())) if self.choices else "text"


@dataclass(frozen=True)
class Answer:
    reading: str
    text: str
    operator: str
    at: str  # UTC, ISO 8601
    waited_s: float


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def default_name() -> str:
    """Who is at the bench: $HIL_OPERATOR, else the login name."""
    return os.environ.get("HIL_OPERATOR") or getpass.getuser()


class Operator(Protocol):
    name: str

    def ask(self, question: Question, timeout_s: float) -> Answer: ...

    def close(self) -> None: ...


class TerminalOperator:
    """A person at a terminal: the question is written to it, the answer read from it
    (the controlling terminal by default, so pytest's output capture does not hide it)."""

    def __init__(self, name: str, fd_in: int, fd_out: int, *, owns: bool = False) -> None:
        self.name, self.fd_in, self.fd_out, self._owns = name, fd_in, fd_out, owns

    @classmethod
    def open(cls, name: str, tty: str = "/dev/tty") -> TerminalOperator:
        try:
            fd = os.open(tty, os.O_RDWR | os.O_NOCTTY)
        except OSError as exc:
            raise ConfigError(
                f"readback operator: no terminal to ask the operator on ({tty}: "
                f"{exc.strerror}); run hil where an operator can answer, or give "
                "resources.readback.operator.script for answers from a file"
            ) from None
        return cls(name, fd, fd, owns=True)

    def _say(self, text: str) -> None:
        os.write(self.fd_out, text.encode())

    def ask(self, question: Question, timeout_s: float) -> Answer:
        start = time.monotonic()
        deadline = start + timeout_s
        self._say(f"\n[operator {self.name}] {question.prompt}\n"
                  f"  answer ({question.hint()}, within {timeout_s:g} s): ")  # fmt: skip
        while True:
            left = deadline - time.monotonic()
            ready = select.select([self.fd_in], [], [], max(0.0, left))[0] if left > 0 else []
            if not ready:
                self._say("\n  (no answer: the test ends in error)\n")
                raise OperatorSilent(f"operator {self.name}: no answer to {question.reading!r} "
                                     f"within {timeout_s:g} s ({question.prompt})")  # fmt: skip
            line = os.read(self.fd_in, 4096).decode(errors="replace")
            answer = question.accepts(line)
            if answer is not None:
                return Answer(question.reading, answer, self.name, _now(),
                              time.monotonic() - start)  # fmt: skip
            self._say(f"  {line.strip()!r} is not {question.hint()}; again: ")

    def close(self) -> None:
        if self._owns:
            os.close(self.fd_in)
            self._owns = False


def _scalar(value: object) -> bool:
    return isinstance(value, str | int | float)  # bool is an int


def _text(value: object) -> str:
    """YAML reads on/off/yes/no as booleans: back to the words a person would type."""
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


class ScriptedOperator:
    """Answers from a file, for CI and dry runs: each reading has one answer for every time
    it is asked, or a list used in order. ``silent`` answers nothing (the timeout runs out).

        operator: scripted (Ada)
        answers:
          relay: closed
          credit: [0, 1.5]
          result: [ACCEPTED, USED]
    """

    def __init__(self, name: str, answers: Mapping[str, str | list[str]], source: str) -> None:
        self.name, self.source = name, source
        self._answers = {k: (list(v) if isinstance(v, list) else v) for k, v in answers.items()}
        self._asked: dict[str, int] = {}

    @classmethod
    def load(cls, path: Path) -> ScriptedOperator:
        data, _ = read_yaml(path, "operator script")
        if not isinstance(data, dict) or not isinstance(data.get("answers"), dict):
            raise ConfigError(f"{path}: operator script needs a mapping 'answers:' of reading "
                              "-> answer or list of answers (docs/drivers.md)")  # fmt: skip
        answers: dict[str, str | list[str]] = {}
        for reading, value in data["answers"].items():
            if isinstance(value, list) and all(map(_scalar, value)):
                answers[str(reading)] = [_text(v) for v in value]
            elif _scalar(value):
                answers[str(reading)] = _text(value)
            else:
                raise ConfigError(f"{path}: operator script answers.{reading}: "
                                  "give a value or a list of values")  # fmt: skip
        name = str(data.get("operator") or f"scripted ({path.name})")
        return cls(name, answers, str(path))

    def _next(self, question: Question) -> str:
        n = self._asked.get(question.reading, 0)
        self._asked[question.reading] = n + 1
        given = self._answers.get(question.reading)
        if isinstance(given, str):
            return given
        if given is None or n >= len(given):
            raise OperatorScriptError(
                f"operator script {self.source}: no answer left for {question.reading!r} "
                f"(asked {n + 1} times; {question.prompt}): the script is out of step"
            )
        return given[n]

    def ask(self, question: Question, timeout_s: float) -> Answer:
        start = time.monotonic()
        text = self._next(question)
        if text.strip().casefold() == SILENT:
            time.sleep(timeout_s)
            raise OperatorSilent(f"operator {self.name}: no answer to {question.reading!r} "
                                 f"within {timeout_s:g} s ({question.prompt})")  # fmt: skip
        answer = question.accepts(text)
        if answer is None:
            raise OperatorScriptError(
                f"operator script {self.source}: {text!r} is not an answer to "
                f"{question.reading!r} ({question.hint()})"
            )
        return Answer(question.reading, answer, self.name, _now(), time.monotonic() - start)

    def close(self) -> None:
        pass

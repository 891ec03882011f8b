"""The operator readback: what a person is asked and how answers become readings and
evidence; a scripted operator through `hil run` on the simulated bench, and a silent one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hil.display.layout import builtin_display_map
from hil.meter.results import TokenResult
from hil.paths import RIGS
from hil.rig.drivers.operator import OperatorSilent, ScriptedOperator
from hil.rig.readback import NotReadable, Reading
from hil.rig.readback.operator import OperatorReadback


def _readback(tmp_path: Path, answers: str, timeout_s: float = 1.0) -> tuple[OperatorReadback,
                                                                               list[Reading]]:  # fmt: skip
    script = tmp_path / "answers.yaml"
    script.write_text("operator: Grace\nanswers:\n" + answers)
    readings: list[Reading] = []
    readback = OperatorReadback(ScriptedOperator.load(script), builtin_display_map(),
                                resolution_kwh=0.1, timeout_s=timeout_s,
                                record=readings.append)  # fmt: skip
    return readback, readings


def test_answers_become_readings_with_the_operator_and_time(tmp_path: Path) -> None:
    readback, readings = _readback(tmp_path, "  credit: [12.5]\n  relay: off\n")
    assert readback.read_credit() == 12.5
    assert readback.read_relay() == (False, "")
    assert [(r.what, r.value, r.source, r.by) for r in readings] == [
        ("credit", "12.5", "operator", "Grace"), ("relay", "open", "operator", "Grace")]  # fmt: skip
    assert all(r.at.endswith("+00:00") for r in readings)


def test_the_result_is_a_class_of_the_display_map_by_name_or_by_its_word(tmp_path: Path) -> None:
    display = builtin_display_map()
    word = display.messages["USED"].text
    readback, _ = _readback(tmp_path, f"  result: [accepted, {word}]\n")
    accepted = readback.await_result(0.0, 1.0)
    assert (accepted.result_class, accepted.result.accepted) == ("ACCEPTED", True)
    used = readback.await_result(0.0, 1.0)
    assert (used.result_class, used.result.accepted) == ("USED", False)
    assert readback.result_class(TokenResult.KCT2) == "ACCEPTED"
    assert readback.result_class(TokenResult.CRC) == "REJECTED"


def test_waiting_for_the_relay_asks_once_and_a_wrong_state_is_a_timeout(tmp_path: Path) -> None:
    readback, readings = _readback(tmp_path, "  relay: [open, closed]\n")
    assert readback.wait_relay(False, 5.0, 0.1) is not None
    assert readback.wait_relay(False, 5.0, 0.1) is None  # still closed: not seen to open
    assert len(readings) == 2


def test_an_operator_cannot_read_what_the_display_does_not_show(tmp_path: Path) -> None:
    readback, readings = _readback(tmp_path, "  relay: closed\n")
    caps = readback.capabilities
    assert (caps.result_codes, caps.tid_memory, caps.lockout, caps.clock) == (
        "classes", False, False, False)  # fmt: skip
    for read in (readback.read_tid_memory, readback.read_lockout, readback.read_clock):
        with pytest.raises(NotReadable, match="readback operator cannot read"):
            read()
    with pytest.raises(NotReadable):
        readback.info()["pan"]
    assert readings == []


def test_a_silent_operator_is_an_error_not_an_answer(tmp_path: Path) -> None:
    readback, readings = _readback(tmp_path, "  credit: silent\n", timeout_s=0.2)
    with pytest.raises(OperatorSilent):
        readback.read_credit()
    assert readings == []


def _operator_rig(tmp_path: Path, answers: dict[str, object], timeout_s: float) -> Path:
    """The simulated bench with no probe: tokens typed on the keypad through the relay
    board, every reading from a scripted operator."""
    text = (RIGS / "sim.yaml").read_text()
    text = text.replace("name: sim\n", "name: sim-operator\n")
    text = text.replace("features: [keypad, virtual_carrier,", "features: [keypad,")
    text = text.replace(
        "\nsimulator:",
        "\n  readback:\n    kind: operator\n    operator:\n      script: answers.yaml\n"
        f"      answer_timeout_s: {timeout_s}\n\nsimulator:",
    )
    (tmp_path / "answers.yaml").write_text(
        json.dumps({"operator": "scripted (CI)", "answers": answers}))  # fmt: skip
    path = tmp_path / "sim-operator.yaml"
    path.write_text(text)
    return path


ONE_TOKEN = "test_amount_boundary and 1 and not 16 and not 18"  # [1]: 0.1 kWh


def _run(rig: Path, out: Path, *select: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hil", "run", "--rig", str(rig), "--suite", "credit",
         "--no-robot", "--out", str(out), *select],
        capture_output=True, text=True, timeout=240, cwd=rig.parent,
    )  # fmt: skip


def _record(out: Path) -> dict:
    return json.loads(next(out.rglob("record.json")).read_text())


def test_a_scripted_operator_run_passes_with_its_answers_as_evidence(tmp_path: Path) -> None:
    rig = _operator_rig(tmp_path, {"relay": "closed", "credit": [0, 0, 0.1, 0.1],
                                   "result": ["ACCEPTED"]}, timeout_s=5)  # fmt: skip
    out = tmp_path / "reports"
    run = _run(rig, out, "-k", ONE_TOKEN)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    record = _record(out)
    assert record["verdict"] == "pass"
    (test,) = record["tests"]
    readings = test["readings"]
    assert {r["what"] for r in readings} >= {"credit", "result"}
    assert all(r["by"] == "scripted (CI)" and r["source"] == "operator" for r in readings)
    html = next(out.rglob("report.html")).read_text()
    assert "Readings:" in html and "scripted (CI)" in html


def test_a_silent_operator_ends_the_test_in_error_never_a_fail(tmp_path: Path) -> None:
    rig = _operator_rig(tmp_path, {"relay": "closed", "credit": [0, 0], "result": "silent"},
                        timeout_s=0.5)  # fmt: skip
    out = tmp_path / "reports"
    run = _run(rig, out, "-k", ONE_TOKEN)
    assert run.returncode != 0 and "within 0.5 s" in run.stdout + run.stderr
    record = _record(out)
    assert record["verdict"] == "error"
    assert [t["verdict"] for t in record["tests"]] == ["error"]

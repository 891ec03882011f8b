"""The display readback: the simulator's LCD over HTTP, a camera on it, OCR, evidence
images; an unreadable frame and the operator as fallback; the sim-display rig end to end."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hil.display.layout import builtin_display_map
from hil.display.ocr import read_display
from hil.display.render import DisplayState, Noise, render
from hil.display.screen import BLANK, meter_screen
from hil.errors import DeviceAbsent
from hil.meter.results import TokenResult
from hil.paths import RIGS
from hil.rig.config import load_rig
from hil.rig.drivers.camera import open_camera
from hil.rig.drivers.operator import ScriptedOperator
from hil.rig.readback import Reading
from hil.rig.readback.display import DisplayReadback, DisplayUnsure
from hil.rig.readback.operator import OperatorReadback
from hil.rig.rig import Rig
from hil.sim.build import build_model
from hil.sim.display_server import DisplayServer
from hil.sts import CreditToken, codec

LCD = builtin_display_map()


def _frames(tmp_path: Path, *states: DisplayState, noise: Noise | None = None) -> Path:
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, state in enumerate(states):
        render(state, LCD, noise=noise or Noise(), seed=i).save(folder / f"{i:03d}.png")
    return folder


def _readback(camera_dir: Path, fallback: OperatorReadback | None = None,
              evidence: Path | None = None) -> tuple[DisplayReadback, list[Reading]]:  # fmt: skip
    readings: list[Reading] = []
    readback = DisplayReadback(open_camera(str(camera_dir)), LCD, resolution_kwh=0.01,
                               threshold=0.5, tries=3, record=readings.append,
                               evidence_dir=evidence, fallback=fallback)  # fmt: skip
    return readback, readings


def test_credit_and_relay_read_from_frames_with_their_crops_as_evidence(tmp_path: Path) -> None:
    idle = DisplayState("   12.50", frozenset({"kwh", "relay_open"}))
    readback, readings = _readback(_frames(tmp_path, idle), evidence=tmp_path / "evidence")
    assert readback.read_credit() == 12.5
    assert readback.read_relay() == (False, "")
    assert [(r.what, r.value, r.source) for r in readings] == [
        ("credit", "12.50", "display"), ("relay", "open", "display")]  # fmt: skip
    for reading in readings:
        assert reading.confidence is not None and reading.confidence >= 0.5
        assert Image.open(tmp_path / "evidence" / reading.image).size[0] > 0


def test_the_result_word_after_a_token_is_a_class_of_the_map(tmp_path: Path) -> None:
    used = DisplayState(LCD.message_for(TokenResult.USED).text)
    busy = DisplayState(LCD.message_for(TokenResult.NOT_READY).text)
    readback, _ = _readback(_frames(tmp_path, busy, used))
    outcome = readback.await_result(0.0, 5.0)
    assert (outcome.result_class, outcome.result.accepted) == ("USED", False)  # BUSY passed over
    assert readback.result_class(TokenResult.OLD) == "OLD"


def test_an_unreadable_display_is_a_bench_fault_naming_the_fix(tmp_path: Path) -> None:
    smeared = DisplayState("   12.50", frozenset({"kwh"}))
    readback, readings = _readback(_frames(tmp_path, smeared, noise=Noise().scaled(6)))
    with pytest.raises(DisplayUnsure, match="focus, light and glare, or add readback.operator"):
        readback.read_relay()
    assert readings == []


def test_the_operator_answers_where_the_display_cannot_be_read(tmp_path: Path) -> None:
    script = tmp_path / "answers.yaml"
    script.write_text("operator: Ada\nanswers:\n  relay: closed\n")
    notes: list[Reading] = []
    operator = OperatorReadback(ScriptedOperator.load(script), LCD, resolution_kwh=0.01,
                                timeout_s=1, record=notes.append)  # fmt: skip
    smeared = DisplayState("   12.50", frozenset({"kwh"}))
    readback, _ = _readback(_frames(tmp_path, smeared, noise=Noise().scaled(6)), operator)
    assert readback.read_relay() == (True, "")
    assert [(r.what, r.by) for r in notes] == [("relay", "Ada")]


def test_a_camera_that_is_not_there_is_one_line(tmp_path: Path) -> None:
    for url in (str(tmp_path / "none"), "http://127.0.0.1:9/frame.jpg"):
        with pytest.raises(DeviceAbsent) as caught:
            open_camera(url, timeout_s=0.5)
        assert "\n" not in str(caught.value) and url in str(caught.value)


def test_the_screen_follows_the_model(tmp_path: Path) -> None:
    rig, _ = load_rig(RIGS / "sim-display.yaml")
    model = build_model(rig, RIGS)
    key = rig.meter.load_decoder_key(RIGS)
    idle = meter_screen(model, LCD, 0.0, 0.01)
    assert (idle.text.strip(), idle.icons) == ("0.00", {"kwh", "relay_open", "low_credit"})
    outcome = model.enter_token(codec.encode(CreditToken(6_200_001, 0, 125), key), 1.0)
    assert outcome.result is TokenResult.ACCEPT
    assert meter_screen(model, LCD, 1.1, 0.01).text == LCD.messages["ACCEPTED"].text
    later = 1.0 + model.profile.result_hold_s + 0.1
    model.advance(later)
    assert meter_screen(model, LCD, later, 0.01).text.strip() == "12.50"
    model.power_off(later)
    assert meter_screen(model, LCD, later, 0.01) == BLANK


def test_the_display_server_serves_frames_that_read_back() -> None:
    state = DisplayState("   42.00", frozenset({"kwh"}))
    server = DisplayServer(lambda: state, LCD, seed=7)
    try:
        with urllib.request.urlopen(server.url, timeout=5) as reply:
            assert reply.headers["Content-Type"] == "image/jpeg"
            data = reply.read()
        import cv2

        frame = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        reading = read_display(frame, LCD)
        assert (reading.value, reading.sure) == (42.0, True)
        page = server.url.replace("frame.jpg", "")
        with urllib.request.urlopen(page, timeout=5) as reply:
            assert b"/stream.mjpg" in reply.read()
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(page + "nothing", timeout=5)
    finally:
        server.close()


def test_sim_display_rig_enters_on_the_keypad_and_reads_every_reading_by_camera(
    tmp_path: Path,
) -> None:
    with Rig.open(RIGS / "sim-display.yaml", log_path=tmp_path / "probe.log") as rig:
        assert rig.probe is None and rig.readback.kind == "display"
        rig.reset_state()
        key = rig.meter.load_decoder_key(rig.base)
        token = codec.encode(CreditToken(6_200_010, 0, 15), key)
        first = rig.enter_token(token)
        assert first.result_class == "ACCEPTED" and rig.read_credit() == pytest.approx(1.5)
        assert rig.read_relay()[0] is True
        again = rig.enter_token(token)  # a replay: the meter shows Used
        assert again.result_class == "USED" and rig.read_credit() == pytest.approx(1.5)
    assert len(list((tmp_path / "evidence").glob("*.png"))) >= 5

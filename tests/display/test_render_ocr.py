"""Rendering the LCD and reading it back: every class, numbers, icons, noise, determinism."""

from __future__ import annotations

import random

import numpy as np
import pytest

from hil.display import (
    DisplayState,
    Noise,
    builtin_display_map,
    confident,
    credit_text,
    read_display,
    render,
)
from hil.meter.results import TokenResult

LCD = builtin_display_map()
ALL_ICONS = frozenset(LCD.icons)


def _read(text: str, icons: frozenset[str] = frozenset(), *, seed: int = 0, noise=None):
    image = render(DisplayState(text, icons), LCD, noise=noise or Noise(), seed=seed)
    return read_display(image, LCD)


@pytest.mark.parametrize("cls", sorted(LCD.messages))
def test_every_class_round_trips(cls):
    word = LCD.messages[cls].text
    for seed in range(3):
        reading = _read(word, seed=seed)
        assert (reading.message, reading.text, reading.value) == (cls, word, None)
        assert reading.sure
    # From a token result to the class the camera names.
    result = LCD.results_of(cls)[0]
    assert _read(LCD.message_for(result).text).message == LCD.class_of(result)


@pytest.mark.parametrize(
    ("kwh", "resolution", "shown"),
    [
        (1234.567, 0.01, "1234.56"),
        (0.29, 0.01, "0.29"),
        (12.5, 0.001, "12.500"),
        (99999.9, 0.1, "99999.9"),
        (42.9, 1, "42"),
        (0.0, 0.01, "0.00"),
        (12345678, 1, "12345678"),
        (-1.5, 0.1, "-1.5"),
    ],
)
def test_numbers_at_several_resolutions(kwh, resolution, shown):
    text = credit_text(kwh, resolution, LCD.field.cells)
    assert len(text.replace(".", "")) == LCD.field.cells and text.strip() == shown
    for seed in (1, 2):
        reading = _read(text, frozenset({"kwh"}), seed=seed)
        assert reading.text == shown and reading.value == pytest.approx(float(shown))
        assert reading.message is None and reading.icons == {"kwh"} and reading.sure


def test_credit_text_edges():
    assert credit_text(5, 0.25, 8) == "     5.00"
    assert credit_text(123456789, 1, 8) == "--------"  # overflow: dashes, as the LCD shows
    assert credit_text(100000, 0.001, 8) == "--------"
    reading = _read("--------")
    assert reading.text == "--------" and reading.value is None and reading.message is None
    with pytest.raises(ValueError):
        credit_text(1, 0, 8)


def test_icons_on_and_off():
    names = sorted(ALL_ICONS)
    for k, name in enumerate(names):
        assert _read("   1.00", frozenset({name}), seed=k).icons == {name}
    assert _read("   1.00", ALL_ICONS).icons == ALL_ICONS
    assert _read("   1.00", frozenset()).icons == frozenset()
    # A full LCD and an empty one (the frame's own on/off split has one side only).
    full = _read("8.8.8.8.8.8.8.8.", ALL_ICONS)
    assert full.text == "8.8.8.8.8.8.8.8." and full.icons == ALL_ICONS and full.sure
    blank = _read("")
    assert blank.text == "" and blank.icons == frozenset() and blank.sure


def test_unknown_icon_and_text_refused():
    with pytest.raises(ValueError, match="icon 'bell'"):
        render(DisplayState("1", frozenset({"bell"})), LCD, noise=Noise(), seed=0)
    with pytest.raises(ValueError, match="needs 9 cells"):
        render(DisplayState("123456789"), LCD, noise=Noise(), seed=0)


def test_same_seed_same_image():
    state = DisplayState(" 1234.56", frozenset({"kwh", "lockout"}))
    one = np.asarray(render(state, LCD, noise=Noise(), seed=11))
    two = np.asarray(render(state, LCD, noise=Noise(), seed=11))
    other = np.asarray(render(state, LCD, noise=Noise(), seed=12))
    assert one.shape == (240, 640, 3) and one.dtype == np.uint8
    assert np.array_equal(one, two) and not np.array_equal(one, other)


def test_crops_are_kept():
    reading = _read(" 1234.56", frozenset({"kwh"}))
    field = LCD.field.box
    assert reading.crops["field"].shape == (round(field.h), round(field.w))
    assert reading.crops["frame"].shape == (240, 640)
    assert set(reading.crops) == {"frame", "field", *LCD.icons}


def test_array_input_and_other_resolution():
    image = render(DisplayState("  42.00"), LCD, noise=Noise(), seed=5)
    grey = np.asarray(image.convert("L"))
    bgr = np.asarray(image)[..., ::-1]
    bigger = image.resize((960, 360))
    for frame in (grey, bgr, bigger):
        reading = read_display(frame, LCD)
        assert reading.value == 42.0 and reading.sure


def test_heavy_noise_is_never_confidently_wrong():
    rng = random.Random(3)
    words = [m.text for m in LCD.messages.values()]
    unsure = 0
    for seed in range(50):
        text = rng.choice([*words, credit_text(rng.uniform(0, 9999), 0.01, 8)])
        icons = frozenset(name for name in ALL_ICONS if rng.random() < 0.5)
        reading = _read(text, icons, seed=seed, noise=Noise().scaled(3))
        right = reading.text == text.strip() and reading.icons == icons
        assert right or not reading.sure, (seed, text, reading)
        unsure += not reading.sure
    assert unsure >= 40  # the degradation shows as doubt, not as quiet errors


def test_no_panel_reads_empty_with_no_confidence():
    dark = np.full((240, 640), 30, np.uint8)
    reading = read_display(dark, LCD)
    assert (reading.text, reading.confidence, reading.sure) == ("", 0.0, False)
    assert reading.weakest == "no LCD panel"


def test_threshold_and_confident():
    image = render(DisplayState(LCD.messages["USED"].text), LCD, noise=Noise().scaled(1.5), seed=2)
    reading = read_display(image, LCD, threshold=0.0)
    assert reading.sure and confident(reading) and confident(reading, 0.0)
    assert not confident(reading, 1.01)
    assert 0.0 <= reading.confidence <= 1.0


def test_a_result_code_path():
    # What the harness will do: a token result -> the word -> a frame -> the class.
    for result in TokenResult:
        if result in (TokenResult.ACCEPT, TokenResult.CRC, TokenResult.NOT_READY):
            reading = _read(LCD.message_for(result).text, seed=int(result))
            assert reading.message == LCD.class_of(result) and reading.sure

"""Display maps: the built-in LCD, the result classes, and one-line errors on bad files."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hil.display import RESULT_CLASSES, builtin_display_map, load_display_map
from hil.display.layout import DISPLAYS
from hil.display.segments import ALPHABET, decode, fit, glyphs, pattern
from hil.errors import ConfigError
from hil.meter.results import TokenResult


def _builtin_data() -> dict:
    return yaml.safe_load((DISPLAYS / "sim-lcd.yaml").read_text())


def _write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "lcd.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_builtin_map_shape():
    lcd = builtin_display_map()
    assert lcd.name == "sim-lcd"
    assert lcd.frame == (640, 240)
    assert lcd.field.cells == 8 and len(lcd.field.geometry) == 8
    assert {"kwh", "relay_open", "low_credit", "lockout"} <= set(lcd.icons)
    assert set(lcd.messages) == set(RESULT_CLASSES)
    assert lcd.timing.result_s > 0
    assert lcd.register_code("credit") is None  # the idle screen
    assert lcd.register_code("tid") == "055"


@pytest.mark.parametrize(
    ("result", "cls"),
    [
        (TokenResult.ACCEPT, "ACCEPTED"),
        (TokenResult.KCT1, "ACCEPTED"),
        (TokenResult.KCT2, "ACCEPTED"),
        (TokenResult.USED, "USED"),
        (TokenResult.OLD, "OLD"),
        (TokenResult.KEY_EXPIRED, "EXPIRED"),
        (TokenResult.LOCKOUT, "LOCKOUT"),
        (TokenResult.NOT_READY, "BUSY"),
        (TokenResult.CRC, "REJECTED"),
        (TokenResult.MFR_CODE, "REJECTED"),
        (TokenResult.RESERVED, "REJECTED"),
    ],
)
def test_result_classes(result, cls):
    lcd = builtin_display_map()
    assert lcd.class_of(result) == cls
    assert lcd.message_for(result) is lcd.messages[cls]
    assert result in lcd.results_of(cls)


def test_every_result_in_exactly_one_class():
    lcd = builtin_display_map()
    every = [r for cls in lcd.messages for r in lcd.results_of(cls)]
    assert sorted(every) == sorted(TokenResult)
    with pytest.raises(KeyError, match="classes are"):
        lcd.results_of("NOPE")


def _error(tmp_path: Path, change) -> str:
    """The one-line ConfigError of the built-in map with ``change`` made to it."""
    data = _builtin_data()
    change(data)
    path = _write(tmp_path, data)
    with pytest.raises(ConfigError) as info:
        load_display_map(path)
    text = str(info.value)
    assert "\n" not in text and text.startswith(f"{path}: ")
    return text


def test_missing_result_is_one_line(tmp_path):
    text = _error(tmp_path, lambda d: d["messages"]["REJECTED"]["results"].remove("crc"))
    assert "result CRC in no class" in text


def test_doubled_result_is_one_line(tmp_path):
    text = _error(tmp_path, lambda d: d["messages"]["USED"]["results"].append("crc"))
    assert "result CRC is in both REJECTED and USED" in text


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda d: d["messages"]["USED"].update(results=["usedd"]), "unknown token result"),
        (lambda d: d["messages"].update(NOPE=d["messages"].pop("BUSY")), "messages.NOPE"),
        (lambda d: d["messages"]["USED"].update(text="OLd"), "looks the same as OLD"),
        (lambda d: d["messages"]["USED"].update(text="12"), "reads as a number"),
        (lambda d: d["messages"]["USED"].update(text="KEY"), "no seven-segment form"),
        (lambda d: d["messages"]["USED"].update(text="ACCEPtEdd"), "needs 9 cells"),
        (lambda d: d["icons"].pop("kwh"), "icons: missing kwh"),
        (lambda d: d["icons"].update(kwh=[100, 100, 40, 20]), "icons.kwh"),
        (lambda d: d["field"].update(colour="red"), "field.colour: unknown field"),
        (lambda d: d["registers"].update(tid=55), "registers: tid: accepted: idle or a keypad"),
        (lambda d: d["field"].update(digit_width=0.85), "do not fit"),
        (lambda d: d.update(panel=[0, 0, 700, 200]), "panel"),
    ],
)
def test_bad_maps_give_one_line(tmp_path, change, words):
    assert words in _error(tmp_path, change)


def test_unreadable_and_unknown_files(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="YAML mapping"):
        load_display_map(bad)
    with pytest.raises(ConfigError, match="no built-in display map 'nope'; known: sim-lcd"):
        builtin_display_map("nope")


def test_alphabet():
    for digit in "0123456789":
        assert decode(pattern(digit)) == digit
    assert decode(pattern("S")) == "5" and decode(pattern("O")) == "0"  # digits win
    assert decode(frozenset("abcdefg")) == "8" and decode(frozenset()) == " "
    assert decode(frozenset("abg")) is None
    assert pattern("e") == pattern("E")  # a letter with one form falls back
    assert len(set(ALPHABET)) == len(ALPHABET)
    with pytest.raises(ValueError, match="'K' has no seven-segment form"):
        pattern("K")


def test_text_to_cells():
    cells = fit("12.5", 4)
    assert [g.char for g in cells] == [" ", "1", "2", "5"]
    assert [g.dp for g in cells] == [False, False, True, False]
    assert [(g.char, g.dp) for g in glyphs(".5")] == [(" ", True), ("5", False)]
    with pytest.raises(ValueError, match="needs 5 cells"):
        fit("12345", 4)

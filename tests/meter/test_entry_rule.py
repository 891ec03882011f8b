"""The keypad entry rule the meter and the CIU share (hil.meter.entry)."""

from hil.meter.entry import type_key


def test_digits_accumulate_and_enter_submits():
    assert type_key("123", "4", auto_submit_at_20=False) == ("", "1234", False)
    assert type_key("1234", "ENTER", auto_submit_at_20=False) == ("", "1234", True)


def test_nothing_typed_refuses_enter_and_back():
    assert type_key("", "ENTER", auto_submit_at_20=False).refused == "empty"
    assert type_key("", "BACK", auto_submit_at_20=True).refused == "empty"


def test_back_deletes_one_digit_unless_the_keypad_ignores_it():
    assert type_key("12", "BACK", auto_submit_at_20=False) == ("", "1", False)
    assert type_key("12", "BACK", auto_submit_at_20=False, back_works=False).entry == "12"


def test_the_twentieth_digit_submits_only_where_declared_and_a_21st_is_refused():
    nineteen = "1" * 19
    assert type_key(nineteen, "2", auto_submit_at_20=True) == ("", nineteen + "2", True)
    assert type_key(nineteen, "2", auto_submit_at_20=False) == ("", nineteen + "2", False)
    assert type_key("1" * 20, "3", auto_submit_at_20=False) == ("full", "1" * 20, False)

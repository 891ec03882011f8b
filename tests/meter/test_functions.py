"""Meter files: what a meter model declares, how it shapes the model, and the model's rules
for the declared functions (class 1 bits and MfrCode forms, other management functions,
key register read back, keypad editing)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hil.meter.functions import FunctionsError, MeterFunctions
from hil.meter.profile import MeterProfile, ProfileError
from hil.meter.profile_file import functions_path, load_functions
from hil.sts.tokens import (
    TEST_CONTROLS,
    MeterTestToken,
    PhaseUnbalanceLimitToken,
    TariffRateToken,
    WaterMeterFactorToken,
)
from tests.meter.helpers import FAST, PAN, TID0, R, credit, info, kct, meter, profile, token

SIM_METER = {
    "name": "m",
    "credit_kinds": ["electricity", "water"],
    "class1": {"tests": ["display", "totals"], "other_mfr_form": "accepted"},
    "management": {"set_tariff_rate": "applied", "set_water_meter_factor": "refused"},
    "keypad": {"submit": "twentieth_digit", "back_key": True, "entry_timeout": True},
}


def test_shipped_sim_meter_file_loads() -> None:
    declared = load_functions(functions_path("sim-meter"))
    assert declared.name == "sim-meter"
    assert declared.class1_tests == tuple(TEST_CONTROLS)
    assert declared.management == {"set_tariff_rate": True, "set_phase_unbalance_limit": False,
                                   "set_water_meter_factor": False}  # fmt: skip
    assert declared.submit == "enter" and declared.back_key and declared.entry_timeout


def test_declarations_replace_the_profiles_function_fields() -> None:
    applied = MeterFunctions.from_mapping(SIM_METER).apply(FAST)
    assert applied.credit_kinds == (0, 1)
    assert applied.class1_bits == (1, 2)
    assert applied.class1_other_form is True
    assert applied.management_subclasses == (0, 1, 2, 5)
    assert applied.keypad.auto_submit_at_20 is True
    assert applied.keypad.inter_digit_timeout_s == FAST.keypad.inter_digit_timeout_s


def test_a_declared_refusal_removes_a_function_the_timing_profile_listed() -> None:
    base = profile(management_subclasses=(0, 1, 5, 7))
    declared = MeterFunctions.from_mapping({"management": {"set_water_meter_factor": "refused"}})
    assert declared.apply(base).management_subclasses == (0, 1, 5)


def test_nothing_declared_leaves_the_profile_alone() -> None:
    assert MeterFunctions().apply(FAST) == FAST


def test_undeclared_functions_are_not_applicable() -> None:
    declared = MeterFunctions.from_mapping(SIM_METER)
    assert declared.not_declared("class1:totals") is None
    assert "class 1 test 'tid'" in (declared.not_declared("class1:tid") or "")
    assert declared.not_declared("class1:other_form") is None
    assert declared.not_declared("management:set_tariff_rate") is None
    assert "set_phase_unbalance_limit" in (
        declared.not_declared("management:set_phase_unbalance_limit") or ""
    )
    assert declared.not_declared("keypad:back") is None
    nothing = MeterFunctions()
    for function in ("class1:display", "class1:other_form", "management:set_tariff_rate",
                     "keypad:submit", "keypad:back", "keypad:entry_timeout"):  # fmt: skip
        assert nothing.not_declared(function)
    no_back = MeterFunctions.from_mapping({"keypad": {"back_key": False}})
    assert "has no keypad.back_key" in (no_back.not_declared("keypad:back") or "")
    with pytest.raises(ValueError, match="unknown function"):
        nothing.not_declared("lunch:soup")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"colour": "red"}, "field 'colour': unknown field"),
        ({"credit_kinds": ["beer"]}, "field 'credit_kinds': expected a non-empty list"),
        ({"class1": {"tests": ["dance"]}}, "field 'class1.tests': expected a list of"),
        ({"class1": {"speed": 1}}, "field 'class1.speed': unknown field"),
        ({"class1": {"other_mfr_form": "maybe"}}, "field 'class1.other_mfr_form': accepted:"),
        ({"management": {"set_tariff_rate": "yes"}}, "field 'management.set_tariff_rate'"),
        ({"management": {"set_power": "applied"}}, "field 'management.set_power': unknown"),
        ({"keypad": {"submit": "shout"}}, "field 'keypad.submit': accepted: enter"),
        ({"keypad": {"back_key": "yes"}}, "field 'keypad.back_key': expected true or false"),
        ({"keypad": "fast"}, "field 'keypad': expected a mapping"),
        ([], "expected a mapping of fields"),
    ],
)
def test_bad_meter_files_give_one_line_naming_the_field(data: object, message: str) -> None:
    with pytest.raises(FunctionsError, match=message.replace("(", r"\(")) as info_:
        MeterFunctions.from_mapping(data)
    assert "\n" not in str(info_.value)


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "lab-meter.yaml"
    path.write_text("keypad: {submit: twice}\n")
    with pytest.raises(FunctionsError, match=r"lab-meter.yaml: field 'keypad.submit'"):
        load_functions(path)
    with pytest.raises(FunctionsError, match="meter file 'nope' not found; known: .*sim-meter"):
        functions_path("nope")


def test_profile_refuses_unknown_class1_bits() -> None:
    with pytest.raises(ProfileError, match="class1_bits"):
        MeterProfile(class1_bits=(6,))


# -- the model's rules -------------------------------------------------------------------


def _test(*tests: str, four_digit: bool = False) -> str:
    control = sum(TEST_CONTROLS[t] for t in tests)
    return token(MeterTestToken(control, PAN.mfr_code, four_digit), None)


@pytest.mark.parametrize("test", list(TEST_CONTROLS))
def test_each_declared_class1_bit_runs_alone(test: str) -> None:
    m = meter()
    assert m.enter_token(_test(test), 1.0).result is R.ACCEPT
    assert m.tests_running == (test,)


def test_an_undeclared_class1_bit_is_not_run() -> None:
    m = meter(profile(class1_bits=(1,)))
    assert m.enter_token(_test("totals"), 1.0).result is R.FUNCTION
    assert m.enter_token(_test("display", "totals"), 2.0).result is R.ACCEPT
    assert m.tests_running == ("display",)


def test_other_mfr_code_form_is_refused_unless_declared() -> None:
    assert meter().enter_token(_test("display", four_digit=True), 1.0).result is R.MFR_CODE
    m = meter(profile(class1_other_form=True))
    assert m.enter_token(_test("display", four_digit=True), 1.0).result is R.ACCEPT


@pytest.mark.parametrize(
    "made",
    [TariffRateToken(TID0, 0, 100), PhaseUnbalanceLimitToken(TID0, 0, 2000),
     WaterMeterFactorToken(TID0, 0, 1000)],
    ids=["tariff-rate", "phase-unbalance", "water-factor"],
)  # fmt: skip
def test_other_management_applied_or_function_as_declared(made: object) -> None:
    refused = meter()
    assert refused.enter_token(token(made), 1.0).result is R.FUNCTION  # type: ignore[arg-type]
    assert refused.tid_memory == []
    applied = meter(profile(management_subclasses=(0, 1, 5, made.subclass)))  # type: ignore[attr-defined]
    assert applied.enter_token(token(made), 1.0).result is R.ACCEPT  # type: ignore[arg-type]
    assert applied.enter_token(token(made), 2.0).result is R.USED  # type: ignore[arg-type]
    assert applied.tid_memory == [TID0] and applied.settings


def test_key_register_read_back_after_a_change_and_not_after_a_partial_set() -> None:
    m = meter()
    new = info(krn=3, ti=9, ken=200)
    sections = kct(new)
    for s in sections[:-1]:
        m.enter_token(s, 1.0)
    assert (m.info()["krn"], m.info()["ti"], m.info()["ken"]) == (1, "01", 255)
    m.enter_token(sections[-1], 2.0)
    shown = m.info()
    assert (shown["krn"], shown["ti"], shown["ken"], shown["sgc"]) == (3, "09", 200, "123457")


def test_back_deletes_the_last_digit() -> None:
    m = meter()
    digits = credit(TID0)
    at = 1.0
    for key in [*digits[:5], "9", "BACK", *digits[5:], "ENTER"]:
        m.press_key(key, at)
        at += 0.01
    m.advance(at + 1.0)
    assert m.last_result is not None and m.last_result.result is R.ACCEPT

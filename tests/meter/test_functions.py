"""Meter files: what a meter model declares, how it shapes the model, and the model's rules
for the declared functions (class 1 bits and MfrCode forms, other management functions,
key register read back, keypad editing)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

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


# -- payment, supply, logs and clock sections ---------------------------------------------

PAYMENT_METER = {
    "name": "pm",
    "payment": {
        "low_credit_kwh": 5,
        "emergency_credit": {"amount_kwh": 2.5, "below_kwh": 1, "code": "0123"},
        "friendly_hours": [17, 8],
    },
    "supply": {"trip_retries": 3},
    "logs": {"tokens": 10, "events": 20},
    "clock": "battery",
}
OPTIONAL_FUNCTIONS = ("payment:low_credit", "payment:emergency_credit", "payment:friendly_hours",
                      "supply:trip_retries", "logs:tokens", "logs:events", "clock:battery")  # fmt: skip


def test_shipped_sim_meter_file_declares_the_payment_functions() -> None:
    path = functions_path("sim-meter")
    raw = yaml.safe_load(path.read_text())  # the figures are the file's; only read them here
    declared = load_functions(path)
    pay, ec = raw["payment"], raw["payment"]["emergency_credit"]
    assert declared.low_credit_wh == round(pay["low_credit_kwh"] * 1000)
    assert declared.emergency == (round(ec["amount_kwh"] * 1000), round(ec["below_kwh"] * 1000),
                                  str(ec["code"]))  # fmt: skip
    assert declared.friendly_hours == tuple(pay["friendly_hours"])
    assert declared.trip_retries == raw["supply"]["trip_retries"]
    assert (declared.token_log, declared.event_log) == (raw["logs"]["tokens"],
                                                        raw["logs"]["events"])  # fmt: skip
    assert declared.clock == "battery"
    for function in OPTIONAL_FUNCTIONS:
        assert declared.not_declared(function) is None, function


def test_payment_sections_read_in_wh_and_copied_into_the_profile() -> None:
    declared = MeterFunctions.from_mapping(PAYMENT_METER)
    assert declared.emergency == (2_500, 1_000, "0123")  # the code stays text: leading 0 kept
    applied = declared.apply(FAST)
    assert applied.low_credit_wh == 5_000
    assert (applied.emergency_credit_wh, applied.emergency_below_wh) == (2_500, 1_000)
    assert applied.emergency_code == "0123"
    assert applied.friendly_hours == (17, 8)
    assert applied.trip_retries == 3
    assert (applied.token_log_depth, applied.event_log_depth) == (10, 20)
    # the timing figures are the profile's
    assert applied.power_limit_retry_s == FAST.power_limit_retry_s
    assert applied.long_outage_s == FAST.long_outage_s


def test_a_partly_declared_section_changes_only_what_it_declares() -> None:
    declared = MeterFunctions.from_mapping({"payment": {"low_credit_kwh": 0.5}})
    applied = declared.apply(FAST)
    assert applied.low_credit_wh == 500
    assert applied.emergency_credit_wh == 0 and applied.friendly_hours == ()
    assert declared.not_declared("payment:emergency_credit")
    assert declared.not_declared("payment:low_credit") is None


def test_an_emergency_code_given_as_a_number_is_read_as_digits() -> None:
    data = {"payment": {"emergency_credit": {"amount_kwh": 1, "below_kwh": 0, "code": 99}}}
    assert MeterFunctions.from_mapping(data).emergency == (1_000, 0, "99")


def test_undeclared_payment_functions_are_not_applicable() -> None:
    nothing = MeterFunctions.from_mapping({"name": "bare"})
    for function in OPTIONAL_FUNCTIONS:
        reason = nothing.not_declared(function) or ""
        assert f"meter file 'bare' does not declare {function.replace(':', '.')}" == reason
    no_battery = MeterFunctions.from_mapping({"name": "nb", "clock": "none"})
    assert "clock.battery: none" in (no_battery.not_declared("clock:battery") or "")
    assert "names no meter file" in (MeterFunctions().not_declared("logs:tokens") or "")
    with pytest.raises(ValueError, match="unknown function"):
        nothing.not_declared("payment:free_beer")


def _ec(**fields: object) -> dict:
    ec = {"amount_kwh": 2, "below_kwh": 1, "code": "99", **fields}
    return {"payment": {"emergency_credit": {k: v for k, v in ec.items() if v is not None}}}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"payment": "lots"}, "field 'payment': expected a mapping"),
        ({"payment": {"debt_kwh": 1}}, "field 'payment.debt_kwh': unknown field"),
        ({"payment": {"low_credit_kwh": "five"}}, "field 'payment.low_credit_kwh': expected a"),
        ({"payment": {"low_credit_kwh": -1}}, "field 'payment.low_credit_kwh': expected a"),
        ({"payment": {"low_credit_kwh": True}}, "field 'payment.low_credit_kwh': expected a"),
        ({"payment": {"emergency_credit": 2}}, "field 'payment.emergency_credit': expected a"),
        (_ec(code=None), "field 'payment.emergency_credit': missing code"),
        (
            _ec(amount_kwh=None, below_kwh=None),
            "field 'payment.emergency_credit': missing amount_kwh, below_kwh",
        ),
        (_ec(limit_kwh=3), "field 'payment.emergency_credit.limit_kwh': unknown field"),
        (_ec(code="9A"), "field 'payment.emergency_credit.code': expected 1-6 digits"),
        (_ec(code="*99#"), "field 'payment.emergency_credit.code': expected 1-6 digits"),
        (_ec(code=""), "field 'payment.emergency_credit.code': expected 1-6 digits"),
        (_ec(code="1234567"), "field 'payment.emergency_credit.code': expected 1-6 digits"),
        (_ec(amount_kwh=0), "field 'payment.emergency_credit.amount_kwh': must be > 0"),
        (_ec(amount_kwh="2"), "field 'payment.emergency_credit.amount_kwh': expected a number"),
        (_ec(below_kwh=-0.5), "field 'payment.emergency_credit.below_kwh': expected a number"),
        ({"payment": {"friendly_hours": [17, 17]}}, "'payment.friendly_hours': expected [start,"),
        ({"payment": {"friendly_hours": [17, 24]}}, "'payment.friendly_hours': expected [start,"),
        ({"payment": {"friendly_hours": [-1, 8]}}, "'payment.friendly_hours': expected [start,"),
        ({"payment": {"friendly_hours": [17]}}, "'payment.friendly_hours': expected [start,"),
        ({"payment": {"friendly_hours": [17, 8, 9]}}, "'payment.friendly_hours': expected"),
        ({"payment": {"friendly_hours": "17-8"}}, "'payment.friendly_hours': expected [start,"),
        ({"payment": {"friendly_hours": [17.5, 8]}}, "'payment.friendly_hours': expected"),
        ({"payment": {"friendly_hours": [True, 8]}}, "'payment.friendly_hours': expected"),
        ({"supply": {"trip_retries": 0}}, "field 'supply.trip_retries': expected a whole number"),
        ({"supply": {"trip_retries": "3"}}, "field 'supply.trip_retries': expected a whole"),
        ({"supply": {"trip_retries": True}}, "field 'supply.trip_retries': expected a whole"),
        ({"supply": {"voltage": 230}}, "field 'supply.voltage': unknown field"),
        ({"supply": 3}, "field 'supply': expected a mapping"),
        ({"logs": {"tokens": 0}}, "field 'logs.tokens': expected a whole number >= 1"),
        ({"logs": {"events": 2.5}}, "field 'logs.events': expected a whole number >= 1"),
        ({"logs": {"credit": 5}}, "field 'logs.credit': unknown field"),
        ({"logs": [10, 20]}, "field 'logs': expected a mapping"),
        ({"clock": "quartz"}, "field 'clock': accepted: battery, none"),
        ({"clock": True}, "field 'clock': accepted: battery, none"),
    ],
)
def test_bad_payment_sections_give_one_line_naming_the_field(data: object, message: str) -> None:
    pattern = message.replace("(", r"\(").replace("[", r"\[")
    with pytest.raises(FunctionsError, match=pattern) as info_:
        MeterFunctions.from_mapping(data)
    assert "\n" not in str(info_.value)


def test_payment_file_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "kiosk.yaml"
    path.write_text("payment:\n  friendly_hours: [8, 8]\n")
    with pytest.raises(FunctionsError, match=r"kiosk.yaml: field 'payment.friendly_hours'"):
        load_functions(path)


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

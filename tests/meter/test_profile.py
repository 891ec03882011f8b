"""Meter profiles: defaults, the fixture files, one-line errors naming the field."""

from __future__ import annotations

import dataclasses

import pytest

from hil.errors import ConfigError
from hil.meter.profile import LockoutPolicy, MeterProfile, ProfileError
from hil.meter.profile_file import load_profile, profile_path
from tests.meter.helpers import FAST, REALISTIC


def test_realistic_profile_matches_the_defaults_and_bench_notes() -> None:
    assert dataclasses.replace(REALISTIC, name="default") == MeterProfile()
    k = REALISTIC.keypad
    assert (k.press_s, k.release_s, k.debounce_s, k.min_press_s) == (0.15, 0.15, 0.05, 0.05)
    assert k.inter_digit_timeout_s == 20.0 and REALISTIC.processing_s == 0.5
    assert REALISTIC.result_hold_s == 3.0 and REALISTIC.tid_memory_depth == 50
    lock = REALISTIC.lockout
    assert (lock.after_rejects, lock.base_s, lock.max_s) == (3, 10.0, 1280.0)
    assert REALISTIC.kct_timeout_s == 600.0


def test_fast_profile_has_the_same_rules_and_shorter_timings() -> None:
    rules = (
        "tid_memory_depth",
        "old_only_when_full",
        "kct_lost_on_power_cycle",
        "credit_max_units",
        "credit_kinds",
        "management_subclasses",
        "key_expiry",
    )
    for name in rules:
        assert getattr(FAST, name) == getattr(REALISTIC, name), name
    assert FAST.lockout.after_rejects == REALISTIC.lockout.after_rejects
    assert FAST.lockout.base_s == 1.0
    # The key change window must outlast typing a 4-section set on the simulated keypad.
    assert FAST.kct_timeout_s > 4 * FAST.typing_time_s()
    assert FAST.lockout.max_s / FAST.lockout.base_s == REALISTIC.lockout.max_s / 10.0
    # processing_s only 10x shorter: the POWER-ATOMIC test must be able to cut inside it.
    assert FAST.processing_s <= REALISTIC.processing_s / 10
    for name in (
        "result_hold_s",
        "kct_timeout_s",
        "power_limit_retry_s",
        "load_switch_test_s",
        "display_test_s",
    ):
        assert getattr(FAST, name) <= getattr(REALISTIC, name) / 50, name
    assert FAST.typing_time_s() < 1.0 < REALISTIC.typing_time_s()


def test_mapping_round_trip() -> None:
    assert MeterProfile.from_mapping(FAST.as_mapping()) == FAST


def test_missing_fields_take_defaults() -> None:
    p = MeterProfile.from_mapping({"name": "x", "lockout": {"base_s": 5}})
    assert p.lockout == LockoutPolicy(base_s=5.0) and p.keypad == MeterProfile().keypad


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"press_s": 0.1}, "'press_s': unknown field"),
        ({"keypad": {"press_s": "slow"}}, "'keypad.press_s': expected a number"),
        ({"keypad": {"auto_submit_at_20": "yes"}}, "'keypad.auto_submit_at_20'"),
        ({"keypad": {"press_s": 0.01}}, "'keypad.press_s'"),
        ({"keypad": 3}, "keypad: expected a mapping"),
        ({"lockout": {"base_s": -1}}, "'lockout.base_s'"),
        ({"lockout": {"max_s": 1}}, "'lockout.max_s'"),
        ({"lockout": {"after_rejects": 0}}, "'lockout.after_rejects'"),
        ({"lockout": {"after_rejects": 2.5}}, "'lockout.after_rejects': expected a whole"),
        ({"tid_memory_depth": 0}, "'tid_memory_depth'"),
        ({"tid_memory_depth": True}, "'tid_memory_depth'"),
        ({"key_expiry": 1}, "'key_expiry': expected true or false"),
        ({"credit_kinds": [5]}, "'credit_kinds'"),
        ({"credit_kinds": "0"}, "'credit_kinds': expected a list"),
        ({"management_subclasses": [3]}, "'management_subclasses'"),
        ({"power_limit_retry_s": 0}, "'power_limit_retry_s'"),
        ({"processing_s": float("nan")}, "'processing_s'"),
        ({"name": ""}, "'name'"),
    ],
)
def test_bad_field_gives_one_line_error_naming_it(data: dict, field: str) -> None:
    with pytest.raises(ProfileError) as caught:
        MeterProfile.from_mapping(data)
    assert field in str(caught.value) and "\n" not in str(caught.value)


def test_not_a_mapping() -> None:
    with pytest.raises(ProfileError, match="profile: expected a mapping"):
        MeterProfile.from_mapping([1, 2])  # type: ignore[arg-type]


def test_lockout_duration_doubles_up_to_max() -> None:
    policy = LockoutPolicy(after_rejects=3, base_s=10, max_s=1280)
    assert [policy.duration_s(n) for n in range(1, 13)] == [
        0,
        0,
        10,
        20,
        40,
        80,
        160,
        320,
        640,
        1280,
        1280,
        1280,
    ]
    assert policy.duration_s(10_000) == 1280


def test_load_profile_names_file_and_field(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.yaml"
    bad.write_text("lockout:\n  base_s: soon\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: profile field 'lockout\.base_s'"):
        load_profile(bad)
    broken = tmp_path / "broken.yaml"
    broken.write_text("keypad: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_profile(broken)
    with pytest.raises(ConfigError, match="cannot read"):
        load_profile(tmp_path / "missing.yaml")


def test_profile_without_name_takes_file_name(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "bench7.yaml"
    path.write_text("processing_s: 1.5\n")
    assert load_profile(path).name == "bench7"
    assert load_profile(profile_path("fast")).name == "fast"

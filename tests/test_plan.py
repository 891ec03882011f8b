"""The physical-minimum estimator (hil/plan.py) and `hil run --plan` as a user runs it."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hil.meter.profile import LockoutPolicy, MeterProfile
from hil.meter.profile_file import load_profile, profile_path
from hil.plan import (
    POWER_OFF_S,
    Bench,
    Cost,
    CostError,
    duration_text,
    estimate,
    estimate_run,
    lockout_waits_s,
)

REALISTIC = load_profile(profile_path("realistic"))
FAST = load_profile(profile_path("fast"))


def keypad_bench(profile: MeterProfile = REALISTIC, **changes: object) -> Bench:
    return dataclasses.replace(Bench(profile, load_max_w=3000.0), **changes)


def test_keypad_token_is_presses_and_releases_of_20_digits_and_enter_then_processing():
    one = estimate(Cost(tokens=1), keypad_bench(), first_in_run=True)
    assert one.keypad_tokens == 1 and one.carrier_tokens == 0
    assert one.entry_s == pytest.approx(21 * (0.15 + 0.15))
    assert one.processing_s == pytest.approx(0.5)
    assert one.display_s == 0.0  # nothing was shown before the run's first token
    assert one.total_s == pytest.approx(6.8)


def test_meter_submitting_at_the_20th_digit_needs_no_enter():
    profile = dataclasses.replace(
        REALISTIC, keypad=dataclasses.replace(REALISTIC.keypad, auto_submit_at_20=True)
    )
    one = estimate(Cost(tokens=1), keypad_bench(profile))
    assert one.entry_s == pytest.approx(20 * 0.3)


def test_each_token_after_the_first_waits_for_the_result_display():
    run = estimate_run([Cost(tokens=2), Cost(tokens=3)], keypad_bench())
    first, second = run
    assert first is not None and second is not None
    assert first.display_s == pytest.approx(1 * 3.0)
    assert second.display_s == pytest.approx(3 * 3.0)


def test_a_skipped_or_tokenless_test_leaves_the_first_display_to_the_next():
    run = estimate_run([None, Cost(wait_s=1.0), Cost(tokens=1)], keypad_bench())
    assert run[0] is None
    assert run[2] is not None and run[2].display_s == 0.0


def test_bulk_tokens_fills_and_key_changes_go_by_the_carrier_where_the_rig_has_one():
    cost = Cost(bulk=2, fills=1, key_changes=1)
    by_carrier = estimate(cost, keypad_bench(bulk_by_carrier=True, key_sections=4))
    assert by_carrier.carrier_tokens == 2 + 50 + 4
    assert by_carrier.entry_s == 0.0
    assert by_carrier.processing_s == pytest.approx(56 * 0.5)
    on_keypad = estimate(cost, keypad_bench(bulk_by_carrier=False, key_sections=2))
    assert on_keypad.keypad_tokens == 2 + 50 + 2
    assert on_keypad.entry_s == pytest.approx(54 * 6.3)


def test_a_rig_entering_by_the_carrier_types_nothing():
    one = estimate(Cost(tokens=3, keys=12), keypad_bench(entry_by_carrier=True))
    assert one.carrier_tokens == 3 and one.keypad_tokens == 0
    assert one.entry_s == pytest.approx(12 * 0.3)  # the partial entry is still typed


def test_lockout_back_offs_double_up_to_the_maximum():
    profile = dataclasses.replace(REALISTIC, lockout=LockoutPolicy(3, 10.0, 30.0))
    assert lockout_waits_s(profile, 1) == 10.0
    assert lockout_waits_s(profile, 3) == 10.0 + 20.0 + 30.0  # capped at max_s


def test_a_wait_counts_only_beyond_the_result_display_and_the_locked_out_token():
    """3 rejects lock for 10 s; a token entered meanwhile (its display, processing, the next
    display) and the back-off's own display are inside the 10 s, as are 3 s of the 20 s."""
    one = estimate(Cost(bulk=6, lockouts=2, locked=1), keypad_bench(bulk_by_carrier=True))
    assert one.waits["lockout back-off"] == pytest.approx((10 - 3.5 - 3) + (20 - 3))


def test_key_change_timeout_credit_run_out_supply_and_meter_tests():
    bench = keypad_bench(load_max_w=3600.0)
    one = estimate(
        Cost(kct_timeouts=1.2, credit_out_kwh=0.1, power_cycles=2, meter_tests=("all",)), bench
    )
    assert one.waits["key change timeout"] == pytest.approx(1.2 * 600 - 3)
    assert one.waits["credit run out"] == pytest.approx(100 - 3)  # 0.1 kWh at 3600 W
    assert one.waits["supply off"] == pytest.approx(2 * POWER_OFF_S)
    assert one.waits["meter test"] == pytest.approx(10 - 3)
    # a bigger load bank empties the same credit sooner
    quicker = estimate(Cost(credit_out_kwh=0.1), keypad_bench(load_max_w=36000.0))
    assert quicker.waits["credit run out"] == pytest.approx(10 - 3)


def test_a_wait_shorter_than_the_display_costs_nothing_more():
    one = estimate(Cost(tokens=1, wait_s=1.0), keypad_bench())
    assert "meter time" not in one.waits


def test_a_faster_simulated_clock_divides_everything():
    slow = estimate(Cost(tokens=2, kct_timeouts=1), keypad_bench())
    fast = estimate(Cost(tokens=2, kct_timeouts=1), keypad_bench(speed=10.0))
    assert fast.total_s == pytest.approx(slow.total_s / 10)


def test_the_fast_profile_is_far_shorter_than_the_realistic_one():
    cost = Cost(tokens=4, bulk=10, key_changes=1, kct_timeouts=1.2)
    real = estimate(cost, keypad_bench(REALISTIC, bulk_by_carrier=True))
    fast = estimate(cost, keypad_bench(FAST, bulk_by_carrier=True))
    assert real.total_s > 20 * fast.total_s


def test_costs_add_up_field_by_field():
    total = Cost(tokens=2) + Cost.of(meter_tests="display", wait_s=1.0)
    assert total == Cost(tokens=2, meter_tests=("display",), wait_s=1.0)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"tokenz": 1}, "unknown field 'tokenz'"),
        ({"tokens": -1}, "tokens: expected a number >= 0"),
        ({"bulk": "3"}, "bulk: expected a number"),
        ({"meter_tests": "lamp"}, "'lamp' is not one of"),
    ],
)
def test_a_bad_declaration_is_one_clear_error(values, message):
    with pytest.raises(CostError, match=message):
        Cost.of(**values)


def test_robot_tags_declare_a_cost():
    assert Cost.from_tags(["req:MPL", "cost:tokens=2", "cost:wait_s=1.5"]) == Cost(
        tokens=2, wait_s=1.5
    )
    assert Cost.from_tags(["cost:meter_tests=display,load-switch"]) == Cost(
        meter_tests=("display", "load-switch")
    )
    assert Cost.from_tags(["req:MPL"]) is None
    with pytest.raises(CostError, match="not a number"):
        Cost.from_tags(["cost:tokens=two"])


def test_one_robot_tag_declares_several_fields_with_the_markers_names():
    assert Cost.from_tags(["cost:keys=12,power_cycles=1"]) == Cost(keys=12, power_cycles=1)
    assert Cost.from_tags(["cost:tokens=2,credit_out_kwh=0.1"]) == Cost(
        tokens=2, credit_out_kwh=0.1
    )
    # a piece without "=" continues the class 1 test list before it
    assert Cost.from_tags(["cost:meter_tests=display,load-switch,tokens=1"]) == Cost(
        tokens=1, meter_tests=("display", "load-switch")
    )
    # several tags add up, as several markers do
    assert Cost.from_tags(["cost:tokens=1", "cost:tokens=2,bulk=1"]) == Cost(tokens=3, bulk=1)


@pytest.mark.parametrize(
    ("tag", "message"),
    [
        ("cost:keys=12,power_cycle=1", "tag 'cost:keys=12,power_cycle=1': cost: unknown field"),
        ("cost:keys=12,1", "'1' has no value; expected cost:FIELD=VALUE"),
        ("cost:tokens=1,tokens=2", "tokens given twice"),
        ("cost:tokens", "'tokens' has no value"),
    ],
)
def test_a_bad_robot_cost_tag_is_one_clear_error(tag, message):
    with pytest.raises(CostError, match=re.escape(message)):
        Cost.from_tags([tag])


def test_every_robot_test_declares_its_cost():
    from hil.cli.plan_cmd import collect_robot
    from hil.paths import DEFAULT_RIG, ROBOT_SUITES
    from hil.rig.config import load_rig

    tests = {t.name: t for t in collect_robot(ROBOT_SUITES, (), load_rig(DEFAULT_RIG)[0])}
    assert tests and not [n for n, t in tests.items() if t.defaulted]
    # the same work as the pytest test of the same rule, so the same declaration
    assert tests["Partial Key Change Is Lost On Power Cycle"].cost == Cost(
        key_changes=1, power_cycles=1, tokens=1
    )
    relay = tests["Relay Opens At Zero Credit And Closes On New Credit"]
    assert relay.cost == Cost(tokens=2, credit_out_kwh=0.1) and relay.long
    assert tests["Credit Amounts Decode Exactly At Every Exponent Boundary"].cost == Cost(bulk=8)


def test_a_robot_test_with_a_bad_cost_tag_is_named(tmp_path):
    from hil.cli.plan_cmd import collect_robot
    from hil.paths import DEFAULT_RIG
    from hil.rig.config import load_rig

    (tmp_path / "bad.robot").write_text(
        "*** Test Cases ***\nTyped Twice\n    [Tags]    cost:tokenz=2\n    No Operation\n"
    )
    with pytest.raises(CostError, match=r"^bad\.robot: Typed Twice: tag 'cost:tokenz=2'"):
        collect_robot(tmp_path, (), load_rig(DEFAULT_RIG)[0])


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.634, "0.63 s"), (12.34, "12.3 s"), (725, "12 min 5 s"), (7994, "2 h 13 min")],
)
def test_durations_read_well(seconds, text):
    assert duration_text(seconds) == text


def test_plan_lists_the_selection_and_a_total_and_runs_nothing(tmp_path: Path):
    out = subprocess.run(
        [sys.executable, "-m", "hil", "run", "--plan", "--out", str(tmp_path / "reports"),
         "--suite", "tid", "--suite", "keys", "--no-robot"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env={**os.environ, "COLUMNS": "80"},
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), max(lines, key=len)
    for name in ("test_replayed_token_is_used", "test_tid_memory_depth_both_sides_of_the_boundary",
                 "test_partial_key_change_times_out"):  # fmt: skip
        assert any(line.strip().startswith(name) for line in lines), name
    assert "test_credit_for_each_register" not in out.stdout  # not selected
    assert "key change timeout 12.0 s" in out.stdout  # 1.2 x kct_timeout_s of the fast profile
    total = [line for line in lines if line.startswith("total on rig sim (profile fast)")]
    assert len(total) == 1, out.stdout
    # nothing ran: no run directory, no reports folder, no simulator
    assert not (tmp_path / "reports").exists()
    assert list(tmp_path.iterdir()) == []


def test_an_unfinished_entry_waits_out_the_profiles_inter_digit_timeout():
    bench = keypad_bench()
    timeout_s = bench.profile.keypad.inter_digit_timeout_s
    hold = bench.profile.result_hold_s
    one = estimate(Cost(tokens=1, keys=10, entry_timeouts=1), bench)
    assert one.waits["entry timeout"] == pytest.approx(timeout_s - hold)


def _plan(cwd: Path, *args: str) -> tuple[float, str]:
    """``hil run --plan ARGS``: the total in seconds (its "N s in all", or the total line's
    figure when under a minute) and the output."""
    out = subprocess.run([sys.executable, "-m", "hil", "run", "--plan", *args],
                         capture_output=True, text=True, timeout=120, cwd=cwd,
                         env={**os.environ, "COLUMNS": "80"})  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    flat = " ".join(out.stdout.split())
    in_all = re.search(r"; (\d+) s in all\.", flat)
    if in_all:
        return float(in_all.group(1)), out.stdout
    total = re.search(r"total on rig .*?: \d+ tests? +([\d.]+) s", flat)
    assert total, out.stdout
    return float(total.group(1)), out.stdout


def test_a_quick_plan_leaves_out_the_long_tests_and_totals_less(tmp_path: Path):
    full_s, full = _plan(tmp_path)
    quick_s, quick = _plan(tmp_path, "--quick")
    assert 0 < quick_s < full_s
    assert "test_partial_key_change_times_out" in full
    assert "test_partial_key_change_times_out" not in quick
    assert "Relay Opens At Zero Credit" in full and "Relay Opens At Zero Credit" not in quick
    count = re.search(r"Quick selection \(hil run --quick\): (\d+) long tests? left out",
                      " ".join(quick.split()))  # fmt: skip
    ran = [int(re.search(r": (\d+) tests", line).group(1))
           for text in (full, quick) for line in text.splitlines()
           if line.startswith("total on rig")]  # fmt: skip
    assert count and ran[0] - ran[1] == int(count.group(1)) > 0
    assert "Quick selection" not in full

"""Supply control and power failures: relay at zero credit, new credit, atomic tokens, lockout."""

import time

import pytest

from hil.conformance.steps import await_meter_event, check_state, inject


@pytest.mark.clause("RELAY-ZERO-CREDIT", "RELAY-NEW-CREDIT")
@pytest.mark.requires("load_control")
def test_relay_opens_at_zero_credit_and_closes_on_new_credit(rig, tokens, oracle, evidence):
    inject(rig, oracle, evidence, tokens.credit(1))  # 0.1 kWh
    rig.mark()
    rig.set_load(3600)
    oracle.set_load(3600)
    evidence.note("0.1 kWh at 3600 W lasts 100 s of meter time")
    with rig.accelerate(200):
        await_meter_event(rig, oracle, evidence, "RELAY_CHANGED", relay="open", timeout_s=20)
        check_state(rig, oracle, evidence, "credit exhausted under load")
    if rig.has("relay_sensing"):
        assert not rig.sense_relay(), "the DMM still sees mains on the load side"
    rig.set_load(0)
    oracle.set_load(0)
    inject(rig, oracle, evidence, tokens.credit(10))
    if rig.has("relay_sensing"):
        assert rig.sense_relay(), "the DMM sees no mains after new credit"


@pytest.mark.clause("POWER-ENTRY")
@pytest.mark.requires("power_control", "keypad")
def test_power_failure_during_entry_changes_nothing(rig, tokens, oracle, evidence):
    case = tokens.credit(100)
    rig.keypad.type_keys(case.digits[:12])
    rig.power_cycle()
    oracle.power_cycle()
    check_state(rig, oracle, evidence, "after the interrupted entry")
    inject(rig, oracle, evidence, case)  # the whole token is accepted once afterwards
    check_state(rig, oracle, evidence)


@pytest.mark.clause("POWER-ATOMIC", "TID-USED")
@pytest.mark.requires("fault_injection")
def test_token_interrupted_by_power_failure_is_applied_at_most_once(rig, tokens, oracle, evidence):
    case = tokens.credit(100)
    before = rig.read_credit()
    rig.cut_power_during_processing(case.digits)
    after_cut = rig.read_credit()
    applied = after_cut - before
    evidence.note(f"credit after the power failure: {applied:+.3f} kWh")
    assert abs(applied) < 0.002 or abs(applied - 10.0) < 0.002, (
        f"the interrupted token changed credit by {applied:+.3f} kWh; a conforming meter "
        "applies it in full (+10.000) or not at all"
    )
    if abs(applied) >= 0.002:  # applied before the failure: re-entry must be Used
        oracle.expect(case.digits)
    oracle.power_cycle()
    inject(rig, oracle, evidence, case)
    total = rig.read_credit() - before
    assert abs(total - 10.0) < 0.002, (
        f"after re-entering the interrupted token the credit rose by {total:+.3f} kWh; it must "
        "rise by exactly +10.000 kWh: a token is applied once (credit and TID stored together)"
    )
    check_state(rig, oracle, evidence)


@pytest.mark.clause("LOCKOUT")
def test_repeated_rejects_lock_entry_with_doubling_back_off(rig, tokens, oracle, evidence, bulk):
    policy = rig.profile.lockout
    for _ in range(policy.after_rejects):
        inject(rig, oracle, evidence, tokens.wrong_meter(), via=bulk)
    first = rig.read_lockout()
    evidence.note(f"after {policy.after_rejects} rejects: {dict(first)}")
    assert first["active"], f"token entry is not locked after {policy.after_rejects} rejects"
    inject(rig, oracle, evidence, tokens.credit(10), via=bulk)  # locked: Lockout
    _wait_out(rig, oracle, float(rig.read_lockout()["remaining_s"]))
    inject(rig, oracle, evidence, tokens.wrong_meter(), via=bulk)  # one more: lock doubles
    second = rig.read_lockout()
    evidence.note(f"after one more reject: {dict(second)}")
    assert second["active"] and float(second["remaining_s"]) > policy.base_s * 1.5, (
        f"the next lockout lasts {second['remaining_s']} s; it must double to "
        f"{2 * policy.base_s:g} s"
    )
    _wait_out(rig, oracle, float(second["remaining_s"]))
    inject(rig, oracle, evidence, tokens.credit(10), via=bulk)  # unlocked; an accept resets
    check_state(rig, oracle, evidence)


def _wait_out(rig, oracle, seconds: float) -> None:
    """Let a lockout of ``seconds`` (meter time) run out, on the accelerated clock if any."""
    factor = max(1.0, seconds / 0.2)
    with rig.accelerate(factor):
        time.sleep(seconds / rig.speed + 0.05)
    oracle.advance()

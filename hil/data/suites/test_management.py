"""Management tokens: maximum power limit, clear credit, clear tamper; class 1 tests."""

import time

import pytest

from hil.conformance.steps import await_meter_event, check_state, inject


def _credit(rig, tokens, oracle, evidence, units=1000):
    inject(rig, oracle, evidence, tokens.credit(units))


@pytest.mark.clause("MPL")
@pytest.mark.requires("load_control")
@pytest.mark.parametrize("load_w", [500, 2000], ids=["below-limit", "above-limit"])
def test_maximum_power_limit(rig, tokens, oracle, evidence, load_w):
    _credit(rig, tokens, oracle, evidence)
    inject(rig, oracle, evidence, tokens.power_limit(1000))
    rig.mark()
    rig.set_load(load_w)
    oracle.set_load(load_w)
    if load_w > 1000:
        await_meter_event(
            rig, oracle, evidence, "RELAY_CHANGED", relay="open", reason="power_limit"
        )
    else:
        time.sleep(0.2 / rig.speed)
    check_state(rig, oracle, evidence, f"with {load_w} W against a 1000 W limit")
    if rig.has("relay_sensing"):
        assert rig.sense_relay() == oracle.model.relay_closed, "DMM disagrees with the probe"


@pytest.mark.clause("CLEAR-CREDIT")
def test_clear_credit_empties_the_register(rig, tokens, oracle, evidence):
    _credit(rig, tokens, oracle, evidence)
    inject(rig, oracle, evidence, tokens.clear_credit())
    check_state(rig, oracle, evidence)


@pytest.mark.clause("CLEAR-TAMPER")
@pytest.mark.requires("fault_injection")
def test_clear_tamper_restores_supply(rig, tokens, oracle, evidence):
    _credit(rig, tokens, oracle, evidence)
    rig.mark()
    rig.sim_control("tamper")
    oracle.model.tamper(oracle.model.now)
    await_meter_event(rig, oracle, evidence, "RELAY_CHANGED", relay="open", reason="tamper")
    check_state(rig, oracle, evidence, "tampered")
    inject(rig, oracle, evidence, tokens.clear_tamper())
    check_state(rig, oracle, evidence, "after ClearTamperCondition")


@pytest.mark.clause("CLASS1-TEST")
@pytest.mark.parametrize("test", ["display", "load-switch", "all"])
def test_meter_test_token(rig, tokens, oracle, evidence, test):
    _credit(rig, tokens, oracle, evidence, 100)
    rig.mark()
    inject(
        rig,
        oracle,
        evidence,
        tokens.meter_test(*([] if test == "all" else [test])),
        check_relay=False,
    )  # the load-switch test opens the relay for a while
    await_meter_event(rig, oracle, evidence, "TEST_STARTED")
    await_meter_event(
        rig,
        oracle,
        evidence,
        "TEST_ENDED",
        timeout_s=5 + 2 * rig.profile.load_switch_test_s / rig.speed,
    )
    time.sleep(0.05)
    check_state(rig, oracle, evidence, "after the test")


@pytest.mark.clause("CLASS1-TEST")
def test_meter_test_token_for_another_manufacturer(rig, tokens, oracle, evidence):
    other = (tokens.pan.mfr_code + 1) % (10000 if tokens.pan.iin == "0000" else 100)
    inject(rig, oracle, evidence, tokens.meter_test("display", mfr_code=other))

"""Management tokens: maximum power limit, clear credit, clear tamper; class 1 tests."""

import pytest


@pytest.mark.clause("MPL")
@pytest.mark.requires("load_control")
@pytest.mark.parametrize("load_w", [500, 2000], ids=["below-limit", "above-limit"])
def test_maximum_power_limit(session, load_w):
    session.inject(session.tokens.credit(1000))
    session.inject(session.tokens.power_limit(1000))
    session.set_load(load_w)
    if load_w > 1000:
        session.await_relay(False, timeout_s=5.0, what="relay opens above the power limit")
    else:
        session.let_time_pass(1.0)
    session.check_state(f"with {load_w} W against a 1000 W limit")
    if session.rig.has("relay_sensing"):
        session.sense_relay(session.oracle.model.relay_closed)


@pytest.mark.clause("CLEAR-CREDIT")
def test_clear_credit_empties_the_register(session):
    session.inject(session.tokens.credit(1000))
    session.inject(session.tokens.clear_credit())
    session.check_state()


@pytest.mark.clause("CLEAR-TAMPER")
@pytest.mark.requires("fault_injection")
def test_clear_tamper_restores_supply(session):
    session.inject(session.tokens.credit(1000))
    session.tamper()
    session.await_relay(False, timeout_s=5.0, what="relay opens on tamper")
    session.check_state("tampered")
    session.inject(session.tokens.clear_tamper())
    session.check_state("after ClearTamperCondition")


@pytest.mark.clause("CLASS1-TEST")
@pytest.mark.parametrize("test", ["display", "load-switch", "all"])
def test_meter_test_token(session, test):
    session.inject(session.tokens.credit(100))
    session.rig.mark()
    # The load-switch test opens the relay for a while: the relay is judged after it.
    session.inject(session.tokens.meter_test(*([] if test == "all" else [test])),
                   check_relay=False)  # fmt: skip
    session.await_event("TEST_STARTED")
    longest_s = session.rig.profile.load_switch_test_s / session.rig.speed
    session.await_event("TEST_ENDED", timeout_s=5 + 2 * longest_s)
    session.let_time_pass(0.05)
    session.check_state("after the test")


@pytest.mark.clause("CLASS1-TEST")
def test_meter_test_token_for_another_manufacturer(session):
    pan = session.tokens.pan
    other = (pan.mfr_code + 1) % (10000 if pan.iin == "0000" else 100)
    session.inject(session.tokens.meter_test("display", mfr_code=other))

"""Management tokens: maximum power limit, clear credit, clear tamper; class 1 tests."""

import pytest

from hil.conformance.factory import OTHER_MANAGEMENT_TOKENS
from hil.sts.tokens import TEST_CONTROLS


@pytest.mark.clause("MPL")
@pytest.mark.requires("load_control")
@pytest.mark.cost(tokens=2)
@pytest.mark.parametrize(
    "load_w",
    [pytest.param(500, marks=pytest.mark.cost(wait_s=1.0)), 2000],
    ids=["below-limit", "above-limit"],
)
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
@pytest.mark.cost(tokens=2)
def test_clear_credit_empties_the_register(session):
    session.inject(session.tokens.credit(1000))
    session.inject(session.tokens.clear_credit())
    session.check_state()


@pytest.mark.clause("CLEAR-TAMPER")
@pytest.mark.requires("fault_injection")
@pytest.mark.cost(tokens=2)
def test_clear_tamper_restores_supply(session):
    session.inject(session.tokens.credit(1000))
    session.tamper()
    session.await_relay(False, timeout_s=5.0, what="relay opens on tamper")
    session.check_state("tampered")
    session.inject(session.tokens.clear_tamper())
    session.check_state("after ClearTamperCondition")


@pytest.mark.clause("CLASS1-TEST")
@pytest.mark.cost(tokens=2)
@pytest.mark.parametrize(
    "test", [pytest.param(t, marks=pytest.mark.cost(meter_tests=t), id=t)
             for t in ("display", "load-switch", "all")]
)  # fmt: skip
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
@pytest.mark.cost(tokens=1)
def test_meter_test_token_for_another_manufacturer(session):
    pan = session.tokens.pan
    other = (pan.mfr_code + 1) % (10000 if pan.iin == "0000" else 100)
    session.inject(session.tokens.meter_test("display", mfr_code=other))


def _waited(test: str) -> str:
    """The class 1 test a cost declaration waits for (hil.plan knows display and load-switch
    lengths; every other test is a display test)."""
    return "load-switch" if test == "load-switch" else "display"


@pytest.mark.clause("CLASS1-EACH")
@pytest.mark.cost(tokens=1, bulk=1)
@pytest.mark.parametrize(
    "test", [pytest.param(t, marks=pytest.mark.cost(meter_tests=_waited(t)), id=t)
             for t in TEST_CONTROLS]
)  # fmt: skip
def test_each_declared_class1_test(session, test, bulk):
    """A test token whose control field selects only one test: the meter runs that test
    (TEST_STARTED names it) and ends it (sts-notes 3: each control bit selects one test; the
    bit meanings of Table 27 are the project's choice, hil.sts.tokens.TEST_CONTROLS). Tests
    the meter does not declare are not applicable."""
    session.require_function(f"class1:{test}")
    session.inject(session.tokens.credit(100), via=bulk)  # relay closed: load-switch shows
    session.rig.mark()
    # The load-switch test opens the relay for a while: the relay is judged after it.
    session.inject(session.tokens.meter_test(test), check_relay=False)
    session.await_event("TEST_STARTED", test=test)
    p = session.rig.profile
    longest_s = max(p.load_switch_test_s, p.display_test_s) / session.rig.speed
    session.await_event("TEST_ENDED", timeout_s=5 + 2 * longest_s)
    session.let_time_pass(0.05)
    session.check_state(f"after the {test} test")


@pytest.mark.clause("CLASS1-EACH")
@pytest.mark.cost(tokens=1, meter_tests="display")
def test_class1_token_in_the_other_mfr_code_form(session):
    """A display test token carrying the meter's own MfrCode in the other form (subclass 1,
    a 16-bit MfrCode, on a 2-digit meter; subclass 0, 8 bits, on a 4-digit one: sts-notes 3).
    Class 1 tokens are "usable on any meter of that MfrCode length" (bench-notes 4.1), so a
    meter refuses the other form with MfrCode, or takes it where its file declares so."""
    session.require_function("class1:other_form")
    pan = session.tokens.pan
    four = pan.iin != "0000"  # the form the meter's own MfrCode does not use
    if not four and pan.mfr_code > 0xFF:
        pytest.skip(f"MfrCode {pan.mfr_code} does not fit the 2-digit form's 8 bits")
    session.rig.mark()
    session.inject(session.tokens.meter_test("display", four_digit=four), check_relay=False)
    if session.oracle.model.tests_running:
        session.await_event("TEST_STARTED", test="display")
        timeout = 5 + 2 * session.rig.profile.display_test_s / session.rig.speed
        session.await_event("TEST_ENDED", timeout_s=timeout)
    session.check_state()


@pytest.mark.clause("MGMT-OTHER")
@pytest.mark.cost(tokens=1, bulk=1)
@pytest.mark.parametrize("function", list(OTHER_MANAGEMENT_TOKENS))
def test_other_management_function_applied_or_refused(session, function, bulk):
    """SetTariffRate (2/2), SetMaximumPhasePowerUnbalanceLimit (2/6) and SetWaterMeterFactor
    (2/7) (sts-notes 3): a meter that has the function accepts the token once (its TID is
    stored, so the same token again is Used); one that does not refuses it with Function
    (sts-notes 11) and stores nothing, so the same token again is Function too. Which one is
    the meter file's declaration. Their effects (a tariff, a phase limit, a water factor)
    have no readback in the probe contract, so only the token's handling is judged."""
    session.require_function(f"management:{function}")
    case = session.tokens.management(function)
    session.inject(case)
    session.inject(case, via=bulk)  # again: Used where applied, Function where refused
    session.check_state()

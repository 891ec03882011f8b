import pytest

from hil.conformance.steps import inject


@pytest.mark.clause("IEC 62055-41 TransferCredit")
def test_credit_accepted(rig, tokens, oracle, evidence):
    inject(rig, oracle, evidence, tokens.credit(256))


@pytest.mark.clause("IEC 62055-41 §7.3.8 Used")
def test_replay_is_used(rig, tokens, oracle, evidence):
    case = tokens.credit(10)
    inject(rig, oracle, evidence, case)
    inject(rig, oracle, evidence, case)

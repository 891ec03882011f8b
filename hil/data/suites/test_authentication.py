"""Authentication: tokens for another key, meter or identity, or mistyped, are CRC errors."""

import pytest

CASES = {
    "wrong-vending-key": lambda t: t.wrong_vending_key(),
    "wrong-meter": lambda t: t.wrong_meter(),
    "wrong-sgc": lambda t: t.wrong_sgc(),
    "wrong-ti": lambda t: t.wrong_ti(),
    "wrong-krn": lambda t: t.wrong_krn(),
    "digit-mistyped": lambda t: t.mistyped(),
    "digits-swapped": lambda t: t.swapped(),
}


@pytest.mark.clause("AUTH-CRC")
@pytest.mark.cost(tokens=1)
@pytest.mark.parametrize("make", list(CASES.values()), ids=list(CASES))
def test_token_that_does_not_authenticate_is_refused(session, make):
    session.inject(make(session.tokens))
    session.check_state()

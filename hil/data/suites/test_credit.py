"""Credit transfer: acceptance per register, amount boundaries, overflow."""

import pytest

# (units of 0.1 kWh, why): each side of every exponent boundary of the amount field.
BOUNDARIES = [
    (1, "smallest amount"),
    (16383, "largest exponent 0"),
    (16384, "first exponent 1"),
    (20000, "rounded up to 20004"),
    (180223, "just below exponent 2 (rounds up)"),
    (180224, "first exponent 2"),
    (1818623, "just below exponent 3 (rounds up)"),
    (1818624, "first exponent 3"),
]


@pytest.mark.clause("CREDIT-ACCEPT", "CREDIT-FUNCTION")
@pytest.mark.cost(tokens=1)
@pytest.mark.parametrize("kind", [0, 1, 2, 3], ids=["electricity", "water", "gas", "time"])
def test_credit_for_each_register(session, kind):
    """Supported registers accept credit; the others answer Function."""
    session.inject(session.tokens.credit(100, kind=kind))


@pytest.mark.clause("AMOUNT-ENCODING", "CREDIT-ACCEPT")
@pytest.mark.cost(bulk=1)
@pytest.mark.parametrize(("units", "why"), BOUNDARIES, ids=[str(u) for u, _ in BOUNDARIES])
def test_amount_boundary(session, units, why, bulk):
    session.inject(session.tokens.credit(units), via=bulk)
    session.check_state(f"after {units / 10:g} kWh ({why})")


@pytest.mark.clause("CREDIT-OVERFLOW")
@pytest.mark.cost(bulk=2)
def test_credit_overflow_is_refused(session, bulk):
    # Filling the register rests on the largest amounts decoding exactly.
    session.inject(session.tokens.credit(1818624), via=bulk, requirement="AMOUNT-ENCODING")
    # The register holds 999 999.9 kWh: the largest token amount cannot fit on top.
    session.inject(session.tokens.credit(18201624), via=bulk)
    session.check_state()

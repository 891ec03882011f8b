"""Luhn (mod 10) check digits for DRNs and MeterPANs."""

from hil.sts.errors import CheckDigitError, FieldError


def luhn_check_digit(payload: str) -> int:
    """Check digit to append to ``payload`` (digits only)."""
    if not payload.isdigit():
        raise FieldError(f"Luhn payload {payload!r} must contain digits only")
    total = 0
    # Double every other digit starting with the rightmost payload digit.
    for i, ch in enumerate(reversed(payload)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return (10 - total % 10) % 10


def verify_luhn(number: str, what: str = "number") -> None:
    """Raise CheckDigitError naming the expected digit when ``number``'s last digit is wrong."""
    if not number.isdigit() or len(number) < 2:
        raise FieldError(f"{what} {number!r} must be at least 2 digits, digits only")
    expected = luhn_check_digit(number[:-1])
    if int(number[-1]) != expected:
        raise CheckDigitError(
            f"{what} {number}: check digit (last digit) is {number[-1]}, expected {expected}"
            " - a digit may be mistyped"
        )

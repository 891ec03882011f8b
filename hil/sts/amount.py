"""The 16-bit amount field: 2-bit exponent, 14-bit mantissa (sts-notes 4.3).

Used for credit (0.1 kWh units for electricity), maximum power limit and phase
unbalance limit (watts). Encoding rounds up, in the customer's favour.
"""

from hil.sts.errors import FieldError

_MANTISSA_MAX = (1 << 14) - 1
# Offset of each exponent's range: sum of 2^14 * 10^(n-1) for n = 1..e.
OFFSETS = (0, 16384, 180224, 1818624)
SCALES = (1, 10, 100, 1000)
AMOUNT_MAX = _MANTISSA_MAX * 1000 + OFFSETS[3]  # 18 201 624 units


def decode_amount(field: int) -> int:
    """Units (for example 0.1 kWh) represented by a 16-bit amount field."""
    if not 0 <= field <= 0xFFFF:
        raise FieldError(f"amount field {field:#x} must be 16 bits")
    e = field >> 14
    return (field & _MANTISSA_MAX) * SCALES[e] + OFFSETS[e]


def encode_amount(units: int) -> int:
    """Smallest-exponent field whose value is >= ``units`` (rounded up)."""
    if not isinstance(units, int) or isinstance(units, bool):
        raise FieldError(f"amount {units!r} must be a whole number of units")
    if not 0 <= units <= AMOUNT_MAX:
        raise FieldError(f"amount {units} units is outside 0..{AMOUNT_MAX}")
    for e in range(4):
        mantissa = -(-(units - OFFSETS[e]) // SCALES[e])  # ceiling division
        if mantissa <= _MANTISSA_MAX:
            return (e << 14) | max(mantissa, 0)
    raise AssertionError("unreachable: AMOUNT_MAX is representable")

"""The 16-bit amount field: 2-bit exponent, 14-bit mantissa (sts-notes 4.3).

Used for credit (0.1 kWh units for electricity), maximum power limit and phase
unbalance limit (watts). Encoding rounds up, in the customer's favour.
"""

from hil.sts.errors import FieldError

_MANTISSA_MAX = (1 << 14) - 1
# Offset of each exponent's range: sum of 2^14 * 10^(n-1) for n = 1..e.
OFFSETS = (0, 16384, 180224, 1818624)
SCALES = (1, 10, 100, 1000)
_TOPS = tuple(_MANTISSA_MAX * scale + offset for scale, offset in zip(SCALES, OFFSETS, strict=True))
AMOUNT_MAX = _TOPS[3]  # 18 201 624 units


def decode_amount(field: int) -> int:
    """Units (for example 0.1 kWh) represented by a 16-bit amount field."""
    if not 0 <= field <= 0xFFFF:
        raise FieldError(f"amount field {field:#x} must be 16 bits")
    e = field >> 14
    return (field & _MANTISSA_MAX) * SCALES[e] + OFFSETS[e]


def encode_amount(units: int) -> int:
    """Smallest-exponent field whose value is >= ``units`` (rounded up)."""
    if type(units) is int and 0 <= units <= _MANTISSA_MAX:
        return units  # exponent 0, the common case: the field is the value
    if not isinstance(units, int) or isinstance(units, bool):
        raise FieldError(f"amount {units!r} must be a whole number of units")
    if not 0 <= units <= AMOUNT_MAX:
        raise FieldError(f"amount {units} units is outside 0..{AMOUNT_MAX}")
    # The largest value each exponent can hold; above it the rounded-up mantissa overflows.
    for e, top in enumerate(_TOPS):
        if units <= top:
            return (e << 14) | -(-(units - OFFSETS[e]) // SCALES[e])
    raise AssertionError("unreachable: AMOUNT_MAX is representable")


def check_amount(units: int, what: str = "amount") -> None:
    """Cheap validation (no encoding) for token constructors."""
    if not isinstance(units, int) or not 0 <= units <= AMOUNT_MAX:
        raise FieldError(f"{what} {units!r} is outside 0..{AMOUNT_MAX} units")

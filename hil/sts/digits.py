"""66-bit token <-> 64-bit block + class, and the 20-digit form (sts-notes 6)."""

from hil.sts.errors import TokenFormatError

TOKEN_DIGITS = 20
_MASK64 = (1 << 64) - 1
_BITS_27_28 = (1 << 27) | (1 << 28)


def insert_class(block: int, token_class: int) -> int:
    """Move block bits 27/28 to 64/65 and put the class bits in their place."""
    moved = ((block >> 27) & 3) << 64
    return moved | (block & ~_BITS_27_28 & _MASK64) | (token_class << 27)


def extract_class(token66: int) -> tuple[int, int]:
    """Inverse of insert_class: (class, 64-bit block)."""
    token_class = (token66 >> 27) & 3
    block = (token66 & _MASK64 & ~_BITS_27_28) | ((token66 >> 64) << 27)
    return token_class, block


def to_digits(token66: int) -> str:
    return f"{token66:020d}"


def parse_token(text: str) -> int:
    """Parse 20 digits, plain or grouped 4-4-4-4-4 (spaces or dashes); return the 66-bit number."""
    stripped = text.strip()
    groups = stripped.replace("-", " ").split()
    if len(groups) == 5 and all(len(g) == 4 for g in groups):
        digits = "".join(groups)
    elif len(groups) == 1:
        digits = groups[0]
    else:
        raise TokenFormatError(f"token {text!r} must be 20 digits, plain or grouped 4-4-4-4-4")
    if not digits.isdigit() or not digits.isascii():
        raise TokenFormatError(f"token {text!r} contains characters other than digits")
    if len(digits) != TOKEN_DIGITS:
        raise TokenFormatError(f"token {text!r} has {len(digits)} digits; a token has 20")
    value = int(digits)
    if value >> 66:
        raise TokenFormatError(f"token {text!r} is larger than 66 bits (max 73786976294838206463)")
    return value


def group(digits: str) -> str:
    return " ".join(digits[i : i + 4] for i in range(0, len(digits), 4))

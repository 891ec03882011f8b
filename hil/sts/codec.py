"""Token <-> 20 digits under a decoder key: CRC, encryption, class-bit transposition.

This is the hot path of the engine (benchmarks/token_engine.py), so the steps are
written out rather than layered.
"""

from __future__ import annotations

from dataclasses import dataclass

from hil.sts.crc import crc_field
from hil.sts.digits import extract_class, parse_token
from hil.sts.errors import CrcError, KeyExpiredError, MfrCodeError
from hil.sts.keys import DecoderKey
from hil.sts.tokens import MeterTestToken, TidToken, Token, decode_payload

_MASK44 = (1 << 44) - 1
_KEEP = ((1 << 64) - 1) & ~(3 << 27)  # block bits that stay in place (not 27, 28)


def data_block(token: Token) -> int:
    """The 64-bit block before encryption: subclass, payload, CRC field."""
    body = token.subclass << 44 | token.payload()
    return body << 16 | crc_field(token.token_class, body)


def check_not_expired(token: Token, ken: int) -> None:
    """Vending-side rule: refuse a token whose TID lies past the key's KEN."""
    if isinstance(token, TidToken) and token.tid >> 16 > ken:
        raise KeyExpiredError(
            f"key expired: TID {token.tid} has top byte {token.tid >> 16} > KEN {ken};"
            " issue a key change to a key with a later KEN"
        )


def encode(token: Token, key: DecoderKey | None, ken: int = 255) -> str:
    """The 20-digit token. Class 1 tokens are not encrypted and need no key."""
    check_not_expired(token, ken)
    token_class = token.token_class
    body = token.subclass << 44 | token.payload()
    block = body << 16 | crc_field(token_class, body)
    if token_class != 1:
        if key is None:
            raise ValueError(f"{token.title} tokens are encrypted: a decoder key is required")
        block = key.encrypt_block(block)
    # insert_class and to_digits, inlined: one call less per token on the hot path.
    return f"{(block >> 27 & 3) << 64 | block & _KEEP | token_class << 27:020d}"


@dataclass(frozen=True, slots=True)
class Decoded:
    """A decoded token with the intermediate values a vector check compares."""

    token: Token
    token_class: int
    data_block: int
    encrypted_block: int


def decode(digits: str, key: DecoderKey | None, mfr_code: int | None = None) -> Decoded:
    """Parse, decrypt and check a token. Raises CrcError for a typo or the wrong key."""
    token_class, block = extract_class(parse_token(digits))
    plain = block if token_class == 1 else _decrypt(block, key, token_class)
    body = plain >> 16
    if plain & 0xFFFF != crc_field(token_class, body):
        raise CrcError("token fails its CRC: a digit is mistyped or it was made for another key")
    token = decode_payload(token_class, body >> 44, body & _MASK44)
    if mfr_code is not None and isinstance(token, MeterTestToken) and token.mfr_code != mfr_code:
        raise MfrCodeError(
            f"test token is for manufacturer code {token.mfr_code}, this meter is {mfr_code}"
        )
    return Decoded(token, token_class, plain, block)


def _decrypt(block: int, key: DecoderKey | None, token_class: int) -> int:
    if key is None:
        raise ValueError(f"class {token_class} tokens are encrypted: a decoder key is required")
    return key.decrypt_block(block)

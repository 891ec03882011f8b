"""Typed errors of the token engine. Messages are one line and say what is accepted."""


class StsError(ValueError):
    """Base class: anything the token engine refuses."""


class FieldError(StsError):
    """A field value is out of range or malformed (TID, amount, SGC, key, ...)."""


class CheckDigitError(FieldError):
    """A MeterPAN or DRN has a wrong Luhn check digit."""


class TokenFormatError(StsError):
    """A token string is not 20 decimal digits (plain or grouped 4-4-4-4-4)."""


class CrcError(StsError):
    """The decrypted block fails its CRC: a mistyped token or the wrong decoder key."""


class MfrCodeError(StsError):
    """A class 1 token carries another manufacturer's code."""


class KeyExpiredError(StsError):
    """The token's TID lies past the key's expiry number (KEN)."""


class UnsupportedError(StsError):
    """A token type or algorithm the engine deliberately does not implement."""

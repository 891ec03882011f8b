"""Meter identity: DRN (IAIN) and the 18-digit MeterPAN (sts-notes section 1)."""

from __future__ import annotations

from dataclasses import dataclass

from hil.sts.errors import FieldError
from hil.sts.luhn import luhn_check_digit, verify_luhn

LEGACY_IIN = "600727"  # used with 2-digit manufacturer codes
MODERN_IIN = "0000"  # used with 4-digit manufacturer codes


@dataclass(frozen=True, slots=True)
class MeterPan:
    """An 18-digit MeterPAN = IIN + IAIN (DRN) + PAN check digit."""

    digits: str

    def __post_init__(self) -> None:
        if len(self.digits) != 18 or not self.digits.isdigit():
            raise FieldError(f"MeterPAN {self.digits!r} must be 18 digits")
        verify_luhn(self.digits, "MeterPAN")

    @property
    def iin(self) -> str:
        return LEGACY_IIN if self.digits.startswith(LEGACY_IIN) else MODERN_IIN

    @property
    def drn(self) -> str:
        """The meter number printed on the meter (IAIN, with its own check digit)."""
        return self.digits[len(self.iin) : -1]

    @property
    def mfr_code(self) -> int:
        return int(self.drn[: 2 if self.iin == LEGACY_IIN else 4])

    def __str__(self) -> str:
        return self.digits

    @classmethod
    def from_drn(cls, drn: str) -> MeterPan:
        """Build the MeterPAN from an 11-digit (2-digit MfrCode) or 13-digit DRN."""
        drn = drn.replace(" ", "").replace("-", "")
        if not drn.isdigit() or len(drn) not in (11, 13):
            raise FieldError(
                f"DRN {drn!r} must be 11 digits (2-digit MfrCode) or 13 digits (4-digit MfrCode)"
            )
        verify_luhn(drn, "DRN")
        body = (LEGACY_IIN if len(drn) == 11 else MODERN_IIN) + drn
        return cls(body + str(luhn_check_digit(body)))

    @classmethod
    def parse(cls, text: str) -> MeterPan:
        """Accept either a full 18-digit MeterPAN or a DRN."""
        cleaned = text.replace(" ", "").replace("-", "")
        if len(cleaned) == 18:
            return cls(cleaned)
        return cls.from_drn(cleaned)

"""Key register identity and decoder keys (sts-notes 1, 8).

``KeyInfo`` is what a meter stores beside its key and what reports may show (SGC, TI,
KRN, KT, KEN, base date, EA, DKGA). ``DecoderKey`` holds the secret and the cipher; its
repr never shows the key value.
"""

from __future__ import annotations

from dataclasses import dataclass

from Crypto.Cipher import DES

from hil.sts.ea07 import SAMPLE_TABLES, Ea07, StaTables
from hil.sts.errors import FieldError, UnsupportedError
from hil.sts.misty1 import Misty1
from hil.sts.tid import BASE_DATES

KEY_TYPES = {0: "DITK", 1: "DDTK", 2: "DUTK", 3: "DCTK"}
ALGORITHMS = {7: "EA07 (STA)", 9: "EA09 (DES)", 11: "EA11 (MISTY1)"}
KEY_BITS = {7: 64, 9: 64, 11: 128}


def parse_hex_key(text: str, what: str = "key", bits: tuple[int, ...] = (64, 128, 160)) -> bytes:
    cleaned = text.strip().replace(" ", "")
    try:
        value = bytes.fromhex(cleaned)
    except ValueError:
        raise FieldError(f"{what} must be hexadecimal digits") from None
    if len(value) * 8 not in bits:
        allowed = " or ".join(f"{b // 4} hex digits" for b in bits)
        raise FieldError(f"{what} has {len(cleaned)} hex digits; expected {allowed}")
    return value


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """The public identity of a decoder key."""

    sgc: int
    ti: int
    krn: int
    kt: int = 2
    ken: int = 255
    base_year: int = 1993
    ea: int = 11
    dkga: int = 4

    def __post_init__(self) -> None:
        checks = (
            ("SGC", self.sgc, 0, 999_999, "6 decimal digits"),
            ("TI", self.ti, 0, 99, "00..99"),
            ("KRN", self.krn, 1, 9, "1..9"),
            ("KT", self.kt, 0, 3, "0 DITK, 1 DDTK, 2 DUTK, 3 DCTK"),
            ("KEN", self.ken, 0, 255, "0..255"),
        )
        for name, value, low, high, accepted in checks:
            if not isinstance(value, int) or not low <= value <= high:
                raise FieldError(f"{name} {value!r} is out of range; accepted: {accepted}")
        if self.base_year not in BASE_DATES:
            raise FieldError(f"base date {self.base_year} must be 1993, 2014 or 2035")
        if self.ea not in ALGORITHMS:
            raise FieldError(f"EA {self.ea:02d} is unknown; accepted: 07, 09, 11")
        if self.dkga not in (1, 2, 3, 4):
            raise FieldError(f"DKGA {self.dkga:02d} is unknown; accepted: 01, 02, 03, 04")

    @property
    def sgc_text(self) -> str:
        return f"{self.sgc:06d}"

    @property
    def key_bits(self) -> int:
        return KEY_BITS[self.ea]

    def describe(self) -> dict[str, str | int]:
        """Key identity fields as reports show them (never key values)."""
        return {
            "sgc": self.sgc_text,
            "ti": f"{self.ti:02d}",
            "krn": self.krn,
            "kt": self.kt,
            "ken": self.ken,
            "base_date": self.base_year,
            "ea": f"{self.ea:02d}",
            "dkga": f"{self.dkga:02d}",
        }


class _Des:
    """EA09: single DES (ECB) of the block under the decoder key (withdrawn in 2018)."""

    __slots__ = ("_des",)

    def __init__(self, key: bytes) -> None:
        self._des = DES.new(key, DES.MODE_ECB)

    def encrypt_block(self, block: int) -> int:
        return int.from_bytes(self._des.encrypt(block.to_bytes(8, "big")), "big")

    def decrypt_block(self, block: int) -> int:
        return int.from_bytes(self._des.decrypt(block.to_bytes(8, "big")), "big")


class DecoderKey:
    """A decoder key with its cipher expanded once. The value is secret: no repr, no str."""

    # __weakref__: hil.sts.batch caches its numpy cipher state per key without a cycle.
    __slots__ = ("__weakref__", "_value", "decrypt_block", "ea", "encrypt_block", "sta_tables")

    def __init__(self, value: bytes, ea: int, sta_tables: StaTables = SAMPLE_TABLES) -> None:
        bits = KEY_BITS.get(ea)
        if bits is None:
            raise UnsupportedError(f"EA {ea:02d} is not supported; accepted: 07, 09, 11")
        if len(value) * 8 != bits:
            raise FieldError(
                f"EA{ea:02d} needs a {bits}-bit decoder key, got {len(value) * 8} bits"
            )
        self._value = bytes(value)
        self.ea = ea
        self.sta_tables = sta_tables  # used by EA07 only; kept so batch ciphers match
        cipher = Ea07(value, sta_tables) if ea == 7 else _Des(value) if ea == 9 else Misty1(value)
        self.encrypt_block = cipher.encrypt_block
        self.decrypt_block = cipher.decrypt_block

    @property
    def value(self) -> bytes:
        """The raw key: for deriving key-change tokens only; never log or report it."""
        return self._value

    @classmethod
    def from_hex(cls, text: str, ea: int, sta_tables: StaTables = SAMPLE_TABLES) -> DecoderKey:
        return cls(parse_hex_key(text, "decoder key", (KEY_BITS.get(ea, 64),)), ea, sta_tables)

    def __repr__(self) -> str:
        return f"DecoderKey(EA{self.ea:02d}, <secret>)"

    __str__ = __repr__

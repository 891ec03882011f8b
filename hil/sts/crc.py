"""STS CRC-16 (sts-notes 5): reflected polynomial 0xA001, init 0xFFFF, no final XOR.

``crc16_register`` is the textbook byte-wise routine. ``crc_field`` is on the token hot
path and uses that a CRC is affine in its input: the field of (class, body) is a constant
per class XOR one table entry per body byte. Both are tested against each other.
"""

from hil.crc16 import crc16_reflected, reflected_table

_TABLE = reflected_table(0xA001)


def crc16_register(data: bytes) -> int:
    return crc16_reflected(data, _TABLE)


def _swapped(reg: int) -> int:
    """The register as stored in the block: low byte first."""
    return ((reg & 0xFF) << 8) | (reg >> 8)


def _linear_field(value56: int) -> int:
    """Stored field of 7 bytes with the register starting at 0: the linear part of the CRC."""
    return _swapped(crc16_reflected(value56.to_bytes(7, "big"), _TABLE, reg=0))


# CLASS_TERMS[c]: field of class c with an all-zero body (carries the 0xFFFF start value).
CLASS_TERMS: tuple[int, ...] = tuple(
    _swapped(crc16_register(bytes([c, 0, 0, 0, 0, 0, 0]))) for c in range(4)
)
# BYTE_TABLES[j][v]: what body byte j (bits 8j+7..8j) of value v adds to the field.
BYTE_TABLES: tuple[tuple[int, ...], ...] = tuple(
    tuple(_linear_field(v << (8 * j)) for v in range(256)) for j in range(6)
)
_E0, _E1, _E2, _E3, _E4, _E5 = BYTE_TABLES


def crc_field(token_class: int, body48: int) -> int:
    """The 16-bit CRC field for class bits + the block's top 48 bits (subclass and payload).

    The 50 input bits are fed as 7 bytes, most significant first; the register is
    stored byte-swapped in the block.
    """
    return (
        CLASS_TERMS[token_class]
        ^ _E5[body48 >> 40]
        ^ _E4[body48 >> 32 & 0xFF]
        ^ _E3[body48 >> 24 & 0xFF]
        ^ _E2[body48 >> 16 & 0xFF]
        ^ _E1[body48 >> 8 & 0xFF]
        ^ _E0[body48 & 0xFF]
    )

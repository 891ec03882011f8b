"""STS CRC-16 (sts-notes 5): reflected polynomial 0xA001, init 0xFFFF, no final XOR.

``crc16_register`` is the textbook byte-wise routine. ``crc_field`` is on the token hot
path and uses that a CRC is affine in its input: the field of (class, body) is a constant
per class XOR one table entry per body byte. Both are tested against each other.
"""


def _table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        reg = byte
        for _ in range(8):
            reg = (reg >> 1) ^ 0xA001 if reg & 1 else reg >> 1
        table.append(reg)
    return tuple(table)


_TABLE = _table()


def crc16_register(data: bytes) -> int:
    reg = 0xFFFF
    for byte in data:
        reg = (reg >> 8) ^ _TABLE[(reg ^ byte) & 0xFF]
    return reg


def _swapped(reg: int) -> int:
    """The register as stored in the block: low byte first."""
    return ((reg & 0xFF) << 8) | (reg >> 8)


def _linear_field(value56: int) -> int:
    """Stored field of 7 bytes with the register starting at 0: the linear part of the CRC."""
    reg = 0
    for shift in (48, 40, 32, 24, 16, 8, 0):
        reg = (reg >> 8) ^ _TABLE[(reg ^ (value56 >> shift)) & 0xFF]
    return _swapped(reg)


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

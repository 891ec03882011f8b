"""Table-driven reflected CRC-16: one routine for the STS token CRC (polynomial 0xA001) and
the HDLC frame check of DLMS (0x8408); each caller adds its own preset and final XOR."""

from __future__ import annotations


def reflected_table(poly: int) -> tuple[int, ...]:
    """The 256-entry table of a CRC-16 processed least significant bit first."""
    table = []
    for byte in range(256):
        reg = byte
        for _ in range(8):
            reg = (reg >> 1) ^ poly if reg & 1 else reg >> 1
        table.append(reg)
    return tuple(table)


def crc16_reflected(data: bytes | bytearray | memoryview, table: tuple[int, ...],
                    reg: int = 0xFFFF) -> int:  # fmt: skip
    """The register after feeding ``data`` byte by byte, from ``reg``."""
    for byte in data:
        reg = (reg >> 8) ^ table[(reg ^ byte) & 0xFF]
    return reg

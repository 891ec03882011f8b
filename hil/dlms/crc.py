"""CRC-16/X.25, the HCS and FCS of IEC 62056-46 HDLC frames.

Polynomial x^16 + x^12 + x^5 + 1 processed LSB first (reflected 0x8408), register preset to
0xFFFF, ones' complement at the end; the result is sent low byte first. The check value over
b"123456789" is 0x906E.
"""

from __future__ import annotations

from hil.crc16 import crc16_reflected, reflected_table

_TABLE = reflected_table(0x8408)


def crc16_x25(data: bytes | bytearray | memoryview) -> int:
    """The CRC of `data` as an integer (send it with `crc_bytes`)."""
    return crc16_reflected(data, _TABLE) ^ 0xFFFF


def crc_bytes(data: bytes | bytearray | memoryview) -> bytes:
    """The two check bytes that follow `data` on the wire (low byte first)."""
    return crc16_x25(data).to_bytes(2, "little")

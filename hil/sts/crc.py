"""STS CRC-16 (sts-notes 5): reflected polynomial 0xA001, init 0xFFFF, no final XOR."""


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


def crc_field(token_class: int, body48: int) -> int:
    """The 16-bit CRC field for class bits + the block's top 48 bits (subclass and payload).

    The 50 input bits are fed as 7 bytes, most significant first; the register is
    stored byte-swapped in the block.
    """
    value = (token_class << 48) | body48
    reg = 0xFFFF
    table = _TABLE
    # Unrolled over the 7 bytes: this is on the token hot path.
    for shift in (48, 40, 32, 24, 16, 8, 0):
        reg = (reg >> 8) ^ table[(reg ^ (value >> shift)) & 0xFF]
    return ((reg & 0xFF) << 8) | (reg >> 8)

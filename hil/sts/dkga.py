"""Decoder key generation algorithms (sts-notes 9).

DKGA02 and DKGA04 are confirmed by known-answer vectors. DKGA01 and DKGA03 follow the
only public descriptions and have no vectors: they are marked unverified in the docs.
"""

from __future__ import annotations

import hmac

from Crypto.Cipher import DES, DES3

from hil.sts.errors import FieldError, UnsupportedError
from hil.sts.identity import MeterPan
from hil.sts.keys import KEY_BITS, KeyInfo

VERIFIED = {2: True, 4: True, 1: False, 3: False}


def pan_block(pan: MeterPan, kt: int) -> bytes:
    """Rightmost 16 digits of IIN + IAIN, one digit per nibble; IAIN zeroed for a DCTK."""
    return pan_block_from(pan.iin, pan.drn, kt)


def pan_block_from(iin: str, iain: str | None, kt: int) -> bytes:
    if kt == 3 or iain is None:
        iain = "0" * (11 if len(iin) == 6 else 13)
    return bytes.fromhex((iin + iain)[-16:])


def control_block(info: KeyInfo) -> bytes:
    return bytes.fromhex(f"{info.kt}{info.sgc:06d}{info.ti:02d}{info.krn}FFFFFF")


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def _data_block(pan: MeterPan, info: KeyInfo) -> bytes:
    return _xor(pan_block(pan, info.kt), control_block(info))


def dkga02(vending_key: bytes, pan: MeterPan, info: KeyInfo) -> bytes:
    d = _data_block(pan, info)
    return _xor(_xor(DES.new(vending_key, DES.MODE_ECB).encrypt(d), d), vending_key)


def dkga01(vending_key: bytes, pan: MeterPan, info: KeyInfo) -> bytes:
    """Unverified: roles of key and data swapped relative to DKGA02 (one public port)."""
    d = _data_block(pan, info)
    return _xor(DES.new(d, DES.MODE_ECB).encrypt(vending_key), vending_key)


def dkga03(vending_key: bytes, pan: MeterPan, info: KeyInfo) -> bytes:
    """Unverified: 3DES-EDE2 of the data block under VK1 || VK2, XOR the block."""
    d = _data_block(pan, info)
    try:
        cipher = DES3.new(vending_key, DES3.MODE_ECB)
    except ValueError:
        raise FieldError("DKGA03 vending key halves must differ (3DES would degenerate)") from None
    return _xor(cipher.encrypt(d), d)


def _lv(text: str) -> bytes:
    return bytes([len(text)]) + text.encode("ascii")


def dkga04_message_parts(info: KeyInfo) -> tuple[bytes, bytes]:
    """DKGA04's message around LV(MeterPAN): everything before it and after it.

    Split so that hil.sts.batch hashes many meters under one key identity with the same
    bytes as the scalar path.
    """
    label = b"\x04" + _lv("04") + _lv(f"{info.base_year % 100:02d}") + _lv(f"{info.ea:02d}")
    label += _lv(f"{info.ti:02d}")
    context = b"\x04" + _lv(f"{info.sgc:06d}") + _lv(str(info.kt)) + _lv(str(info.krn))
    return label + b"\x00" + context, KEY_BITS[info.ea].to_bytes(4, "big")


def dkga04_message(pan: MeterPan, info: KeyInfo) -> bytes:
    head, tail = dkga04_message_parts(info)
    return head + _lv(pan.digits) + tail


def dkga04(vending_key: bytes, pan: MeterPan, info: KeyInfo) -> bytes:
    digest = hmac.digest(vending_key, dkga04_message(pan, info), "sha256")
    return digest[: KEY_BITS[info.ea] // 8]


_VK_BYTES = {1: (8,), 2: (8,), 3: (16,), 4: (20,)}
_ALGORITHMS = {1: dkga01, 2: dkga02, 3: dkga03, 4: dkga04}


def check_derivation(vending_key: bytes, info: KeyInfo) -> None:
    """Refuse a vending key of the wrong size for the DKGA, or a DKGA that cannot make the key."""
    if len(vending_key) not in _VK_BYTES[info.dkga]:
        want = _VK_BYTES[info.dkga][0]
        raise FieldError(
            f"DKGA{info.dkga:02d} needs a {want * 8}-bit vending key ({want * 2} hex digits),"
            f" got {len(vending_key) * 2}"
        )
    if info.dkga != 4 and info.ea == 11:
        raise UnsupportedError(f"DKGA{info.dkga:02d} makes 64-bit keys; EA11 needs DKGA04")


def derive_decoder_key(vending_key: bytes, pan: MeterPan, info: KeyInfo) -> bytes:
    """Decoder key for a meter and key identity, by the key's DKGA."""
    check_derivation(vending_key, info)
    return _ALGORITHMS[info.dkga](vending_key, pan, info)

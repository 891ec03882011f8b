"""MISTY1 (RFC 2994) as used for STS EA11.

The fast cipher in hil.sts.misty1 is checked against the RFC and STS vectors and
against a slow, literal transcription of the RFC's pseudo-code written below.
"""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hil.sts.misty1 import _S7, _S9, _T1, _T2, Misty1

RFC_KEY = bytes.fromhex("00112233445566778899aabbccddeeff")
STS_KEY = bytes.fromhex("F94B6ED353C3BFDB113E2D3A7EA3C41D")

keys = st.binary(min_size=16, max_size=16)
blocks = st.integers(min_value=0, max_value=(1 << 64) - 1)
words = st.integers(min_value=0, max_value=0xFFFF)


# --- Reference: RFC 2994 section 2, step by step, no tricks -----------------


def ref_fi(fi_in: int, fi_key: int) -> int:
    d9 = fi_in >> 7
    d7 = fi_in & 0x7F
    d9 = _S9[d9] ^ d7
    d7 = _S7[d7] ^ d9
    d7 = d7 & 0x7F
    d7 = d7 ^ (fi_key >> 9)
    d9 = d9 ^ (fi_key & 0x1FF)
    d9 = _S9[d9] ^ d7
    return (d7 << 9) | d9


def ref_key_schedule(key: bytes) -> list[int]:
    ek = [0] * 32
    for i in range(8):
        ek[i] = key[i * 2] * 256 + key[i * 2 + 1]
    for i in range(8):
        ek[i + 8] = ref_fi(ek[i], ek[(i + 1) % 8])
        ek[i + 16] = ek[i + 8] & 0x1FF
        ek[i + 24] = ek[i + 8] >> 9
    return ek


def ref_fo(ek: list[int], fo_in: int, k: int) -> int:
    t0 = fo_in >> 16
    t1 = fo_in & 0xFFFF
    t0 = t0 ^ ek[k]
    t0 = ref_fi(t0, ek[(k + 5) % 8 + 8])
    t0 = t0 ^ t1
    t1 = t1 ^ ek[(k + 2) % 8]
    t1 = ref_fi(t1, ek[(k + 1) % 8 + 8])
    t1 = t1 ^ t0
    t0 = t0 ^ ek[(k + 7) % 8]
    t0 = ref_fi(t0, ek[(k + 3) % 8 + 8])
    t0 = t0 ^ t1
    t1 = t1 ^ ek[(k + 4) % 8]
    return (t1 << 16) | t0


def ref_fl(ek: list[int], fl_in: int, k: int) -> int:
    d0 = fl_in >> 16
    d1 = fl_in & 0xFFFF
    if k % 2 == 0:
        d1 = d1 ^ (d0 & ek[k // 2])
        d0 = d0 ^ (d1 | ek[(k // 2 + 6) % 8 + 8])
    else:
        d1 = d1 ^ (d0 & ek[((k - 1) // 2 + 2) % 8 + 8])
        d0 = d0 ^ (d1 | ek[((k - 1) // 2 + 4) % 8])
    return (d0 << 16) | d1


def ref_flinv(ek: list[int], fl_in: int, k: int) -> int:
    d0 = fl_in >> 16
    d1 = fl_in & 0xFFFF
    if k % 2 == 0:
        d0 = d0 ^ (d1 | ek[(k // 2 + 6) % 8 + 8])
        d1 = d1 ^ (d0 & ek[k // 2])
    else:
        d0 = d0 ^ (d1 | ek[((k - 1) // 2 + 4) % 8])
        d1 = d1 ^ (d0 & ek[((k - 1) // 2 + 2) % 8 + 8])
    return (d0 << 16) | d1


def ref_encrypt(key: bytes, block: int) -> int:
    ek = ref_key_schedule(key)
    d0 = block >> 32
    d1 = block & 0xFFFFFFFF
    for r in range(0, 8, 2):
        d0 = ref_fl(ek, d0, r)
        d1 = ref_fl(ek, d1, r + 1)
        d1 = d1 ^ ref_fo(ek, d0, r)
        d0 = d0 ^ ref_fo(ek, d1, r + 1)
    d0 = ref_fl(ek, d0, 8)
    d1 = ref_fl(ek, d1, 9)
    return (d1 << 32) | d0


def ref_decrypt(key: bytes, block: int) -> int:
    ek = ref_key_schedule(key)
    d1 = block >> 32
    d0 = block & 0xFFFFFFFF
    d0 = ref_flinv(ek, d0, 8)
    d1 = ref_flinv(ek, d1, 9)
    for r in range(6, -1, -2):
        d0 = d0 ^ ref_fo(ek, d1, r + 1)
        d1 = d1 ^ ref_fo(ek, d0, r)
        d0 = ref_flinv(ek, d0, r)
        d1 = ref_flinv(ek, d1, r + 1)
    return (d0 << 32) | d1


# --- Known answers -----------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "plain", "cipher"),
    [
        (RFC_KEY, 0x0123456789ABCDEF, 0x8B1DA5F56AB3D07C),
        (RFC_KEY, 0xFEDCBA9876543210, 0x04B68240B13BE95D),
        # STS EA11 data blocks under an STS decoder key.
        (STS_KEY, 0x155A45B500072720, 0x7153AE6F7F44EF48),
        (STS_KEY, 0x055A45293FFFF5EC, 0xC240BD06E330F22B),
    ],
)
def test_known_answers(key: bytes, plain: int, cipher: int) -> None:
    m = Misty1(key)
    assert m.encrypt_block(plain) == cipher
    assert m.decrypt_block(cipher) == plain
    assert ref_encrypt(key, plain) == cipher
    assert ref_decrypt(key, cipher) == plain


def test_rfc_vectors_as_bytes() -> None:
    # The RFC's 16-byte message and ciphertext as two big-endian blocks.
    m = Misty1(RFC_KEY)
    plain = bytes.fromhex("0123456789abcdeffedcba9876543210")
    got = b"".join(
        m.encrypt_block(int.from_bytes(plain[i : i + 8], "big")).to_bytes(8, "big") for i in (0, 8)
    )
    assert got.hex() == "8b1da5f56ab3d07c04b68240b13be95d"


def test_key_may_be_bytearray_or_memoryview() -> None:
    expected = Misty1(RFC_KEY).encrypt_block(0x0123456789ABCDEF)
    assert Misty1(bytearray(RFC_KEY)).encrypt_block(0x0123456789ABCDEF) == expected
    assert Misty1(memoryview(RFC_KEY)).encrypt_block(0x0123456789ABCDEF) == expected


# --- Tables ------------------------------------------------------------------


@pytest.mark.parametrize(("sbox", "bits"), [(_S7, 7), (_S9, 9)])
def test_sboxes_are_apn_permutations(sbox: tuple[int, ...], bits: int) -> None:
    # Both S-boxes are permutations with differential uniformity 2 (almost
    # perfect nonlinear); a mistyped entry would almost surely break this.
    n = 1 << bits
    assert sorted(sbox) == list(range(n))
    for dx in range(1, n):
        counts = [0] * n
        for x in range(n):
            counts[sbox[x] ^ sbox[x ^ dx]] += 1
        assert max(counts) == 2


@pytest.mark.parametrize("k", [0x0000, 0x01FF, 0xFE00, 0xFFFF, 0x5A3C])
def test_fast_fi_matches_reference_for_every_input(k: int) -> None:
    assert all(_T2[_T1[x] ^ k] == ref_fi(x, k) for x in range(1 << 16))


@given(x=words, k=words)
def test_fast_fi_matches_reference(x: int, k: int) -> None:
    assert _T2[_T1[x] ^ k] == ref_fi(x, k)


# --- Properties --------------------------------------------------------------


@settings(max_examples=300)
@given(key=keys, block=blocks)
def test_decrypt_inverts_encrypt(key: bytes, block: int) -> None:
    m = Misty1(key)
    c = m.encrypt_block(block)
    assert 0 <= c < 1 << 64
    assert m.decrypt_block(c) == block
    assert m.encrypt_block(m.decrypt_block(block)) == block


@settings(max_examples=200)
@given(key=keys, block=blocks)
def test_fast_cipher_matches_reference(key: bytes, block: int) -> None:
    m = Misty1(key)
    assert m.encrypt_block(block) == ref_encrypt(key, block)
    assert m.decrypt_block(block) == ref_decrypt(key, block)


# --- Bad input ---------------------------------------------------------------


@pytest.mark.parametrize("length", [0, 8, 15, 17, 24, 32])
def test_bad_key_length_raises_value_error(length: int) -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        Misty1(bytes(length))


def test_non_bytes_key_raises_type_error() -> None:
    with pytest.raises(TypeError):
        Misty1("00112233445566778899aabbccddeeff")  # type: ignore[arg-type]


@pytest.mark.parametrize("block", [-1, 1 << 64])
def test_block_out_of_range_raises_value_error(block: int) -> None:
    m = Misty1(RFC_KEY)
    with pytest.raises(ValueError):
        m.encrypt_block(block)
    with pytest.raises(ValueError):
        m.decrypt_block(block)

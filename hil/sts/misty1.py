"""MISTY1 block cipher (RFC 2994), used by STS as encryption algorithm EA11.

64-bit block, 128-bit key, 8 rounds of FO with an FL layer every two rounds.

Key bytes are used in order (``K[0]`` .. ``K[15]`` of the RFC) and a block is the
64-bit big-endian integer of the RFC's 8 data bytes.

Speed notes (the token engine calls this once per token):

* The state is kept as four 16-bit words ``a, b`` (RFC ``D0``) and ``c, d``
  (RFC ``D1``), so FO/FL never pack or unpack 32-bit halves.
* FI is split around its key XOR.  With 16-bit values packed as
  ``(d7 << 9) | d9`` the RFC's subkey ``KI`` already has the matching layout
  (its top 7 bits are XORed into ``d7``, its low 9 bits into ``d9``), so
  ``FI(x, KI) == _T2[_T1[x] ^ KI]`` with two key-independent 65,536-entry tables.
* The 8 rounds are unrolled with the expanded key in local variables ``k0`` ..
  ``k15`` (RFC ``EK[0]`` .. ``EK[15]``).
"""

from array import array

__all__ = ["Misty1"]

_BLOCK_LIMIT = 1 << 64

# S-boxes S7 and S9 from RFC 2994 section 2.3 (decimal, as in the RFC).
# fmt: off
_S7: tuple[int, ...] = (
     27,  50,  51,  90,  59,  16,  23,  84,  91,  26, 114, 115, 107,  44, 102,  73,
     31,  36,  19, 108,  55,  46,  63,  74,  93,  15,  64,  86,  37,  81,  28,   4,
     11,  70,  32,  13, 123,  53,  68,  66,  43,  30,  65,  20,  75, 121,  21, 111,
     14,  85,   9,  54, 116,  12, 103,  83,  40,  10, 126,  56,   2,   7,  96,  41,
     25,  18, 101,  47,  48,  57,   8, 104,  95, 120,  42,  76, 100,  69, 117,  61,
     89,  72,   3,  87, 124,  79,  98,  60,  29,  33,  94,  39, 106, 112,  77,  58,
      1, 109, 110,  99,  24, 119,  35,   5,  38, 118,   0,  49,  45, 122, 127,  97,
     80,  34,  17,   6,  71,  22,  82,  78, 113,  62, 105,  67,  52,  92,  88, 125,
)

_S9: tuple[int, ...] = (
    451, 203, 339, 415, 483, 233, 251,  53, 385, 185, 279, 491,
    307,   9,  45, 211, 199, 330,  55, 126, 235, 356, 403, 472,
    163, 286,  85,  44,  29, 418, 355, 280, 331, 338, 466,  15,
     43,  48, 314, 229, 273, 312, 398,  99, 227, 200, 500,  27,
      1, 157, 248, 416, 365, 499,  28, 326, 125, 209, 130, 490,
    387, 301, 244, 414, 467, 221, 482, 296, 480, 236,  89, 145,
     17, 303,  38, 220, 176, 396, 271, 503, 231, 364, 182, 249,
    216, 337, 257, 332, 259, 184, 340, 299, 430,  23, 113,  12,
     71,  88, 127, 420, 308, 297, 132, 349, 413, 434, 419,  72,
    124,  81, 458,  35, 317, 423, 357,  59,  66, 218, 402, 206,
    193, 107, 159, 497, 300, 388, 250, 406, 481, 361, 381,  49,
    384, 266, 148, 474, 390, 318, 284,  96, 373, 463, 103, 281,
    101, 104, 153, 336,   8,   7, 380, 183,  36,  25, 222, 295,
    219, 228, 425,  82, 265, 144, 412, 449,  40, 435, 309, 362,
    374, 223, 485, 392, 197, 366, 478, 433, 195, 479,  54, 238,
    494, 240, 147,  73, 154, 438, 105, 129, 293,  11,  94, 180,
    329, 455, 372,  62, 315, 439, 142, 454, 174,  16, 149, 495,
     78, 242, 509, 133, 253, 246, 160, 367, 131, 138, 342, 155,
    316, 263, 359, 152, 464, 489,   3, 510, 189, 290, 137, 210,
    399,  18,  51, 106, 322, 237, 368, 283, 226, 335, 344, 305,
    327,  93, 275, 461, 121, 353, 421, 377, 158, 436, 204,  34,
    306,  26, 232,   4, 391, 493, 407,  57, 447, 471,  39, 395,
    198, 156, 208, 334, 108,  52, 498, 110, 202,  37, 186, 401,
    254,  19, 262,  47, 429, 370, 475, 192, 267, 470, 245, 492,
    269, 118, 276, 427, 117, 268, 484, 345,  84, 287,  75, 196,
    446, 247,  41, 164,  14, 496, 119,  77, 378, 134, 139, 179,
    369, 191, 270, 260, 151, 347, 352, 360, 215, 187, 102, 462,
    252, 146, 453, 111,  22,  74, 161, 313, 175, 241, 400,  10,
    426, 323, 379,  86, 397, 358, 212, 507, 333, 404, 410, 135,
    504, 291, 167, 440, 321,  60, 505, 320,  42, 341, 282, 417,
    408, 213, 294, 431,  97, 302, 343, 476, 114, 394, 170, 150,
    277, 239,  69, 123, 141, 325,  83,  95, 376, 178,  46,  32,
    469,  63, 457, 487, 428,  68,  56,  20, 177, 363, 171, 181,
     90, 386, 456, 468,  24, 375, 100, 207, 109, 256, 409, 304,
    346,   5, 288, 443, 445, 224,  79, 214, 319, 452, 298,  21,
      6, 255, 411, 166,  67, 136,  80, 351, 488, 289, 115, 382,
    188, 194, 201, 371, 393, 501, 116, 460, 486, 424, 405,  31,
     65,  13, 442,  50,  61, 465, 128, 168,  87, 441, 354, 328,
    217, 261,  98, 122,  33, 511, 274, 264, 448, 169, 285, 432,
    422, 205, 243,  92, 258,  91, 473, 324, 502, 173, 165,  58,
    459, 310, 383,  70, 225,  30, 477, 230, 311, 506, 389, 140,
    143,  64, 437, 190, 120,   0, 172, 272, 350, 292,   2, 444,
    162, 234, 112, 508, 278, 348,  76, 450,
)
# fmt: on


def _fi_first_half(x: int) -> int:
    """FI up to (not including) the key XOR, packed as ``(d7 << 9) | d9``."""
    d9 = x >> 7
    d7 = x & 0x7F
    d9 = _S9[d9] ^ d7
    d7 = (_S7[d7] ^ d9) & 0x7F
    return (d7 << 9) | d9


def _fi_second_half(u: int) -> int:
    """FI after the key XOR: input and output packed as ``(d7 << 9) | d9``."""
    d7 = u >> 9
    return (d7 << 9) | (_S9[u & 0x1FF] ^ d7)


# Built once at import (about 50 ms for both); tuples keep them immutable.
# Contiguous 16-bit arrays (128 KiB each) rather than tuples of int objects: random blocks
# then hit the CPU cache instead of chasing pointers to scattered objects (~2x faster).
_T1 = array("H", (_fi_first_half(x) for x in range(1 << 16)))
_T2 = array("H", (_fi_second_half(u) for u in range(1 << 16)))


def _expand_key(key: bytes) -> tuple[int, ...]:
    """RFC 2994 section 2.2: EK[0..7] are the key words, EK[8..15] = FI(EK[i], EK[i+1])."""
    ek = [(key[2 * i] << 8) | key[2 * i + 1] for i in range(8)]
    ek += [_T2[_T1[ek[i]] ^ ek[(i + 1) % 8]] for i in range(8)]
    return tuple(ek)


class Misty1:
    """MISTY1 with one expanded key; blocks are 64-bit ints (big-endian byte order)."""

    __slots__ = ("_ek",)

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, bytes | bytearray | memoryview):
            raise TypeError(f"MISTY1 key must be bytes, not {type(key).__name__}")
        key = bytes(key)
        if len(key) != 16:
            raise ValueError(f"MISTY1 key must be 16 bytes long, got {len(key)}")
        self._ek = _expand_key(key)

    def encrypt_block(self, block: int) -> int:
        """Encrypt one 64-bit block (0 <= block < 2**64)."""
        if not 0 <= block < _BLOCK_LIMIT:
            raise ValueError("MISTY1 block must be an integer in [0, 2**64)")
        k0, k1, k2, k3, k4, k5, k6, k7, k8, k9, k10, k11, k12, k13, k14, k15 = self._ek
        t1 = _T1
        t2 = _T2
        a = block >> 48
        b = (block >> 32) & 0xFFFF
        c = (block >> 16) & 0xFFFF
        d = block & 0xFFFF

        # FL0 on (a, b), FL1 on (c, d)
        b ^= a & k0
        a ^= b | k14
        d ^= c & k10
        c ^= d | k4

        # round 0: (c, d) ^= FO0(a, b)
        x = t2[t1[a ^ k0] ^ k13] ^ b
        y = t2[t1[b ^ k2] ^ k9] ^ x
        x = t2[t1[x ^ k7] ^ k11] ^ y
        c ^= y ^ k4
        d ^= x

        # round 1: (a, b) ^= FO1(c, d)
        x = t2[t1[c ^ k1] ^ k14] ^ d
        y = t2[t1[d ^ k3] ^ k10] ^ x
        x = t2[t1[x ^ k0] ^ k12] ^ y
        a ^= y ^ k5
        b ^= x

        # FL2 on (a, b), FL3 on (c, d)
        b ^= a & k1
        a ^= b | k15
        d ^= c & k11
        c ^= d | k5

        # round 2: (c, d) ^= FO2(a, b)
        x = t2[t1[a ^ k2] ^ k15] ^ b
        y = t2[t1[b ^ k4] ^ k11] ^ x
        x = t2[t1[x ^ k1] ^ k13] ^ y
        c ^= y ^ k6
        d ^= x

        # round 3: (a, b) ^= FO3(c, d)
        x = t2[t1[c ^ k3] ^ k8] ^ d
        y = t2[t1[d ^ k5] ^ k12] ^ x
        x = t2[t1[x ^ k2] ^ k14] ^ y
        a ^= y ^ k7
        b ^= x

        # FL4 on (a, b), FL5 on (c, d)
        b ^= a & k2
        a ^= b | k8
        d ^= c & k12
        c ^= d | k6

        # round 4: (c, d) ^= FO4(a, b)
        x = t2[t1[a ^ k4] ^ k9] ^ b
        y = t2[t1[b ^ k6] ^ k13] ^ x
        x = t2[t1[x ^ k3] ^ k15] ^ y
        c ^= y ^ k0
        d ^= x

        # round 5: (a, b) ^= FO5(c, d)
        x = t2[t1[c ^ k5] ^ k10] ^ d
        y = t2[t1[d ^ k7] ^ k14] ^ x
        x = t2[t1[x ^ k4] ^ k8] ^ y
        a ^= y ^ k1
        b ^= x

        # FL6 on (a, b), FL7 on (c, d)
        b ^= a & k3
        a ^= b | k9
        d ^= c & k13
        c ^= d | k7

        # round 6: (c, d) ^= FO6(a, b)
        x = t2[t1[a ^ k6] ^ k11] ^ b
        y = t2[t1[b ^ k0] ^ k15] ^ x
        x = t2[t1[x ^ k5] ^ k9] ^ y
        c ^= y ^ k2
        d ^= x

        # round 7: (a, b) ^= FO7(c, d)
        x = t2[t1[c ^ k7] ^ k12] ^ d
        y = t2[t1[d ^ k1] ^ k8] ^ x
        x = t2[t1[x ^ k6] ^ k10] ^ y
        a ^= y ^ k3
        b ^= x

        # FL8 on (a, b), FL9 on (c, d)
        b ^= a & k4
        a ^= b | k10
        d ^= c & k14
        c ^= d | k0

        # The RFC outputs D1 || D0.
        return (c << 48) | (d << 32) | (a << 16) | b

    def decrypt_block(self, block: int) -> int:
        """Decrypt one 64-bit block (0 <= block < 2**64)."""
        if not 0 <= block < _BLOCK_LIMIT:
            raise ValueError("MISTY1 block must be an integer in [0, 2**64)")
        k0, k1, k2, k3, k4, k5, k6, k7, k8, k9, k10, k11, k12, k13, k14, k15 = self._ek
        t1 = _T1
        t2 = _T2
        # The ciphertext is D1 || D0; undo the encryption steps in reverse.
        c = block >> 48
        d = (block >> 32) & 0xFFFF
        a = (block >> 16) & 0xFFFF
        b = block & 0xFFFF

        # FL8^-1 on (a, b), FL9^-1 on (c, d)
        a ^= b | k10
        b ^= a & k4
        c ^= d | k0
        d ^= c & k14

        # round 7: (a, b) ^= FO7(c, d)
        x = t2[t1[c ^ k7] ^ k12] ^ d
        y = t2[t1[d ^ k1] ^ k8] ^ x
        x = t2[t1[x ^ k6] ^ k10] ^ y
        a ^= y ^ k3
        b ^= x

        # round 6: (c, d) ^= FO6(a, b)
        x = t2[t1[a ^ k6] ^ k11] ^ b
        y = t2[t1[b ^ k0] ^ k15] ^ x
        x = t2[t1[x ^ k5] ^ k9] ^ y
        c ^= y ^ k2
        d ^= x

        # FL6^-1 on (a, b), FL7^-1 on (c, d)
        a ^= b | k9
        b ^= a & k3
        c ^= d | k7
        d ^= c & k13

        # round 5: (a, b) ^= FO5(c, d)
        x = t2[t1[c ^ k5] ^ k10] ^ d
        y = t2[t1[d ^ k7] ^ k14] ^ x
        x = t2[t1[x ^ k4] ^ k8] ^ y
        a ^= y ^ k1
        b ^= x

        # round 4: (c, d) ^= FO4(a, b)
        x = t2[t1[a ^ k4] ^ k9] ^ b
        y = t2[t1[b ^ k6] ^ k13] ^ x
        x = t2[t1[x ^ k3] ^ k15] ^ y
        c ^= y ^ k0
        d ^= x

        # FL4^-1 on (a, b), FL5^-1 on (c, d)
        a ^= b | k8
        b ^= a & k2
        c ^= d | k6
        d ^= c & k12

        # round 3: (a, b) ^= FO3(c, d)
        x = t2[t1[c ^ k3] ^ k8] ^ d
        y = t2[t1[d ^ k5] ^ k12] ^ x
        x = t2[t1[x ^ k2] ^ k14] ^ y
        a ^= y ^ k7
        b ^= x

        # round 2: (c, d) ^= FO2(a, b)
        x = t2[t1[a ^ k2] ^ k15] ^ b
        y = t2[t1[b ^ k4] ^ k11] ^ x
        x = t2[t1[x ^ k1] ^ k13] ^ y
        c ^= y ^ k6
        d ^= x

        # FL2^-1 on (a, b), FL3^-1 on (c, d)
        a ^= b | k15
        b ^= a & k1
        c ^= d | k5
        d ^= c & k11

        # round 1: (a, b) ^= FO1(c, d)
        x = t2[t1[c ^ k1] ^ k14] ^ d
        y = t2[t1[d ^ k3] ^ k10] ^ x
        x = t2[t1[x ^ k0] ^ k12] ^ y
        a ^= y ^ k5
        b ^= x

        # round 0: (c, d) ^= FO0(a, b)
        x = t2[t1[a ^ k0] ^ k13] ^ b
        y = t2[t1[b ^ k2] ^ k9] ^ x
        x = t2[t1[x ^ k7] ^ k11] ^ y
        c ^= y ^ k4
        d ^= x

        # FL0^-1 on (a, b), FL1^-1 on (c, d)
        a ^= b | k14
        b ^= a & k0
        c ^= d | k4
        d ^= c & k10

        return (a << 48) | (b << 32) | (c << 16) | d

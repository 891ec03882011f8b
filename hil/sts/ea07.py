"""EA07, the Standard Transfer Algorithm (sts-notes 7).

16 rounds of nibble substitution (the key bit picks S1 or S2) and a bit permutation.
The tables are data: the standard's *sample* tables are built in as test material;
production tables are licensed: hil.rig.sta_tables reads them from the user's file (see
docs/sta-tables.md). Table contents are never logged or printed.

Speed: each round is precomputed, per table set, as byte-wise lookup tables that
do substitution and permutation together, so a round is 8 lookups and 7 ORs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hil.sts.errors import FieldError

_MASK64 = (1 << 64) - 1

# The sample tables published in IEC 62055-41 (test material, not production tables).
SAMPLE_S1 = (12, 10, 8, 4, 3, 15, 0, 2, 14, 1, 5, 13, 6, 9, 7, 11)
SAMPLE_S2 = (6, 9, 7, 4, 3, 10, 12, 14, 2, 13, 1, 15, 0, 11, 8, 5)
SAMPLE_P = (
    29, 27, 34, 9, 16, 62, 55, 2, 40, 49, 38, 25, 33, 61, 30, 23,
    1, 41, 21, 57, 42, 15, 5, 58, 19, 53, 22, 17, 48, 28, 24, 39,
    3, 60, 36, 14, 11, 52, 54, 12, 31, 51, 10, 26, 0, 45, 37, 43,
    44, 6, 59, 4, 7, 35, 56, 50, 13, 18, 32, 47, 46, 63, 20, 8,
)  # fmt: skip


def _inverse(perm: tuple[int, ...]) -> tuple[int, ...]:
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return tuple(inv)


def _permute(value: int, perm: tuple[int, ...]) -> int:
    """Output bit perm[j] = input bit j (bit 0 = LSB)."""
    out = 0
    for j, target in enumerate(perm):
        if value >> j & 1:
            out |= 1 << target
    return out


@dataclass(frozen=True, eq=False)
class StaTables:
    """One set of EA07 tables with its precomputed round tables."""

    s1: tuple[int, ...]
    s2: tuple[int, ...]
    p: tuple[int, ...]
    name: str = "sample"
    _enc: tuple = field(init=False, repr=False)
    _dec: tuple = field(init=False, repr=False)
    _sub_inv: tuple = field(init=False, repr=False)
    _p_inv: tuple = field(init=False, repr=False)

    def __post_init__(self) -> None:
        for label, table, size in (("S1", self.s1, 16), ("S2", self.s2, 16), ("P", self.p, 64)):
            if sorted(table) != list(range(size)):
                raise FieldError(
                    f"STA table {label} must be a permutation of 0..{size - 1} ({size} numbers)"
                )
        boxes = (self.s1, self.s2)
        inv_boxes = (_inverse(self.s1), _inverse(self.s2))
        p_inv = _inverse(self.p)

        def byte_sub(sbox_pair: tuple, sel: int, b: int) -> int:
            lo, hi = sbox_pair[sel & 1], sbox_pair[sel >> 1]
            return lo[b & 15] | hi[b >> 4] << 4

        enc, dec, sub_inv, perm_inv = [], [], [], []
        for j in range(8):
            shift = 8 * j
            enc.append(
                tuple(
                    tuple(_permute(byte_sub(boxes, sel, b) << shift, self.p) for b in range(256))
                    for sel in range(4)
                )
            )
            dec.append(
                tuple(
                    tuple(_permute(byte_sub(inv_boxes, sel, b) << shift, p_inv) for b in range(256))
                    for sel in range(4)
                )
            )
            sub_inv.append(
                tuple(
                    tuple(byte_sub(inv_boxes, sel, b) << shift for b in range(256))
                    for sel in range(4)
                )
            )
            perm_inv.append(tuple(_permute(b << shift, p_inv) for b in range(256)))
        object.__setattr__(self, "_enc", tuple(enc))
        object.__setattr__(self, "_dec", tuple(dec))
        object.__setattr__(self, "_sub_inv", tuple(sub_inv))
        object.__setattr__(self, "_p_inv", tuple(perm_inv))

    def __repr__(self) -> str:  # never print table contents
        return f"StaTables(name={self.name!r})"

    @classmethod
    def from_mapping(cls, data: object, name: str = "tables") -> StaTables:
        """Tables from a parsed document: {"s1": [16 ints], "s2": [16 ints], "p": [64 ints]}."""
        if not isinstance(data, dict) or not {"s1", "s2", "p"} <= data.keys():
            raise FieldError("STA tables must be an object with keys s1, s2 and p")
        try:
            tables = tuple(tuple(int(v) for v in data[k]) for k in ("s1", "s2", "p"))
        except (TypeError, ValueError):
            raise FieldError("STA tables s1, s2 and p must be lists of integers") from None
        return cls(*tables, name=str(data.get("name", name)))


SAMPLE_TABLES = StaTables(
    SAMPLE_S1, SAMPLE_S2, SAMPLE_P, name="sample (IEC 62055-41 test material)"
)


def _round_selections(key: int) -> list[tuple[int, ...]]:
    """S-box choice (2 bits per byte: low nibble, high nibble) for each of the 16 rounds."""
    k = ((~key & _MASK64) >> 12 | (~key & _MASK64) << 52) & _MASK64  # rotate right by 12
    rounds = []
    for _ in range(16):
        rounds.append(tuple((k >> (8 * j + 3) & 1) | (k >> (8 * j + 7) & 1) << 1 for j in range(8)))
        k = (k << 1 | k >> 63) & _MASK64
    return rounds


class Ea07:
    """EA07 under one 64-bit decoder key; blocks are 64-bit ints."""

    __slots__ = ("_dec_first", "_dec_last", "_dec_rounds", "_enc_rounds")

    def __init__(self, key: bytes, tables: StaTables = SAMPLE_TABLES) -> None:
        if len(key) != 8:
            raise FieldError(f"EA07 needs a 64-bit decoder key (16 hex digits), got {len(key) * 2}")
        sels = _round_selections(int.from_bytes(key, "big"))
        self._enc_rounds = tuple(tuple(tables._enc[j][sel[j]] for j in range(8)) for sel in sels)
        # Decryption: P^-1 first, then (S^-1 then P^-1) for rounds 15..1, then S^-1 of round 0.
        self._dec_first = tables._p_inv
        self._dec_rounds = tuple(
            tuple(tables._dec[j][sel[j]] for j in range(8)) for sel in reversed(sels[1:])
        )
        self._dec_last = tuple(tables._sub_inv[j][sels[0][j]] for j in range(8))

    def encrypt_block(self, block: int) -> int:
        x = block
        for t0, t1, t2, t3, t4, t5, t6, t7 in self._enc_rounds:
            b = x.to_bytes(8, "little")
            x = (t0[b[0]] | t1[b[1]] | t2[b[2]] | t3[b[3]]
                 | t4[b[4]] | t5[b[5]] | t6[b[6]] | t7[b[7]])  # fmt: skip
        return x

    def decrypt_block(self, block: int) -> int:
        t0, t1, t2, t3, t4, t5, t6, t7 = self._dec_first
        b = block.to_bytes(8, "little")
        x = (t0[b[0]] | t1[b[1]] | t2[b[2]] | t3[b[3]]
             | t4[b[4]] | t5[b[5]] | t6[b[6]] | t7[b[7]])  # fmt: skip
        for t0, t1, t2, t3, t4, t5, t6, t7 in self._dec_rounds:
            b = x.to_bytes(8, "little")
            x = (t0[b[0]] | t1[b[1]] | t2[b[2]] | t3[b[3]]
                 | t4[b[4]] | t5[b[5]] | t6[b[6]] | t7[b[7]])  # fmt: skip
        t0, t1, t2, t3, t4, t5, t6, t7 = self._dec_last
        b = x.to_bytes(8, "little")
        return (t0[b[0]] | t1[b[1]] | t2[b[2]] | t3[b[3]]
                | t4[b[4]] | t5[b[5]] | t6[b[6]] | t7[b[7]])  # fmt: skip

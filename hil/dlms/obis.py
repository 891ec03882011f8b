"""OBIS codes (IEC 62056-6-1): the six-byte logical names of COSEM objects.

Written ``A-B:C.D.E.F`` (``0-0:19.40.0.255``); the all-dots form ``0.0.19.40.0.255`` is read
too, since head-end tools print it that way. On the wire an OBIS code is six plain bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Self

_FULL = re.compile(r"^(\d{1,3})-(\d{1,3}):(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:\.(\d{1,3}))?$")
_DOTS = re.compile(r"^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$")


@dataclass(frozen=True, slots=True)
class Obis:
    a: int
    b: int
    c: int
    d: int
    e: int
    f: int = 255

    def __post_init__(self) -> None:
        for name in ("a", "b", "c", "d", "e", "f"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 0 <= value <= 255:
                raise ValueError(f"OBIS group {name.upper()} must be 0..255, got {value!r}")

    @classmethod
    def parse(cls, text: str | Self) -> Self:
        """Read ``A-B:C.D.E.F`` (F defaults to 255) or ``A.B.C.D.E.F``."""
        if isinstance(text, cls):
            return text
        clean = str(text).strip()
        match = _FULL.match(clean) or _DOTS.match(clean)
        if match is None:
            raise ValueError(
                f"OBIS code {text!r}: expected A-B:C.D.E.F (e.g. 0-0:19.40.0.255) or A.B.C.D.E.F"
            )
        groups = [int(g) for g in match.groups() if g is not None]
        if len(groups) == 5:
            groups.append(255)
        return cls(*groups)

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        if len(data) != 6:
            raise ValueError(f"an OBIS code is 6 bytes, got {len(data)}")
        return cls(*data)

    def to_bytes(self) -> bytes:
        return bytes((self.a, self.b, self.c, self.d, self.e, self.f))

    def __str__(self) -> str:
        return f"{self.a}-{self.b}:{self.c}.{self.d}.{self.e}.{self.f}"

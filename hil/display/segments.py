"""The seven-segment alphabet: which of the segments a-g each character lights.

Segments are named the usual way: ``a`` top, ``b`` upper right, ``c`` lower right, ``d``
bottom, ``e`` lower left, ``f`` upper left, ``g`` middle. A decimal point belongs to the
cell before it ("12.5" is three cells, the second with its point lit).

Several characters share a pattern (``5``/``S``, ``0``/``O``, ``H``/``X``): a reading gives
the digit for such a pattern, and message words are matched by pattern, never by letter.
"""

from __future__ import annotations

from dataclasses import dataclass

SEGMENTS = "abcdefg"

# Letters are case-sensitive where a seven-segment LCD draws both cases differently (C/c,
# O/o, H/h); a letter missing in one case falls back to the other (see `pattern`).
_PATTERNS: dict[str, str] = {
    "0": "abcdef",
    "1": "bc",
    "2": "abdeg",
    "3": "abcdg",
    "4": "bcfg",
    "5": "acdfg",
    "6": "acdefg",
    "7": "abc",
    "8": "abcdefg",
    "9": "abcdfg",
    "-": "g",
    " ": "",
    "_": "d",
    "A": "abcefg",
    "b": "cdefg",
    "C": "adef",
    "c": "deg",
    "d": "bcdeg",
    "E": "adefg",
    "F": "aefg",
    "G": "acdef",
    "H": "bcefg",
    "X": "bcefg",  # no diagonal strokes: X is drawn as H, as on real meter LCDs
    "h": "cefg",
    "I": "ef",
    "i": "c",
    "J": "bcde",
    "L": "def",
    "n": "ceg",
    "O": "abcdef",
    "o": "cdeg",
    "P": "abefg",
    "q": "abcfg",
    "r": "eg",
    "S": "acdfg",
    "t": "defg",
    "U": "bcdef",
    "u": "cde",
    "Y": "bcdfg",
}
ALPHABET = "".join(_PATTERNS)

# Pattern -> character for reading: the first character listed wins, so digits, '-' and
# blank come before any letter that looks the same.
_DECODE: dict[frozenset[str], str] = {}
for _char, _segs in _PATTERNS.items():
    _DECODE.setdefault(frozenset(_segs), _char)


@dataclass(frozen=True)
class Glyph:
    """One cell of the field: a character and whether its decimal point is lit."""

    char: str
    dp: bool = False

    @property
    def segments(self) -> frozenset[str]:
        return pattern(self.char)


def pattern(char: str) -> frozenset[str]:
    """The segments ``char`` lights; ValueError for a character the alphabet lacks."""
    for candidate in (char, char.swapcase()):
        if candidate in _PATTERNS:
            return frozenset(_PATTERNS[candidate])
    raise ValueError(f"{char!r} has no seven-segment form; the alphabet is {ALPHABET!r}")


def decode(segments: frozenset[str]) -> str | None:
    """The character a lit pattern shows, or None if no character looks like that."""
    return _DECODE.get(frozenset(segments))


def glyphs(text: str) -> list[Glyph]:
    """``text`` as cells: each '.' lights the point of the cell before it (or of a blank
    cell of its own when nothing precedes it or that cell's point is already lit)."""
    cells: list[Glyph] = []
    for char in text:
        if char == ".":
            if cells and not cells[-1].dp:
                cells[-1] = Glyph(cells[-1].char, True)
            else:
                cells.append(Glyph(" ", True))
            continue
        pattern(char)  # refuse an unknown character here, with its name
        cells.append(Glyph(char))
    return cells


def fit(text: str, cells: int) -> list[Glyph]:
    """``text`` right-aligned in ``cells`` cells (as an LCD shows a number or a word);
    ValueError when it needs more cells than there are."""
    shown = glyphs(text)
    if len(shown) > cells:
        raise ValueError(f"{text!r} needs {len(shown)} cells; the field has {cells}")
    return [Glyph(" ")] * (cells - len(shown)) + shown


def patterns_of(text: str) -> tuple[tuple[frozenset[str], bool], ...]:
    """``text`` as (segments, point) per cell, blanks at either end dropped: how a word is
    compared with what a field shows, whatever its alignment."""
    return trim_blanks([(g.segments, g.dp) for g in glyphs(text)])


def trim_blanks(
    cells: list[tuple[frozenset[str], bool]],
) -> tuple[tuple[frozenset[str], bool], ...]:
    """(segments, point) cells without the blank cells at either end."""
    start, end = 0, len(cells)
    while start < end and cells[start] == (frozenset(), False):
        start += 1
    while end > start and cells[end - 1] == (frozenset(), False):
        end -= 1
    return tuple(cells[start:end])

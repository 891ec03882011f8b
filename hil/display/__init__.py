"""The meter's own display as readback (issue #15): the pure core, no I/O.

A per-model display map (`layout`), the seven-segment alphabet (`segments`), a renderer
that draws the LCD as a camera frame with seeded imperfections (`render`) and a
seven-segment OCR that reads such a frame back with a confidence (`ocr`).
"""

from hil.display.layout import (
    RESULT_CLASSES,
    DisplayMap,
    Message,
    builtin_display_map,
    load_display_map,
)
from hil.display.ocr import DEFAULT_THRESHOLD, DisplayReading, confident, read_display
from hil.display.render import DisplayState, Noise, credit_text, render

__all__ = [
    "DEFAULT_THRESHOLD",
    "RESULT_CLASSES",
    "DisplayMap",
    "DisplayReading",
    "DisplayState",
    "Message",
    "Noise",
    "builtin_display_map",
    "confident",
    "credit_text",
    "load_display_map",
    "read_display",
    "render",
]

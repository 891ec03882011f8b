"""What the meter model's LCD shows at a moment: the simulator's screen logic.

Off without supply. While keys are typed, the last digits typed. While a token is processed,
the BUSY word; then the result's word for the profile's result hold; then the idle screen,
the credit at the display's resolution with the kWh icon. The icons follow the model: the
load relay open, the low-credit warning, a lockout in force.
"""

from __future__ import annotations

from hil.display.layout import DisplayMap
from hil.display.render import DisplayState, credit_text
from hil.meter.model import MeterModel
from hil.meter.results import TokenResult

BLANK = DisplayState()


def meter_screen(model: MeterModel, display: DisplayMap, at: float,
                 resolution_kwh: float) -> DisplayState:  # fmt: skip
    """The screen of ``model`` at model time ``at`` (the model already advanced to it)."""
    if not model.powered:
        return BLANK
    icons = set()
    if not model.relay_closed:
        icons.add("relay_open")
    if model.low_credit:
        icons.add("low_credit")
    until = model.locked_out_until
    if until is not None and until > at:
        icons.add("lockout")
    cells = display.field.cells
    last = model.last_result
    if model.entry:
        text = model.entry[-cells:].rjust(cells)
    elif model.processing:
        text = display.message_for(TokenResult.NOT_READY).text
    elif last is not None and at - last.at < model.profile.result_hold_s:
        text = display.message_for(last.result).text
    else:
        text = credit_text(model.credit_wh / 1000, resolution_kwh, cells)
        icons.add("kwh")
    return DisplayState(text, frozenset(icons))

"""Reference model of a conforming STS prepaid meter: the simulator core and the test oracle.

See docs/meter-model.md for the rules, the profile fields and the defect table.
"""

from hil.meter.defects import DEFECTS, Defect, parse_defects
from hil.meter.events import Event, EventName
from hil.meter.model import KEYS, MeterModel, MeterOffError, Outcome
from hil.meter.profile import KeypadTiming, LockoutPolicy, MeterProfile, ProfileError
from hil.meter.results import TokenResult

__all__ = [
    "DEFECTS",
    "KEYS",
    "Defect",
    "Event",
    "EventName",
    "KeypadTiming",
    "LockoutPolicy",
    "MeterModel",
    "MeterOffError",
    "MeterProfile",
    "Outcome",
    "ProfileError",
    "TokenResult",
    "parse_defects",
]

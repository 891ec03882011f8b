"""Robot Framework front end: ``Library    hil.robot`` and the journal listener.

Robot resolves ``Library    hil.robot`` to the class of this module that carries the
module's own name, ``robot``: an alias of ``StsMeter`` (``Library    hil.robot.StsMeter``
imports the same class). The listener is ``hil.robot.listener.JournalListener``.
"""

from hil.robot.library import StsMeter
from hil.robot.listener import JournalListener

robot = StsMeter  # what Robot imports for `Library    hil.robot`

__all__ = ["JournalListener", "StsMeter", "robot"]

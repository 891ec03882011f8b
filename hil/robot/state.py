"""What the keyword library and the journal listener share inside one Robot process.

Robot instantiates the library (once per suite) and the listener (once per run) on its
own, so they meet here: the listener publishes the journal, the library publishes the rig
it has open and the evidence of the running test. A pabot worker is a process of its own
and has its own copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hil.conformance.evidence import Evidence
from hil.errors import BenchFault

if TYPE_CHECKING:
    from hil.report.journal import Journal
    from hil.rig.rig import Rig


@dataclass
class RobotRun:
    journal: Journal | None = None
    rig: Rig | None = None
    evidence: dict[str, Evidence] = field(default_factory=dict)  # by the test's full name
    _journaled: set[tuple[str, str, str | None]] = field(default_factory=set)

    # -- evidence ---------------------------------------------------------------------------
    def begin_test(self, full_name: str) -> Evidence:
        """Fresh evidence for a test that is starting (the library's own listener calls this)."""
        self.evidence[full_name] = evidence = Evidence()
        return evidence

    def take_evidence(self, full_name: str) -> Evidence | None:
        return self.evidence.pop(full_name, None)

    # -- rigs -------------------------------------------------------------------------------
    def rig_opened(self, rig: Rig, defect: str | None) -> None:
        """Remember the open rig; journal its identity once per run (suites reopen it)."""
        self.rig = rig
        identity = (rig.name, rig.serial, defect)
        if self.journal is None or identity in self._journaled:
            return
        self._journaled.add(identity)
        self.journal.write("rig", **rig_identity(rig, defect))

    def rig_closed(self, rig: Rig) -> None:
        if self.rig is rig:
            self.rig = None


def rig_identity(rig: Rig, defect: str | None) -> dict[str, object]:
    """The ``rig`` event's fields, as the pytest plugin writes them: meter INFO and
    instrument *IDN? (never key values)."""
    instruments = {}
    for name in ("ac_source", "dmm", "load"):
        device = getattr(rig, name)
        if device is not None:
            try:
                instruments[name] = device.idn()
            except BenchFault as exc:
                instruments[name] = f"no answer: {exc}"
    return {
        "name": rig.name,
        "serial": rig.serial,
        "simulated": rig.sim is not None,
        "defect": defect,
        "meter": {**rig.meter.key_info.describe(), "pan": rig.serial, "profile": rig.profile.name},
        "probe_info": rig.info(),
        "instruments": instruments,
        "features": rig.features,
    }


RUN = RobotRun()

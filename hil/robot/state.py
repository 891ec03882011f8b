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

if TYPE_CHECKING:
    from hil.report.journal import Journal
    from hil.rig.rig import Rig


@dataclass
class RobotRun:
    journal: Journal | None = None
    rig: Rig | None = None
    evidence: dict[str, Evidence] = field(default_factory=dict)  # by the test's full name
    judgements: dict[str, str] = field(default_factory=dict)  # "fail" / "error", by name
    _journaled: set[tuple[str, str, str | None]] = field(default_factory=set)

    # -- evidence ---------------------------------------------------------------------------
    def begin_test(self, full_name: str) -> Evidence:
        """The evidence of a test that is starting (the library's own listener calls this).

        Tests run one at a time in a process: what an earlier test left (no journal
        listener took it) is dropped. Two library instances in one suite share it."""
        if full_name not in self.evidence:
            self.evidence = {full_name: Evidence()}
            self.judgements = {}
        return self.evidence[full_name]

    def take_evidence(self, full_name: str) -> Evidence | None:
        return self.evidence.pop(full_name, None)

    # -- verdicts -----------------------------------------------------------------------------
    def judged(self, full_name: str, outcome: str) -> None:
        """The library's outcome for a test whose keyword raised (the first one counts)."""
        self.judgements.setdefault(full_name, outcome)

    def peek_judgement(self, full_name: str) -> str | None:
        return self.judgements.get(full_name)

    # -- rigs -------------------------------------------------------------------------------
    def rig_opened(self, rig: Rig, defect: str | None) -> None:
        """Remember the open rig; journal its identity once per run (suites reopen it)."""
        self.rig = rig
        identity = (rig.name, rig.serial, defect)
        if self.journal is None or identity in self._journaled:
            return
        self._journaled.add(identity)
        self.journal.write("rig", **rig.identity(defect))  # as the pytest plugin

    def rig_closed(self, rig: Rig) -> None:
        if self.rig is rig:
            self.rig = None


RUN = RobotRun()

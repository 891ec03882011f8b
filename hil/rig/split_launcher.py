"""Start and stop the simulated split bench for a split rig with a ``simulator:`` section.

The process is started like the integrated bench's (``hil sim`` with a ready file, see
``hil.rig.sim_launcher``); only the wiring differs: the CIU's readback, each meter's probe
and the relay board are written into the split rig's own places.
"""

from __future__ import annotations

from pathlib import Path

from hil.errors import ConfigError
from hil.rig.config import RelayBoardResource, SerialResource, SplitRigConfig
from hil.rig.sim_launcher import SimProcess


class SplitSimProcess(SimProcess):
    """A running ``hil sim`` for a split rig; use as a context manager."""

    def __init__(
        self,
        rig_file: Path,
        rig: SplitRigConfig,
        *,
        timing: str | None = None,
        speed: float | None = None,
    ) -> None:
        if rig.simulator is not None and rig.simulator.supply_off_at_start:
            raise ConfigError(
                f"{rig_file}: simulator.supply_off_at_start: the split simulator has no AC "
                "source yet"
            )
        # SimProcess reads only the rig's simulator: section to build the command line.
        super().__init__(rig_file, rig, timing=timing, speed=speed)  # type: ignore[arg-type]
        self.split = rig

    def wired_split_rig(self) -> SplitRigConfig:
        """The split rig with the simulator's addresses as its units' probes and board."""
        a = self.addresses
        rig = self.split
        assert rig.ciu is not None
        board = rig.resources.relay_board or RelayBoardResource(url=a["relay_board"])
        resources = rig.resources.model_copy(
            update={"relay_board": board.model_copy(update={"url": a["relay_board"], "usb": None})}
        )
        ciu = rig.ciu.model_copy(update={"probe": SerialResource(url=a["ciu"])})
        meters = [
            spec.model_copy(update={"probe": SerialResource(url=a[f"meter:{spec.name}"])})
            for spec in rig.meters
        ]
        return rig.model_copy(update={"resources": resources, "ciu": ciu, "meters": meters})

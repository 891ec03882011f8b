"""Start and stop the simulated split bench for a split rig with a ``simulator:`` section.

The process is started like the integrated bench's (``hil sim`` with a ready file, see
``hil.rig.sim_launcher``); only the wiring differs: the CIU's readback, each meter's probe
and the relay board are written into the split rig's own places.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
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
        defect: str | None = None,
        timing: str | None = None,
        speed: float | None = None,
    ) -> None:
        if rig.simulator is not None and rig.simulator.supply_off_at_start:
            raise ConfigError(
                f"{rig_file}: simulator.supply_off_at_start: the split simulator has no AC "
                "source yet"
            )
        # The command is built here, not by SimProcess.__init__: that one reads the
        # integrated rig's resources (its readback kind), which a split rig does not have.
        self.rig_file, self.rig = rig_file, rig  # type: ignore[assignment]
        self.split = rig
        self._dir = tempfile.TemporaryDirectory(prefix="hil-split-sim-")
        self.ready_file = Path(self._dir.name) / "ready.json"
        self.log_file = Path(self._dir.name) / "sim.log"
        sim = rig.simulator
        cmd = [sys.executable, "-m", "hil", "sim", "--rig", str(rig_file),
               "--ready-file", str(self.ready_file), "--exit-with-parent",
               f"--{sim.transport if sim else 'pty'}"]  # fmt: skip
        if sim is not None and sim.real_time and speed not in (None, 1.0):
            raise ConfigError(
                f"{rig_file}: simulator.real_time: the simulated meters run in real time; "
                f"--speed {speed:g} does not apply"
            )
        for flag, value in (("--defect", defect), ("--timing", timing), ("--speed", speed)):
            if value is not None:
                cmd += [flag, str(value)]
        if sim is not None:  # the options of the rig as given (maybe not the file on disk)
            cmd += ["--real-time" if sim.real_time else "--no-real-time",
                    "--credit-resolution", repr(sim.credit_resolution_kwh),
                    "--events", sim.events]  # fmt: skip
        self.command = cmd
        self.process: subprocess.Popen[bytes] | None = None
        self.addresses: dict[str, str] = {}

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

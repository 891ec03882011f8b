"""Start and stop the simulated bench for rigs with a ``simulator:`` section.

The simulator runs as its own process (``hil sim``), as a real bench would be separate
from the harness; its addresses are read from a ready file and written into the rig's
resources, so everything after this point is the same as on real hardware.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hil.errors import ConfigError, DeviceAbsent
from hil.rig.config import (
    InstrumentResource,
    Instruments,
    RelayBoardResource,
    RigConfig,
    SerialResource,
)

START_TIMEOUT_S = 20.0


class SimProcess:
    """A running ``hil sim``; use as a context manager."""

    def __init__(
        self,
        rig_file: Path,
        rig: RigConfig,
        *,
        defect: str | None = None,
        timing: str | None = None,
        speed: float | None = None,
    ) -> None:
        self.rig_file, self.rig = rig_file, rig
        self._dir = tempfile.TemporaryDirectory(prefix="hil-sim-")
        self.ready_file = Path(self._dir.name) / "ready.json"
        self.log_file = Path(self._dir.name) / "sim.log"
        cmd = [
            sys.executable,
            "-m",
            "hil",
            "sim",
            "--rig",
            str(rig_file),
            "--ready-file",
            str(self.ready_file),
            "--exit-with-parent",
        ]
        sim = rig.simulator
        transport = sim.transport if sim else "pty"
        cmd.append(f"--{transport}")
        if sim is not None and sim.real_time and speed not in (None, 1.0):
            # Found here, before a process starts, so the user gets one line naming the rig.
            raise ConfigError(
                f"{rig_file}: simulator.real_time: the simulated meter runs in real time; "
                f"--speed {speed:g} does not apply"
            )
        for flag, value in (("--defect", defect), ("--timing", timing), ("--speed", speed)):
            if value is not None:
                cmd += [flag, str(value)]
        if sim is not None:
            # The options of the rig as given (which may differ from the file on disk).
            cmd += [
                "--real-time" if sim.real_time else "--no-real-time",
                "--credit-resolution",
                repr(sim.credit_resolution_kwh),
                "--supply-off" if sim.supply_off_at_start else "--supply-on",
                "--events",
                sim.events,
            ]
        if rig.resources.readback.kind == "dlms":
            cmd.append("--dlms")  # the meter's DLMS face: the rig reads through it
        if rig.resources.readback.kind in ("display", "operator"):
            cmd.append("--display")  # the LCD as a camera sees it (and a person can look)
        self.command = cmd
        self.process: subprocess.Popen[bytes] | None = None
        self.addresses: dict[str, str] = {}

    def start(self) -> dict[str, str]:
        with open(self.log_file, "wb") as log:
            self.process = subprocess.Popen(
                self.command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.ready_file.exists():
            if self.process.poll() is not None:
                raise DeviceAbsent(f"simulator exited at start: {self._log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise DeviceAbsent(f"simulator not ready within {START_TIMEOUT_S:.0f} s")
            time.sleep(0.02)
        self.addresses = json.loads(self.ready_file.read_text())
        return self.addresses

    def _log_tail(self) -> str:
        text = self.log_file.read_text(errors="replace").strip().splitlines()
        return text[-1] if text else "(no output)"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        self._dir.cleanup()

    def wired_rig(self) -> RigConfig:
        """The rig with the simulator's addresses filled in as its resources. The probe is
        wired only where the rig reads through it or enters tokens by it: a rig read over
        DLMS has no probe, as a meter without test firmware has none."""
        a = self.addresses
        res = self.rig.resources
        board = res.relay_board or RelayBoardResource(url=a["relay_board"])
        readback = res.readback
        if readback.kind == "dlms":
            readback = readback.model_copy(update={"url": a["dlms"]})
        if readback.kind == "display":
            readback = readback.model_copy(update={"url": a["display"]})
        wants_probe = res.readback.kind == "probe" or "virtual_carrier" in self.rig.features
        resources = res.model_copy(
            update={
                "relay_board": board.model_copy(update={"url": a["relay_board"], "usb": None}),
                "probe": SerialResource(url=a["probe"]) if wants_probe else None,
                "readback": readback,
                "instruments": Instruments(
                    ac_source=InstrumentResource(resource=a["ac_source"]),
                    dmm=InstrumentResource(resource=a["dmm"]),
                    load=InstrumentResource(resource=a["load"]),
                ),
            }
        )
        return self.rig.model_copy(update={"resources": resources})

    @property
    def control_url(self) -> str:
        return self.addresses["control"]

    def __enter__(self) -> SimProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

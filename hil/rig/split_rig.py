"""A split bench, opened: ``SplitRig.open(path)`` for a rig with ``ciu:``, ``meters:`` and
``link:`` (docs/split-meters.md). The integrated ``Rig`` (hil.rig.rig) is not involved.

``rig.ciu`` is the CIU (its keys on the relay board, its readback), ``rig.meters[name]`` each
meter (its probe); the link is cut, shorted and restored through the bench's relay
channels. A rig with a ``simulator:`` section starts ``hil sim`` first, as ``Rig`` does.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from hil.errors import ConfigError
from hil.meter.profile import MeterProfile
from hil.meter.split_defects import parse_split_defect
from hil.rig.config import SplitRigConfig, load_split_rig
from hil.rig.drivers.probe import ProbeClient
from hil.rig.drivers.relays import RelayDriver
from hil.rig.rig import (
    BenchBase,
    at_speed,
    built_or_stopped,
    keypad_driver,
    open_relay_board,
    probe_saw,
    serial_url,
)
from hil.rig.split_launcher import SplitSimProcess
from hil.rig.split_units import CiuHandle, MeterHandle

# The CIU's answer may take every try of the link; a link's reply timeout covers the meter's
# processing. Bounds in model seconds: tries, and a reply timeout of at least this.
LINK_TRIES = 3
LINK_REPLY_S = 1.0


class SplitRig(BenchBase):
    """Use ``SplitRig.open(path)`` as a context manager."""

    config: SplitRigConfig
    sim: SplitSimProcess | None

    def __init__(
        self,
        config: SplitRigConfig,
        *,
        base: Path,
        digest: str = "",
        sim: SplitSimProcess | None = None,
        timing: str | None = None,
    ) -> None:
        assert config.ciu is not None and config.link is not None
        self.config, self.base, self.digest, self.sim = config, base, digest, sim
        self.speed = config.simulator.speed if config.simulator else 1.0
        self._closers: list[Any] = []
        self.profiles: dict[str, MeterProfile] = {
            spec.name: spec.behaviour(base, timing) for spec in config.meters
        }
        first = self.profiles[config.meters[0].name]
        self.relay: RelayDriver | None = None
        board = config.resources.relay_board
        if board is not None:
            self.relay = open_relay_board(board)
            self._closers.append(self.relay)
        self.meters: dict[str, MeterHandle] = {}
        for spec in config.meters:
            if spec.probe is None:
                raise ConfigError(f"rig {config.name}: meter {spec.name} has no probe")
            probe = self._probe(spec.probe)
            self.meters[spec.name] = MeterHandle(spec, probe, self.profiles[spec.name], base)
        ciu = config.ciu
        if ciu.probe is None:
            raise ConfigError(f"rig {config.name}: the CIU has no readback (ciu.probe)")
        ciu_probe = self._probe(ciu.probe)
        keypad = None
        if self.relay is not None and ciu.keypad is not None:
            keypad = keypad_driver(
                self.relay,
                ciu.keypad,
                first.keypad,
                self.speed,
                lambda key, deadline: _confirmed(ciu_probe, key, deadline),
            )
        slowest = max(p.processing_s for p in self.profiles.values())
        answer_s = max(5.0, LINK_TRIES * (LINK_REPLY_S + 2 * slowest) * 2 / self.speed)
        self.ciu = CiuHandle(
            ciu,
            ciu_probe,
            keypad,
            numbers={name: m.number for name, m in self.meters.items()},
            answer_timeout_s=answer_s,
        )

    def _probe(self, res: Any) -> ProbeClient:
        probe = ProbeClient(serial_url(res), timeout_s=res.timeout_s, baudrate=res.baudrate)
        self._closers.append(probe)
        return probe

    # -- opening and closing -------------------------------------------------------------
    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        speed: float | None = None,
        timing: str | None = None,
        defect: str | None = None,
    ) -> SplitRig:
        """Load a split rig file; start the simulator first if it has ``simulator:``
        (``defect``: a split defect profile for its CIU, hil.meter.split_defects)."""
        path = Path(path)
        config, digest = load_split_rig(path)
        if defect not in (None, "none", "conforming"):
            parse_split_defect(defect)  # one line naming the known ones, before a process
            if config.simulator is None:
                raise ConfigError(
                    f"{path}: defect {defect}: a defect profile needs a simulated split rig "
                    "(simulator:); a real CIU is what it is"
                )
        sim = None
        if config.simulator is not None:
            sim = SplitSimProcess(path, config, defect=defect, timing=timing, speed=speed)
            sim.start()
            config = at_speed(sim.wired_split_rig(), speed)
        return built_or_stopped(
            sim, lambda: cls(config, base=path.parent, digest=digest, sim=sim, timing=timing)
        )

    def close(self) -> None:
        """Link relays released, ports closed, simulator stopped; safe to call twice."""
        if self.relay is not None:
            with contextlib.suppress(Exception):
                self.restore_link()
        super().close()

    # -- identity -------------------------------------------------------------------------
    def identity(self, defect: str | None = None) -> dict[str, Any]:
        """Who is on the bench, for run records: the topology, the CIU's readback INFO and
        each meter's declared key identity and probe INFO (never key values). The rig event
        of docs/run-record.md, with ``topology: split``."""
        ciu, link = self.config.ciu, self.config.link
        assert ciu is not None and link is not None
        units = []
        for name, meter in self.meters.items():
            declared = {**meter.spec.key_info.describe(), "pan": meter.spec.meter_pan.digits}
            units.append({"name": name, "number": meter.number,
                          "meter": {**declared, "profile": meter.profile.name},
                          "probe_info": meter.info()})  # fmt: skip
        return {
            "name": self.name,
            "serial": None,
            "simulated": self.sim is not None,
            "defect": defect,
            "topology": "split",
            "ciu": {
                "probe_info": self.ciu.probe.info(),
                "paired": self.config.ciu.paired,
                "supply": ciu.supply,
                "battery_backup": ciu.battery_backup,
                "settings_volatile": ciu.settings_volatile,
            },
            "link": link.model_dump(),
            "units": units,
            "instruments": {},
            "features": list(self.config.features),
        }

    def meter_by_number(self, number: str) -> MeterHandle:
        for meter in self.meters.values():
            if meter.number == number:
                return meter
        raise KeyError(number)

    @property
    def paired_meter(self) -> MeterHandle | None:
        """The meter the CIU now sends tokens to."""
        number = self.ciu.paired
        return None if number is None else self.meter_by_number(number)

    # -- the link -------------------------------------------------------------------------
    def cut_link(self) -> None:
        """Open the link (the relay in series with it)."""
        self._link_relay("cut_channel", True)

    def short_link(self) -> None:
        """Short the link (the relay across it)."""
        self._link_relay("short_channel", True)

    def restore_link(self) -> None:
        """Both link relays released: the link as wired."""
        link = self.config.link
        assert link is not None
        for field in ("cut_channel", "short_channel"):
            if getattr(link, field) is not None:
                self._link_relay(field, False)

    def _link_relay(self, field: str, on: bool) -> None:
        link = self.config.link
        assert link is not None
        channel = getattr(link, field)
        if channel is None or self.relay is None:
            raise ConfigError(
                f"rig {self.name} cannot {'open' if field == 'cut_channel' else 'short'} its "
                f"link: set link.{field} and resources.relay_board (feature link_control)"
            )
        self.relay.set(channel, on)

    # -- the CIU's supply -----------------------------------------------------------------
    @property
    def can_cut_ciu_supply(self) -> bool:
        return self.config.ciu is not None and self.config.ciu.supply_channel is not None

    def cut_ciu_supply(self) -> None:
        """Open the CIU's own supply (the relay in series with its mains)."""
        self._ciu_supply_relay(True)

    def restore_ciu_supply(self) -> None:
        self._ciu_supply_relay(False)

    def _ciu_supply_relay(self, on: bool) -> None:
        ciu = self.config.ciu
        channel = None if ciu is None else ciu.supply_channel
        if channel is None or self.relay is None:
            raise ConfigError(
                f"rig {self.name} cannot cut its CIU's supply: set ciu.supply_channel (a relay"
                " in series with the CIU's mains) and resources.relay_board"
            )
        self.relay.set(channel, on)

    # -- state ----------------------------------------------------------------------------
    def reset_state(self) -> None:
        """Link and CIU supply restored, every meter's and the CIU's RESET STATE (test
        firmware)."""
        if self.relay is not None:
            self.restore_link()
            if self.can_cut_ciu_supply:
                self.restore_ciu_supply()
        for meter in self.meters.values():
            meter.reset_state()
        self.ciu.reset_state()

    def sim_state(self) -> dict[str, Any]:
        """The simulator's control ``state`` snapshot (simulated rigs only)."""
        return json.loads(self.sim_control("state"))


def _confirmed(probe: ProbeClient, key: str, deadline: float) -> bool:
    """The CIU registered and took ``key`` (its CIU_KEY event with accepted=1)."""
    return probe_saw(probe, "CIU_KEY", {"key": key, "accepted": "1"}, deadline)

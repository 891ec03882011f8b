"""Build a split system (one CIU, one link, N meter models) from a split rig file.

The rig file gives identities, keys, timing profiles and the CIU's codes; what it does not
give (link latency, retries, reply timeout) is chosen here so that a reply always has time
to come back (docs/split-meters.md, "The link contract").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hil.errors import ConfigError
from hil.meter.ciu import CiuModel, CiuProfile
from hil.meter.link import Link, LinkKind, LinkSpec
from hil.meter.model import MeterModel
from hil.meter.profile import MeterProfile
from hil.meter.split import SplitSystem
from hil.meter.split_defects import SplitDefect
from hil.rig.config import SplitMeterSpec, SplitRigConfig

LINK_LATENCY_S = 0.02  # model seconds, one way
LINK_RETRIES = 2
LINK_SEED = 1


@dataclass(frozen=True)
class SplitParts:
    """What the simulator needs besides the system: how to make a fresh CIU, who is who."""

    system: SplitSystem
    names: dict[str, str]  # meter number (DRN) -> unit name
    profiles: dict[str, MeterProfile]  # unit name -> timing profile
    ciu_profile: CiuProfile
    link_spec: LinkSpec
    paired: str | None  # the number paired at start
    defects: frozenset[SplitDefect] = frozenset()  # the CIU's (hil sim --defect)

    def fresh_ciu(self, at: float) -> CiuModel:
        """The CIU as the rig file describes it: what the CIU probe's RESET STATE gives
        (a defective CIU stays defective: the defect is its firmware)."""
        return CiuModel(
            self.ciu_profile, self.link_spec, paired=self.paired, at=at, defects=self.defects
        )

    def number(self, name: str) -> str:
        for number, unit in self.names.items():
            if unit == name:
                return number
        raise KeyError(name)


def build_meter(spec: SplitMeterSpec, base: Path | None, timing: str | None) -> MeterModel:
    return MeterModel(
        spec.meter_pan,
        spec.key_info,
        spec.load_decoder_key(base),
        spec.behaviour(base, timing),
        firmware=spec.firmware or "sim-1.0",
        sta_tables=spec.tables(base),
    )


def link_spec(rig: SplitRigConfig, profiles: list[MeterProfile]) -> LinkSpec:
    """Latency fixed; the reply timeout covers the slowest meter's processing time."""
    assert rig.link is not None
    slowest = max(p.processing_s for p in profiles)
    timeout = max(0.5, 2 * LINK_LATENCY_S + 2 * slowest + 0.1)
    return LinkSpec(
        kind=LinkKind(rig.link.kind),
        latency_s=LINK_LATENCY_S,
        retries=LINK_RETRIES,
        reply_timeout_s=timeout,
    )


def ciu_profile(rig: SplitRigConfig, keypad_from: MeterProfile) -> CiuProfile:
    """The CIU's codes from the rig file; its keypad timings are those of the meters' own
    keypad (docs/split-meters.md: CIU entry works like the meter's keypad)."""
    ciu = rig.ciu
    assert ciu is not None
    keys = keypad_from.keypad
    return CiuProfile(
        pair_code=ciu.pair_code,
        show_code=ciu.show_code,
        inter_digit_timeout_s=keys.inter_digit_timeout_s,
        auto_submit_at_20=keys.auto_submit_at_20,
        result_hold_s=keypad_from.result_hold_s,
        battery_backup=ciu.battery_backup,
        settings_volatile=ciu.settings_volatile,
    )


def build_split(
    rig: SplitRigConfig,
    base: Path | None,
    *,
    timing: str | None = None,
    at: float = 0.0,
    defects: frozenset[SplitDefect] = frozenset(),
) -> SplitParts:
    ciu = rig.ciu
    assert ciu is not None
    meters = [build_meter(spec, base, timing) for spec in rig.meters]
    names = {m.pan.drn: spec.name for m, spec in zip(meters, rig.meters, strict=True)}
    by_name = {spec.name: m for m, spec in zip(meters, rig.meters, strict=True)}
    profiles = {spec.name: m.profile for m, spec in zip(meters, rig.meters, strict=True)}
    spec = link_spec(rig, list(profiles.values()))
    first = profiles[rig.meters[0].name]
    profile = ciu_profile(rig, first)
    paired = by_name[ciu.paired].pan.drn if ciu.paired else None
    supply_meter = by_name[ciu.supply_meter].pan.drn if ciu.supply_meter else None
    try:
        system = SplitSystem(
            CiuModel(profile, spec, paired=paired, at=at, defects=defects),
            Link(spec, seed=LINK_SEED, at=at),
            meters,
            supply=ciu.supply,
            supply_meter=supply_meter,
        )
    except ValueError as exc:
        raise ConfigError(f"split rig {rig.name}: {exc}") from None
    return SplitParts(system, names, profiles, profile, spec, paired, defects)

"""The rig file's meter.functions: the meter file named, resolved, applied and pre-flighted."""

from __future__ import annotations

from pathlib import Path

import pytest

from hil.errors import ConfigError
from hil.rig.config import load_rig
from hil.rig.meter_spec import MeterSpec
from hil.rig.preflight import check_sources
from hil.sts.sample_keys import TEST_METER


def test_shipped_sim_rig_names_the_sim_meter() -> None:
    from hil.paths import DEFAULT_RIG

    rig, _ = load_rig(DEFAULT_RIG)
    assert rig.meter.functions == "sim-meter"
    assert rig.meter.declared().name == "sim-meter"
    behaviour = rig.meter.behaviour()
    assert behaviour.name == "fast" and 2 in behaviour.management_subclasses


def test_no_meter_file_declares_nothing() -> None:
    spec = MeterSpec(**TEST_METER)
    assert spec.declared().not_declared("class1:display")
    assert spec.behaviour().management_subclasses == (0, 1, 5)


def test_a_meter_file_path_is_relative_to_the_rig_file(tmp_path: Path) -> None:
    (tmp_path / "lab-meter.yaml").write_text("keypad: {submit: twentieth_digit}\n")
    spec = MeterSpec(**TEST_METER, functions="lab-meter.yaml")
    assert spec.declared(tmp_path).name == "lab-meter"
    assert spec.behaviour(tmp_path).keypad.auto_submit_at_20 is True


def test_a_bad_meter_file_fails_preflight_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("management: {set_tariff_rate: sometimes}\n")
    rig, _ = load_rig(Path(__file__).parents[2] / "hil" / "data" / "rigs" / "sim.yaml")
    meter = rig.meter.model_copy(update={"functions": "bad.yaml"})
    rows: list = []
    check_sources(rig.model_copy(update={"meter": meter}), tmp_path, rows)
    row = next(r for r in rows if r.device == "meter file")
    assert not row.ok and "\n" not in row.detail
    assert "bad.yaml: field 'management.set_tariff_rate': accepted: applied, refused" in row.detail
    with pytest.raises(ConfigError, match="meter file 'nowhere' not found"):
        MeterSpec(**TEST_METER, functions="nowhere").declared()

"""Rig files are validated on load; errors are one line naming file, field and fix."""

import pytest

from hil.errors import ConfigError
from hil.paths import RIGS
from hil.rig.config import load_rig


@pytest.mark.parametrize("name", ["sim.yaml", "external-sim.yaml", "example-lab-bench.yaml"])
def test_shipped_rig_files_are_valid(name):
    rig, digest = load_rig(RIGS / name)
    assert rig.meter.meter_pan.digits.isdigit()
    assert len(digest) == 64


def test_matrix_keypad_contacts():
    rig, _ = load_rig(RIGS / "example-lab-bench.yaml")
    contacts = rig.resources.keypad.contacts()
    assert contacts["1"] == (0, 4) and contacts["ENTER"] == (3, 6) and contacts["0"] == (3, 5)


BASE = """
name: t
meter: {pan: "600727000000000009", sgc: 1, ti: 1, krn: 1,
        vending_key: {hex: ABABABABABABABAB949494949494949401234567, test: true}}
features: [virtual_carrier]
token_entry: virtual_carrier
resources:
  probe: {url: "socket://127.0.0.1:1"}
"""


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("krn: 1", "krn: 12"), "meter.krn: Input should be less than or equal to 9"),
        (
            ("600727000000000009", "600727000000000008"),
            "meter.pan: MeterPAN 600727000000000008: check digit",
        ),
        (
            ("token_entry: virtual_carrier", "token_entry: keypad"),
            "token_entry keypad needs feature keypad",
        ),
        (
            ("features: [virtual_carrier]", "features: [virtual_carrier, power_control]"),
            "feature power_control needs resources.instruments.ac_source",
        ),
        (("test: true", "test: false"), "inline hex key is allowed only for test material"),
        (("name: t", "name: t\nlocation: here"), "location: unknown field"),
        (("probe: {url:", "probe: {usb: {serial_number: X}, url:"), "exactly one of url or usb"),
        (("features: [virtual_carrier]", "features: [teleport]"), "features.0: accepted:"),
        (("name: t", "name: [t"), "not valid YAML"),
    ],
)
def test_broken_rig_file_gets_one_line_error(tmp_path, edit, message):
    path = tmp_path / "rig.yaml"
    path.write_text(BASE.replace(*edit))
    with pytest.raises(ConfigError) as err:
        load_rig(path)
    text = str(err.value)
    assert message in text, text
    assert "\n" not in text and text.startswith(str(path))


def test_missing_rig_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read rig file"):
        load_rig(tmp_path / "nope.yaml")


def test_probe_is_required_on_a_real_bench(tmp_path):
    path = tmp_path / "rig.yaml"
    path.write_text(BASE.replace('  probe: {url: "socket://127.0.0.1:1"}\n', ""))
    with pytest.raises(ConfigError, match="resources.probe is required"):
        load_rig(path)

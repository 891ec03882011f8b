"""Split-meter rig files (ciu:, meters:, link:): validated on load, one-line errors."""

import pytest

from hil.errors import ConfigError
from hil.paths import RIGS
from hil.rig.config import SplitMeterSpec, load_rig, load_split_rig
from hil.rig.meter_spec import MeterSpec

VK = "vending_key: {hex: ABABABABABABABAB949494949494949401234567, test: true}"
BASE = f"""
name: s
ciu:
  keypad: {{keys: {{"0": 0, "1": 1, "2": 2, "3": 3, "4": 4, "5": 5, "6": 6, "7": 7, "8": 8,
                  "9": 9, ENTER: 10, BACK: 11}}}}
  paired: a
meters:
  - {{name: a, pan: "00000000000", sgc: 1, ti: 1, krn: 1, {VK},
     probe: {{url: "socket://127.0.0.1:1"}}}}
  - {{name: b, pan: "01234567897", sgc: 1, ti: 1, krn: 1, {VK},
     probe: {{url: "socket://127.0.0.1:2"}}}}
link: {{kind: two_wire, cut_channel: 12, short_channel: 13}}
features: [keypad, link_control]
token_entry: keypad
resources:
  relay_board: {{url: "socket://127.0.0.1:3", channels: 16}}
"""


def load(tmp_path, text):
    path = tmp_path / "rig.yaml"
    path.write_text(text)
    return load_split_rig(path)[0]


def refused(tmp_path, text, loader=load_split_rig) -> str:
    path = tmp_path / "rig.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        loader(path)
    message = str(err.value)
    assert "\n" not in message and message.startswith(str(path))
    return message


def test_the_shipped_split_rig_is_valid():
    rig, digest = load_split_rig(RIGS / "split-sim.yaml")
    assert [m.name for m in rig.meters] == ["house-a", "house-b"]
    assert rig.ciu is not None and rig.ciu.paired == "house-a"
    assert rig.link is not None and (rig.link.cut_channel, rig.link.short_channel) == (12, 13)
    assert rig.ciu.supply_channel == 14
    assert len(digest) == 64


def test_a_split_rig_holds_one_meter_spec_per_unit(tmp_path):
    rig = load(tmp_path, BASE)
    a = rig.meter("a")
    assert isinstance(a, SplitMeterSpec) and isinstance(a, MeterSpec)
    assert a.pan == "600727000000000009" and a.meter_pan.drn == "00000000000"
    assert rig.meter("b").probe is not None and rig.meter("b").probe.url.endswith(":2")
    assert rig.ciu is not None and rig.ciu.keypad is not None
    assert rig.ciu.keypad.contacts()["ENTER"] == (10,)


def test_load_rig_refuses_a_split_rig_so_integrated_code_never_meets_one(tmp_path):
    message = refused(tmp_path, BASE, load_rig)
    assert "split-meter rig" in message and "SplitRig.open" in message


def test_load_split_rig_refuses_an_integrated_rig():
    with pytest.raises(ConfigError, match="integrated rig"):
        load_split_rig(RIGS / "sim.yaml")


@pytest.mark.parametrize("name", ["sim.yaml", "external-sim.yaml", "example-lab-bench.yaml"])
def test_integrated_rigs_still_load_as_before(name):
    rig, _ = load_rig(RIGS / name)
    assert rig.meter.meter_pan.digits.isdigit()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("name: s", 'name: s\nmeter: {pan: "00000000000"}'), "meter: give meter:"),
        (("  paired: a", "  paired: c"), "ciu.paired: c is not a meter here; accepted: a, b"),
        (('pan: "01234567897"', 'pan: "600727000000000009"'),
         "meters.1.pan: 600727000000000009 is also meters.0's PAN"),
        (("name: b", "name: a"), "meters.1.name: a is also meters.0's name"),
        (("cut_channel: 12", "cut_channel: 10"),
         "link.cut_channel: channel 10 is also the CIU keypad's ENTER key"),
        (("short_channel: 13", "short_channel: 12"),
         "link.short_channel: channel 12 is also link.cut_channel"),
        (("short_channel: 13", "short_channel: 16"),
         "link.short_channel: channel 16 is not on a 16-channel board"),
        (("kind: two_wire", "kind: plc"), "link.short_channel: a link of kind plc has no pair a relay can short"),
        (("kind: two_wire", "kind: rf"), "link.cut_channel: a link of kind rf has no pair a relay can open"),
        (("kind: two_wire", "kind: fibre"), "link.kind: accepted: 'two_wire', 'rs485', 'plc'"),
        (("link: {kind: two_wire, cut_channel: 12, short_channel: 13}", "link: {kind: rs485}"),
         "features: link_control needs link.cut_channel or link.short_channel"),
        (('  relay_board: {url: "socket://127.0.0.1:3", channels: 16}',
          '  relay_board: {url: "socket://127.0.0.1:3", channels: 16}\n  keypad: {keys: {}}'),
         "resources.keypad: a split rig's keypad is the CIU's: ciu.keypad"),
        (("    probe: {url: \"socket://127.0.0.1:2\"}}", "    }"),
         "meters.1.probe is required"),
        (("token_entry: keypad", "token_entry: virtual_carrier"),
         "token_entry: virtual_carrier needs feature virtual_carrier"),
        (("features: [keypad, link_control]", "features: [keypad, relay_sensing]"),
         "meters.0.instruments.dmm is required by feature relay_sensing"),
        (("  paired: a", "  paired: a\n  supply: load_side"),
         "ciu.supply_meter: a load_side CIU needs the name of the meter"),
        (("  paired: a", '  paired: a\n  show_code: "800"'), "ciu.show_code: must differ"),
        (("  paired: a", "  paired: a\n  supply_channel: 11"),
         "ciu.supply_channel: channel 11 is also the CIU keypad's BACK key"),
        (("  paired: a", "  paired: a\n  supply_channel: 13"),
         "ciu.supply_channel: channel 13 is also a link relay"),
        (("  paired: a", "  paired: a\n  supply_channel: 16"),
         "ciu.supply_channel: channel 16 is not on a 16-channel board"),
        (("  paired: a", "  paired: a\n  supply: link\n  supply_channel: 14"),
         "ciu.supply_channel: a link CIU has no supply of its own to cut"),
        (("krn: 1, ", "krn: 12, "), "meters.0.krn: Input should be less than or equal to 9"),
        (("name: a,", "name: a, colour: red,"), "meters.0.colour: unknown field"),
    ],
)  # fmt: skip
def test_an_inconsistent_split_rig_gets_one_line_naming_the_field(tmp_path, edit, message):
    text = BASE.replace(*edit, 1)
    assert text != BASE
    got = refused(tmp_path, text)
    assert message in got, got
    assert "(top)" not in got


def test_a_ciu_without_meters(tmp_path):
    start, end = BASE.index("meters:"), BASE.index("link:")
    got = refused(tmp_path, BASE[:start] + BASE[end:])
    assert "meters: a CIU needs at least one meter" in got


def test_meters_without_a_ciu(tmp_path):
    start, end = BASE.index("ciu:"), BASE.index("meters:")
    assert "ciu: a split rig needs its CIU" in refused(tmp_path, BASE[:start] + BASE[end:])


def test_a_split_rig_without_a_link(tmp_path):
    text = BASE.replace("link: {kind: two_wire, cut_channel: 12, short_channel: 13}\n", "")
    assert "link: a split rig needs link:" in refused(tmp_path, text)


def test_a_simulated_split_rig_needs_no_device_addresses(tmp_path):
    text = BASE.replace('probe: {url: "socket://127.0.0.1:1"}', "profile: fast")
    text = text.replace('    probe: {url: "socket://127.0.0.1:2"}}', "    }")
    text = text.replace('  relay_board: {url: "socket://127.0.0.1:3", channels: 16}', "  {}")
    text = text.replace("resources:\n  {}", "simulator: {transport: pty}")
    rig = load(tmp_path, text)
    assert rig.simulator is not None and rig.meter("a").probe is None

"""SplitRig (hil.rig.split_rig) on the simulated split bench it starts itself: a handle per
unit, token entry on the CIU keys for the paired meter, pairing by number, link actions
through the relay board, readbacks per meter."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hil.errors import ConfigError
from hil.meter.results import TokenResult
from hil.paths import RIGS
from hil.rig.config import load_rig
from hil.rig.split_preflight import is_split, split_preflight
from hil.rig.split_rig import SplitRig
from hil.sts import CreditToken, codec
from hil.sts.keys import DecoderKey

RIG_FILE = RIGS / "split-sim.yaml"
TID = 6_000_000


def token(key: DecoderKey, tid: int = TID, units: int = 256) -> str:
    return codec.encode(CreditToken(tid, 0, units), key)


@pytest.fixture(scope="module")
def rig() -> Iterator[SplitRig]:
    with SplitRig.open(RIG_FILE) as opened:
        yield opened


@pytest.fixture(autouse=True)
def fresh(rig: SplitRig) -> None:
    rig.reset_state()


def test_a_handle_per_unit(rig: SplitRig) -> None:
    assert set(rig.meters) == {"house-a", "house-b"}
    assert rig.meters["house-a"].info()["pan"] == "600727000000000009"
    assert rig.meters["house-b"].number == "01234567897"
    assert rig.ciu.paired == "00000000000"
    assert rig.paired_meter is rig.meters["house-a"]
    assert rig.has("link_control") and rig.has("fault_injection")


def test_token_on_the_ciu_reaches_the_paired_meter_only(rig: SplitRig) -> None:
    a, b = rig.meters["house-a"], rig.meters["house-b"]
    outcome = rig.ciu.enter_token(token(a.decoder_key))
    assert outcome.result is TokenResult.ACCEPT and outcome.comms_failure is None
    assert outcome.credit_wh == 25600
    assert a.read_credit() == pytest.approx(25.6) and a.read_tid_memory() == [TID]
    assert b.read_credit() == 0.0 and b.read_tid_memory() == []
    assert rig.ciu.display().credit_wh == 25600


def test_pairing_by_number_and_by_name_and_show_code(rig: SplitRig) -> None:
    b = rig.meters["house-b"]
    assert rig.ciu.pair(b.number).paired
    assert rig.ciu.paired == b.number
    assert rig.ciu.show_paired() == b.number
    assert rig.ciu.enter_token(token(b.decoder_key)).accepted
    assert b.read_credit() == pytest.approx(25.6)
    assert rig.meters["house-a"].read_credit() == 0.0
    assert rig.ciu.pair("house-a").paired
    assert rig.paired_meter is rig.meters["house-a"]


def test_pairing_with_a_bad_check_digit_keeps_the_old_pairing(rig: SplitRig) -> None:
    outcome = rig.ciu.pair("01234567890")
    assert not outcome.paired and outcome.reason == "check_digit"
    assert rig.ciu.paired == "00000000000"


def test_cut_gives_a_comms_failure_never_a_result_and_restore_recovers(rig: SplitRig) -> None:
    a = rig.meters["house-a"]
    digits = token(a.decoder_key)
    rig.cut_link()
    assert rig.sim_state()["link"]["state"] == "cut"
    outcome = rig.ciu.enter_token(digits)
    assert outcome.result is None and outcome.comms_failure == "no_answer"
    assert rig.ciu.link_state() == "no_communication"
    assert a.read_credit() == 0.0
    rig.restore_link()
    assert rig.ciu.enter_token(digits).result is TokenResult.ACCEPT
    assert rig.ciu.enter_token(digits).result is TokenResult.USED
    assert a.read_credit() == pytest.approx(25.6)


def test_short_is_shown_and_nothing_is_credited(rig: SplitRig) -> None:
    a = rig.meters["house-a"]
    rig.short_link()
    outcome = rig.ciu.enter_token(token(a.decoder_key))
    assert outcome.comms_failure == "short"
    assert rig.ciu.display().link == "short"
    assert a.read_credit() == 0.0
    rig.restore_link()
    assert rig.ciu.link_state() == "ok"


def test_reset_state_restores_the_rig_files_pairing(rig: SplitRig) -> None:
    assert rig.ciu.pair("house-b").paired
    rig.reset_state()
    assert rig.ciu.paired == "00000000000"


def test_load_rig_refuses_a_split_rig_and_points_to_split_rig() -> None:
    with pytest.raises(ConfigError) as info:
        load_rig(RIG_FILE)
    message = str(info.value)
    assert "\n" not in message
    assert "SplitRig.open" in message and "split-meters.md" in message


def test_preflight_checks_every_unit_of_a_split_rig() -> None:
    rows, name = split_preflight(RIG_FILE)
    assert name == "split-sim"
    assert all(row.ok for row in rows), [r for r in rows if not r.ok]
    devices = [row.device for row in rows]
    assert {"rig file", "ciu", "meter house-a", "meter house-b"} <= set(devices)
    assert next(r for r in rows if r.check == "probe INFO" and "house-b" in r.device).detail == (
        "meter 600727012345678977"
    )


def test_preflight_refuses_a_defect_and_tells_split_rigs_apart(tmp_path) -> None:
    rows, _ = split_preflight(RIG_FILE, defect="accepts_replays")  # an integrated meter's
    assert not rows[-1].ok and "split rig" in rows[-1].detail
    assert "ciu_stale_credit" in rows[-1].detail  # the one-line error names the known ones
    assert is_split(RIG_FILE)
    assert not is_split(RIGS / "sim.yaml")
    broken = tmp_path / "rig.yaml"
    broken.write_text("name: [\n")
    assert not is_split(broken)  # left to load_rig, whose one-line error is unchanged


def test_preflight_opens_the_bench_with_a_split_defect() -> None:
    rows, _ = split_preflight(RIG_FILE, defect="ciu_stale_credit")
    assert all(row.ok for row in rows), [r for r in rows if not r.ok]
    row = next(r for r in rows if r.device == "simulator")
    assert row.detail == "simulated CIU with split defect ciu_stale_credit"


def test_a_defect_on_a_split_rig_without_simulator_is_refused(tmp_path) -> None:
    # The simulated rig's units, read by probes on a real bench: no simulator section.
    text = RIG_FILE.read_text()
    meters = text[text.index("meters:") : text.index("link:")].replace(
        "    profile: fast\n", "    profile: fast\n    probe: {url: /dev/ttyUSB1}\n"
    )
    real = tmp_path / "real.yaml"
    real.write_text("name: real\nciu: {probe: {url: /dev/ttyUSB0}, paired: house-a}\n"
                    f"{meters}link: {{kind: two_wire}}\nfeatures: [virtual_carrier]\n"
                    "token_entry: virtual_carrier\n")  # fmt: skip
    with pytest.raises(ConfigError, match="needs a simulated split rig"):
        SplitRig.open(real, defect="ciu_stale_credit")

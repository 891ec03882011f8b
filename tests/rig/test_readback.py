"""The readback role: the registry, the rig-file errors, both drivers against one simulated
bench (its probe and its DLMS face over the same meter model), and a sim-dlms rig end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hil.errors import ConfigError
from hil.meter.results import TokenResult
from hil.paths import RIGS
from hil.rig.config import load_rig
from hil.rig.drivers.dlms import DlmsClient
from hil.rig.drivers.probe import NotOffered, ProbeClient
from hil.rig.readback import READBACKS, Capabilities, NotReadable, Readback
from hil.rig.readback.dlms import DlmsReadback, gateway_class
from hil.rig.readback.probe import ProbeReadback
from hil.rig.rig import Rig
from hil.sim.build import build_bench
from hil.sim.dlms_server import status_for_sts_result
from hil.sts import CreditToken, codec

TID = 6_100_000


def _rig_file(tmp_path: Path, readback: str) -> Path:
    text = (RIGS / "external-sim.yaml").read_text()
    text = text.replace("  probe: {url:", f"  readback: {readback}\n  probe: {{url:")
    path = tmp_path / "rig.yaml"
    path.write_text(text)
    return path


def test_registry_names_the_drivers() -> None:
    assert {"probe", "dlms", "operator", "display"} <= set(READBACKS)


def test_every_existing_rig_reads_through_the_probe() -> None:
    for name in ("sim", "sim-strict", "external-sim", "example-lab-bench"):
        assert load_rig(RIGS / f"{name}.yaml")[0].resources.readback.kind == "probe"
    assert load_rig(RIGS / "sim-dlms.yaml")[0].resources.readback.kind == "dlms"


def test_unknown_kind_is_one_line_listing_the_known(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_rig(_rig_file(tmp_path, "{kind: camera}"))
    message = str(err.value)
    assert "\n" not in message
    assert "resources.readback" in message and "unknown readback kind 'camera'" in message
    assert "known: display, dlms, operator, probe" in message


def test_a_dlms_readback_needs_its_url(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="resources.readback.url is required"):
        load_rig(_rig_file(tmp_path, "{kind: dlms}"))


def test_the_gateway_folding_is_served_as_read() -> None:
    for result in TokenResult:
        assert status_for_sts_result(int(result)) is gateway_class(result)
    assert gateway_class(TokenResult.OLD) is gateway_class(TokenResult.USED)


# -- both drivers against one bench -----------------------------------------------------------


@pytest.fixture(scope="module")
def bench() -> Iterator[dict[str, str]]:
    config, _ = load_rig(RIGS / "sim.yaml")
    sim = build_bench(config, RIGS)
    addresses = sim.start("tcp", dlms=True)
    yield addresses
    sim.stop()


@pytest.fixture(scope="module")
def readbacks(bench: dict[str, str]) -> Iterator[tuple[ProbeReadback, DlmsReadback]]:
    probe = ProbeClient(bench["probe"], timeout_s=2.0)
    dlms = DlmsReadback(DlmsClient(bench["dlms"], timeout_s=2.0))
    yield ProbeReadback(probe), dlms
    dlms.close()
    probe.close()


def test_both_are_readbacks_with_their_capabilities(readbacks) -> None:
    probe, dlms = readbacks
    assert isinstance(probe, Readback) and isinstance(dlms, Readback)
    assert probe.capabilities == Capabilities(reset=True)
    caps = dlms.capabilities
    assert (caps.result_codes, caps.tid_memory, caps.lockout, caps.events) == (
        "classes",
        False,
        False,
        "polled",
    )
    assert caps.credit_resolution_kwh == pytest.approx(0.001)


def test_both_read_the_same_meter(readbacks) -> None:
    probe, dlms = readbacks
    config, _ = load_rig(RIGS / "sim.yaml")
    token = codec.encode(CreditToken(TID, 0, 25), config.meter.load_decoder_key(RIGS))
    dlms.mark()
    probe.mark()
    probe.probe.send_token(token)
    outcome = dlms.await_result(0.0, 5.0)
    assert (outcome.exact, outcome.result_class) == (False, "EXECUTION_OK")
    assert probe.await_result(0.0, 5.0).result is TokenResult.ACCEPT
    assert dlms.read_credit() == pytest.approx(probe.read_credit()) == pytest.approx(2.5)
    assert dlms.read_relay()[0] is probe.read_relay()[0] is True
    assert abs((dlms.read_clock() - probe.read_clock()).total_seconds()) < 2
    assert dlms.result_class(TokenResult.USED) == "VALIDATION_FAILURE"
    assert probe.result_class(TokenResult.USED) == "Used"


def test_dlms_lacks_what_it_cannot_see(readbacks) -> None:
    _probe, dlms = readbacks
    for read in (dlms.read_tid_memory, dlms.read_lockout, dlms.read_token_log):
        with pytest.raises(NotReadable) as err:
            read()
        assert isinstance(err.value, NotOffered) and "readback dlms cannot read" in str(err.value)
    info = dlms.info()
    assert info["device_name"] and "krn" not in info
    with pytest.raises(NotReadable, match="key register"):
        info.get("krn")


# -- the sim-dlms rig end to end ----------------------------------------------------------------


def test_sim_dlms_rig_takes_tokens_on_the_keypad_and_reads_over_dlms() -> None:
    with Rig.open(RIGS / "sim-dlms.yaml") as rig:
        assert rig.probe is None and rig.readback.kind == "dlms"
        assert rig.keypad is not None and rig.keypad.verify is None
        rig.reset_state()
        key = rig.meter.load_decoder_key(rig.base)
        token = codec.encode(CreditToken(TID + 10, 0, 15), key)
        first = rig.enter_token(token)
        assert first.result_class == "EXECUTION_OK" and rig.read_credit() == pytest.approx(1.5)
        assert rig.read_relay()[0] is True
        again = rig.enter_token(token)  # a replay: Used, which DLMS shows as a validation failure
        assert again.result_class == "VALIDATION_FAILURE"
        assert rig.read_credit() == pytest.approx(1.5)
        assert rig.credit_resolution_kwh == pytest.approx(0.001)


def test_selftest_on_sim_dlms_catches_key_rules_and_names_what_dlms_cannot_show(
    tmp_path: Path,
) -> None:
    """Class-only results must still carry a key change forward (a 2nd KCT reads as
    EXECUTION_OK), or the tokens after it are made under the old key and a meter that
    ignores key expiry or the DDTK rule passes. A rule DLMS cannot read is 'not judged'."""
    matrix = tmp_path / "matrix.json"
    profiles = ["ignores_key_expiry", "accepts_credit_under_ddtk", "no_lockout"]
    out = subprocess.run(
        [sys.executable, "-m", "hil", "selftest", "--rig", "sim-dlms", "--quick", "-j", "3",
         "--json", str(matrix), *(a for p in profiles for a in ("--defect", p))],
        capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "120"},
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    rows = {r["profile"]: r for r in json.loads(matrix.read_text())}
    for profile, test in (("ignores_key_expiry", "test_token_past_key_expiry_is_refused"),
                          ("accepts_credit_under_ddtk", "test_credit_under_default_key_is_refused")):  # fmt: skip
        assert rows[profile]["not_judged"] == [], profile
        assert any(test in nodeid for nodeid in rows[profile]["detected_by"]), rows[profile]
    assert rows["no_lockout"]["detected_by"] == []
    assert rows["no_lockout"]["not_judged"] == ["readback dlms cannot read the lockout state"]
    assert "(1 not judged: this rig cannot show them)" in out.stdout

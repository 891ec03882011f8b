"""The simulator as a conforming meter this project did not write (MeterOptions), through
its real transports: pyserial on the probe, pyvisa on the SCPI ports, the control port."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import pyvisa
import serial

from hil.errors import ConfigError
from hil.paths import RIGS
from hil.probe import protocol as p
from hil.rig.config import SimulatorSpec, load_rig
from hil.rig.sim_launcher import SimProcess
from hil.sim.bench import SimBench
from hil.sim.build import build_bench, meter_options
from hil.sim.options import MANDATORY_EVENTS, MeterOptions
from hil.sts import MaxPowerLimitToken, codec
from tests.sim.test_bench_scenario import KEY, Probe, control, token

SIM_RIG, _ = load_rig(RIGS / "sim.yaml")
STRICT_RIG, _ = load_rig(RIGS / "sim-strict.yaml")
Bench = tuple[SimBench, dict[str, str]]


def start(options: MeterOptions, transport: str = "pty", speed: float | None = None) -> Bench:
    bench = build_bench(SIM_RIG, RIGS, options=options, speed=speed)
    return bench, bench.start(transport)


@pytest.fixture
def opened() -> Iterator[list[SimBench]]:
    """Benches a test started; stopped however the test ends."""
    benches: list[SimBench] = []
    yield benches
    for bench in benches:
        bench.stop()


def open_bench(
    opened: list[SimBench],
    options: MeterOptions,
    transport: str = "pty",
    speed: float | None = None,
) -> dict[str, str]:
    bench, addresses = start(options, transport, speed)
    opened.append(bench)
    return addresses


def scpi(address: str) -> tuple[pyvisa.ResourceManager, pyvisa.resources.MessageBasedResource]:
    rm = pyvisa.ResourceManager("@py")
    inst = rm.open_resource(address, read_termination="\n", write_termination="\n")
    return rm, inst  # type: ignore[return-value]


def state(addresses: dict[str, str]) -> dict[str, object]:
    reply = control(addresses["control"], "state")
    assert reply.startswith("OK "), reply
    return json.loads(reply.removeprefix("OK "))


def silent(url: str, seq: int = 1, wait_s: float = 0.4) -> bool:
    """True when the probe sends nothing at all in answer to a PING."""
    port = serial.serial_for_url(url, timeout=wait_s)
    try:
        port.write((p.format_request(seq, "PING") + "\n").encode())
        return port.read(256) == b""
    finally:
        port.close()


# -- supply off at start ------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["pty", "tcp"])
def test_supply_off_probe_silent_until_outp_on_then_power_up(opened, transport):
    addr = open_bench(opened, MeterOptions(supply_off_at_start=True), transport=transport)
    probe = Probe(addr["probe"])
    rm, source = scpi(addr["ac_source"])
    try:
        assert source.query("OUTP?").strip() == "0"  # the AC source starts with output off
        assert state(addr)["powered"] is False
        probe.seq += 1
        probe.port.write((p.format_request(probe.seq, "INFO") + "\n").encode())
        assert probe.port.read(256) == b""  # an unpowered meter's probe says nothing
        source.write("OUTP ON")
        assert source.query("OUTP?").strip() == "1"
        deadline = time.monotonic() + 3
        line = b""
        while not line and time.monotonic() < deadline:
            line = probe.port.readline()  # POWER_UP comes by itself, unasked
        event = p.parse_incoming(line.decode())
        assert isinstance(event, p.Event) and event.name == "POWER_UP"
        assert event.evseq == 1
        assert probe.request("INFO")["pan"] == "600727000000000009"
    finally:
        source.close()
        rm.close()


def test_supply_on_at_start_is_the_default(opened):
    addr = open_bench(opened, MeterOptions())
    rm, source = scpi(addr["ac_source"])
    try:
        assert source.query("OUTP?").strip() == "1"
    finally:
        source.close()
        rm.close()
    assert not silent(addr["probe"])


def test_reboot_does_not_power_a_meter_without_supply(opened):
    addr = open_bench(opened, MeterOptions(supply_off_at_start=True))
    assert control(addr["control"], "reboot") == "OK"
    assert state(addr)["powered"] is False
    assert silent(addr["probe"])


# -- credit resolution ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resolution", "wh", "text"),
    [
        (0.1, 25650, "25.6"),
        (0.1, 99, "0.0"),
        (0.1, 100, "0.1"),
        (0.1, -25650, "-25.6"),  # toward zero, also for a negative delta
        (0.1, -50, "0.0"),
        (0.01, 25659, "25.65"),
        (0.05, 25699, "25.65"),
        (0.001, 25650, "25.650"),
        (0.001, 1.9, "0.001"),
    ],
)
def test_credit_is_rounded_toward_zero_to_the_resolution(resolution, wh, text):
    assert MeterOptions(credit_resolution_kwh=resolution).kwh_text(wh) == text


@pytest.mark.parametrize("bad", [0.0, 0.0005, 0.0015, 0.2, 1.0])
def test_a_resolution_the_contract_does_not_allow_is_a_config_error(bad):
    with pytest.raises(ConfigError, match="multiple of 0.001 kWh from 0.001 to 0.1"):
        MeterOptions(credit_resolution_kwh=bad)


def test_info_carries_the_credit_resolution(opened):
    default = Probe(open_bench(opened, MeterOptions())["probe"])
    assert default.request("INFO")["credit_resolution_kwh"] == "0.001"
    coarse = Probe(open_bench(opened, MeterOptions(credit_resolution_kwh=0.01))["probe"])
    assert coarse.request("INFO")["credit_resolution_kwh"] == "0.01"


def test_get_credit_and_credit_changed_rounded_down_at_0_1(opened):
    addr = open_bench(opened, MeterOptions(credit_resolution_kwh=0.1), speed=100.0)
    probe = Probe(addr["probe"])
    assert probe.request("INFO")["credit_resolution_kwh"] == "0.1"
    probe.request("TOKEN", token(5433770, units=256))  # 25.6 kWh
    assert probe.wait_event("CREDIT_CHANGED").fields == {"credit_kwh": "25.6", "delta_kwh": "25.6"}
    rm, load = scpi(addr["load"])
    try:
        # Draw until the register is between two readout steps (3600 W at 100x: 100 Wh/s).
        credit_wh = 25600
        while credit_wh % 100 == 0 or credit_wh > 25590:
            load.write("POW 3600")
            time.sleep(0.05)
            load.write("POW 0")
            load.query("POW?")  # a query waits until the writes are applied
            credit_wh = int(state(addr)["credit_wh"])  # type: ignore[call-overload]
        assert credit_wh > 25000
    finally:
        load.close()
        rm.close()
    shown = probe.request("GET", "CREDIT")["credit_kwh"]
    assert shown == f"{credit_wh // 100 / 10:.1f}"  # whole 0.1 kWh below the register
    assert float(shown) < credit_wh / 1000
    probe.request("TOKEN", token(5433771, units=1))  # + 0.1 kWh
    event = probe.wait_event("CREDIT_CHANGED")
    assert event.fields == {
        "credit_kwh": f"{(credit_wh + 100) // 100 / 10:.1f}",
        "delta_kwh": "0.1",
    }


# -- mandatory events only -------------------------------------------------------------------


def test_mandatory_events_only_relay_changes_seen_by_polling(opened):
    addr = open_bench(opened, MeterOptions(events="mandatory"))
    probe = Probe(addr["probe"])
    assert probe.request("GET", "RELAY") == {"relay": "open", "reason": "credit"}
    probe.request("KEY", "5")
    probe.wait_event("KEY", key="5")  # KEY is mandatory
    probe.request("KEY", "BACK")
    probe.request("TOKEN", token(5433780, units=1))  # 0.1 kWh
    assert probe.wait_event("TOKEN_RESULT").fields["name"] == "Accept"
    assert probe.request("GET", "RELAY") == {"relay": "closed", "reason": "none"}
    assert probe.request("GET", "CREDIT")["credit_kwh"] == "0.100"

    # Under load the relay opens at zero credit: GET RELAY shows it, no event says so.
    assert control(addr["control"], "speed 400") == "OK"
    assert control(addr["control"], "load 3600") == "OK"  # 100 Wh in 0.25 s at 400x
    deadline = time.monotonic() + 5
    while probe.request("GET", "RELAY")["relay"] != "open":
        assert time.monotonic() < deadline, "relay never opened"
        time.sleep(0.05)
    assert probe.request("GET", "RELAY")["reason"] == "credit"
    control(addr["control"], "tamper")
    assert probe.request("GET", "RELAY")["reason"] == "tamper"

    probe.request("PING")
    pushed = {e.name for e in probe.events}
    assert pushed <= MANDATORY_EVENTS, pushed
    assert not pushed & {"RELAY_CHANGED", "CREDIT_CHANGED", "TAMPER"}

    # Nor are they kept for GET EVENTS SINCE: the replay holds mandatory events only.
    probe.events.clear()
    reply = probe.request("GET", "EVENTS", "SINCE", "0")
    replayed = [e.name for e in probe.events]
    assert replayed[0] == "POWER_UP" and set(replayed) <= MANDATORY_EVENTS
    assert "TOKEN_RESULT" in replayed and "KEY" in replayed
    assert int(reply["last"]) == len(replayed)  # evseq counts only what was sent


def test_all_events_is_the_default(opened):
    probe = Probe(open_bench(opened, MeterOptions())["probe"])
    probe.request("TOKEN", token(5433781, units=1))
    probe.wait_event("RELAY_CHANGED", relay="closed")
    probe.wait_event("CREDIT_CHANGED")


# -- real-time clock -------------------------------------------------------------------------


def test_real_time_refuses_the_speed_command(opened):
    addr = open_bench(opened, MeterOptions(real_time=True))
    reply = control(addr["control"], "speed 10")
    assert reply.startswith("ERR speed refused: real-time meter"), reply
    assert state(addr)["speed"] == 1.0
    assert control(addr["control"], "speed 1") == "OK"  # asking for real time is harmless
    # Without the option the clock accelerates as before.
    other = open_bench(opened, MeterOptions())
    assert control(other["control"], "speed 10") == "OK"
    assert state(other)["speed"] == 10.0


def test_real_time_with_a_speed_is_a_config_error():
    with pytest.raises(ConfigError, match="real-time meter's clock runs at 1.0"):
        build_bench(SIM_RIG, RIGS, options=MeterOptions(real_time=True), speed=10.0)
    with pytest.raises(ConfigError, match="simulator.real_time"):
        SimProcess(RIGS / "sim-strict.yaml", STRICT_RIG, speed=10.0)


def test_hil_sim_real_time_with_speed_is_one_line_exit_2():
    out = subprocess.run(
        [sys.executable, "-m", "hil", "sim", "--real-time", "--speed", "10"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 2
    assert out.stderr.startswith("error: speed 10: a real-time meter's clock runs at 1.0")
    assert out.stderr.strip().count("\n") == 0


# -- RESET STATE ------------------------------------------------------------------------------


def test_reset_state_clears_power_limit_tamper_and_the_rest(opened):
    addr = open_bench(opened, MeterOptions())
    probe = Probe(addr["probe"])
    limit = codec.encode(MaxPowerLimitToken(5433790, watts=1000), KEY)
    probe.request("TOKEN", limit)
    assert probe.wait_event("TOKEN_RESULT").fields["name"] == "Accept"
    probe.request("TOKEN", token(5433791, units=256))
    probe.wait_event("TOKEN_RESULT")
    assert control(addr["control"], "load 2000") == "OK"  # above the 1000 W limit
    assert probe.request("GET", "RELAY") == {"relay": "open", "reason": "power_limit"}
    assert control(addr["control"], "tamper") == "OK"
    assert probe.request("GET", "RELAY")["reason"] == "tamper"
    before = state(addr)
    assert (before["power_limit_w"], before["tamper"]) == (1000, True)

    probe.request("RESET", "STATE")
    after = state(addr)
    assert (after["power_limit_w"], after["tamper"]) == (None, False)
    assert probe.request("GET", "CREDIT")["credit_kwh"] == "0.000"
    assert probe.request("GET", "TID_MEM") == {"count": "0", "tids": ""}
    assert probe.request("GET", "RELAY") == {"relay": "open", "reason": "credit"}
    assert probe.request("GET", "LOCKOUT")["active"] == "0"
    result = probe.request("GET", "TOKEN_RESULT")
    assert (result["code"], result["name"]) == ("0", "None")
    assert result["n"] == "2"  # n still counts the tokens since power-up
    assert after["key"] == before["key"]  # factory key identity (unchanged here)
    assert after["powered"] is True  # the supply and the load are left alone

    # New credit closes the relay under the same 2000 W load: the limit is really gone.
    probe.request("TOKEN", token(5433792, units=256))
    assert probe.wait_event("TOKEN_RESULT").fields["name"] == "Accept"
    assert probe.request("GET", "RELAY") == {"relay": "closed", "reason": "none"}


# -- rig file, CLI and launcher ---------------------------------------------------------------


def test_sim_strict_rig_sets_all_four_options():
    sim = STRICT_RIG.simulator
    assert sim is not None
    assert (sim.real_time, sim.credit_resolution_kwh) == (True, 0.1)
    assert (sim.supply_off_at_start, sim.events) == (True, "mandatory")
    assert STRICT_RIG.meter.profile == "fast"
    assert meter_options(sim) == MeterOptions(True, 0.1, True, "mandatory")


def test_simulator_spec_checks_the_options():
    assert SimulatorSpec().events == "all" and SimulatorSpec().credit_resolution_kwh == 0.001
    for bad in (
        {"credit_resolution_kwh": 0.2},
        {"credit_resolution_kwh": 0.0015},
        {"events": "some"},
        {"real_time": True, "speed": 5.0},
    ):
        with pytest.raises(ValueError):
            SimulatorSpec(**bad)


def test_cli_flags_override_the_rig_file():
    spec = SimulatorSpec(real_time=True, events="mandatory")
    options = meter_options(spec, real_time=False, credit_resolution_kwh=0.01)
    assert options == MeterOptions(False, 0.01, False, "mandatory")


def test_launcher_passes_the_options_to_the_simulator_process():
    rig = SIM_RIG.model_copy(
        update={
            "simulator": SIM_RIG.simulator.model_copy(  # type: ignore[union-attr]
                update={"supply_off_at_start": True, "credit_resolution_kwh": 0.01}
            )
        }
    )
    sim = SimProcess(RIGS / "sim.yaml", rig)  # the file says otherwise: the rig given wins
    assert sim.command[-6:] == [
        "--no-real-time",
        "--credit-resolution",
        "0.01",
        "--supply-off",
        "--events",
        "all",
    ]
    addresses = sim.start()
    try:
        assert silent(addresses["probe"])
        probe = Probe(addresses["probe"])
        rm, source = scpi(addresses["ac_source"])
        try:
            assert source.query("OUTP?").strip() == "0"
            source.write("OUTP ON")
            source.query("OUTP?")
        finally:
            source.close()
            rm.close()
        probe.wait_event("POWER_UP")
        assert probe.request("INFO")["credit_resolution_kwh"] == "0.01"
    finally:
        sim.stop()

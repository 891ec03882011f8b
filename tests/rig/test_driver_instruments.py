"""VISA instrument drivers through pyvisa + pyvisa-py against the simulated SCPI instruments.

Each instrument sits behind a real TCP socket (``TCPIP::127.0.0.1::PORT::SOCKET``) and shares
one `StandalonePhysics`: source -> meter load relay -> load, so the DMM sees the source.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hil.errors import ConfigError, DeviceAbsent, DeviceError, GarbledReply, ReplyTimeout
from hil.rig.drivers.instruments import (
    COMMAND_MAPS,
    ROLE_COMMANDS,
    AcSourceDriver,
    CommandMap,
    DmmDriver,
    ReferenceLoadDriver,
    load_command_map,
    open_resource,
)
from hil.sim.instruments import AcSource, Dmm, ReferenceLoad, StandalonePhysics
from hil.sim.transports import Faults, LineAdapter, TcpEndpoint

TIMEOUT_S = 0.5
SHIPPED = ["generic-scpi", "keysight-ac6800", "chroma-61500", "keysight-34461a", "chroma-63800"]


@dataclass
class Bench:
    physics: StandalonePhysics
    source: AcSourceDriver
    dmm: DmmDriver
    load: ReferenceLoadDriver
    endpoints: list[TcpEndpoint]


@pytest.fixture(scope="module")
def generic() -> CommandMap:
    return load_command_map("generic-scpi")


@pytest.fixture
def bench(generic: CommandMap) -> Iterator[Bench]:
    physics = StandalonePhysics(source_on=False, source_voltage=230.0, load_relay_closed=True)
    instruments = [AcSource(physics), Dmm(physics), ReferenceLoad(physics)]
    endpoints = [TcpEndpoint(lambda inst=inst: LineAdapter(inst.handle)) for inst in instruments]
    handles = []
    try:
        handles = [open_resource(ep.visa_resource, timeout_s=TIMEOUT_S) for ep in endpoints]
        yield Bench(
            physics,
            AcSourceDriver(handles[0], generic),
            DmmDriver(handles[1], generic),
            ReferenceLoadDriver(handles[2], generic),
            endpoints,
        )
    finally:
        for handle in handles:
            handle.close()
        for endpoint in endpoints:
            endpoint.close()


def closed_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- drivers against the simulated bench ----------------------------------------------------


def test_dmm_sees_mains_only_with_source_on_and_relay_closed(bench: Bench) -> None:
    assert bench.source.idn().startswith("HIL-SIM,AC-SOURCE")
    assert bench.dmm.idn().startswith("HIL-SIM,DMM")
    assert not bench.source.is_on()
    assert bench.dmm.read_ac_voltage() == pytest.approx(0.0, abs=1.0)
    bench.source.output(True)
    assert bench.source.is_on()
    assert bench.dmm.read_ac_voltage() == pytest.approx(230.0, abs=1.0)
    bench.physics.set_load_relay(False, at=time.monotonic())  # the meter opens its relay
    assert bench.dmm.read_ac_voltage() == pytest.approx(0.0, abs=1.0)
    bench.physics.set_load_relay(True, at=time.monotonic())
    bench.source.set_voltage(207.0)
    assert bench.dmm.read_ac_voltage() == pytest.approx(207.0, abs=1.0)
    bench.source.output(False)
    assert bench.dmm.read_ac_voltage() == pytest.approx(0.0, abs=1.0)


def test_setting_out_of_range_is_a_device_error_from_the_error_queue(bench: Bench) -> None:
    with pytest.raises(DeviceError) as info:
        bench.source.set_voltage(999.0)
    message = str(info.value)
    assert "AC source at TCPIP0::127.0.0.1::" in message
    assert "-222,\"Data out of range\" after 'VOLT 999.000'" in message
    assert "\n" not in message
    bench.source.set_voltage(230.0)  # the queue was emptied: the next setting is clean


def test_reference_load_draws_power_and_integrates_energy(bench: Bench) -> None:
    assert bench.load.idn().startswith("HIL-SIM,REF-LOAD")
    bench.source.output(True)
    bench.load.set_power(3600.0)  # 1 Wh per second
    assert bench.load.read_power() == pytest.approx(3600.0)
    bench.load.reset_energy()
    assert bench.load.read_energy_wh() == pytest.approx(0.0, abs=0.05)
    time.sleep(0.2)
    assert 0.15 <= bench.load.read_energy_wh() <= 0.5
    bench.source.output(False)
    assert bench.load.read_power() == 0.0
    with pytest.raises(ValueError, match="finite"):
        bench.load.set_power(float("nan"))


def test_driver_takes_its_role_section(bench: Bench, generic: CommandMap) -> None:
    assert bench.dmm.commands.role == "dmm"
    with pytest.raises(ConfigError, match="needs the dmm section"):
        DmmDriver(bench.source.inst, generic.for_role("ac_source"))


def test_setup_lines_the_instrument_rejects_are_device_errors(bench: Bench) -> None:
    # The Chroma 63800 map starts with MODE POW, which the simulated load does not know.
    chroma = load_command_map("chroma-63800")
    with pytest.raises(DeviceError, match=r"-113,\"Undefined header\" after 'MODE POW'"):
        ReferenceLoadDriver(bench.load.inst, chroma)


def test_non_numeric_reading_is_garbled(generic: CommandMap) -> None:
    def handle(line: str, at: float) -> str | None:
        if line == "SYST:ERR?":
            return '+0,"No error"'
        return "OVLD" if line == "READ?" else ("SIM,DMM" if line == "*IDN?" else None)

    with TcpEndpoint(lambda: LineAdapter(handle)) as tcp:
        inst = open_resource(tcp.visa_resource, timeout_s=TIMEOUT_S)
        try:
            with pytest.raises(GarbledReply, match="'READ\\?' with 'OVLD', not a number"):
                DmmDriver(inst, generic).read_ac_voltage()
        finally:
            inst.close()


def test_silent_instrument_is_a_reply_timeout(generic: CommandMap) -> None:
    physics = StandalonePhysics()
    dmm = Dmm(physics)
    faults = Faults()
    with TcpEndpoint(lambda: LineAdapter(dmm.handle), faults=faults) as tcp:
        inst = open_resource(tcp.visa_resource, timeout_s=TIMEOUT_S)
        try:
            driver = DmmDriver(inst, generic)
            faults.silent = True
            start = time.monotonic()
            with pytest.raises(
                ReplyTimeout, match="DMM at .* did not answer 'READ\\?' within 0.5 s"
            ):
                driver.read_ac_voltage()
            assert time.monotonic() - start < 2 * TIMEOUT_S + 0.5
        finally:
            inst.close()


def test_open_resource_on_a_silent_instrument_is_device_absent() -> None:
    with TcpEndpoint(lambda: LineAdapter(lambda line, at: None), faults=Faults(silent=True)) as tcp:
        start = time.monotonic()
        with pytest.raises(DeviceAbsent, match="did not answer '\\*IDN\\?' within 0.3 s"):
            open_resource(tcp.visa_resource, timeout_s=0.3)
        assert time.monotonic() - start < 1.5


def test_open_resource_on_a_closed_port_is_device_absent() -> None:
    resource = f"TCPIP::127.0.0.1::{closed_tcp_port()}::SOCKET"
    start = time.monotonic()
    with pytest.raises(DeviceAbsent) as info:
        open_resource(resource, timeout_s=TIMEOUT_S)
    assert time.monotonic() - start < 2.0
    assert resource in str(info.value) and "\n" not in str(info.value)


def test_open_resource_with_a_bad_resource_string_is_device_absent() -> None:
    with pytest.raises(DeviceAbsent, match="could not be opened"):
        open_resource("TCPIP::127.0.0.1::notaport::SOCKET", timeout_s=TIMEOUT_S)


def test_unknown_visa_backend_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="VISA backend"):
        open_resource("TCPIP::127.0.0.1::5025::SOCKET", backend="@nosuchbackend")


# -- command maps ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_maps_load_and_list_every_command_of_their_roles(name: str) -> None:
    command_map = load_command_map(name)
    assert command_map.sections
    for role, section in command_map.sections.items():
        assert set(section.commands) == set(ROLE_COMMANDS[role])
        assert section.error_query


def test_shipped_maps_are_the_only_files_there() -> None:
    assert sorted(p.stem for p in COMMAND_MAPS.glob("*.yaml")) == sorted(SHIPPED)


def test_a_command_the_model_lacks_is_a_config_error() -> None:
    section = load_command_map("chroma-63800").for_role("reference_load")
    with pytest.raises(ConfigError, match="Chroma 63800 cannot read energy wh"):
        section.command("read_energy_wh")


def test_map_without_the_role_asked_for() -> None:
    with pytest.raises(ConfigError, match="has no dmm section \\(it has: ac_source\\)"):
        load_command_map("keysight-ac6800").for_role("dmm")


def test_unknown_map_name_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="'agilent-666' not found .* use one of chroma-61500"):
        load_command_map("agilent-666")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("model: X\ndmm:\n  commands: {idn: '*IDN?'}\n", r"missing \['read_ac_voltage'\]"),
        (
            "model: X\ndmm:\n  commands: {idn: '*IDN?', read_ac_voltage: 'READ?', fetch: 'F?'}\n",
            r"unknown \['fetch'\]",
        ),
        (
            "model: X\nreference_load:\n  commands: {idn: '*IDN?', set_power: 'POW {volts}',"
            " read_power: null, read_energy_wh: null, reset_energy: null}\n",
            r"bad template 'POW \{volts\}'",
        ),
        ("model: X\nscope: {}\n", r"unknown keys \['scope'\]"),
        ("model: X\n", "no role section"),
        ("dmm: {}\n", "model: expected"),
        ("model: [unclosed\n", "not a readable YAML"),
        ("model: X\ndmm:\n  check_errors: maybe\n  commands: {}\n", "check_errors: expected"),
    ],
)
def test_bad_map_files_get_one_line_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        load_command_map(path)
    assert "\n" not in str(info.value)


def test_per_command_error_check_can_be_switched_off(tmp_path: Path) -> None:
    path = tmp_path / "quiet.yaml"
    path.write_text(
        "model: Quiet\nac_source:\n  commands:\n    idn: '*IDN?'\n"
        "    output_on: {cmd: 'OUTP ON', check_errors: false}\n    output_off: 'OUTP OFF'\n"
        "    output_query: 'OUTP?'\n    set_voltage: 'VOLT {volts:.1f}'\n"
    )
    section = load_command_map(path).for_role("ac_source")
    assert section.command("output_on").check_errors is False
    assert section.command("output_off").check_errors is True
    assert section.command("set_voltage").template.format(volts=230) == "VOLT 230.0"

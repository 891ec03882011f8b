"""SCPI instruments over StandalonePhysics: replies, error queue, coupling through physics."""

from __future__ import annotations

import pytest

from hil.sim.instruments import (
    AcSource,
    BenchPhysics,
    Dmm,
    ReferenceLoad,
    ScpiInstrument,
    StandalonePhysics,
)


@pytest.fixture
def physics() -> StandalonePhysics:
    return StandalonePhysics(source_on=True, source_voltage=230.0, load_relay_closed=True)


def errors(instrument: ScpiInstrument) -> list[str]:
    """Drain the error queue."""
    out = []
    while (reply := instrument.handle("SYST:ERR?", 0.0)) != '0,"No error"':
        assert reply is not None
        out.append(reply)
    return out


def test_standalone_physics_satisfies_the_protocol(physics: StandalonePhysics) -> None:
    bench: BenchPhysics = physics
    assert bench.load_voltage(0.0) == 230.0


def test_idn_opc_and_commands_without_reply(physics: StandalonePhysics) -> None:
    dmm = Dmm(physics, idn="ACME,DMM1,42,0.1")
    assert dmm.handle("*IDN?", 0.0) == "ACME,DMM1,42,0.1"
    assert dmm.handle("*OPC?", 0.0) == "1"
    assert dmm.handle("*RST", 0.0) is None
    assert dmm.handle("*WAI", 0.0) is None
    assert dmm.handle("   ", 0.0) is None


def test_undefined_header_goes_to_the_error_queue(physics: StandalonePhysics) -> None:
    dmm = Dmm(physics)
    assert dmm.handle("FROB 3", 0.0) is None
    assert dmm.handle("SYST:ERR?", 0.0) == '-113,"Undefined header"'
    assert dmm.handle("SYSTEM:ERROR:NEXT?", 0.0) == '0,"No error"'


def test_unknown_query_gets_no_reply_only_an_error(physics: StandalonePhysics) -> None:
    source = AcSource(physics)
    assert source.handle("CURR?", 0.0) is None
    assert errors(source) == ['-113,"Undefined header"']


def test_error_queue_keeps_order_and_marks_overflow(physics: StandalonePhysics) -> None:
    dmm = Dmm(physics)
    for _ in range(12):
        dmm.handle("NOPE", 0.0)
    got = errors(dmm)
    assert len(got) == 10
    assert got[:9] == ['-113,"Undefined header"'] * 9
    assert got[-1] == '-350,"Queue overflow"'


def test_cls_clears_errors_and_esr_reports_error_classes(physics: StandalonePhysics) -> None:
    source = AcSource(physics)
    source.handle("NOPE", 0.0)  # command error -> bit 5
    source.handle("VOLT 999", 0.0)  # execution error -> bit 4
    assert source.handle("*ESR?", 0.0) == "48"
    assert source.handle("*ESR?", 0.0) == "0"
    source.handle("NOPE", 0.0)
    source.handle("*CLS", 0.0)
    assert errors(source) == []


@pytest.mark.parametrize(
    "command",
    ["OUTP ON", "outp on", "OUTPUT 1", ":OUTPut:STATe ON", "output:state 1"],
)
def test_short_and_long_forms_in_any_case(command: str) -> None:
    physics = StandalonePhysics()
    source = AcSource(physics)
    assert source.handle(command, 0.0) is None
    assert physics.source_on
    assert errors(source) == []


def test_ac_source_drives_the_physics(physics: StandalonePhysics) -> None:
    source = AcSource(physics)
    source.handle("OUTP OFF", 0.0)
    source.handle("SOUR:VOLT:LEV 207.5", 0.0)
    source.handle("FREQ 60 Hz", 0.0)
    assert source.handle("OUTP?;VOLT?;FREQ?", 0.0) == "0;+2.07500000E+02;+6.00000000E+01"
    assert not physics.source_on
    assert physics.source_voltage == 207.5


def test_ac_source_rst_switches_output_off_and_restores_defaults(
    physics: StandalonePhysics,
) -> None:
    source = AcSource(physics, default_voltage=120.0, default_frequency=60.0)
    source.handle("VOLT 100;FREQ 50", 0.0)
    source.handle("*RST", 0.0)
    assert not physics.source_on
    assert source.handle("VOLT?;FREQ?", 0.0) == "+1.20000000E+02;+6.00000000E+01"


@pytest.mark.parametrize(
    ("command", "error"),
    [
        ("OUTP MAYBE", '-224,"Illegal parameter value"'),
        ("OUTP", '-109,"Missing parameter"'),
        ("VOLT abc", '-104,"Data type error"'),
        ("VOLT 301", '-222,"Data out of range"'),
        ("VOLT nan", '-222,"Data out of range"'),
        ("FREQ 5", '-222,"Data out of range"'),
        ("VOLT? 3", '-108,"Parameter not allowed"'),
    ],
)
def test_bad_parameters_are_queued_errors_and_change_nothing(
    physics: StandalonePhysics, command: str, error: str
) -> None:
    source = AcSource(physics)
    assert source.handle(command, 0.0) is None
    assert errors(source) == [error]
    assert physics.source_on
    assert physics.source_voltage == 230.0


def test_dmm_reads_mains_at_the_load_terminals_only_when_relay_closed(
    physics: StandalonePhysics,
) -> None:
    dmm = Dmm(physics)
    assert dmm.handle("CONF:VOLT:AC", 0.0) is None
    assert float(dmm.handle("READ?", 0.0) or "nan") == 230.0
    physics.set_load_relay(False, 1.0)
    assert float(dmm.handle("MEAS:VOLT:AC?", 1.0) or "nan") == 0.0
    physics.set_load_relay(True, 2.0)
    physics.set_source(on=False, at=2.0)
    assert float(dmm.handle("measure:voltage:ac? 1000,0.001", 2.0) or "nan") == 0.0


def test_dmm_fetch_needs_a_reading_first(physics: StandalonePhysics) -> None:
    dmm = Dmm(physics)
    assert dmm.handle("FETC?", 0.0) is None
    assert errors(dmm) == ['-230,"Data corrupt or stale"']
    dmm.handle("INIT", 0.0)
    physics.set_source(on=False, at=1.0)
    assert dmm.handle("FETCH?", 1.0) == "+2.30000000E+02"  # the reading taken at INIT


def test_reference_load_draws_power_only_when_relay_closed(physics: StandalonePhysics) -> None:
    ref = ReferenceLoad(physics)
    ref.handle("LOAD:POW 1000", 0.0)
    assert ref.handle("POW?;MEAS:POW?", 0.0) == "+1.00000000E+03;+1.00000000E+03"
    physics.set_load_relay(False, 1.0)
    assert ref.handle("MEAS:POW?", 1.0) == "+0.00000000E+00"
    assert ref.handle("POW?", 1.0) == "+1.00000000E+03"  # set point kept


def test_reference_energy_integrates_and_resets(physics: StandalonePhysics) -> None:
    ref = ReferenceLoad(physics)
    ref.handle("POW 3600W", 0.0)
    assert float(ref.handle("MEAS:ENER?", 10.0) or "nan") == pytest.approx(10.0)
    physics.set_load_relay(False, 10.0)  # no energy while open
    assert float(ref.handle("MEAS:ENER?", 20.0) or "nan") == pytest.approx(10.0)
    ref.handle("ENER:RES", 20.0)
    physics.set_load_relay(True, 20.0)
    assert float(ref.handle("MEAS:ENERGY?", 25.0) or "nan") == pytest.approx(5.0)


def test_reference_load_rejects_negative_power(physics: StandalonePhysics) -> None:
    ref = ReferenceLoad(physics)
    ref.handle("POW -5", 0.0)
    assert errors(ref) == ['-222,"Data out of range"']


def test_a_failing_physics_becomes_a_device_error_not_an_exception() -> None:
    class Broken(StandalonePhysics):
        def load_voltage(self, at: float) -> float:
            raise RuntimeError("model bug")

    dmm = Dmm(Broken())
    assert dmm.handle("READ?;*OPC?", 0.0) == "1"
    assert errors(dmm) == ['-300,"Device-specific error"']


def test_time_running_backwards_does_not_subtract_energy() -> None:
    physics = StandalonePhysics(source_on=True)
    physics.set_load_power(3600.0, 0.0)
    assert physics.energy_wh(10.0) == pytest.approx(10.0)
    assert physics.energy_wh(5.0) == pytest.approx(10.0)

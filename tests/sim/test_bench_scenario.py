"""The simulated bench through real transports: pyserial on its pty/TCP ports, pyvisa with
pyvisa-py on its SCPI ports, and the control port."""

from __future__ import annotations

import socket
import time

import pytest
import pyvisa
import serial

from hil.paths import RIGS
from hil.probe import protocol as p
from hil.rig.config import load_rig
from hil.rig.meter_spec import MeterSpec
from hil.sim.build import build_bench
from hil.sts import CreditToken, codec
from hil.sts.sample_keys import TEST_METER

KEY = MeterSpec(**TEST_METER).load_decoder_key()


def token(tid: int, units: int = 256) -> str:
    return codec.encode(CreditToken(tid, 0, units), KEY)


class Probe:
    """A minimal probe-protocol client for these tests (the real driver lives in hil.rig)."""

    def __init__(self, url: str) -> None:
        self.port = serial.serial_for_url(url, timeout=0.5)
        self.seq = 0
        self.events: list[p.Event] = []

    def request(self, *words: str) -> dict[str, str]:
        self.seq += 1
        self.port.write((p.format_request(self.seq, *words) + "\n").encode())
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            line = self.port.readline().decode()
            if not line:
                continue
            msg = p.parse_incoming(line)
            if isinstance(msg, p.Event):
                self.events.append(msg)
            elif msg.seq == self.seq:
                assert msg.ok, msg
                return msg.fields
        raise AssertionError(f"no reply to {words}")

    def wait_event(self, name: str, timeout: float = 5.0, **fields: str) -> p.Event:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events:
                if event.name == name and all(event.fields.get(k) == v for k, v in fields.items()):
                    self.events.remove(event)
                    return event
            self.request("PING")
            time.sleep(0.01)
        raise AssertionError(f"no {name} {fields} event; got {[e.name for e in self.events]}")


class Board:
    """Types on the simulated keypad through Numato relay commands."""

    def __init__(self, url: str) -> None:
        self.port = serial.serial_for_url(url, timeout=0.2)

    def click(self, channel: int, hold: float = 0.03) -> None:
        ch = "0123456789AB"[channel]
        self.port.write(f"relay on {ch}\r".encode())
        time.sleep(hold)
        self.port.write(f"relay off {ch}\r".encode())
        time.sleep(hold)

    def type_token(self, digits: str) -> None:
        for d in digits:
            self.click(int(d))
        self.click(10)  # ENTER


def control(url: str, command: str) -> str:
    host, port = url.removeprefix("socket://").split(":")
    with socket.create_connection((host, int(port)), timeout=2) as s:
        s.sendall(command.encode() + b"\n")
        return s.makefile().readline().strip()


@pytest.fixture(params=["pty", "tcp"])
def bench(request):
    rig, _ = load_rig(RIGS / "sim.yaml")
    sim = build_bench(rig, RIGS)
    addresses = sim.start(request.param)
    yield sim, addresses
    sim.stop()


def test_scripted_scenario_typed_token_replay_and_relay_at_zero_credit(bench):
    _, addr = bench
    probe, board = Probe(addr["probe"]), Board(addr["relay_board"])
    assert probe.request("INFO")["pan"] == "600727000000000009"

    # Relay clicks type a credit token; the probe reads the credit.
    digits = token(5433750, units=1)  # 0.1 kWh
    board.type_token(digits)
    result = probe.wait_event("TOKEN_RESULT")
    assert (result.fields["code"], result.fields["name"]) == ("1", "Accept")
    assert probe.request("GET", "CREDIT")["credit_kwh"] == "0.100"
    assert probe.request("GET", "RELAY") == {"relay": "closed", "reason": "none"}

    # The same token again is a replay: Used, credit unchanged.
    board.type_token(digits)
    assert probe.wait_event("TOKEN_RESULT").fields["name"] == "Used"
    assert probe.request("GET", "CREDIT")["credit_kwh"] == "0.100"

    # Under load (set through the reference load over VISA) the relay opens at zero credit,
    # and the DMM on the load side sees it independently of the probe.
    rm = pyvisa.ResourceManager("@py")
    load = rm.open_resource(addr["load"], read_termination="\n", write_termination="\n")
    dmm = rm.open_resource(addr["dmm"], read_termination="\n", write_termination="\n")
    try:
        assert float(dmm.query("MEAS:VOLT:AC?")) > 200
        assert control(addr["control"], "speed 400") == "OK"
        load.write("POW 3600")  # 100 Wh last 100 model seconds: 0.25 s at 400x
        probe.wait_event("RELAY_CHANGED", relay="open", reason="credit")
        assert probe.request("GET", "CREDIT")["credit_kwh"] == "0.000"
        assert float(dmm.query("MEAS:VOLT:AC?")) < 5
        assert float(load.query("MEAS:POW?")) == 0.0
        assert 99 < float(load.query("MEAS:ENER?")) < 102  # Wh drawn by the load
    finally:
        load.close()
        dmm.close()
        rm.close()


def test_virtual_carrier_and_new_credit_closes_relay(bench):
    _, addr = bench
    probe = Probe(addr["probe"])
    assert probe.request("GET", "RELAY")["relay"] == "open"  # no credit yet
    assert probe.request("TOKEN", token(5433751))["accepted"] == "1"
    assert probe.wait_event("TOKEN_RESULT").fields["code"] == "1"
    probe.wait_event("RELAY_CHANGED", relay="closed")
    assert probe.request("GET", "TID_MEM") == {"count": "1", "tids": "5433751"}


def test_probe_rejects_bad_checksum_and_unknown_commands(bench):
    _, addr = bench
    port = serial.serial_for_url(addr["probe"], timeout=1)
    port.write(b"5 INFO*0000\n")
    assert p.parse_incoming(port.readline().decode()).error_code == p.ERR_CHECKSUM
    port.write((p.format_request(6, "FROB") + "\n").encode())
    reply = p.parse_incoming(port.readline().decode())
    assert (reply.ok, reply.error_code) == (False, p.ERR_UNKNOWN_COMMAND)
    port.write((p.format_request(7, "TOKEN", "123") + "\n").encode())
    assert "20 digits" in p.parse_incoming(port.readline().decode()).error_text


def test_power_off_makes_the_probe_silent_and_keeps_credit(bench):
    _, addr = bench
    probe = Probe(addr["probe"])
    probe.request("TOKEN", token(5433760))
    probe.wait_event("TOKEN_RESULT")
    rm = pyvisa.ResourceManager("@py")
    source = rm.open_resource(addr["ac_source"], read_termination="\n", write_termination="\n")
    try:
        assert "SIM" in source.query("*IDN?").upper() or source.query("*IDN?")
        source.write("OUTP OFF")
        assert source.query("OUTP?").strip() in ("0", "OFF")
        probe.seq += 1
        probe.port.write((p.format_request(probe.seq, "PING") + "\n").encode())
        assert probe.port.readline() == b""  # a dead meter says nothing
        source.write("OUTP ON")
        assert source.query("OUTP?").strip() in ("1", "ON")  # a query waits until it is applied
        assert probe.request("GET", "CREDIT")["credit_kwh"] == "25.600"
        probe.wait_event("POWER_UP")
    finally:
        source.close()
        rm.close()


def test_control_port_faults(bench):
    _, addr = bench
    ctl = addr["control"]
    assert control(ctl, "fault probe silent 1") == "OK"
    port = serial.serial_for_url(addr["probe"], timeout=0.3)
    port.write((p.format_request(1, "PING") + "\n").encode())
    assert port.readline() == b""
    assert control(ctl, "fault clear") == "OK"
    assert control(ctl, "fault probe garble 2").startswith("ERR rate must be between 0 and 1")
    assert control(ctl, "frobnicate").startswith("ERR unknown command")
    assert '"powered":true' in control(ctl, "state")


def test_short_presses_are_lost(bench):
    _, addr = bench
    probe, board = Probe(addr["probe"]), Board(addr["relay_board"])
    assert control(addr["control"], "slow-keypad 20") == "OK"  # presses must last 0.1 s
    board.click(1, hold=0.02)
    time.sleep(0.05)
    assert not any(e.name == "KEY" for e in probe.events)
    probe.request("PING")
    assert not any(e.name == "KEY" for e in probe.events)
    board.click(1, hold=0.15)
    probe.wait_event("KEY", key="1")

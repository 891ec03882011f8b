"""The simulated split bench (hil.sim.split_bench) through its real transports: the relay
board (CIU keys, link cut and short), one probe per meter, the CIU readback and the control
port, each spoken to with the harness's own drivers."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest

from hil.cli.split_sim_cmd import build_split_bench
from hil.paths import RIGS
from hil.rig.config import load_split_rig
from hil.rig.drivers.keypad import KeypadDriver
from hil.rig.drivers.probe import ProbeClient
from hil.rig.drivers.relays import RelayDriver, make_relay
from hil.sim.split_bench import SplitBench
from hil.sts import CreditToken, codec

RIG_FILE = RIGS / "split-sim.yaml"
RIG, _ = load_split_rig(RIG_FILE)
KEY_A = RIG.meter("house-a").load_decoder_key(RIGS)
KEY_B = RIG.meter("house-b").load_decoder_key(RIGS)
NUMBER_B = "01234567897"
CUT, SHORT = 12, 13
TID = 6_000_000
HOLD_S = 0.1  # more than the CIU's message hold (the fast profile's result_hold_s)


def token(tid: int, key: object, units: int = 256) -> str:
    return codec.encode(CreditToken(tid, 0, units), key)  # type: ignore[arg-type]


class Bench:
    """A started split bench and the harness's drivers on its endpoints."""

    def __init__(self, transport: str) -> None:
        self.sim: SplitBench = build_split_bench(RIG, RIGS)
        self.addresses = self.sim.start(transport)
        self.ciu = ProbeClient(self.addresses["ciu"], timeout_s=2.0)
        self.a = ProbeClient(self.addresses["meter:house-a"], timeout_s=2.0)
        self.b = ProbeClient(self.addresses["meter:house-b"], timeout_s=2.0)
        self.relay: RelayDriver = make_relay("numato", self.addresses["relay_board"], channels=16)
        assert RIG.ciu is not None and RIG.ciu.keypad is not None
        self.keypad = KeypadDriver(
            self.relay,
            RIG.ciu.keypad.contacts(),
            press_s=0.015,
            release_s=0.015,
            verify=self._confirmed,
            verify_timeout_s=1.0,
        )

    def _confirmed(self, key: str, deadline: float) -> bool:
        try:
            self.ciu.expect("CIU_KEY", fields={"key": key}, timeout_s=deadline - time.monotonic())
        except Exception:
            return False
        return True

    def control(self, command: str) -> str:
        host, port = self.addresses["control"].removeprefix("socket://").rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=2.0) as conn:
            conn.sendall(command.encode() + b"\n")
            return conn.makefile().readline().strip()

    def state(self) -> dict:
        reply = self.control("state")
        assert reply.startswith("OK ")
        return json.loads(reply[3:])

    def type_on_ciu(self, digits: str) -> dict[str, str]:
        """Type an entry and ENTER on the CIU keys (after the CIU's message hold, when it
        ignores keys); the CIU's answer event's fields."""
        time.sleep(HOLD_S)
        self.ciu.mark()
        self.keypad.type_keys([*digits, "ENTER"])
        event = self.ciu.expect("CIU_RESULT", timeout_s=5.0)
        return event.fields

    def close(self) -> None:
        for client in (self.ciu, self.a, self.b, self.relay):
            client.close()
        self.sim.stop()


@pytest.fixture(params=["tcp", "pty"])
def bench(request: pytest.FixtureRequest) -> Iterator[Bench]:
    b = Bench(request.param)
    try:
        yield b
    finally:
        b.close()


@pytest.fixture
def tcp_bench() -> Iterator[Bench]:
    b = Bench("tcp")
    try:
        yield b
    finally:
        b.close()


def test_each_unit_answers_on_its_own_endpoint(bench: Bench) -> None:
    assert bench.a.info()["pan"] == "600727000000000009"
    assert bench.b.info()["pan"] == "600727012345678977"
    info = bench.ciu.info()
    assert (info["unit"], info["ciu_protocol"], info["paired"]) == ("ciu", "1", "00000000000")
    display = bench.ciu.request("GET DISPLAY", idempotent=True)
    assert (display["powered"], display["screen"], display["link"]) == ("1", "credit", "ok")
    assert display["credit_wh"] == ""  # never heard from the meter yet


def test_token_typed_on_the_ciu_keys_credits_the_paired_meter_only(bench: Bench) -> None:
    bench.a.mark()
    answer = bench.type_on_ciu(token(TID, KEY_A))
    assert (answer["code"], answer["name"], answer["credit_wh"]) == ("1", "Accept", "25600")
    bench.a.expect("TOKEN_RESULT", fields={"code": "1"}, timeout_s=2.0)
    assert bench.a.credit_kwh() == pytest.approx(25.6)
    assert bench.a.tid_memory() == [TID]
    assert bench.b.credit_kwh() == 0.0
    assert bench.b.tid_memory() == []
    display = bench.ciu.request("GET DISPLAY", idempotent=True)
    assert display["credit_wh"] == "25600"


def test_token_for_the_other_meter_is_judged_by_the_paired_one(tcp_bench: Bench) -> None:
    answer = tcp_bench.type_on_ciu(token(TID, KEY_B))
    assert answer["name"] == "CRC"
    assert tcp_bench.a.token_result()["name"] == "CRC"
    assert tcp_bench.b.token_result()["code"] == 0  # B never saw it
    assert tcp_bench.b.credit_kwh() == 0.0


def test_pairing_by_number_on_the_keys_moves_tokens_to_that_meter(tcp_bench: Bench) -> None:
    tcp_bench.ciu.mark()
    tcp_bench.keypad.type_keys([*"800", *NUMBER_B, "ENTER"])
    tcp_bench.ciu.expect("CIU_PAIRED", fields={"number": NUMBER_B}, timeout_s=3.0)
    assert tcp_bench.ciu.request("GET PAIRED", idempotent=True)["number"] == NUMBER_B
    assert tcp_bench.type_on_ciu(token(TID, KEY_B))["name"] == "Accept"
    assert tcp_bench.b.credit_kwh() == pytest.approx(25.6)
    assert tcp_bench.a.credit_kwh() == 0.0


def test_cut_relay_opens_the_link_and_the_ciu_shows_no_communication(tcp_bench: Bench) -> None:
    b = tcp_bench
    b.relay.set(CUT, True)
    assert b.state()["link"]["state"] == "cut"
    b.ciu.mark()
    b.keypad.type_keys([*token(TID, KEY_A), "ENTER"])
    failure = b.ciu.expect("CIU_COMMS_FAILURE", timeout_s=5.0)
    assert failure.fields == {"kind": "TOKEN", "reason": "no_answer"}
    assert b.ciu.request("GET LINK", idempotent=True)["state"] == "no_communication"
    assert b.a.credit_kwh() == 0.0 and b.a.tid_memory() == []
    b.relay.set(CUT, False)
    assert b.state()["link"]["state"] == "ok"
    assert b.type_on_ciu(token(TID, KEY_A))["name"] == "Accept"  # exactly once, after the cut


def test_short_relay_is_sensed_by_the_ciu_at_once(tcp_bench: Bench) -> None:
    b = tcp_bench
    b.ciu.mark()
    b.relay.set(SHORT, True)
    b.ciu.expect("CIU_LINK_STATE", fields={"state": "short"}, timeout_s=2.0)
    assert b.state()["link"]["state"] == "short"
    b.ciu.mark()
    b.keypad.type_keys([*token(TID, KEY_A), "ENTER"])
    failure = b.ciu.expect("CIU_COMMS_FAILURE", timeout_s=3.0)
    assert failure.fields["reason"] == "short"
    assert b.a.credit_kwh() == 0.0
    b.relay.set(SHORT, False)
    b.ciu.expect("CIU_LINK_STATE", fields={"state": "ok"}, timeout_s=2.0)


def test_ciu_key_command_and_reset_state(tcp_bench: Bench) -> None:
    b = tcp_bench
    b.ciu.mark()
    for key in [*"800", *NUMBER_B, "ENTER"]:
        b.ciu.request("KEY", key, idempotent=False)
    b.ciu.expect("CIU_PAIRED", fields={"number": NUMBER_B}, timeout_s=3.0)
    b.ciu.reset_state()
    assert b.ciu.request("GET PAIRED", idempotent=True)["number"] == "00000000000"
    # The fresh CIU counts its seq from 1 again; the meter ends must not answer from the
    # old CIU's cache, so this token is really entered (Accept, credit on A).
    assert b.type_on_ciu(token(TID, KEY_A))["name"] == "Accept"
    assert b.a.credit_kwh() == pytest.approx(25.6)
    b.a.reset_state()
    assert b.a.credit_kwh() == 0.0 and b.a.tid_memory() == []
    assert b.type_on_ciu(token(TID, KEY_A))["name"] == "Accept"  # after a meter reset too


def test_control_port_speeds_the_one_clock(tcp_bench: Bench) -> None:
    assert tcp_bench.control("speed 20") == "OK"
    before = tcp_bench.state()["time"]
    time.sleep(0.2)
    assert tcp_bench.state()["time"] - before >= 3.0
    assert tcp_bench.control("speed 0").startswith("ERR")
    assert tcp_bench.control("frobnicate").startswith("ERR unknown command")

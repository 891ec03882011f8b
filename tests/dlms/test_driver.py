"""The DLMS driver against the simulated meter over real loopback sockets and a pty."""

import socket
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from hil.dlms import apdu as a
from hil.dlms import cosem
from hil.dlms.cosem import Attr, ClassId, ControlState, ObjectMap, TokenStatusCode
from hil.dlms.obis import Obis
from hil.errors import DeviceAbsent, GarbledReply, ReplyTimeout
from hil.rig.drivers.dlms import DlmsClient, DlmsRefused
from hil.sim.dlms_server import DlmsServer, InMemoryMeter
from hil.sim.transports import Faults, PtyEndpoint, TcpEndpoint

TOKEN = "12345678901234567890"
PASSWORD = "12345678"
RTC = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def meter() -> InMemoryMeter:
    return InMemoryMeter(2.5, {TOKEN: 10.0})


@pytest.fixture
def server(meter: InMemoryMeter) -> DlmsServer:
    return DlmsServer(meter, password=PASSWORD.encode(), rtc_start=RTC)


@pytest.fixture
def wrapper(server: DlmsServer) -> Iterator[TcpEndpoint]:
    with server.serve_tcp() as endpoint:
        yield endpoint


def tcp(endpoint: TcpEndpoint) -> str:
    return f"tcp://127.0.0.1:{endpoint.port}"


@pytest.fixture(params=["wrapper", "hdlc-tcp", "hdlc-pty"])
def url(request: pytest.FixtureRequest, server: DlmsServer) -> Iterator[str]:
    if request.param == "wrapper":
        with server.serve_tcp() as endpoint:
            yield tcp(endpoint)
    elif request.param == "hdlc-tcp":
        with server.serve_hdlc_tcp() as endpoint:
            yield endpoint.url
    else:
        with PtyEndpoint(server.hdlc_handler()) as endpoint:
            yield endpoint.url


def one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


def test_prepayment_readback_and_token_entry(url: str, meter: InMemoryMeter) -> None:
    with DlmsClient(url, password=PASSWORD, timeout_s=2.0) as client:
        assert client.read_credit() == pytest.approx(2.5)
        relay = client.relay_state()
        assert relay.closed and relay.control is ControlState.CONNECTED
        result = client.enter_token(TOKEN)
        assert result.code is TokenStatusCode.EXECUTION_OK and result.accepted
        assert client.read_credit() == pytest.approx(12.5)
        again = client.enter_token(TOKEN)
        assert again.code is TokenStatusCode.VALIDATION_FAILURE and not again.accepted
        assert client.token_status() == again
        assert meter.entered[-1][1] == TOKEN


def test_clock(wrapper: TcpEndpoint, server: DlmsServer) -> None:
    with DlmsClient(tcp(wrapper), password=PASSWORD) as client:
        read = client.read_clock()
    assert abs((read - RTC).total_seconds() - wrapper.clock()) < 5


def test_relay_opens_without_credit(wrapper: TcpEndpoint, meter: InMemoryMeter) -> None:
    meter.credit_kwh = 0.0
    with DlmsClient(tcp(wrapper), password=PASSWORD) as client:
        relay = client.relay_state()
    assert not relay.closed and relay.control is ControlState.DISCONNECTED


def test_long_get_over_every_transport(url: str, server: DlmsServer) -> None:
    server.block_size = 48
    with DlmsClient(url, password=PASSWORD, timeout_s=2.0, max_info=64) as client:
        objects = client.get(ClassId.ASSOCIATION_LN, cosem.ASSOCIATION_LN, 2)
        assert len(objects.items) == len(server.objects)
        assert client.stats.blocks > 5


def test_ascii_packing_and_an_explicit_scale(wrapper: TcpEndpoint, meter: InMemoryMeter) -> None:
    model = ObjectMap(
        name="credit-object",
        credit=Attr(ClassId.CREDIT, cosem.CREDIT, cosem.CREDIT_AMOUNT),
        token_packing="ascii",
    )
    with DlmsClient(tcp(wrapper), password=PASSWORD, object_map=model) as client:
        assert client.read_credit() == pytest.approx(2.5)  # scale from the account's currency
        assert client.enter_token(TOKEN).accepted
    fixed = ObjectMap(credit_scale=0)
    with DlmsClient(tcp(wrapper), password=PASSWORD, object_map=fixed) as client:
        assert client.read_credit() == pytest.approx(12500)


def test_token_still_processing(server: DlmsServer, wrapper: TcpEndpoint) -> None:
    server.token_processing_s = 0.3
    with DlmsClient(tcp(wrapper), password=PASSWORD, token_poll_s=0.05) as client:
        assert client.enter_token(TOKEN).accepted
    server.token_processing_s = 30.0
    with (
        DlmsClient(tcp(wrapper), password=PASSWORD, token_timeout_s=0.3) as client,
        pytest.raises(ReplyTimeout) as exc,
    ):
        client.enter_token(TOKEN)
    assert "still reports RECEIVED" in one_line(exc) and "token_timeout_s" in str(exc.value)


# -- bad input: each a one-line error naming the step and the fix --------------------------------


def test_wrong_password(url: str) -> None:
    with pytest.raises(DlmsRefused) as exc:
        DlmsClient(url, password="wrong", timeout_s=2.0)
    text = one_line(exc)
    assert "refused the association" in text and "wrong password" in text
    assert "password in the rig's secrets" in text
    assert exc.value.step == "association"


def test_no_password(wrapper: TcpEndpoint) -> None:
    with pytest.raises(DlmsRefused, match="authentication required"):
        DlmsClient(tcp(wrapper))


def test_meter_refuses_the_association(server: DlmsServer, wrapper: TcpEndpoint) -> None:
    server.refuse_associations = True
    with pytest.raises(DlmsRefused) as exc:
        DlmsClient(tcp(wrapper), password=PASSWORD)
    assert "no reason given" in one_line(exc) and "client SAP" in str(exc.value)


def test_object_the_meter_lacks(url: str) -> None:
    model = ObjectMap(name="maker", credit=Attr(ClassId.REGISTER, Obis(1, 65, 1, 140, 1, 255), 2))
    with DlmsClient(url, password=PASSWORD, object_map=model, timeout_s=2.0) as client:
        with pytest.raises(DlmsRefused) as exc:
            client.read_credit()
        assert client.read_credit  # the association survives a refused request
        assert client.relay_state().closed
    text = one_line(exc)
    assert "1-65:1.140.1.255 attribute 2 (class 3)" in text
    assert "object-undefined" in text and "fix the object map" in text


def test_meter_without_action(server: DlmsServer, wrapper: TcpEndpoint) -> None:
    server.conformance = a.Conformance.GET | a.Conformance.BLOCK_TRANSFER_GET
    with DlmsClient(tcp(wrapper), password=PASSWORD) as client:
        assert client.read_credit() == pytest.approx(2.5)
        with pytest.raises(DlmsRefused) as exc:
            client.enter_token(TOKEN)
    assert "leaves ACTION out" in one_line(exc) and "client SAP" in str(exc.value)


def test_nobody_listening() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DeviceAbsent) as exc:
        DlmsClient(f"tcp://127.0.0.1:{port}", timeout_s=1.0)
    assert "cannot connect" in one_line(exc) and "rig file" in str(exc.value)


def test_bad_wrapper_url() -> None:
    with pytest.raises(ValueError, match="tcp://HOST:PORT"):
        DlmsClient("tcp://nohost", transport="wrapper")


def test_silent_meter(server: DlmsServer) -> None:
    with (
        server.serve_tcp(faults=Faults(silent=True)) as endpoint,
        pytest.raises(ReplyTimeout) as exc,
    ):
        DlmsClient(tcp(endpoint), password=PASSWORD, timeout_s=0.3)
    assert "did not answer association within 0.3 s" in one_line(exc)


def test_silent_hdlc_meter(server: DlmsServer) -> None:
    with (
        server.serve_hdlc_tcp(faults=Faults(silent=True)) as endpoint,
        pytest.raises(ReplyTimeout) as exc,
    ):
        DlmsClient(endpoint.url, password=PASSWORD, timeout_s=0.3)
    text = one_line(exc)
    assert "SNRM" in text and "server address" in text


def test_wrong_logical_device(wrapper: TcpEndpoint) -> None:
    with pytest.raises(ReplyTimeout) as exc:
        DlmsClient(tcp(wrapper), password=PASSWORD, server_logical=2, timeout_s=0.3)
    assert "server wPort (2)" in one_line(exc)


def test_corrupt_frames(server: DlmsServer) -> None:
    faults = Faults(seed=1)
    with server.serve_hdlc_tcp(faults=faults) as endpoint:
        client = DlmsClient(endpoint.url, password=PASSWORD, timeout_s=0.4)
        faults.garble_rate = 1.0
        with pytest.raises(GarbledReply) as exc:
            client.read_credit()
        client.close()
    text = one_line(exc)
    assert "corrupt frame" in text and "baud rate" in text


def test_one_garbled_answer_is_recovered_by_poll(server: DlmsServer) -> None:
    faults = Faults(seed=3)
    with (
        server.serve_hdlc_tcp(faults=faults) as endpoint,
        DlmsClient(endpoint.url, password=PASSWORD, timeout_s=1.0) as client,
    ):
        _SpoilNext(faults).arm()
        assert client.read_credit() == pytest.approx(2.5)
        assert client.stats.polls == 1 and client.stats.bad_frames >= 1


class _SpoilNext:
    """Garble exactly the next reply, then heal."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self.original = faults.mangle

    def arm(self) -> None:
        def mangle(data: bytes) -> bytes:
            self.faults.mangle = self.original  # type: ignore[method-assign]
            return data[:-3] + bytes([data[-3] ^ 0xFF]) + data[-2:]

        self.faults.mangle = mangle  # type: ignore[method-assign]


class _GoesQuiet:
    """A byte handler that stops answering after `after` replies (a meter that hangs)."""

    def __init__(self, inner, after: int) -> None:
        self.inner, self.after = inner, after

    def __call__(self, data: bytes, at: float) -> bytes:
        reply = self.inner(data, at)
        if reply:
            self.after -= 1
        return reply if self.after >= 0 else b""


@pytest.mark.parametrize("transport", ["wrapper", "hdlc"])
def test_meter_stops_answering_mid_block(server: DlmsServer, transport: str) -> None:
    server.block_size = 32
    factory = server.wrapper_handler if transport == "wrapper" else server.hdlc_handler
    answers = 3 if transport == "wrapper" else 4  # AARE and two blocks (HDLC: and the UA)
    with TcpEndpoint(lambda: _GoesQuiet(factory(), answers)) as endpoint:
        url = tcp(endpoint) if transport == "wrapper" else endpoint.url
        client = DlmsClient(url, password=PASSWORD, timeout_s=0.4)
        with pytest.raises(ReplyTimeout) as exc:
            client.get(ClassId.ASSOCIATION_LN, cosem.ASSOCIATION_LN, 2)
        client.close()
    assert "GET 0-0:40.0.0.255 attribute 2 (class 15)" in one_line(exc)
    assert client.stats.blocks >= 1


def test_closed_client(wrapper: TcpEndpoint) -> None:
    client = DlmsClient(tcp(wrapper), password=PASSWORD)
    client.close()
    client.close()
    with pytest.raises(DeviceAbsent, match="not connected"):
        client.read_credit()
    client.open()
    assert client.read_credit() == pytest.approx(2.5)
    client.close()


def test_meter_hangs_up(server: DlmsServer) -> None:
    endpoint = server.serve_tcp()
    client = DlmsClient(tcp(endpoint), password=PASSWORD, timeout_s=1.0)
    endpoint.close()
    with pytest.raises(DeviceAbsent) as exc:
        client.read_credit()
    assert "closed the connection" in one_line(exc) or "dropped" in str(exc.value)
    client.close()

"""Interoperability with gurux-dlms (GPL-2.0-only): a test-only peer, never imported by hil.

gurux's client talks to the simulated meter over real loopback sockets (HDLC and the wrapper);
our codec reads the frames gurux's client writes; gurux's translator reads the PDUs we write.
Install the peer with the `interop` extra (docs/dlms.md).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest

try:
    from gurux_dlms import GXByteBuffer, GXDLMSClient, GXDLMSTranslator, GXReplyData
    from gurux_dlms.enums import Authentication, DataType, InterfaceType, TranslatorOutputType
    from gurux_dlms.objects import (
        GXDLMSAccount,
        GXDLMSClock,
        GXDLMSDisconnectControl,
        GXDLMSTokenGateway,
    )
except ImportError:  # the peer is optional: every test here skips without it
    HAVE_GURUX = False
else:
    HAVE_GURUX = True

from hil.dlms import apdu as a
from hil.dlms import axdr, cosem, hdlc
from hil.dlms.hdlc import FrameReader, HdlcFrame
from hil.dlms.wrapper import WrapperReader
from hil.sim.dlms_server import DlmsServer, InMemoryMeter

if not HAVE_GURUX and os.environ.get("CI"):  # CI installs the interop extra: there it must run
    raise ImportError("gurux-dlms is missing: install sts-hil[interop] (the test extra has it)")

pytestmark = pytest.mark.skipif(
    not HAVE_GURUX, reason="gurux-dlms not installed (pip install 'sts-hil[interop]')"
)

TOKEN = "12345678901234567890"
PASSWORD = "12345678"


class GuruxPeer:
    """gurux's client on a socket: send its frames, feed replies until it has a whole answer."""

    def __init__(self, port: int, interface: InterfaceType, password: str | None) -> None:
        auth = Authentication.LOW if password else Authentication.NONE
        self.client = GXDLMSClient(True, 16, 1, auth, password, interface)
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=3)

    def exchange(self, frames) -> GXReplyData:
        frames = frames if isinstance(frames, list) else [frames]
        reply = None
        for frame in frames:
            reply = self._one(bytes(frame))
        return reply

    def _one(self, frame: bytes) -> GXReplyData:
        self.sock.sendall(frame)
        reply, buf = GXReplyData(), GXByteBuffer()
        while True:
            buf.set(self.sock.recv(4096))
            if self.client.getData(buf, reply, None):
                if not reply.isMoreData():
                    return reply
                self.sock.sendall(bytes(self.client.receiverReady(reply)))

    def connect(self, hdlc_link: bool) -> None:
        if hdlc_link:
            self.client.parseUAResponse(self.exchange(self.client.snrmRequest()).data)
        self.client.parseAareResponse(self.exchange(self.client.aarqRequest()).data)

    def read(self, obj, attribute: int):
        reply = self.exchange(self.client.read(obj, attribute))
        return self.client.updateValue(obj, attribute, reply.value)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def meter() -> InMemoryMeter:
    return InMemoryMeter(2.5, {TOKEN: 10.0})


@pytest.fixture(params=["hdlc", "wrapper"])
def peer(request: pytest.FixtureRequest, meter: InMemoryMeter) -> Iterator[GuruxPeer]:
    server = DlmsServer(meter, password=PASSWORD.encode(), block_size=64)
    hdlc_link = request.param == "hdlc"
    endpoint = server.serve_hdlc_tcp() if hdlc_link else server.serve_tcp()
    interface = InterfaceType.HDLC if hdlc_link else InterfaceType.WRAPPER
    with endpoint:
        client = GuruxPeer(endpoint.port, interface, PASSWORD)
        client.connect(hdlc_link)
        client.hdlc_link = hdlc_link
        yield client
        client.close()


def test_gurux_client_reads_the_prepaid_objects(peer: GuruxPeer) -> None:
    account = GXDLMSAccount("0.0.19.0.0.255")
    assert peer.read(account, 5) == 2500
    peer.read(account, 15)  # currency: name, scale, unit
    assert account.currency.name == "kWh" and account.currency.scale == -3
    relay = GXDLMSDisconnectControl("0.0.96.3.10.255")
    assert peer.read(relay, 2) is True
    assert int(peer.read(relay, 3)) == 1
    clock = GXDLMSClock("0.0.1.0.0.255")
    assert peer.read(clock, 2).value.year == 2026


def test_gurux_client_enters_a_token(peer: GuruxPeer, meter: InMemoryMeter) -> None:
    gateway = GXDLMSTokenGateway("0.0.19.40.0.255")
    raw = cosem.pack_token(TOKEN)
    peer.exchange(peer.client.method(gateway, 1, raw, DataType.OCTET_STRING))
    peer.read(gateway, 6)
    assert int(gateway.statusCode) == cosem.TokenStatusCode.EXECUTION_OK
    assert meter.credit_kwh == 12.5


def test_gurux_client_follows_our_long_get(peer: GuruxPeer) -> None:
    reply = peer.exchange(peer.client.getObjectsRequest())
    objects = peer.client.parseObjects(reply.data, True)
    names = {str(obj.logicalName) for obj in objects}
    assert {"0.0.19.40.0.255", "0.0.19.0.0.255", "0.0.96.3.10.255"} <= names


def test_gurux_client_wrong_password(meter: InMemoryMeter) -> None:
    server = DlmsServer(meter, password=PASSWORD.encode())
    with server.serve_tcp() as endpoint:
        client = GuruxPeer(endpoint.port, InterfaceType.WRAPPER, "wrong")
        with pytest.raises(Exception, match="(?i)authenticat|password|reject"):
            client.connect(hdlc_link=False)
        client.close()


# -- our codec reads gurux's frames ---------------------------------------------------------------


def hdlc_client(password: str | None = PASSWORD) -> GXDLMSClient:
    auth = Authentication.LOW if password else Authentication.NONE
    return GXDLMSClient(True, 16, 1, auth, password, InterfaceType.HDLC)


def test_gurux_snrm_and_disc_are_ours() -> None:
    client = hdlc_client()
    snrm = HdlcFrame(hdlc.server_address(1), hdlc.client_address(16), 0x93).encode()
    assert bytes(client.snrmRequest()) == snrm
    disc = HdlcFrame(hdlc.server_address(1), hdlc.client_address(16), 0x53).encode()
    assert bytes(client.disconnectRequest(True)) == disc == bytes.fromhex("7ea00703215303c77e")


def _apdus(frames) -> list[a.Apdu]:
    reader, out = FrameReader(), []
    for frame in frames if isinstance(frames, list) else [frames]:
        for item in reader.feed(bytes(frame)):
            assert isinstance(item, HdlcFrame), item
            assert item.info[:3] == hdlc.LLC_COMMAND
            out.append(a.decode_apdu(item.info[3:]))
    return out


def test_we_read_gurux_requests() -> None:
    client = hdlc_client()
    (aarq,) = _apdus(client.aarqRequest())
    assert aarq.password == PASSWORD.encode() and aarq.authentication is a.Mechanism.LOW
    assert aarq.context is a.ApplicationContext.LN
    (get,) = _apdus(client.read(GXDLMSAccount("0.0.19.0.0.255"), 5))
    assert get.descriptor == a.AttributeDescriptor(111, cosem.ACCOUNT, 5)
    gateway = GXDLMSTokenGateway("0.0.19.40.0.255")
    (action,) = _apdus(client.method(gateway, 1, bytes(10), DataType.OCTET_STRING))
    assert action.descriptor == a.MethodDescriptor(115, cosem.TOKEN_GATEWAY, 1)
    assert action.parameters == axdr.octets(bytes(10))
    gateway.token = bytes(10)
    (write,) = _apdus(client.write(gateway, 2))
    assert write.value == axdr.octets(bytes(10))


def test_we_read_gurux_wrapper_frames() -> None:
    client = GXDLMSClient(True, 16, 1, Authentication.NONE, None, InterfaceType.WRAPPER)
    frames = WrapperReader().feed(b"".join(bytes(f) for f in client.aarqRequest()))
    assert [(f.source, f.destination) for f in frames] == [(16, 1)]
    assert a.decode_apdu(frames[0].apdu).authentication is a.Mechanism.LOWEST


# -- gurux reads ours -----------------------------------------------------------------------------

OURS = [
    (a.Aarq(password=b"12345678"), "AssociationRequest"),
    (
        a.Aare(a.AssociationResult.ACCEPTED, 0, a.InitiateResponse(a.CLIENT_CONFORMANCE, 512)),
        "AssociationResponse",
    ),
    (a.Aare(a.AssociationResult.REJECTED_PERMANENT, 13), "AssociationResponse"),
    (a.GetRequestNormal(a.AttributeDescriptor(111, cosem.ACCOUNT, 5)), "GetRequest"),
    (a.GetRequestNext(1), "GetRequest"),
    (a.GetResponseWithBlock(False, 1, b"\x01\x02"), "GetResponse"),
    (a.GetResponseNormal(axdr.structure(axdr.enum(3), axdr.bits("101"))), "GetResponse"),
    (
        a.ActionRequestNormal(
            a.MethodDescriptor(115, cosem.TOKEN_GATEWAY, 1), axdr.octets(bytes(10))
        ),
        "ActionRequest",
    ),
    (
        a.SetRequestNormal(
            a.AttributeDescriptor(115, cosem.TOKEN_GATEWAY, 2), axdr.octets(bytes(10))
        ),
        "SetRequest",
    ),
    (a.ActionResponseNormal(0, axdr.u8(3)), "ActionResponse"),
    (a.SetResponseNormal(3), "SetResponse"),
    (a.ExceptionResponse(1, 1), "ExceptionResponse"),
    (a.Rlrq(0), "ReleaseRequest"),
]


@pytest.mark.parametrize(("pdu", "element"), OURS, ids=[type(p).__name__ for p, _ in OURS])
def test_gurux_translator_reads_our_pdus(pdu: a.Apdu, element: str) -> None:
    xml = GXDLMSTranslator(TranslatorOutputType.SIMPLE_XML).pduToXml(GXByteBuffer(pdu.encode()))
    assert xml.lstrip().startswith(f"<{element}")


def test_gurux_translator_reads_our_hdlc_frames() -> None:
    frame = HdlcFrame(
        hdlc.server_address(1),
        hdlc.client_address(16),
        hdlc.control_i(0, 0),
        hdlc.LLC_COMMAND + a.Aarq().encode(),
    ).encode()
    xml = GXDLMSTranslator(TranslatorOutputType.SIMPLE_XML).messageToXml(GXByteBuffer(frame))
    assert "<AssociationRequest>" in xml and '<ApplicationContextName Value="LN" />' in xml

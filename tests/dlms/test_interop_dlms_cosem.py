"""Interoperability with dlms-cosem (Business Source License 1.1): a test-only peer, never
imported by hil. Its frame and APDU classes parse what we write, and we parse what they write.
"""

from __future__ import annotations

import os

import pytest

try:
    from dlms_cosem import dlms_data
    from dlms_cosem.hdlc import frames as F
    from dlms_cosem.hdlc.address import HdlcAddress as TheirAddress
    from dlms_cosem.protocol import acse, wrappers, xdlms
except ImportError:  # the peer is optional: every test here skips without it
    HAVE_DLMS_COSEM = False
else:
    HAVE_DLMS_COSEM = True

from hil.dlms import apdu as a
from hil.dlms import axdr, cosem, hdlc
from hil.dlms.hdlc import HdlcFrame
from hil.dlms.wrapper import WrapperReader, wrap

if not HAVE_DLMS_COSEM and os.environ.get("CI"):  # CI installs the interop extra: there it must run
    raise ImportError("dlms-cosem is missing: install sts-hil[interop] (the test extra has it)")

pytestmark = pytest.mark.skipif(
    not HAVE_DLMS_COSEM, reason="dlms-cosem not installed (pip install 'sts-hil[interop]')"
)

SERVER, CLIENT = hdlc.server_address(1), hdlc.client_address(16)
AARQ = a.Aarq().encode()


def their_ends() -> tuple[TheirAddress, TheirAddress]:
    return TheirAddress(1, None, "server"), TheirAddress(16, None, "client")


def test_hdlc_frames_are_byte_identical() -> None:
    their_server, their_client = their_ends()
    assert (
        F.SetNormalResponseModeFrame(their_server, their_client).to_bytes()
        == HdlcFrame(SERVER, CLIENT, 0x93).encode()
    )
    assert (
        F.DisconnectFrame(their_server, their_client).to_bytes()
        == HdlcFrame(SERVER, CLIENT, 0x53).encode()
    )
    theirs = F.InformationFrame(their_server, their_client, hdlc.LLC_COMMAND + AARQ).to_bytes()
    ours = HdlcFrame(SERVER, CLIENT, hdlc.control_i(0, 0), hdlc.LLC_COMMAND + AARQ).encode()
    assert theirs == ours
    physical = TheirAddress(1, 17, "server")
    theirs = F.ReceiveReadyFrame(physical, their_client, True, receive_sequence_number=3)
    assert (
        theirs.to_bytes()
        == HdlcFrame(hdlc.server_address(1, 17), CLIENT, hdlc.control_rr(3)).encode()
    )


def test_they_parse_our_ua_and_segments() -> None:
    params = hdlc.HdlcParameters(512, 512).encode()
    ua = HdlcFrame(CLIENT, SERVER, hdlc.control_u(hdlc.Kind.UA), params).encode()
    assert F.UnNumberedAcknowledgmentFrame.from_bytes(ua).payload == params
    segment = HdlcFrame(CLIENT, SERVER, hdlc.control_i(2, 5), b"\x01" * 50, segmented=True)
    frame = F.InformationFrame.from_bytes(segment.encode())
    assert frame.segmented and frame.send_sequence_number == 2
    assert frame.receive_sequence_number == 5 and frame.payload == b"\x01" * 50


def test_we_parse_their_frames() -> None:
    their_server, their_client = their_ends()
    theirs = F.InformationFrame(
        their_client,
        their_server,
        b"\xe6\xe7\x00\xc4\x01\xc1\x00\x11\x05",
        segmented=False,
        final=True,
        send_sequence_number=4,
        receive_sequence_number=6,
    ).to_bytes()
    (frame,) = hdlc.FrameReader().feed(theirs)
    assert (frame.ns, frame.nr, frame.poll) == (4, 6, True)
    assert a.decode_apdu(frame.info[3:]) == a.GetResponseNormal(axdr.u8(5))


@pytest.mark.parametrize("password", [None, b"12345678"])
def test_association_apdus_round_trip_through_their_codec(password: bytes | None) -> None:
    ours = a.Aarq(password=password).encode()
    theirs = acse.ApplicationAssociationRequest.from_bytes(ours)
    assert theirs.to_bytes() == ours
    assert (theirs.authentication_value or None) == password
    aare = a.Aare(
        a.AssociationResult.ACCEPTED,
        0,
        a.InitiateResponse(a.CLIENT_CONFORMANCE, 512),
        mechanism=a.Mechanism.LOW if password else None,
    ).encode()
    parsed = acse.ApplicationAssociationResponse.from_bytes(aare)
    assert int(parsed.result) == 0 and parsed.to_bytes() == aare


def test_requests_round_trip_through_their_codec() -> None:
    get = a.GetRequestNormal(a.AttributeDescriptor(111, cosem.ACCOUNT, 5)).encode()
    assert xdlms.GetRequestFactory.from_bytes(get).to_bytes() == get
    nxt = a.GetRequestNext(7).encode()
    assert xdlms.GetRequestFactory.from_bytes(nxt).to_bytes() == nxt
    put = a.SetRequestNormal(
        a.AttributeDescriptor(115, cosem.TOKEN_GATEWAY, 2), axdr.octets(bytes(10))
    ).encode()
    assert xdlms.SetRequestFactory.from_bytes(put).to_bytes() == put
    action = a.ActionRequestNormal(
        a.MethodDescriptor(115, cosem.TOKEN_GATEWAY, 1), axdr.octets(cosem.pack_token("1" * 20))
    ).encode()
    parsed = xdlms.ActionRequestFactory.from_bytes(action)
    assert (
        parsed.cosem_method.method == 1 and bytes(parsed.data) == axdr.octets(b"\x11" * 10).encode()
    )


def test_they_parse_our_responses() -> None:
    normal = xdlms.GetResponseFactory.from_bytes(a.GetResponseNormal(axdr.i32(2500)).encode())
    assert normal.data == axdr.i32(2500).encode()
    error = xdlms.GetResponseFactory.from_bytes(a.GetResponseNormal(4).encode())
    assert int(error.error) == 4
    block = xdlms.GetResponseFactory.from_bytes(a.GetResponseWithBlock(False, 1, b"ab").encode())
    assert isinstance(block, xdlms.GetResponseWithBlock) and block.block_number == 1
    last = xdlms.GetResponseFactory.from_bytes(a.GetResponseWithBlock(True, 2, b"cd").encode())
    assert isinstance(last, xdlms.GetResponseLastBlock) and last.data == b"cd"
    done = xdlms.ActionResponseFactory.from_bytes(a.ActionResponseNormal(0).encode())
    assert int(done.status) == 0
    denied = xdlms.SetResponseFactory.from_bytes(a.SetResponseNormal(3).encode())
    assert int(denied.result) == 3
    exc = xdlms.ExceptionResponse.from_bytes(a.ExceptionResponse(1, 1).encode())
    assert int(exc.state_error) == 1


def test_wrapper_round_trip() -> None:
    ours = wrap(16, 1, AARQ)
    theirs = wrappers.WrapperProtocolDataUnit.from_bytes(ours)
    assert theirs.to_bytes() == ours
    assert theirs.wrapper_header.source_wport == 16
    assert WrapperReader().feed(theirs.to_bytes())[0].apdu == AARQ


def test_their_data_parser_reads_our_values() -> None:
    value = axdr.structure(
        axdr.enum(3),
        axdr.boolean(True),
        axdr.i64(-5),
        axdr.u64(5),
        axdr.visible("kWh"),
        axdr.array(axdr.u16(1), axdr.u16(2)),
        axdr.i8(-1),
        axdr.i16(-2),
        axdr.u32(7),
        axdr.i32(-7),
        axdr.octets(b"ab"),
        axdr.null(),
        axdr.u8(9),
    )
    (parsed,) = dlms_data.DlmsDataParser().parse(value.encode(), limit=1)
    assert parsed.to_python() == [3, True, -5, 5, "kWh", [1, 2], -1, -2, 7, -7, b"ab", None, 9]

"""APDUs: the Green Book association examples, byte-exact service frames, bad input."""

import pytest

from hil.dlms import apdu as a
from hil.dlms import axdr
from hil.dlms.errors import DecodeError, LocalProtocolError
from hil.dlms.obis import Obis

# Green Book (DLMS UA 1000-2) worked example: AARQ, LN referencing, no security, conformance
# 00 7E 1F, client max receive PDU 0x04B0.
AARQ_NO_SECURITY = (
    "60 1d a1 09 06 07 60 85 74 05 08 01 01 be 10 04 0e 01 00 00 00 06 5f 1f 04 00 00 7e 1f 04 b0"
)
# ...and its AARE: accepted, null diagnostic, conformance 00 50 1F, server max PDU 0x01F4.
AARE_ACCEPTED = (
    "61 29 a1 09 06 07 60 85 74 05 08 01 01 a2 03 02 01 00 a3 05 a1 03 02 01 00 "
    "be 10 04 0e 08 00 06 5f 1f 04 00 00 50 1f 01 f4 00 07"
)
# Low-level security: sender-acse-requirements, mechanism {2 16 756 5 8 2 1}, password
# "12345678" as the calling-authentication-value (worked out from the ACSE rules).
AARQ_LLS = (
    "60 36 a1 09 06 07 60 85 74 05 08 01 01 8a 02 07 80 8b 07 60 85 74 05 08 02 01 "
    "ac 0a 80 08 31 32 33 34 35 36 37 38 "
    "be 10 04 0e 01 00 00 00 06 5f 1f 04 00 00 7e 1f 04 b0"
)

CLOCK = Obis.parse("0-0:1.0.0.255")
GATEWAY = Obis.parse("0-0:19.40.0.255")


def hexb(text: str) -> bytes:
    return bytes.fromhex(text)


def test_aarq_green_book_example() -> None:
    aarq = a.Aarq(a.InitiateRequest(a.Conformance(0x007E1F), 0x04B0))
    assert aarq.encode() == hexb(AARQ_NO_SECURITY)
    decoded = a.decode_apdu(hexb(AARQ_NO_SECURITY))
    assert decoded == aarq
    assert decoded.authentication is a.Mechanism.LOWEST
    assert a.Conformance.BLOCK_TRANSFER_GET in decoded.initiate.conformance
    assert a.Conformance.ACTION in decoded.initiate.conformance


def test_aare_green_book_example() -> None:
    aare = a.decode_apdu(hexb(AARE_ACCEPTED))
    assert isinstance(aare, a.Aare)
    assert aare.accepted
    assert aare.user_information == a.InitiateResponse(a.Conformance(0x00501F), 0x01F4)
    assert aare.encode() == hexb(AARE_ACCEPTED)


def test_aarq_low_level_security() -> None:
    aarq = a.Aarq(a.InitiateRequest(a.Conformance(0x007E1F), 0x04B0), password=b"12345678")
    assert aarq.encode() == hexb(AARQ_LLS)
    back = a.decode_apdu(hexb(AARQ_LLS))
    assert back.password == b"12345678"
    assert back.authentication is a.Mechanism.LOW


def test_aare_rejected_with_diagnostic() -> None:
    # result rejected-permanent (1), acse-service-user diagnostic authentication-failure (13)
    wire = "61 17 a1 09 06 07 60 85 74 05 08 01 01 a2 03 02 01 01 a3 05 a1 03 02 01 0d"
    aare = a.Aare(a.AssociationResult.REJECTED_PERMANENT, a.AcseDiagnostic.AUTHENTICATION_FAILURE)
    assert aare.encode() == hexb(wire)
    back = a.decode_apdu(hexb(wire))
    assert back.result is a.AssociationResult.REJECTED_PERMANENT
    assert back.diagnostic == a.AcseDiagnostic.AUTHENTICATION_FAILURE
    assert not back.accepted


def test_aare_with_initiate_error() -> None:
    err = a.ConfirmedServiceError(1, 6, 1)
    aare = a.Aare(a.AssociationResult.REJECTED_PERMANENT, 1, err)
    assert err.encode() == hexb("0e 01 06 01")
    assert a.decode_apdu(aare.encode()).user_information == err


def test_release() -> None:
    assert a.Rlrq(0).encode() == hexb("62 03 80 01 00")
    assert a.Rlre(0).encode() == hexb("63 03 80 01 00")
    assert a.decode_apdu(hexb("63 00")) == a.Rlre(None)
    assert a.decode_apdu(hexb("62 03 80 01 00")) == a.Rlrq(0)


# -- services -----------------------------------------------------------------------------------

SERVICES = [
    # Green Book: GET clock time (class 8, 0-0:1.0.0.255, attribute 2), invoke 0xC1
    (
        a.GetRequestNormal(a.AttributeDescriptor(8, CLOCK, 2)),
        "c0 01 c1 00 08 00 00 01 00 00 ff 02 00",
    ),
    (a.GetRequestNext(1), "c0 02 c1 00 00 00 01"),
    (a.GetResponseNormal(axdr.u32(2500)), "c4 01 c1 00 06 00 00 09 c4"),
    (a.GetResponseNormal(a.DataAccessResult.OBJECT_UNDEFINED), "c4 01 c1 01 04"),
    (a.GetResponseWithBlock(False, 1, b"\x01\x02"), "c4 02 c1 00 00 00 00 01 00 02 01 02"),
    (a.GetResponseWithBlock(True, 2, b"\x03"), "c4 02 c1 01 00 00 00 02 00 01 03"),
    (
        a.GetResponseWithBlock(True, 3, a.DataAccessResult.LONG_GET_ABORTED),
        "c4 02 c1 01 00 00 00 03 01 0f",
    ),
    (
        a.SetRequestNormal(a.AttributeDescriptor(115, GATEWAY, 2), axdr.octets(b"\x12\x34")),
        "c1 01 c1 00 73 00 00 13 28 00 ff 02 00 09 02 12 34",
    ),
    (a.SetResponseNormal(a.DataAccessResult.SUCCESS), "c5 01 c1 00"),
    (a.SetResponseNormal(a.DataAccessResult.READ_WRITE_DENIED), "c5 01 c1 03"),
    # Token gateway 0-0:19.40.0.255 (class 115 = 0x73) method 1 with 10 BCD bytes
    (
        a.ActionRequestNormal(
            a.MethodDescriptor(115, GATEWAY, 1),
            axdr.octets(bytes.fromhex("12345678901234567890")),
        ),
        "c3 01 c1 00 73 00 00 13 28 00 ff 01 01 09 0a 12 34 56 78 90 12 34 56 78 90",
    ),
    (
        a.ActionRequestNormal(a.MethodDescriptor(70, Obis(0, 0, 96, 3, 10, 255), 1), axdr.i8(0)),
        "c3 01 c1 00 46 00 00 60 03 0a ff 01 01 0f 00",
    ),
    (a.ActionResponseNormal(a.DataAccessResult.SUCCESS), "c7 01 c1 00 00"),
    (a.ActionResponseNormal(a.DataAccessResult.SUCCESS, axdr.u8(7)), "c7 01 c1 00 01 00 11 07"),
    (a.ExceptionResponse(1, 1), "d8 01 01"),
    (
        a.GetRequestNormal(
            a.AttributeDescriptor(7, Obis(0, 0, 99, 98, 0, 255), 2),
            a.AccessSelection(2, axdr.structure(axdr.u32(1), axdr.u32(10))),
        ),
        "c0 01 c1 00 07 00 00 63 62 00 ff 02 01 02 02 02 06 00 00 00 01 06 00 00 00 0a",
    ),
]


@pytest.mark.parametrize(("pdu", "wire"), SERVICES, ids=[type(p).__name__ for p, _ in SERVICES])
def test_service_frames(pdu: a.Apdu, wire: str) -> None:
    assert pdu.encode() == hexb(wire)
    assert a.decode_apdu(hexb(wire)) == pdu


def test_invoke_byte() -> None:
    assert a.invoke_byte(1) == 0xC1
    assert a.invoke_byte(5, high_priority=False) == 0x45
    with pytest.raises(LocalProtocolError):
        a.invoke_byte(16)


def test_unknown_data_access_result_stays_an_int() -> None:
    pdu = a.decode_apdu(hexb("c4 01 c1 01 63"))
    assert pdu.result == 99


@pytest.mark.parametrize(
    "wire",
    [
        "",
        "c0",  # GET with no kind
        "c0 01 c1 00 08 00 00 01",  # descriptor cut
        "c0 09 c1",  # unknown GET kind
        "c4 01 c1 00 06 00 00",  # data cut
        "c4 01 c1 00 11 05 00",  # trailing byte
        "c4 02 c1 00 00 00 00 01 00 05 01 02",  # block shorter than its length
        "c7 01 c1 00 01",  # return data flag but no data
        "d8 01",  # exception cut
        "60 05 a1 03 06 01 00",  # AARQ with a foreign context and nothing else
        "60 0b a1 09 06 07 60 85 74 05 08 01 01",  # AARQ without user-information
        "61 0b a1 09 06 07 60 85 74 05 08 01 01",  # AARE without a result
        "61 10 a1 09 06 07 60 85 74 05 08 01 01 a2 03 02 01 07",  # unknown result
        "60 ff 00",  # BER length beyond the data
        "be 00",  # not an APDU we know
    ],
)
def test_bad_apdus_are_decode_errors(wire: str) -> None:
    with pytest.raises(DecodeError):
        a.decode_apdu(hexb(wire))


@pytest.mark.parametrize("raw", [AARQ_LLS, AARE_ACCEPTED, SERVICES[10][1]])
def test_every_truncation_of_a_known_apdu_is_refused(raw: str) -> None:
    data = hexb(raw)
    for cut in range(len(data)):
        with pytest.raises(DecodeError):
            a.decode_apdu(data[:cut])


def test_initiate_round_trip_with_options() -> None:
    req = a.InitiateRequest(
        a.CLIENT_CONFORMANCE, 512, 6, dedicated_key=b"\x00" * 16, quality_of_service=1
    )
    assert a.InitiateRequest.decode(req.encode()) == req
    resp = a.InitiateResponse(a.Conformance.GET, 256, quality_of_service=2)
    assert a.InitiateResponse.decode(resp.encode()) == resp

"""The client association state machine, fed with hand-made answers."""

import pytest

from hil.dlms import apdu as a
from hil.dlms import axdr
from hil.dlms.client import (
    Associated,
    AssociationRefused,
    ClientSession,
    Continue,
    Released,
    Result,
    ServiceRefused,
)
from hil.dlms.errors import DecodeError, LocalProtocolError, RemoteProtocolError
from hil.dlms.obis import Obis

CREDIT = a.AttributeDescriptor(111, Obis(0, 0, 19, 0, 0, 255), 5)
ENTER = a.MethodDescriptor(115, Obis(0, 0, 19, 40, 0, 255), 1)
ACCEPT = a.Aare(
    a.AssociationResult.ACCEPTED,
    0,
    a.InitiateResponse(a.Conformance.GET | a.Conformance.ACTION | a.Conformance.SET, 256),
).encode()


def associated(**kw) -> ClientSession:
    session = ClientSession(**kw)
    session.associate()
    assert isinstance(session.receive(ACCEPT), Associated)
    return session


def invoke_of(request: bytes) -> int:
    return request[2]


def test_associate_and_release() -> None:
    session = ClientSession(password=b"secret")
    aarq = a.decode_apdu(session.associate())
    assert aarq.password == b"secret" and aarq.authentication is a.Mechanism.LOW
    assert isinstance(session.receive(ACCEPT), Associated)
    assert session.associated and session.negotiated.max_receive_pdu_size == 256
    assert a.decode_apdu(session.release()) == a.Rlrq(0)
    assert session.receive(a.Rlre(0).encode()) == Released(0)
    assert not session.associated


def test_refused_association_explains_itself() -> None:
    session = ClientSession(password=b"wrong")
    session.associate()
    refusal = a.Aare(
        a.AssociationResult.REJECTED_PERMANENT, a.AcseDiagnostic.AUTHENTICATION_FAILURE
    )
    outcome = session.receive(refusal.encode())
    assert isinstance(outcome, AssociationRefused)
    assert outcome.authentication
    assert outcome.reason == "rejected-permanent: authentication failure (wrong password)"
    assert not session.associated
    session.associate()  # may try again


def test_requests_need_an_association() -> None:
    with pytest.raises(LocalProtocolError, match="not associated"):
        ClientSession().get(CREDIT)


def test_get_normal_and_error() -> None:
    session = associated()
    request = session.get(CREDIT)
    assert request[:2] == b"\xc0\x01"
    answer = a.GetResponseNormal(axdr.i32(2500), invoke_of(request)).encode()
    assert session.receive(answer) == Result(str(CREDIT), axdr.i32(2500))
    request = session.get(CREDIT)
    outcome = session.receive(
        a.GetResponseNormal(a.DataAccessResult.OBJECT_UNDEFINED, invoke_of(request)).encode()
    )
    assert not outcome.ok and outcome.error_name == "object-undefined"


def test_one_request_at_a_time() -> None:
    session = associated()
    session.get(CREDIT)
    with pytest.raises(LocalProtocolError, match="waiting"):
        session.get(CREDIT)
    session.abandon()
    session.get(CREDIT)


def test_invoke_ids_advance_and_must_match() -> None:
    session = associated()
    first = session.get(CREDIT)
    session.receive(a.GetResponseNormal(axdr.u8(1), invoke_of(first)).encode())
    second = session.get(CREDIT)
    assert invoke_of(second) != invoke_of(first)
    with pytest.raises(RemoteProtocolError, match="invoke id"):
        session.receive(a.GetResponseNormal(axdr.u8(1), invoke_of(first)).encode())


def test_answer_of_the_wrong_service() -> None:
    session = associated()
    request = session.get(CREDIT)
    with pytest.raises(RemoteProtocolError, match="expected GetResponseNormal"):
        session.receive(a.SetResponseNormal(0, invoke_of(request)).encode())


def test_unsolicited_and_garbage() -> None:
    session = associated()
    with pytest.raises(RemoteProtocolError, match="unsolicited"):
        session.receive(b"\xc4\x01\xc1\x00\x00")
    session.get(CREDIT)
    with pytest.raises(DecodeError):
        session.receive(b"\xc4\x01")


def test_long_get_block_by_block() -> None:
    session = associated()
    value = axdr.octets(bytes(range(100)))
    raw = value.encode()
    request = session.get(CREDIT)
    inv = invoke_of(request)
    blocks = [raw[i : i + 40] for i in range(0, len(raw), 40)]
    for number, chunk in enumerate(blocks, 1):
        last = number == len(blocks)
        outcome = session.receive(a.GetResponseWithBlock(last, number, chunk, inv).encode())
        if last:
            assert outcome == Result(str(CREDIT), value, blocks=len(blocks))
        else:
            assert isinstance(outcome, Continue)
            assert a.decode_apdu(outcome.apdu) == a.GetRequestNext(number, inv)


def test_long_get_out_of_order_block() -> None:
    session = associated()
    inv = invoke_of(session.get(CREDIT))
    session.receive(a.GetResponseWithBlock(False, 1, b"\x09\x05", inv).encode())
    with pytest.raises(RemoteProtocolError, match="block 3 arrived, expected 2"):
        session.receive(a.GetResponseWithBlock(True, 3, b"abcde", inv).encode())


def test_long_get_aborted_by_the_meter() -> None:
    session = associated()
    inv = invoke_of(session.get(CREDIT))
    session.receive(a.GetResponseWithBlock(False, 1, b"\x09\x05", inv).encode())
    outcome = session.receive(
        a.GetResponseWithBlock(True, 2, a.DataAccessResult.LONG_GET_ABORTED, inv).encode()
    )
    assert outcome.error == a.DataAccessResult.LONG_GET_ABORTED


def test_long_get_is_bounded() -> None:
    session = associated(max_long_get=50)
    inv = invoke_of(session.get(CREDIT))
    session.receive(a.GetResponseWithBlock(False, 1, b"\x09\x82\x01\x00" + b"x" * 40, inv).encode())
    with pytest.raises(RemoteProtocolError, match="more than 50"):
        session.receive(a.GetResponseWithBlock(False, 2, b"x" * 40, inv).encode())


def test_long_get_whose_value_does_not_decode() -> None:
    session = associated()
    inv = invoke_of(session.get(CREDIT))
    with pytest.raises(DecodeError, match="long GET"):
        session.receive(a.GetResponseWithBlock(True, 1, b"\x09\x05ab", inv).encode())


def test_action_and_set() -> None:
    session = associated()
    request = session.action(ENTER, axdr.octets(b"\x12" * 10))
    assert session.receive(a.ActionResponseNormal(0, None, invoke_of(request)).encode()).ok
    request = session.action(ENTER, axdr.octets(b"\x12" * 10))
    outcome = session.receive(a.ActionResponseNormal(3, None, invoke_of(request)).encode())
    assert outcome.error_name == "read-write-denied"
    request = session.set(CREDIT, axdr.i32(0))
    assert not session.receive(a.SetResponseNormal(3, invoke_of(request)).encode()).ok


def test_exception_response() -> None:
    session = associated()
    session.get(CREDIT)
    outcome = session.receive(a.ExceptionResponse(1, 2).encode())
    assert outcome == ServiceRefused(
        str(CREDIT), "exception response: service-not-allowed, service-not-supported"
    )
    assert not session.busy


def test_conformance_and_pdu_size_are_respected() -> None:
    session = ClientSession()
    session.associate()
    session.receive(
        a.Aare(
            a.AssociationResult.ACCEPTED,
            0,
            a.InitiateResponse(a.Conformance.GET | a.Conformance.SET, 40),
        ).encode()
    )
    with pytest.raises(LocalProtocolError, match="leaves ACTION out"):
        session.action(ENTER)
    with pytest.raises(LocalProtocolError, match="at most 40"):
        session.set(CREDIT, axdr.octets(b"x" * 50))
    assert not session.busy


def test_accepted_aare_without_initiate_response() -> None:
    session = ClientSession()
    session.associate()
    with pytest.raises(RemoteProtocolError, match="InitiateResponse"):
        session.receive(a.Aare(a.AssociationResult.ACCEPTED).encode())

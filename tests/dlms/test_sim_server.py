"""The simulated meter's COSEM objects, driven through the client session (no sockets)."""

import pytest

from hil.dlms import apdu as a
from hil.dlms import axdr, cosem
from hil.dlms.client import Associated, AssociationRefused, ClientSession, Continue, Result
from hil.dlms.cosem import ClassId, TokenStatusCode
from hil.dlms.obis import Obis
from hil.meter.results import TokenResult
from hil.sim.dlms_server import DlmsServer, InMemoryMeter, status_for_sts_result

TOKEN = "12345678901234567890"
OTHER = "11112222333344445555"


def attr(class_id: int, obis: Obis, n: int) -> a.AttributeDescriptor:
    return a.AttributeDescriptor(class_id, obis, n)


class Pair:
    """A client session wired straight to one server session."""

    def __init__(self, server: DlmsServer, password: bytes | None = None) -> None:
        self.server = server
        self.client = ClientSession(password=password)
        self.session = server.session()
        self.at = 100.0

    def ask(self, request: bytes):
        outcome = self.client.receive(self.session.handle(request, self.at))
        while isinstance(outcome, Continue):
            outcome = self.client.receive(self.session.handle(outcome.apdu, self.at))
        return outcome

    def associate(self):
        return self.ask(self.client.associate())

    def get(self, class_id: int, obis: Obis, n: int) -> Result:
        return self.ask(self.client.get(attr(class_id, obis, n)))

    def enter(self, raw: bytes) -> Result:
        method = a.MethodDescriptor(ClassId.TOKEN_GATEWAY, cosem.TOKEN_GATEWAY, 1)
        return self.ask(self.client.action(method, axdr.octets(raw)))

    def status(self) -> int:
        value = self.get(ClassId.TOKEN_GATEWAY, cosem.TOKEN_GATEWAY, 6).value
        return value.items[0].value


@pytest.fixture
def meter() -> InMemoryMeter:
    return InMemoryMeter(2.5, {TOKEN: 10.0})


@pytest.fixture
def pair(meter: InMemoryMeter) -> Pair:
    p = Pair(DlmsServer(meter))
    assert isinstance(p.associate(), Associated)
    return p


def test_lowest_level_security_when_no_password(meter: InMemoryMeter) -> None:
    assert isinstance(Pair(DlmsServer(meter)).associate(), Associated)
    assert isinstance(Pair(DlmsServer(meter), b"any").associate(), Associated)


@pytest.mark.parametrize(
    ("password", "diagnostic"),
    [
        (None, a.AcseDiagnostic.AUTHENTICATION_REQUIRED),
        (b"wrong", a.AcseDiagnostic.AUTHENTICATION_FAILURE),
    ],
)
def test_password_is_checked(meter, password, diagnostic) -> None:
    outcome = Pair(DlmsServer(meter, password=b"12345678"), password).associate()
    assert isinstance(outcome, AssociationRefused)
    assert outcome.aare.diagnostic == diagnostic


def test_right_password(meter: InMemoryMeter) -> None:
    server = DlmsServer(meter, password=b"12345678")
    assert isinstance(Pair(server, b"12345678").associate(), Associated)


def test_refusing_meter(meter: InMemoryMeter) -> None:
    server = DlmsServer(meter)
    server.refuse_associations = True
    outcome = Pair(server).associate()
    assert isinstance(outcome, AssociationRefused)
    assert "no reason given" in outcome.reason


def test_other_contexts_are_refused(meter: InMemoryMeter) -> None:
    session = DlmsServer(meter).session()
    aarq = a.Aarq(context=a.ApplicationContext.SN).encode()
    aare = a.decode_apdu(session.handle(aarq, 0.0))
    assert aare.diagnostic == a.AcseDiagnostic.APPLICATION_CONTEXT_NAME_NOT_SUPPORTED
    old = a.Aarq(a.InitiateRequest(dlms_version=5)).encode()
    aare = a.decode_apdu(session.handle(old, 0.0))
    assert isinstance(aare.user_information, a.ConfirmedServiceError)


def test_services_before_association_are_refused(meter: InMemoryMeter) -> None:
    session = DlmsServer(meter).session()
    request = a.GetRequestNormal(attr(8, cosem.CLOCK, 2)).encode()
    assert session.handle(request, 0.0) == a.ExceptionResponse(1, 1).encode()
    assert session.handle(b"\x99\x99", 0.0) == a.ExceptionResponse(2, 2).encode()


def test_credit_objects(pair: Pair) -> None:
    assert pair.get(ClassId.ACCOUNT, cosem.ACCOUNT, 5).value == axdr.i32(2500)
    currency = pair.get(ClassId.ACCOUNT, cosem.ACCOUNT, 15).value
    assert currency.python() == ["kWh", -3, 1]
    assert pair.get(ClassId.CREDIT, cosem.CREDIT, 2).value == axdr.i32(2500)
    assert pair.get(ClassId.ACCOUNT, cosem.ACCOUNT, 4).value == axdr.bits("11000000")
    assert pair.get(ClassId.ACCOUNT, cosem.ACCOUNT, 1).value == axdr.octets(
        cosem.ACCOUNT.to_bytes()
    )


def test_lookup_errors(pair: Pair) -> None:
    missing = pair.get(ClassId.DATA, Obis(1, 65, 1, 140, 1, 255), 2)
    assert missing.error == a.DataAccessResult.OBJECT_UNDEFINED
    wrong_class = pair.get(ClassId.REGISTER, cosem.ACCOUNT, 2)
    assert wrong_class.error == a.DataAccessResult.OBJECT_CLASS_INCONSISTENT
    no_attribute = pair.get(ClassId.ACCOUNT, cosem.ACCOUNT, 9)
    assert no_attribute.error == a.DataAccessResult.OBJECT_UNAVAILABLE


def test_token_entry_through_method_1(pair: Pair, meter: InMemoryMeter) -> None:
    assert pair.enter(cosem.pack_token(TOKEN)).ok
    assert pair.status() == TokenStatusCode.EXECUTION_OK
    assert meter.credit_kwh == 12.5
    assert pair.enter(cosem.pack_token(TOKEN)).ok
    assert pair.status() == TokenStatusCode.VALIDATION_FAILURE  # Used and Old look alike
    assert pair.enter(cosem.pack_token(OTHER, "ascii")).ok
    assert pair.status() == TokenStatusCode.AUTHENTICATION_FAILURE
    assert pair.enter(b"\x12\x34").ok
    assert pair.status() == TokenStatusCode.FORMAT_FAILURE
    last = pair.get(ClassId.TOKEN_GATEWAY, cosem.TOKEN_GATEWAY, 2).value
    assert last == axdr.octets(b"\x12\x34")
    stamp = pair.get(ClassId.TOKEN_GATEWAY, cosem.TOKEN_GATEWAY, 3).value.value
    assert axdr.DateTime.from_bytes(stamp).to_datetime() == pair.server.clock(pair.at)


def test_token_entry_through_set_attribute_2(pair: Pair, meter: InMemoryMeter) -> None:
    desc = attr(ClassId.TOKEN_GATEWAY, cosem.TOKEN_GATEWAY, 2)
    assert pair.ask(pair.client.set(desc, axdr.octets(cosem.pack_token(TOKEN)))).ok
    assert pair.status() == TokenStatusCode.EXECUTION_OK


def test_token_of_the_wrong_type(pair: Pair) -> None:
    method = a.MethodDescriptor(ClassId.TOKEN_GATEWAY, cosem.TOKEN_GATEWAY, 1)
    outcome = pair.ask(pair.client.action(method, axdr.visible(TOKEN)))
    assert outcome.error == a.DataAccessResult.TYPE_UNMATCHED


def test_token_processing_time(meter: InMemoryMeter) -> None:
    p = Pair(DlmsServer(meter, token_processing_s=2.0))
    p.associate()
    p.enter(cosem.pack_token(TOKEN))
    assert p.status() == TokenStatusCode.RECEIVED
    p.at += 2.0
    assert p.status() == TokenStatusCode.EXECUTION_OK


def test_relay_follows_credit(pair: Pair, meter: InMemoryMeter) -> None:
    assert pair.get(ClassId.DISCONNECT_CONTROL, cosem.DISCONNECT_CONTROL, 2).value == axdr.boolean(
        True
    )
    meter.credit_kwh = 0
    assert pair.get(ClassId.DISCONNECT_CONTROL, cosem.DISCONNECT_CONTROL, 3).value == axdr.enum(0)
    assert pair.get(ClassId.ACCOUNT, cosem.ACCOUNT, 4).value == axdr.bits("00000010")
    method = a.MethodDescriptor(ClassId.DISCONNECT_CONTROL, cosem.DISCONNECT_CONTROL, 2)
    outcome = pair.ask(pair.client.action(method, axdr.i8(0)))
    assert outcome.error == a.DataAccessResult.READ_WRITE_DENIED


def test_read_only_attributes(pair: Pair) -> None:
    outcome = pair.ask(pair.client.set(attr(ClassId.ACCOUNT, cosem.ACCOUNT, 5), axdr.i32(99)))
    assert outcome.error == a.DataAccessResult.READ_WRITE_DENIED


def test_object_list_as_a_long_get(meter: InMemoryMeter) -> None:
    p = Pair(DlmsServer(meter, block_size=40))
    p.associate()
    outcome = p.get(ClassId.ASSOCIATION_LN, cosem.ASSOCIATION_LN, 2)
    assert outcome.blocks > 5
    entries = outcome.value.python()
    listed = {(e[0], Obis.from_bytes(e[2])) for e in entries}
    assert (ClassId.TOKEN_GATEWAY, cosem.TOKEN_GATEWAY) in listed
    assert len(listed) == len(p.server.objects)


def test_long_get_block_number_errors(meter: InMemoryMeter) -> None:
    server = DlmsServer(meter, block_size=40)
    session = server.session()
    session.handle(a.Aarq().encode(), 0.0)
    request = a.GetRequestNormal(attr(ClassId.ASSOCIATION_LN, cosem.ASSOCIATION_LN, 2)).encode()
    first = a.decode_apdu(session.handle(request, 0.0))
    assert isinstance(first, a.GetResponseWithBlock) and first.block_number == 1
    wrong = a.decode_apdu(session.handle(a.GetRequestNext(5).encode(), 0.0))
    assert wrong.raw == a.DataAccessResult.DATA_BLOCK_NUMBER_INVALID
    none = a.decode_apdu(session.handle(a.GetRequestNext(1).encode(), 0.0))
    assert none.raw == a.DataAccessResult.NO_LONG_GET_IN_PROGRESS


def test_small_client_pdu_forces_blocks(meter: InMemoryMeter) -> None:
    session = DlmsServer(meter).session()
    aarq = a.Aarq(a.InitiateRequest(max_receive_pdu_size=64)).encode()
    session.handle(aarq, 0.0)
    request = a.GetRequestNormal(attr(ClassId.ASSOCIATION_LN, cosem.ASSOCIATION_LN, 2)).encode()
    reply = session.handle(request, 0.0)
    assert isinstance(a.decode_apdu(reply), a.GetResponseWithBlock)
    assert len(reply) <= 64


def test_release(pair: Pair) -> None:
    assert pair.session.handle(a.Rlrq(0).encode(), 0.0) == a.Rlre(0).encode()
    assert not pair.session.associated


def test_sts_results_fold_into_gateway_codes() -> None:
    folded = {result: status_for_sts_result(int(result)) for result in TokenResult}
    for result in (TokenResult.ACCEPT, TokenResult.KCT1, TokenResult.KCT2):
        assert folded[result] is TokenStatusCode.EXECUTION_OK
    assert folded[TokenResult.OLD] is folded[TokenResult.USED] is TokenStatusCode.VALIDATION_FAILURE
    assert folded[TokenResult.CRC] is TokenStatusCode.FORMAT_FAILURE
    assert folded[TokenResult.NOT_READY] is TokenStatusCode.RECEIVED
    assert all(not code.accepted for r, code in folded.items() if not r.accepted)


def test_token_packing() -> None:
    assert cosem.pack_token("1234 5678 9012 3456 7890") == bytes.fromhex("12345678901234567890")
    assert cosem.pack_token(TOKEN, "ascii") == TOKEN.encode()
    assert cosem.unpack_token(bytes.fromhex("12345678901234567890")) == TOKEN
    assert cosem.unpack_token(TOKEN.encode()) == TOKEN
    assert cosem.unpack_token(bytes.fromhex("1234567890123456789a")) is None
    with pytest.raises(ValueError, match="20 digits"):
        cosem.pack_token("123")
    with pytest.raises(ValueError, match="packing"):
        cosem.pack_token(TOKEN, "binary")  # type: ignore[arg-type]

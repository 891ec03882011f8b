"""HDLC (IEC 62056-46): known frames, the stream reader, and client/server link state."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hil.dlms import hdlc
from hil.dlms.crc import crc_bytes
from hil.dlms.errors import FrameError, LocalProtocolError
from hil.dlms.hdlc import HdlcAddress, HdlcFrame, Kind

AARQ = bytes.fromhex("601da109060760857405080101be10040e01000000065f1f0400007e1f04b0")
CLIENT = hdlc.client_address(16)
SERVER = hdlc.server_address(1)


def hexb(text: str) -> bytes:
    return bytes.fromhex(text)


# -- addresses and control --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "wire"),
    [
        (hdlc.client_address(16), "21"),  # public client
        (hdlc.client_address(1), "03"),  # management client
        (hdlc.server_address(1), "03"),
        (hdlc.server_address(1, 17), "02 23"),
        (hdlc.server_address(1, 17, size=4), "00 02 00 23"),
        (hdlc.server_address(1, 0x3FFF), "00 02 fe ff"),  # physical all-station
        (hdlc.server_address(0x3FFF, 0x3FFF), "fe fe fe ff"),
        (hdlc.server_address(1, 1000), "00 02 0e d1"),  # 1000 = 7*128 + 104
    ],
)
def test_addresses(address: HdlcAddress, wire: str) -> None:
    raw = hexb(wire)
    assert address.encode() == raw
    back, end = HdlcAddress.decode(raw, 0)
    assert end == len(raw)
    assert back.same(address)


@pytest.mark.parametrize("wire", ["00 00 00 00 01", "02 02 03", "00"])
def test_bad_addresses(wire: str) -> None:
    with pytest.raises(FrameError):
        HdlcAddress.decode(hexb(wire), 0)


def test_address_out_of_range() -> None:
    with pytest.raises(LocalProtocolError):
        HdlcAddress(200, None)
    with pytest.raises(LocalProtocolError):
        HdlcAddress(1, 20000)
    with pytest.raises(LocalProtocolError):
        HdlcAddress(1, 1, size=1)


@pytest.mark.parametrize(
    ("control", "kind"),
    [
        (0x93, Kind.SNRM),
        (0x73, Kind.UA),
        (0x53, Kind.DISC),
        (0x1F, Kind.DM),
        (0x97, Kind.FRMR),
        (0x13, Kind.UI),
        (0x10, Kind.I),
        (0x31, Kind.RR),
        (0x35, Kind.RNR),
    ],
)
def test_control_kinds(control: int, kind: Kind) -> None:
    assert hdlc.control_kind(control) is kind


def test_control_numbers() -> None:
    assert hdlc.control_i(0, 0) == 0x10  # client's first I-frame
    assert hdlc.control_i(0, 1) == 0x30  # server's answer
    assert hdlc.control_i(1, 1) == 0x32
    assert hdlc.control_i(7, 7, pf=False) == 0xEE
    assert hdlc.control_rr(1) == 0x31
    assert hdlc.control_rr(5) == 0xB1
    assert hdlc.control_u(Kind.SNRM) == 0x93
    assert hdlc.control_u(Kind.UA) == 0x73
    with pytest.raises(FrameError):
        hdlc.control_kind(0x09)  # REJ: not in the DLMS profile
    with pytest.raises(FrameError):
        hdlc.control_kind(0xFF)


# -- frames -------------------------------------------------------------------------------------


def test_snrm_frame_is_the_classic_one() -> None:
    frame = HdlcFrame(SERVER, CLIENT, hdlc.control_u(Kind.SNRM))
    assert frame.encode() == hexb("7e a0 07 03 21 93 0f 01 7e")
    assert hdlc.decode_frame(hexb("a0 07 03 21 93 0f 01")) == frame


def test_aarq_i_frame() -> None:
    frame = HdlcFrame(SERVER, CLIENT, hdlc.control_i(0, 0), hdlc.LLC_COMMAND + AARQ)
    raw = frame.encode()
    # length 0x2B, and the HCS FB AF of the well-known trace of this first I-frame
    assert raw[:8] == hexb("7e a0 2b 03 21 10 fb af")
    assert raw[8:11] == hdlc.LLC_COMMAND
    assert raw[-3:-1] == crc_bytes(raw[1:-3])
    assert hdlc.decode_frame(raw[1:-1]) == frame


def test_segmented_frame_format() -> None:
    frame = HdlcFrame(CLIENT, SERVER, hdlc.control_i(0, 1), b"\x01" * 10, segmented=True)
    raw = frame.encode()
    assert raw[1] == 0xA8  # type A, S bit
    back = hdlc.decode_frame(raw[1:-1])
    assert back.segmented and back.ns == 0 and back.nr == 1 and back.poll


def test_ua_parameters() -> None:
    params = hdlc.HdlcParameters(512, 512, 1, 1)
    info = params.encode()
    assert info == hexb("81 80 14 05 02 02 00 06 02 02 00 07 04 00 00 00 01 08 04 00 00 00 01")
    assert hdlc.HdlcParameters.decode(info) == params
    assert hdlc.HdlcParameters.decode(hexb("81 80 06 05 01 80 06 01 80")) == hdlc.HdlcParameters(
        128, 128, 1, 1
    )
    assert hdlc.HdlcParameters.decode(b"") == hdlc.HdlcParameters()
    for bad in ("81 80 05 05 01 80", "81 81 00", "81 80 03 05 00 00", "81 80 03 05 09 00"):
        with pytest.raises(FrameError):
            hdlc.HdlcParameters.decode(hexb(bad))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("a0 07 03 21 93 0f 02", "FCS"),
        ("b0 07 03 21 93 0f 01", "format type"),
        ("a0 08 03 21 93 0f 01", "length field"),
        ("a0 05 03 21", "too short"),
    ],
)
def test_bad_frames(body: str, message: str) -> None:
    with pytest.raises(FrameError, match=message):
        hdlc.decode_frame(hexb(body))


@pytest.mark.parametrize(
    ("head", "message"),
    [
        ("a0 0b 02 02 02 02 02 21 93", "address"),  # a 5-byte destination address
        ("a0 09 02 02 03 21 93", "3 bytes"),
        ("a0 09 03 21 10 +hcs", "HCS but no information"),
    ],
)
def test_bad_frames_with_a_good_fcs(head: str, message: str) -> None:
    body = hexb(head.replace(" +hcs", ""))
    if head.endswith("+hcs"):
        body += crc_bytes(body)
    with pytest.raises(FrameError, match=message):
        hdlc.decode_frame(body + crc_bytes(body))


def test_bad_hcs() -> None:
    raw = bytearray(HdlcFrame(SERVER, CLIENT, 0x10, b"\xe6\xe6\x00\x01").encode()[1:-1])
    raw[5] ^= 0xFF  # HCS
    raw[-2:] = crc_bytes(raw[:-2])  # FCS made good again: only the HCS is wrong
    with pytest.raises(FrameError, match="HCS"):
        hdlc.decode_frame(bytes(raw))


def test_frame_too_long() -> None:
    with pytest.raises(LocalProtocolError, match="11-bit"):
        HdlcFrame(SERVER, CLIENT, 0x10, b"\x00" * 2048).encode()


# -- the stream reader --------------------------------------------------------------------------


def _frames(n: int) -> list[HdlcFrame]:
    return [
        HdlcFrame(SERVER, CLIENT, hdlc.control_i(i % 8, 0), bytes([i]) * (i + 1)) for i in range(n)
    ]


def test_reader_shared_flags_and_fill() -> None:
    frames = _frames(3)
    wire = frames[0].encode() + frames[1].encode()[1:] + b"\x7e\x7e" + frames[2].encode()
    got = hdlc.FrameReader().feed(wire)
    assert got == frames


def test_reader_byte_by_byte() -> None:
    frames = _frames(4)
    reader = hdlc.FrameReader()
    got = []
    for byte in b"".join(f.encode() for f in frames):
        got += reader.feed(bytes([byte]))
    assert got == frames


def test_reader_reports_noise_and_keeps_going() -> None:
    good = _frames(2)
    bad = bytearray(good[0].encode())
    bad[-3] ^= 0x01  # FCS
    out = hdlc.FrameReader().feed(b"noise" + bytes(bad) + good[1].encode())
    kinds = [type(item).__name__ for item in out]
    assert kinds == ["BadFrame", "BadFrame", "HdlcFrame"]
    assert "outside a frame" in out[0].reason
    assert "FCS" in out[1].reason
    assert out[2] == good[1]


def test_reader_missing_closing_flag_resyncs() -> None:
    good = _frames(2)
    broken = good[0].encode()[:-1] + b"\x00"
    out = hdlc.FrameReader().feed(broken + good[1].encode())
    assert out[-1] == good[1]
    assert any(getattr(item, "reason", "") == "closing flag missing" for item in out)


def test_reader_garbled_length_does_not_stall() -> None:
    good = _frames(2)
    raw = bytearray(good[0].encode())
    raw[2] = 0xFF  # length 0x0FF: would wait for 255 bytes
    reader = hdlc.FrameReader()
    out = reader.feed(bytes(raw) + good[1].encode())
    assert out[-1] == good[1]  # the HCS check rejected the bad header at once


def test_reader_holds_a_partial_frame() -> None:
    raw = _frames(1)[0].encode()
    reader = hdlc.FrameReader()
    assert reader.feed(raw[:5]) == []
    assert reader.pending == 5
    assert reader.discard() == raw[:5]
    assert reader.feed(raw) == _frames(1)


@given(st.binary(max_size=200))
def test_reader_never_raises(noise: bytes) -> None:
    good = _frames(1)[0]
    out = hdlc.FrameReader().feed(noise + good.encode())
    assert out  # something was reported; a good frame after noise is usually found
    hdlc.FrameReader().feed(noise)


# -- link state ---------------------------------------------------------------------------------


def pump(client: hdlc.HdlcClient, server: hdlc.HdlcServer, *, drop=None, corrupt=None) -> None:
    """Carry bytes both ways until both are quiet; `drop`/`corrupt` pick frames to spoil."""
    count = 0
    while True:
        moved = False
        for src, dst in ((client, server), (server, client)):
            data = src.data_to_send()
            if not data:
                continue
            moved = True
            count += 1
            if drop and drop(count, src):
                continue
            if corrupt and corrupt(count, src):
                data = data[:-3] + bytes([data[-3] ^ 0x55]) + data[-2:]
            dst.receive_data(data)
        if not moved:
            return


def events(station) -> list:
    out = []
    while (ev := station.next_event()) is not None:
        out.append(ev)
    return out


def connected_pair(client_max: int = 128, server_max: int = 128):
    client = hdlc.HdlcClient(params=hdlc.HdlcParameters(client_max, client_max))
    server = hdlc.HdlcServer(params=hdlc.HdlcParameters(server_max, server_max))
    client.connect()
    pump(client, server)
    assert events(client) == [
        hdlc.Connected(min(client_max, server_max), min(client_max, server_max))
    ]
    assert isinstance(events(server)[0], hdlc.Connected)
    return client, server


def answer(server: hdlc.HdlcServer, reply: bytes) -> list[bytes]:
    got = [ev.data for ev in events(server) if isinstance(ev, hdlc.Information)]
    if got:
        server.send(reply)
    return got


def test_connect_negotiates_the_smaller_size() -> None:
    client, server = connected_pair(client_max=256, server_max=64)
    assert client.max_info_tx == 64 and client.max_info_rx == 64
    assert server.max_info_tx == 64


def test_request_and_answer() -> None:
    client, server = connected_pair()
    client.send(AARQ)
    pump(client, server)
    assert answer(server, b"\x61\x00") == [AARQ]
    pump(client, server)
    assert events(client) == [hdlc.Information(b"\x61\x00")]
    assert (client.vs, client.vr, server.vs, server.vr) == (1, 1, 1, 1)


def test_sequence_numbers_wrap() -> None:
    client, server = connected_pair()
    for i in range(20):
        client.send(bytes([i]))
        pump(client, server)
        assert answer(server, bytes([i, i])) == [bytes([i])]
        pump(client, server)
        assert events(client) == [hdlc.Information(bytes([i, i]))]
    assert client.vs == 20 % 8


def test_long_request_is_segmented() -> None:
    client, server = connected_pair(server_max=32)
    big = bytes(range(200))
    client.send(big)
    assert client.sending
    pump(client, server)
    assert not client.sending
    assert answer(server, b"ok") == [big]
    pump(client, server)
    assert events(client) == [hdlc.Information(b"ok")]


def test_long_answer_is_segmented() -> None:
    client, server = connected_pair(client_max=40)
    client.send(b"get")
    pump(client, server)
    big = bytes(range(256)) * 3
    assert answer(server, big) == [b"get"]
    sizes = []
    pump(client, server, corrupt=lambda n, src: sizes.append(n) and False)
    assert events(client) == [hdlc.Information(big)]
    assert len(sizes) > 30  # ~20 segments, each asked for with RR


def test_lost_answer_is_sent_again_on_poll() -> None:
    client, server = connected_pair()
    client.send(b"req")
    pump(client, server)
    answer(server, b"resp")
    server.data_to_send()  # the answer is lost on the line
    client.poll()  # the driver's timeout: RR with N(R)=0
    pump(client, server)
    assert events(client) == [hdlc.Information(b"resp")]


def test_lost_request_is_sent_again_after_the_servers_rr() -> None:
    client, server = connected_pair()
    client.send(b"req")
    client.data_to_send()  # lost
    client.poll()
    pump(client, server)  # server answers RR N(R)=0: the client repeats its I-frame
    assert answer(server, b"resp") == [b"req"]
    pump(client, server)
    assert [e for e in events(client) if isinstance(e, hdlc.Information)] == [
        hdlc.Information(b"resp")
    ]


def test_repeated_request_gets_the_same_answer_once() -> None:
    client, server = connected_pair()
    client.send(b"req")
    frame = client.data_to_send()
    server.receive_data(frame)
    answer(server, b"resp")
    first = server.data_to_send()
    server.receive_data(frame)  # the client sent it again (its own retry)
    assert server.data_to_send() == first
    assert [e for e in events(server) if isinstance(e, hdlc.Information)] == []


def test_corrupt_frame_is_ignored_and_counted() -> None:
    client, server = connected_pair()
    client.send(b"req")
    pump(client, server)
    answer(server, b"resp")
    pump(client, server, corrupt=lambda n, src: src is server)
    evs = events(client)
    assert client.bad_frames == 1
    assert all(isinstance(e, hdlc.Ignored) for e in evs)
    client.discard_partial()
    client.poll()
    pump(client, server)
    assert events(client) == [hdlc.Information(b"resp")]


def test_disconnect() -> None:
    client, server = connected_pair()
    client.disconnect()
    pump(client, server)
    assert events(client) == [hdlc.Disconnected(by_peer=False)]
    assert events(server) == [hdlc.Disconnected(by_peer=True)]
    assert not client.connected and not server.connected


def test_i_frame_before_snrm_gets_dm() -> None:
    client, _server = connected_pair()
    other = hdlc.HdlcServer()  # a meter that never saw our SNRM (it restarted)
    client.send(b"req")
    other.receive_data(client.data_to_send())
    client.receive_data(other.data_to_send())
    assert isinstance(events(client)[-1], hdlc.Refused)
    assert not client.connected


def test_dm_answer_to_snrm_is_a_refusal() -> None:
    client = hdlc.HdlcClient()
    client.connect()
    client.data_to_send()
    client.receive_data(HdlcFrame(CLIENT, SERVER, hdlc.control_u(Kind.DM)).encode())
    assert events(client) == [hdlc.Refused("the meter answered SNRM with DM")]


def test_frames_for_other_stations_are_ignored() -> None:
    server = hdlc.HdlcServer(server=hdlc.server_address(1, 17))
    snrm = HdlcFrame(hdlc.server_address(1, 18), CLIENT, hdlc.control_u(Kind.SNRM)).encode()
    server.receive_data(snrm)
    assert server.data_to_send() == b""
    server.receive_data(HdlcFrame(hdlc.server_address(1), CLIENT, 0x93).encode())
    assert server.data_to_send()  # the logical-only form reaches it


def test_send_needs_a_connection() -> None:
    with pytest.raises(LocalProtocolError, match="connect"):
        hdlc.HdlcClient().send(b"x")
    client, _ = connected_pair(server_max=16)
    client.send(b"x" * 100)
    with pytest.raises(LocalProtocolError, match="still being sent"):
        client.send(b"y")

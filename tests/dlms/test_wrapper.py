"""The TCP wrapper (IEC 62056-47)."""

import pytest

from hil.dlms.errors import FrameError, LocalProtocolError
from hil.dlms.wrapper import WrapperFrame, WrapperReader, wrap

AARQ = bytes.fromhex("601da109060760857405080101be10040e01000000065f1f0400007e1f04b0")


def test_header_bytes() -> None:
    raw = wrap(16, 1, AARQ)
    # version 1, source wPort 16 (public client), destination 1 (management), length 31
    assert raw[:8] == bytes.fromhex("0001 0010 0001 001f")
    assert raw[8:] == AARQ


def test_reader_splits_and_joins() -> None:
    frames = [WrapperFrame(16, 1, AARQ), WrapperFrame(1, 16, b"\x61\x00"), WrapperFrame(1, 16, b"")]
    wire = b"".join(f.encode() for f in frames)
    reader = WrapperReader()
    got = []
    for i in range(0, len(wire), 3):
        got += reader.feed(wire[i : i + 3])
    assert got == frames
    assert reader.pending == 0


def test_reader_holds_partial() -> None:
    reader = WrapperReader()
    assert reader.feed(wrap(1, 16, b"abc")[:9]) == []
    assert reader.pending == 9
    assert reader.discard()
    assert reader.pending == 0


def test_bad_version_is_refused() -> None:
    reader = WrapperReader()
    with pytest.raises(FrameError, match="version 2"):
        reader.feed(bytes.fromhex("0002 0010 0001 0000"))
    assert reader.pending == 0
    with pytest.raises(FrameError, match="version"):
        WrapperReader().feed(bytes.fromhex("7ea0 0703 2193 0f01 7e"))  # HDLC on a wrapper port


def test_length_limit() -> None:
    with pytest.raises(FrameError, match="limit"):
        WrapperReader(max_apdu=100).feed(bytes.fromhex("0001 0001 0010 0400"))


def test_encode_limits() -> None:
    with pytest.raises(LocalProtocolError):
        wrap(16, 1, b"x" * 65536)
    with pytest.raises(LocalProtocolError):
        wrap(70000, 1, b"")

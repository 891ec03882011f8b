"""CRC-16/X.25 vectors and OBIS codes."""

import pytest

from hil.dlms.crc import crc16_x25, crc_bytes
from hil.dlms.obis import Obis


@pytest.mark.parametrize(
    ("data", "crc"),
    [
        (b"123456789", 0x906E),  # the catalogue check value of CRC-16/X.25
        (b"", 0x0000),  # preset 0xFFFF, complemented: an empty message gives 0
        (b"\x00", 0xF078),
        (b"\xff", 0xFF00),
        (bytes.fromhex("a007032193"), 0x010F),  # SNRM header: the FCS 0F 01 of the classic frame
        (bytes.fromhex("a02b032110"), 0xAFFB),  # HCS FB AF of the classic AARQ I-frame
    ],
)
def test_crc_vectors(data: bytes, crc: int) -> None:
    assert crc16_x25(data) == crc
    assert crc_bytes(data) == crc.to_bytes(2, "little")


def test_crc_of_frame_with_its_fcs_is_the_good_residue() -> None:
    # Running the CRC over a message and its (little-endian) FCS gives the fixed residue 0x0F47
    # once complemented: the receiver's one-step check.
    body = bytes.fromhex("a007032193")
    assert crc16_x25(body + crc_bytes(body)) == 0x0F47


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("0-0:19.40.0.255", (0, 0, 19, 40, 0, 255)),
        ("0.0.96.3.10.255", (0, 0, 96, 3, 10, 255)),
        ("1-0:1.8.0", (1, 0, 1, 8, 0, 255)),
        (" 1-65:1.140.1.255 ", (1, 65, 1, 140, 1, 255)),
    ],
)
def test_obis_parse(text: str, parts: tuple[int, ...]) -> None:
    code = Obis.parse(text)
    assert (code.a, code.b, code.c, code.d, code.e, code.f) == parts
    assert code.to_bytes() == bytes(parts)
    assert Obis.from_bytes(code.to_bytes()) == code
    assert Obis.parse(str(code)) == code


def test_obis_str() -> None:
    assert str(Obis(0, 0, 19, 40, 0, 255)) == "0-0:19.40.0.255"


@pytest.mark.parametrize("text", ["", "0-0:19.40", "0-0:19.40.0.256", "a-b:c.d.e.f", "0:0:1.2.3.4"])
def test_obis_bad_text_names_the_form(text: str) -> None:
    with pytest.raises(ValueError, match=r"A-B:C\.D\.E\.F|0\.\.255"):
        Obis.parse(text)


def test_obis_bytes_length() -> None:
    with pytest.raises(ValueError, match="6 bytes"):
        Obis.from_bytes(b"\x00" * 5)

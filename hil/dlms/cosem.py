"""The COSEM objects a prepaid meter exposes, as the harness names them: interface classes,
default logical names (the generic map), status enums and the token packing.

Default logical names (IEC 62056-6-2 / Blue Book; field meters often differ, hence `ObjectMap`):

=====================  =====  ==================  =========================================
object                 class  logical name        used here
=====================  =====  ==================  =========================================
Account                111    0-0:19.0.0.255      5 available credit, 15 currency (scale)
Credit                 112    0-0:19.10.0.255     2 current credit amount, 8 status
Token gateway          115    0-0:19.40.0.255     method 1 enter token; 6 token status
Disconnect control     70     0-0:96.3.10.255     2 output state, 3 control state
Clock                  8      0-0:1.0.0.255       2 time
Association LN         15     0-0:40.0.0.255      2 object list
Logical device name    1      0-0:42.0.0.255      2 value
=====================  =====  ==================  =========================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Literal

from hil.dlms.obis import Obis


class ClassId(IntEnum):
    DATA = 1
    REGISTER = 3
    EXTENDED_REGISTER = 4
    PROFILE_GENERIC = 7
    CLOCK = 8
    ASSOCIATION_LN = 15
    DISCONNECT_CONTROL = 70
    ACCOUNT = 111
    CREDIT = 112
    CHARGE = 113
    TOKEN_GATEWAY = 115
    IEC_62055_41_ATTRIBUTES = 116


ACCOUNT = Obis(0, 0, 19, 0, 0, 255)
CREDIT = Obis(0, 0, 19, 10, 0, 255)
TOKEN_GATEWAY = Obis(0, 0, 19, 40, 0, 255)
DISCONNECT_CONTROL = Obis(0, 0, 96, 3, 10, 255)
CLOCK = Obis(0, 0, 1, 0, 0, 255)
ASSOCIATION_LN = Obis(0, 0, 40, 0, 0, 255)
LOGICAL_DEVICE_NAME = Obis(0, 0, 42, 0, 0, 255)

# Attributes and methods by number
ACCOUNT_MODE_AND_STATUS = 2
ACCOUNT_CREDIT_IN_USE = 3
ACCOUNT_CREDIT_STATUS = 4
ACCOUNT_AVAILABLE_CREDIT = 5
ACCOUNT_CURRENCY = 15
CREDIT_AMOUNT = 2
CREDIT_TYPE = 3
CREDIT_PRIORITY = 4
CREDIT_STATUS = 8
GATEWAY_TOKEN = 2
GATEWAY_TOKEN_TIME = 3
GATEWAY_DESCRIPTION = 4
GATEWAY_DELIVERY_METHOD = 5
GATEWAY_STATUS = 6
GATEWAY_ENTER = 1  # method
DISCONNECT_OUTPUT_STATE = 2
DISCONNECT_CONTROL_STATE = 3
DISCONNECT_REMOTE_DISCONNECT = 1  # method
DISCONNECT_REMOTE_RECONNECT = 2  # method
CLOCK_TIME = 2
REGISTER_VALUE = 2
REGISTER_SCALER_UNIT = 3


class TokenStatusCode(IntEnum):
    """Token gateway attribute 6, first element. Coarser than the 16 STS results."""

    FORMAT_OK = 0
    AUTHENTICATION_OK = 1
    VALIDATION_OK = 2
    EXECUTION_OK = 3
    FORMAT_FAILURE = 4
    AUTHENTICATION_FAILURE = 5
    VALIDATION_FAILURE = 6
    EXECUTION_FAILURE = 7
    RECEIVED = 8  # taken, not yet processed

    @property
    def settled(self) -> bool:
        """True once the meter has finished with the token (accepted or refused)."""
        return self in (
            TokenStatusCode.EXECUTION_OK,
            TokenStatusCode.FORMAT_FAILURE,
            TokenStatusCode.AUTHENTICATION_FAILURE,
            TokenStatusCode.VALIDATION_FAILURE,
            TokenStatusCode.EXECUTION_FAILURE,
        )

    @property
    def accepted(self) -> bool:
        return self is TokenStatusCode.EXECUTION_OK


class ControlState(IntEnum):
    """Disconnect control attribute 3."""

    DISCONNECTED = 0
    CONNECTED = 1
    READY_FOR_RECONNECTION = 2


class DeliveryMethod(IntEnum):
    """Token gateway attribute 5."""

    REMOTE = 0
    LOCAL = 1
    MANUAL = 2


@dataclass(frozen=True, slots=True)
class TokenStatus:
    """What the token gateway says about the last token (attribute 6)."""

    code: TokenStatusCode | int
    bits: str = ""  # the bit-string; its meaning is the maker's

    @property
    def name(self) -> str:
        return self.code.name if isinstance(self.code, TokenStatusCode) else f"code {self.code}"

    @property
    def accepted(self) -> bool:
        return self.code == TokenStatusCode.EXECUTION_OK

    @property
    def settled(self) -> bool:
        return isinstance(self.code, TokenStatusCode) and self.code.settled


@dataclass(frozen=True, slots=True)
class RelayState:
    """The load relay as the disconnect control object reports it."""

    closed: bool  # attribute 2, output_state: True = supply connected
    control: ControlState | int  # attribute 3


@dataclass(frozen=True, slots=True)
class Attr:
    """One attribute of one object: where a value is read."""

    class_id: int
    obis: Obis
    attribute: int

    def __str__(self) -> str:
        return f"{self.obis} attribute {self.attribute} (class {self.class_id})"


TokenPacking = Literal["bcd", "ascii"]


@dataclass(frozen=True, slots=True)
class ObjectMap:
    """Where one meter model keeps its prepayment state. The defaults are the generic map.

    `credit` is read for the available credit; its scale (value x 10^scale kWh) comes from
    `credit_scale` when set, else from the object itself (Account attribute 15, Register
    attribute 3). `token_packing` is how the 20 token digits become the octet-string.
    """

    name: str = "generic"
    credit: Attr = field(
        default_factory=lambda: Attr(ClassId.ACCOUNT, ACCOUNT, ACCOUNT_AVAILABLE_CREDIT)
    )
    credit_scale: int | None = None
    token_gateway: Obis = TOKEN_GATEWAY
    disconnect_control: Obis = DISCONNECT_CONTROL
    clock: Obis = CLOCK
    token_packing: TokenPacking = "bcd"


GENERIC_MAP = ObjectMap()


def _clean_digits(token: str) -> str:
    digits = token.replace(" ", "").replace("-", "")
    if len(digits) != 20 or not digits.isascii() or not digits.isdigit():
        raise ValueError(f"token: expected 20 digits, got {token[:28]!r}")
    return digits


def pack_token(token: str, packing: TokenPacking = "bcd") -> bytes:
    """The octet-string for token gateway method 1: 10 BCD bytes (high nibble first) or ASCII."""
    digits = _clean_digits(token)
    if packing == "bcd":
        return bytes.fromhex(digits)  # "12" -> 0x12: exactly packed BCD
    if packing == "ascii":
        return digits.encode("ascii")
    raise ValueError(f"token packing must be 'bcd' or 'ascii', got {packing!r}")


def unpack_token(raw: bytes) -> str | None:
    """The 20 digits in a token octet-string (BCD or ASCII), or None when it is neither."""
    if len(raw) == 10:
        text = raw.hex()
        return text if text.isdigit() else None
    if len(raw) == 20 and raw.isascii() and raw.decode("ascii").isdigit():
        return raw.decode("ascii")
    return None

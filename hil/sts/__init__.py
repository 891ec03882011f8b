"""The STS token engine: pure functions, no I/O, time passed in.

Typical use::

    from hil.sts import DecoderKey, CreditToken, encode, decode
    key = DecoderKey.from_hex("...", ea=11)
    digits = encode(CreditToken(tid=..., amount=256), key)
"""

from hil.sts.amount import decode_amount, encode_amount
from hil.sts.codec import Decoded, data_block, decode, encode
from hil.sts.dkga import derive_decoder_key
from hil.sts.ea07 import SAMPLE_TABLES, StaTables
from hil.sts.errors import (
    CheckDigitError,
    CrcError,
    FieldError,
    KeyExpiredError,
    MfrCodeError,
    StsError,
    TokenFormatError,
    UnsupportedError,
)
from hil.sts.identity import MeterPan
from hil.sts.keychange import NewKey, assemble, key_change_set
from hil.sts.keys import DecoderKey, KeyInfo
from hil.sts.tid import datetime_from_tid, tid_from_datetime
from hil.sts.tokens import (
    ClearCreditToken,
    ClearTamperToken,
    CreditToken,
    KeyChange1Token,
    KeyChange2Token,
    KeyChange3Token,
    KeyChange4Token,
    MaxPowerLimitToken,
    MeterTestToken,
    PhaseUnbalanceLimitToken,
    TariffRateToken,
    Token,
    WaterMeterFactorToken,
)

__all__ = [
    "SAMPLE_TABLES",
    "CheckDigitError",
    "ClearCreditToken",
    "ClearTamperToken",
    "CrcError",
    "CreditToken",
    "Decoded",
    "DecoderKey",
    "FieldError",
    "KeyChange1Token",
    "KeyChange2Token",
    "KeyChange3Token",
    "KeyChange4Token",
    "KeyExpiredError",
    "KeyInfo",
    "MaxPowerLimitToken",
    "MeterPan",
    "MeterTestToken",
    "MfrCodeError",
    "NewKey",
    "PhaseUnbalanceLimitToken",
    "StaTables",
    "StsError",
    "TariffRateToken",
    "Token",
    "TokenFormatError",
    "UnsupportedError",
    "WaterMeterFactorToken",
    "assemble",
    "data_block",
    "datetime_from_tid",
    "decode",
    "decode_amount",
    "derive_decoder_key",
    "encode",
    "encode_amount",

    "key_change_set",
    "tid_from_datetime",
]  # fmt: skip

"""Shared material for the meter model tests: the test meter, its keys, token builders."""

from __future__ import annotations

import dataclasses
from typing import Any

from hil.meter.model import MeterModel
from hil.meter.profile import MeterProfile
from hil.meter.profile_file import load_profile, profile_path
from hil.meter.results import TokenResult
from hil.rig.meter_spec import MeterSpec
from hil.sts.codec import encode
from hil.sts.crc import crc_field
from hil.sts.digits import insert_class, to_digits
from hil.sts.dkga import derive_decoder_key
from hil.sts.identity import MeterPan
from hil.sts.keychange import key_change_set
from hil.sts.keys import DecoderKey, KeyInfo
from hil.sts.sample_keys import TEST_METER, TEST_VENDING_KEY_DKGA02, TEST_VENDING_KEY_DKGA04
from hil.sts.tokens import CreditToken, Token

R = TokenResult
FAST = load_profile(profile_path("fast"))
REALISTIC = load_profile(profile_path("realistic"))

SPEC = MeterSpec(**TEST_METER)
PAN: MeterPan = SPEC.meter_pan
INFO: KeyInfo = SPEC.key_info
KEY: DecoderKey = SPEC.load_decoder_key()
VK04 = bytes.fromhex(TEST_VENDING_KEY_DKGA04)
VK02 = bytes.fromhex(TEST_VENDING_KEY_DKGA02)

TID0 = 6_000_000  # 2025-05-29 16:00 on base date 2014; top byte 91


def profile(**changes: Any) -> MeterProfile:
    """The fast profile with some fields changed (``keypad``/``lockout`` take dicts)."""
    for group in ("keypad", "lockout"):
        if isinstance(changes.get(group), dict):
            changes[group] = dataclasses.replace(getattr(FAST, group), **changes[group])
    return dataclasses.replace(FAST, **changes)


def info(**changes: Any) -> KeyInfo:
    return dataclasses.replace(INFO, **changes)


def key_for(key_info: KeyInfo) -> DecoderKey:
    """Decoder key of the test meter for another key identity (DKGA04 or DKGA02)."""
    vk = VK04 if key_info.dkga == 4 else VK02
    return DecoderKey(derive_decoder_key(vk, PAN, key_info), key_info.ea)


def meter(prof: MeterProfile = FAST, key_info: KeyInfo = INFO, **kwargs: Any) -> MeterModel:
    """A conforming test meter (or with ``defects=...``) at model time 0."""
    key = KEY if key_info == INFO else key_for(key_info)
    return MeterModel(PAN, key_info, key, prof, **kwargs)


def credit(tid: int, amount: int = 100, key: DecoderKey = KEY, kind: int = 0) -> str:
    """A credit token; ``amount`` in 0.1 kWh units (100 = 10 kWh)."""
    return encode(CreditToken(tid=tid, amount=amount, kind=kind), key)


def leading_zero_credit(tid: int = TID0, amount: int = 100) -> tuple[int, str]:
    """The first credit token from ``tid`` on whose 20 digits start with 0 (about one in
    seven does: 2^66 is 7.4e19), and its TID: left without its 0 it is a 19-digit entry."""
    for candidate in range(tid, tid + 1000):
        digits = credit(candidate, amount)
        if digits.startswith("0"):
            return candidate, digits
    raise AssertionError(f"no credit token with a leading 0 within 1000 TIDs of {tid}")


def token(t: Token, key: DecoderKey | None = KEY) -> str:
    return encode(t, key)


def raw_token(token_class: int, subclass: int, payload: int, key: DecoderKey = KEY) -> str:
    """A token with any class/subclass/payload and a valid CRC (for reserved types)."""
    body = subclass << 44 | payload
    block = body << 16 | crc_field(token_class, body)
    if token_class != 1:
        block = key.encrypt_block(block)
    return to_digits(insert_class(block, token_class))


def kct(
    new: KeyInfo, old_key: DecoderKey = KEY, *, rollover: bool = False, **overrides: Any
) -> list[str]:
    """The key change sections (in order 1..n) that move the meter to ``new``'s key.

    ``overrides`` change the fields the tokens carry (ken, krn, kt, ti, sgc) without
    changing the key that is installed.
    """
    new_key = key_for(new).value
    fields = {"ken": new.ken, "krn": new.krn, "kt": new.kt, "ti": new.ti, "sgc": new.sgc}
    fields.update(overrides)
    sections = key_change_set(new_key, rollover=rollover, **fields)
    return [encode(s, old_key) for s in sections]


def results(model: MeterModel, digits_list: list[str], at: float = 1.0) -> list[TokenResult]:
    return [model.enter_token(d, at + i * 1e-3).result for i, d in enumerate(digits_list)]


def type_token(model: MeterModel, digits: str, at: float, *, enter: bool = True) -> float:
    """Press the digits (and ENTER) one key period apart; returns the time of the last key."""
    period = model.profile.keypad.key_period_s
    t = at
    for ch in digits:
        model.press_key(ch, t)
        t += period
    if enter:
        model.press_key("ENTER", t)
        return t
    return t - period

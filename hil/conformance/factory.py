"""The token case factory: builds every conformance case's tokens from the meter under
test's identity and key (valid, replayed, wrong key/meter/SGC/TI/KRN, mistyped, swapped
digits, expired, DDTK, amount boundaries, management, key change sets, class 1 tests).

Pure: the current time and the TID cursor are state of the factory, never read from a
clock. TIDs it issues only ever go up, so tokens from different tests never collide.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

from hil.sts import codec
from hil.sts.dkga import derive_decoder_key
from hil.sts.ea07 import SAMPLE_TABLES, StaTables
from hil.sts.errors import CrcError, UnsupportedError
from hil.sts.identity import MeterPan
from hil.sts.keychange import sections_for
from hil.sts.keys import DecoderKey, KeyInfo
from hil.sts.tid import TID_MAX
from hil.sts.tokens import (
    TEST_CONTROLS,
    ClearCreditToken,
    ClearTamperToken,
    CreditToken,
    MaxPowerLimitToken,
    MeterTestToken,
    PhaseUnbalanceLimitToken,
    TariffRateToken,
    Token,
    WaterMeterFactorToken,
)

# The class 2 functions meters differ on (hil.meter.functions.OTHER_MANAGEMENT), with the
# value each test token carries: a rate and a factor are raw 16-bit fields (their meaning
# is reserved by the STSA, sts-notes 3); the unbalance limit is in watts.
OTHER_MANAGEMENT_TOKENS = {
    "set_tariff_rate": (TariffRateToken, "value", "rate", 100),
    "set_phase_unbalance_limit": (PhaseUnbalanceLimitToken, "watts", "W", 2000),
    "set_water_meter_factor": (WaterMeterFactorToken, "value", "factor", 1000),
}


@dataclass(frozen=True)
class Case:
    """One token to inject, with what it is for (shown in reports; never key values)."""

    digits: str
    token: Token | None
    label: str
    key_krn: int | None = None

    @property
    def tid(self) -> int | None:
        return getattr(self.token, "tid", None)


class TokenFactory:
    """Tokens for one meter. ``vending_key`` is needed for anything that derives keys."""

    def __init__(
        self,
        pan: MeterPan,
        info: KeyInfo,
        key: DecoderKey,
        *,
        vending_key: bytes | None = None,
        tid_start: int = 1,
        sta_tables: StaTables = SAMPLE_TABLES,
    ) -> None:
        self.pan, self.info, self.key = pan, info, key
        self._vk, self._tables = vending_key, sta_tables
        self._next_tid = tid_start

    # -- keys ------------------------------------------------------------------------------
    def derive(self, info: KeyInfo, pan: MeterPan | None = None) -> DecoderKey:
        if self._vk is None:
            raise ValueError("this case derives another key: the rig needs a vending key")
        value = derive_decoder_key(self._vk, pan or self.pan, info)
        return DecoderKey(value, info.ea, self._tables)

    def with_key(self, info: KeyInfo, *, tid_start: int | None = None) -> TokenFactory:
        """A factory for the same meter after a key change to ``info``. It shares the TID
        cursor, unless ``tid_start`` starts a new one (a rollover to a new base date)."""
        other = TokenFactory(
            self.pan,
            info,
            self.derive(info),
            vending_key=self._vk,
            sta_tables=self._tables,
            tid_start=tid_start or 1,
        )
        if tid_start is None:
            other._next_tid = self._next_tid
            other._shared = self  # type: ignore[attr-defined]
        return other

    # -- TIDs ------------------------------------------------------------------------------
    def next_tid(self) -> int:
        shared = getattr(self, "_shared", None)
        if shared is not None:
            tid = max(self._next_tid, shared._next_tid)
            shared._next_tid = self._next_tid = tid + 1
            return tid
        tid = self._next_tid
        self._next_tid += 1
        return tid

    def skip_to(self, tid: int) -> None:
        """Move the cursor forward (never back): TIDs must stay new for the meter."""
        self._next_tid = max(self._next_tid, tid)

    @property
    def cursor(self) -> int:
        return self._next_tid

    # -- valid tokens ----------------------------------------------------------------------
    def _case(self, token: Token, label: str, key: DecoderKey | None = None) -> Case:
        key = self.key if key is None else key
        digits = codec.encode(token, None if token.token_class == 1 else key, 255)
        return Case(digits, token, label, self.info.krn)

    def credit(
        self, units: int = 100, *, kind: int = 0, tid: int | None = None, rnd: int = 0
    ) -> Case:
        token = CreditToken(self.next_tid() if tid is None else tid, rnd, units, kind)
        return self._case(token, f"credit {units / 10:g} (subclass {kind})")

    def power_limit(self, watts: int) -> Case:
        return self._case(MaxPowerLimitToken(self.next_tid(), 0, watts), f"power limit {watts} W")

    def clear_credit(self, register: int = ClearCreditToken.ALL_REGISTERS) -> Case:
        return self._case(ClearCreditToken(self.next_tid(), 0, register), "clear credit")

    def clear_tamper(self) -> Case:
        return self._case(ClearTamperToken(self.next_tid(), 0, 0), "clear tamper")

    def management(self, name: str) -> Case:
        """A class 2 token of one of the functions meters differ on (OTHER_MANAGEMENT_TOKENS)."""
        kind, field, unit, value = OTHER_MANAGEMENT_TOKENS[name]
        token = kind(self.next_tid(), 0, **{field: value})
        return self._case(token, f"{kind.title} {value} {unit}" if unit == "W"
                          else f"{kind.title} {unit} {value}")  # fmt: skip

    def meter_test(
        self, *tests: str, mfr_code: int | None = None, four_digit: bool | None = None
    ) -> Case:
        """A class 1 test token; ``four_digit``: the MfrCode form (default: the meter's own,
        4 digits when its IIN is 0000)."""
        four = self.pan.iin == "0000" if four_digit is None else four_digit
        bits = sum(TEST_CONTROLS[t] for t in tests) if tests else (1 << (28 if four else 36)) - 1
        code = self.pan.mfr_code if mfr_code is None else mfr_code
        token = MeterTestToken(bits, code, four)
        form = f"{4 if four else 2}-digit MfrCode {code}"
        return self._case(token, f"meter test {','.join(tests) or 'all'} ({form})")

    def key_change(
        self, new: KeyInfo, *, rollover: bool = False, order: tuple[int, ...] | None = None
    ) -> list[Case]:
        """The full key change set to ``new`` under the current key, in ``order`` (section
        numbers 1..n; default 1, 2, ...)."""
        new_key = self.derive(new)
        sections = sections_for(new_key.value, new, rollover=rollover)
        order = order or tuple(range(1, len(sections) + 1))
        if sorted(order) != list(range(1, len(sections) + 1)):
            raise ValueError(f"order {order} must name each of the {len(sections)} sections once")
        return [
            self._case(
                sections[i - 1],
                f"key change section {i}/{len(sections)}" + (" (rollover)" if rollover else ""),
            )
            for i in order
        ]

    # -- invalid tokens --------------------------------------------------------------------
    def under_other_key(
        self, label: str, info: KeyInfo | None = None, pan: MeterPan | None = None, units: int = 100
    ) -> Case:
        key = self.derive(info or self.info, pan)
        token = CreditToken(self.next_tid(), 0, units)
        return self._case(token, label, key)

    def wrong_meter(self) -> Case:
        """A credit token for another meter (another DRN, same everything else)."""
        return self.under_other_key("credit for another meter (DRN)", pan=other_meter(self.pan))

    def wrong_sgc(self) -> Case:
        return self.under_other_key(
            "credit under another SGC", replace(self.info, sgc=(self.info.sgc + 1) % 1_000_000)
        )

    def wrong_ti(self) -> Case:
        return self.under_other_key(
            "credit under another TI", replace(self.info, ti=(self.info.ti + 1) % 100)
        )

    def wrong_krn(self) -> Case:
        return self.under_other_key(
            "credit under another KRN", replace(self.info, krn=self.info.krn % 9 + 1)
        )

    def wrong_vending_key(self) -> Case:
        """A credit token under a key derived from a different vending key (test material)."""
        other = hashlib.sha256(b"hil wrong vending key test material").digest()
        saved = self._vk
        self._vk = other[: len(saved or b"") or 20]
        try:
            return self.under_other_key("credit under another vending key")
        finally:
            self._vk = saved

    def mistyped(self, case: Case | None = None, position: int = 7) -> Case:
        """``case`` with one digit changed such that the CRC fails (a typo the meter must catch)."""
        case = case or self.credit()
        for delta in range(1, 10):
            for pos in [position, *range(20)]:
                digits = case.digits
                typo = digits[:pos] + str((int(digits[pos]) + delta) % 10) + digits[pos + 1 :]
                if int(typo) >> 66 == 0 and self._crc_fails(typo):
                    return Case(typo, None, f"{case.label}, digit {pos + 1} mistyped")
        raise AssertionError("no CRC-failing single-digit typo found")

    def swapped(self, case: Case | None = None) -> Case:
        """``case`` with two adjacent different digits swapped, CRC failing."""
        case = case or self.credit()
        d = case.digits
        for i in range(19):
            if d[i] != d[i + 1]:
                typo = d[:i] + d[i + 1] + d[i] + d[i + 2 :]
                if int(typo) >> 66 == 0 and self._crc_fails(typo):
                    return Case(typo, None, f"{case.label}, digits {i + 1}-{i + 2} swapped")
        raise AssertionError("no CRC-failing swap found")

    def _crc_fails(self, digits: str) -> bool:
        try:
            codec.decode(digits, self.key)
        except (CrcError, UnsupportedError):
            return True
        return False

    def expired_tid(self) -> int:
        """A TID past the present key's KEN (only meaningful when KEN < 255)."""
        tid = (self.info.ken + 1) << 16
        if tid > TID_MAX:
            raise ValueError("the key never expires (KEN 255): change to a key with a lower KEN")
        self.skip_to(tid)
        return self.next_tid()


def other_meter(pan: MeterPan) -> MeterPan:
    """A valid MeterPAN of another meter: same IIN and MfrCode, next serial number."""
    drn = pan.drn
    mfr_len = 2 if len(drn) == 11 else 4
    serial = int(drn[mfr_len:-1]) + 1
    body = drn[:mfr_len] + f"{serial % 10 ** (len(drn) - mfr_len - 1):0{len(drn) - mfr_len - 1}d}"
    from hil.sts.luhn import luhn_check_digit

    return MeterPan.from_drn(body + str(luhn_check_digit(body)))

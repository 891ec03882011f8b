"""The meter under test: identity and key references, as written in rig and meter files."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hil.meter.functions import MeterFunctions
from hil.meter.profile import MeterProfile
from hil.meter.profile_file import functions_path, load_functions, load_profile, profile_path
from hil.rig.secrets import KeySource
from hil.rig.sta_tables import tables_from_env_or_sample
from hil.sts.dkga import derive_decoder_key
from hil.sts.ea07 import StaTables
from hil.sts.errors import StsError
from hil.sts.identity import MeterPan
from hil.sts.keys import KEY_BITS, DecoderKey, KeyInfo

_VK_BITS = {1: (64,), 2: (64,), 3: (128,), 4: (160,)}


class MeterSpec(BaseModel):
    """Identity of a meter and where its key comes from."""

    model_config = ConfigDict(extra="forbid")

    pan: str = Field(description="18-digit MeterPAN or the 11/13-digit DRN printed on the meter")
    sgc: int = Field(ge=0, le=999_999)
    ti: int = Field(ge=0, le=99)
    krn: int = Field(ge=1, le=9)
    kt: int = Field(default=2, ge=0, le=3)
    ken: int = Field(default=255, ge=0, le=255)
    base_date: Literal[1993, 2014, 2035] = 1993
    ea: Literal[7, 9, 11] = 11
    dkga: Literal[1, 2, 3, 4] = 4
    vending_key: KeySource | None = None
    decoder_key: KeySource | None = None
    sta_tables: Path | None = None  # EA07 production tables; sample tables when absent
    firmware: str | None = Field(default=None, description="expected firmware (checked by INFO)")
    profile: str = Field(default="realistic", description="timing profile in hil/data/profiles")
    functions: str | None = Field(
        default=None,
        description="meter file in hil/data/meters (or a path): the optional functions the "
        "meter declares; none: optional functions are not applicable",
    )
    credit_resolution_kwh: float | None = Field(
        default=None,
        gt=0,
        le=0.1,
        description="resolution of GET CREDIT when INFO does not declare it (default 0.1)",
    )

    @field_validator("pan")
    @classmethod
    def _valid_pan(cls, value: str) -> str:
        try:
            return MeterPan.parse(str(value)).digits
        except StsError as exc:
            raise ValueError(str(exc)) from None

    def declared(self, base: Path | None = None) -> MeterFunctions:
        """What the meter's file declares (nothing when the rig names none)."""
        if self.functions is None:
            return MeterFunctions()
        path = Path(self.functions)
        if path.suffix in (".yaml", ".yml") and base is not None and not path.is_absolute():
            path = base / path
        return load_functions(functions_path(str(path)))

    def behaviour(self, base: Path | None = None, timing: str | None = None) -> MeterProfile:
        """The timing profile (``timing`` or the rig's) with the declared functions applied:
        what a conforming meter of this model does, for the oracle and the simulator."""
        return self.declared(base).apply(load_profile(profile_path(timing or self.profile)))

    @property
    def meter_pan(self) -> MeterPan:
        return MeterPan(self.pan)

    @property
    def key_info(self) -> KeyInfo:
        return KeyInfo(
            sgc=self.sgc,
            ti=self.ti,
            krn=self.krn,
            kt=self.kt,
            ken=self.ken,
            base_year=self.base_date,
            ea=self.ea,
            dkga=self.dkga,
        )

    def tables(self, base: Path | None = None) -> StaTables:
        path = self.sta_tables
        if path is not None and base is not None and not path.is_absolute():
            path = base / path
        return tables_from_env_or_sample(path)

    def load_decoder_key(self, base: Path | None = None, info: KeyInfo | None = None) -> DecoderKey:
        """The decoder key: given directly, or derived from the vending key."""
        info = info or self.key_info
        tables = self.tables(base) if info.ea == 7 else None
        if self.decoder_key is not None and info == self.key_info:
            value = self.decoder_key.load("decoder key", (KEY_BITS[info.ea],), base)
        elif self.vending_key is not None:
            vk = self.vending_key.load("vending key", _VK_BITS[info.dkga], base)
            value = derive_decoder_key(vk, self.meter_pan, info)
        else:
            raise StsError("meter has no vending_key (or decoder_key) source: add one")
        return DecoderKey(value, info.ea, tables) if tables else DecoderKey(value, info.ea)

"""Build a `MeterModel` from a meter description (rig/meter file or the built-in test meter)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hil.meter.model import MeterModel
from hil.meter.profile import MeterProfile
from hil.rig.meter_spec import MeterSpec
from hil.sts.sample_keys import TEST_METER


def model_from_spec(
    spec: MeterSpec, profile: MeterProfile, base: Path | None = None, **kwargs: Any
) -> MeterModel:
    """A model of the meter a spec describes; its decoder key comes from the spec's key source.

    ``kwargs`` go to `MeterModel` (defects, credit_units, firmware, at, ...). For EA07 the
    spec's STA tables (production tables when configured) are used for later key changes too.
    """
    key = spec.load_decoder_key(base)
    if spec.ea == 7:
        kwargs.setdefault("sta_tables", spec.tables(base))
    return MeterModel(spec.meter_pan, spec.key_info, key, profile, **kwargs)


def test_meter_spec(**overrides: Any) -> MeterSpec:
    """The built-in test meter (public CTSA vector identity, test keys), fields overridable."""
    return MeterSpec(**{**TEST_METER, **overrides})


def test_meter_model(profile: MeterProfile, **kwargs: Any) -> MeterModel:
    """A model of the built-in test meter (`hil.sts.sample_keys.TEST_METER`)."""
    return model_from_spec(test_meter_spec(), profile, **kwargs)


test_meter_spec.__test__ = False  # type: ignore[attr-defined]  # not pytest tests
test_meter_model.__test__ = False  # type: ignore[attr-defined]

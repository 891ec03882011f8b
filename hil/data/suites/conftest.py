"""Shared helpers for the conformance suites (fixtures come from hil.pytest_plugin)."""

from collections.abc import Callable

import pytest

from hil.conformance.session import ConformanceSession
from hil.rig.rig import Rig

# INFO fields of the key register (docs/probe-protocol.md) -> the KeyInfo attribute.
KEY_REGISTER = {
    "sgc": "sgc",
    "ti": "ti",
    "krn": "krn",
    "kt": "kt",
    "ken": "ken",
    "base_date": "base_year",
}


@pytest.fixture
def bulk(rig: Rig) -> str | None:
    """Entry path for filling the TID memory: the virtual carrier where the rig has one
    (seconds instead of minutes), else the keypad."""
    return "virtual_carrier" if rig.has("virtual_carrier") else None


def _number(text: str | None) -> int | None:
    return int(text) if text is not None and text.isdigit() else None


@pytest.fixture
def check_key_register(session: ConformanceSession) -> Callable[[str, str | None], None]:
    """``check(what, requirement)``: the key register the meter shows in INFO (SGC, TI,
    KRN, KT, KEN, base date), read afresh, against the oracle's."""

    def check(what: str, requirement: str | None = None) -> None:
        shown = session.rig.info(refresh=True)
        want = session.oracle.model.key_info
        expected = {field: getattr(want, attr) for field, attr in KEY_REGISTER.items()}
        observed = {field: _number(shown.get(field)) for field in KEY_REGISTER}
        session.check(requirement, f"{what}: key register in INFO",
                      expected=_describe(expected), observed=_describe(observed),
                      ok=observed == expected)  # fmt: skip

    return check


def _describe(register: dict[str, int | None]) -> str:
    return " ".join(f"{k}={'?' if v is None else v}" for k, v in register.items())

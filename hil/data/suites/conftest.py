"""Shared helpers for the conformance suites (fixtures come from hil.pytest_plugin)."""

import pytest

from hil.rig.rig import Rig


@pytest.fixture
def bulk(rig: Rig) -> str | None:
    """Entry path for filling the TID memory: the virtual carrier where the rig has one
    (seconds instead of minutes), else the keypad."""
    return "virtual_carrier" if rig.has("virtual_carrier") else None

"""Metering: the credit falls by the energy the load draws (IEC 62055-31; bench-notes 3.2).

The energy comes from the load's own reference measurement where its instrument has one
(read_energy_wh in the command map), else from power x time on our clock. The amount is
sized so that the credit resolution is small beside the metering error the rig allows.
"""

import pytest

# How much of the allowed metering error two credit readings' rounding may use up.
ROUNDING_SHARE = 0.5


@pytest.mark.clause("METERING-DECREMENT")
@pytest.mark.requires("load_control")
@pytest.mark.long
@pytest.mark.parametrize("share", [pytest.param(1.0, id="full-load"),
                                   pytest.param(0.25, id="quarter-load")])  # fmt: skip
@pytest.mark.cost(tokens=1, credit_out_kwh=0.2)
def test_credit_falls_by_the_energy_delivered(session, share):
    rig = session.rig
    caps = rig.config.capabilities
    error = caps.metering_error_pct / 100
    resolution = session.credit.resolution_kwh
    # Two readings round down by up to a step each: keep that within a share of the error.
    kwh = max(2 * resolution / (error * ROUNDING_SHARE), 0.05) if error else 0.2
    watts = caps.load_max_w * share
    session.inject(session.tokens.credit(max(1, round(kwh * 20))))  # twice what is drawn
    taken, delivered = session.deliver_energy(watts, kwh)
    allowed = delivered * error + 2 * resolution
    session.check("METERING-DECREMENT", f"credit taken for the energy delivered at {watts:g} W",
                  expected=f"{delivered:.3f} kWh", observed=f"{taken:.3f} kWh",
                  ok=abs(taken - delivered) <= allowed,
                  tolerance=f"+/- {caps.metering_error_pct:g} % and two readings of "
                            f"{resolution:g} kWh")  # fmt: skip

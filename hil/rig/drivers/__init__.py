"""Bench drivers: how the harness talks to relay boards, the keypad, the probe and instruments.

One module per device family; each driver owns its port, bounds every wait with a deadline,
and raises the `hil.errors.BenchFault` subclasses (see docs/drivers.md). Import the modules
themselves (``from hil.rig.drivers.probe import ProbeClient``): the instrument module pulls in
pyvisa, which a rig without instruments does not need.
"""

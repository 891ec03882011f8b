"""Errors of the harness outside the token engine (configuration, rigs, drivers)."""


class HarnessError(Exception):
    """A problem with the harness or its configuration: reported as an error, never a verdict."""


class ConfigError(HarnessError):
    """A rig, meter or profile file is invalid; the message names the file and field."""


class BenchFault(HarnessError):
    """The bench misbehaved (not the meter): the test's verdict is *error*."""


class DeviceAbsent(BenchFault):
    """A device cannot be opened or does not identify itself (unplugged, wrong port)."""


class ReplyTimeout(BenchFault):
    """A device did not answer before its deadline."""


class GarbledReply(BenchFault):
    """Replies stayed unreadable (bad checksum or shape) after the retry budget."""


class DeviceError(BenchFault):
    """A device answered with an error to a request the harness expected to succeed."""


class SupplyFault(BenchFault):
    """The meter's supply is off or the meter did not come up when it was switched on."""


class BenchCannot(Exception):
    """The bench cannot set up or read what a test needs (the meter's clock inside its
    friendly hours and no way to set it; a reading its readback lacks): a skip with the
    reason, never a verdict. Not a `HarnessError`: nothing went wrong."""

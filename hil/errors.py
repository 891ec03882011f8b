"""Errors of the harness outside the token engine (configuration, rigs, drivers)."""


class HarnessError(Exception):
    """A problem with the harness or its configuration: reported as an error, never a verdict."""


class ConfigError(HarnessError):
    """A rig, meter or profile file is invalid; the message names the file and field."""

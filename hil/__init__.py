"""STS (IEC 62055-41) prepaid meter hardware-in-the-loop test harness."""

__version__ = "0.1.0"

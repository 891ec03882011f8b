"""The harness's probe protocol (docs/probe-protocol.md): framing shared by sim and driver."""

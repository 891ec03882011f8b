"""Errors of the DLMS codec. All are `ValueError`s: the codec only ever judges bytes.

The split follows h11: `RemoteProtocolError` means the peer sent something we cannot accept
(bad CRC, bad shape, a reply out of turn); `LocalProtocolError` means our own caller asked for
something the protocol forbids (send before connecting, a value out of range).
"""

from __future__ import annotations


class DlmsCodecError(ValueError):
    """Base of every codec error."""


class RemoteProtocolError(DlmsCodecError):
    """The peer's bytes break the protocol."""


class FrameError(RemoteProtocolError):
    """A frame (HDLC or wrapper) is malformed: bad flag, length, address, HCS or FCS."""


class DecodeError(RemoteProtocolError):
    """An APDU or an A-XDR value is malformed or truncated."""


class LocalProtocolError(DlmsCodecError):
    """Our caller asked for something the protocol or the present state does not allow."""

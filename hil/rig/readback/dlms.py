"""Readback over DLMS/COSEM (docs/dlms.md): credit, relay, the token gateway's status, the
clock. No TID memory, no lockout, no key register, no pushed events: the gateway's status is
a class of the 16 STS results (Old and Used both read as a validation failure), and results,
relay changes and the meter's return after a supply cut are polled."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from hil.dlms import cosem
from hil.dlms.axdr import DataType
from hil.dlms.cosem import ClassId, TokenStatus, TokenStatusCode
from hil.errors import ConfigError, DeviceAbsent, ReplyTimeout
from hil.meter.results import TokenResult
from hil.probe.protocol import Event
from hil.rig.drivers.dlms import DlmsClient
from hil.rig.readback.base import (
    NO_FIRMWARE_LACKS,
    Capabilities,
    Identity,
    PolledEvents,
    TokenOutcome,
    WithoutTestFirmware,
)

if TYPE_CHECKING:
    from hil.rig.config import ReadbackResource
    from hil.rig.rig import Rig

_T = TypeVar("_T")

# How a meter folds an STS result into the gateway's status: a plausible mapping, not a
# normative one (makers differ). The simulated meter serves the same folding.
GATEWAY_CLASS: dict[TokenResult, TokenStatusCode] = {
    **dict.fromkeys((TokenResult.ACCEPT, TokenResult.KCT1, TokenResult.KCT2),
                    TokenStatusCode.EXECUTION_OK),
    **dict.fromkeys((TokenResult.FORMAT, TokenResult.CRC), TokenStatusCode.FORMAT_FAILURE),
    **dict.fromkeys((TokenResult.KEY_TYPE, TokenResult.DDTK, TokenResult.MFR_CODE),
                    TokenStatusCode.AUTHENTICATION_FAILURE),
    **dict.fromkeys((TokenResult.RANGE, TokenResult.OLD, TokenResult.USED,
                     TokenResult.KEY_EXPIRED, TokenResult.LOCKOUT),
                    TokenStatusCode.VALIDATION_FAILURE),
    TokenResult.NOT_READY: TokenStatusCode.RECEIVED,
}  # fmt: skip


def gateway_class(result: TokenResult) -> TokenStatusCode:
    """The gateway status a meter shows for an STS result (the rest: execution failure)."""
    return GATEWAY_CLASS.get(result, TokenStatusCode.EXECUTION_FAILURE)


# The generic object map gives no INFO field of the key register (class 116, where a meter
# has it, is a later step).


class DlmsReadback(WithoutTestFirmware):
    kind = "dlms"

    def __init__(self, client: DlmsClient, *, poll_s: float = 0.05) -> None:
        self.client = client
        self.poll_s = poll_s
        self._events = PolledEvents()
        self._marked: tuple[bytes, int] | None = None  # token time and status at the mark
        scale = client.credit_scale()  # the credit's decimal scale, from the meter's own objects
        self.capabilities = Capabilities(
            result_codes="classes",
            credit_resolution_kwh=10.0**scale,
            tid_memory=False,
            events="polled",
            lockout=False,
            key_register=(),
            relay_reason=False,
            confirms_keys=False,
        )

    # -- readings -----------------------------------------------------------------------
    def _call(self, read: Callable[[], _T]) -> _T:
        """One reading; a dropped connection is opened again once (a meter that restarted
        ends its associations)."""
        try:
            return read()
        except DeviceAbsent:
            self.client.close()
            self.client.open()
            return read()

    def info(self) -> Identity:
        name = self._call(lambda: self.client.get(ClassId.DATA, cosem.LOGICAL_DEVICE_NAME, 2)).value
        device = name.decode("ascii", "replace") if isinstance(name, bytes) else str(name)
        resolution = self.capabilities.credit_resolution_kwh
        fields = {"readback": "dlms", "device_name": device,
                  "credit_resolution_kwh": f"{resolution:g}"}  # fmt: skip
        return Identity(fields, readback=self.kind, lacks=NO_FIRMWARE_LACKS)

    def read_credit(self) -> float:
        return self._call(self.client.read_credit)

    def read_relay(self) -> tuple[bool, str]:
        state = self._call(self.client.relay_state)
        return state.closed, ""  # the disconnect control object does not say why

    def _status(self) -> TokenStatus:
        return self._call(self.client.token_status)

    def _token_time(self) -> bytes:
        value = self._call(lambda: self.client.get(
            ClassId.TOKEN_GATEWAY, self.client.object_map.token_gateway, cosem.GATEWAY_TOKEN_TIME
        ))  # fmt: skip
        return value.value if value.type is DataType.OCTET_STRING else b""  # type: ignore[return-value]

    def read_token_result(self) -> dict[str, int | str | None]:
        status = self._status()
        return {"code": None, "class": status.name, "accepted": int(status.accepted)}

    def read_clock(self) -> datetime:
        return self._call(self.client.read_clock)

    def result_class(self, result: TokenResult) -> str:
        return gateway_class(result).name

    # -- waiting (polled) ---------------------------------------------------------------
    def mark(self) -> None:
        """The gateway's last token time becomes the baseline; a meter without supply (it
        does not answer) keeps the baseline it had: no token can have come since."""
        with contextlib.suppress(ReplyTimeout, DeviceAbsent):
            self._marked = (self._token_time(), int(self._status().code))

    def _new_result(self) -> TokenStatus | None:
        """A settled gateway status for a token after the mark, or None yet."""
        status = self._status()
        if not status.settled:
            return None
        stamp = self._token_time()
        if self._marked is not None and stamp == self._marked[0]:
            return None
        return status

    def await_result(self, start: float, timeout_s: float) -> TokenOutcome:
        deadline = time.monotonic() + timeout_s
        while True:
            status = self._new_result()
            if status is not None:
                self._marked = (self._token_time(), int(status.code))
                result = TokenResult.ACCEPT if status.accepted else TokenResult.RESERVED
                return TokenOutcome(result, None, None, None, None, time.monotonic() - start,
                                    result_class=status.name)  # fmt: skip
            if time.monotonic() >= deadline:
                raise ReplyTimeout(
                    f"DLMS meter at {self.client.url}: no new token result on the token gateway "
                    f"within {timeout_s:g} s (attribute 3 token time unchanged)"
                )
            time.sleep(self.poll_s)

    def wait_for(self, name: str, timeout_s: float, fields: dict[str, str] | None) -> Event:
        """The events a poll can see: TOKEN_RESULT (a new gateway status), RELAY_CHANGED
        (relay=closed/open) and POWER_UP (the meter answers again)."""
        fields = dict(fields or {})
        deadline = time.monotonic() + timeout_s
        while True:
            event = self._poll_event(name, fields)
            if event is not None:
                return event
            if time.monotonic() >= deadline:
                raise ReplyTimeout(f"DLMS meter at {self.client.url}: no {name} "
                                   f"{fields or ''} within {timeout_s:g} s (polled)")  # fmt: skip
            time.sleep(self.poll_s)

    def _poll_event(self, name: str, fields: dict[str, str]) -> Event | None:
        if name == "TOKEN_RESULT":
            status = self._new_result()
            return None if status is None else self._events.event(name, name=status.name)
        if name == "RELAY_CHANGED":
            closed, _ = self.read_relay()
            state = "closed" if closed else "open"
            wanted = fields.get("relay")
            return None if wanted not in (None, state) else self._events.event(name, relay=state)
        if name == "POWER_UP":
            try:
                self.read_relay()
            except (ReplyTimeout, DeviceAbsent):
                return None
            return self._events.event(name)
        raise self._lacks(f"the {name} event (it is not pushed, nor visible to a poll)")

    def wait_relay(self, closed: bool, timeout_s: float, poll_s: float) -> float | None:
        start = time.monotonic()
        deadline = start + timeout_s
        while True:
            if self.read_relay()[0] == closed:
                return time.monotonic() - start
            if time.monotonic() >= deadline:
                return None
            time.sleep(min(poll_s, max(0.0, deadline - time.monotonic())))

    def reset_state(self) -> None:
        raise self._lacks("(reset) the meter state: there is no RESET STATE over DLMS")

    def close(self) -> None:
        self.client.close()


def open_dlms_readback(rig: Rig, resource: ReadbackResource) -> DlmsReadback:
    if resource.url is None:
        raise ConfigError(
            f"rig {rig.name}: resources.readback: kind dlms needs url "
            "(tcp://HOST:4059 for the wrapper, or a serial URL for HDLC)"
        )
    secret = None
    if resource.password_env:
        secret = os.environ.get(resource.password_env)
        if secret is None:
            raise ConfigError(
                f"rig {rig.name}: resources.readback.password_env: "
                f"{resource.password_env} is not set (the DLMS password)"
            )
    client = DlmsClient(
        resource.url,
        client_sap=resource.client_sap,
        password=secret,
        timeout_s=resource.timeout_s,
        baudrate=resource.baudrate,
    )
    try:
        return DlmsReadback(client)
    except BaseException:
        client.close()
        raise

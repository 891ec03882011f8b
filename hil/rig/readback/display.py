"""Readback from the meter's own display (docs/drivers.md, "The display"): a camera on the
LCD, read by seven-segment OCR (hil.display.ocr) laid out by the model's display map.

What the display shows: the credit on the idle screen (at the display's resolution), the
load relay's icon, the result message of a token (a class of results, as the map groups
them), and that the meter is on. Each reading keeps its cropped frame as evidence. A frame
read below the confidence threshold is taken again; after ``tries`` frames the operator is
asked where the rig names one, else the reading is a bench fault (the test: error).
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import cv2

from hil.display.layout import DisplayMap
from hil.display.ocr import DisplayReading, read_display
from hil.errors import BenchFault, ConfigError, ReplyTimeout
from hil.meter.results import TokenResult
from hil.probe.protocol import Event
from hil.rig.drivers.camera import Camera, open_camera
from hil.rig.readback.base import (
    NO_FIRMWARE_LACKS,
    Identity,
    PolledEvents,
    Reading,
    RecordReading,
    TokenOutcome,
    WithoutTestFirmware,
    display_capabilities,
    missing,
)
from hil.rig.readback.operator import OperatorReadback, operator_for

if TYPE_CHECKING:
    from hil.rig.config import ReadbackResource
    from hil.rig.rig import Rig

POLL_S = 0.02  # between frames while waiting for the screen to change
BUSY = "BUSY"


class DisplayUnsure(BenchFault):
    """No frame could be read with confidence (focus, light, glare): the bench's fault."""


class DisplayReadback(WithoutTestFirmware):
    kind = "display"

    def __init__(self, camera: Camera, display: DisplayMap, *, resolution_kwh: float | None,
                 threshold: float, tries: int, record: RecordReading,
                 evidence_dir: Path | None = None,
                 fallback: OperatorReadback | None = None) -> None:  # fmt: skip
        self.camera, self.display = camera, display
        self.threshold, self.tries = threshold, tries
        self.fallback = fallback
        self._record, self._evidence_dir = record, evidence_dir
        self._names = itertools.count(1)
        self._events = PolledEvents()
        self.capabilities = display_capabilities(resolution_kwh)

    # -- frames ---------------------------------------------------------------------------
    def _frame(self) -> DisplayReading:
        return read_display(self.camera.grab(), self.display, threshold=self.threshold)

    def _sure(self, want: Callable[[DisplayReading], bool] = lambda r: True,
              tries: int | None = None) -> DisplayReading | None:  # fmt: skip
        """The first sure frame ``want`` accepts, or None after ``tries`` frames."""
        for _ in range(tries or self.tries):
            reading = self._frame()
            if reading.sure and want(reading):
                return reading
            time.sleep(POLL_S)
        return None

    def _until(self, want: Callable[[DisplayReading], bool], timeout_s: float
               ) -> DisplayReading | None:  # fmt: skip
        """The first sure frame ``want`` accepts within ``timeout_s``, or None."""
        deadline = time.monotonic() + timeout_s
        while True:
            reading = self._frame()
            if reading.sure and want(reading):
                return reading
            if time.monotonic() >= deadline:
                return None
            time.sleep(POLL_S)

    def _keep(self, what: str, value: str, reading: DisplayReading) -> None:
        """Journal the reading, with its cropped field as an image beside the report."""
        image = ""
        if self._evidence_dir is not None:
            self._evidence_dir.mkdir(parents=True, exist_ok=True)
            name = f"{os.getpid()}-{next(self._names):05d}-{what}.png"
            # The icons are outside the field: a relay or power reading keeps the whole glass.
            crop = reading.crops.get("field" if what in ("credit", "result") else "frame")
            if crop is not None and cv2.imwrite(str(self._evidence_dir / name), crop):
                image = name
        at = datetime.now(UTC).isoformat(timespec="milliseconds")
        confidence = round(reading.confidence, 3)
        self._record(Reading(what, value, self.kind, at=at, confidence=confidence, image=image))

    def _unsure(self, what: str) -> DisplayUnsure:
        best = self._frame()
        return DisplayUnsure(
            f"display {self.camera.url}: no sure reading of {what} in {self.tries} frames "
            f"(last: {best.text!r}, confidence {best.confidence:.2f}, weakest {best.weakest}); "
            "check the camera's focus, light and glare, or add readback.operator as fallback"
        )

    # -- readings -----------------------------------------------------------------------
    def info(self) -> Identity:
        fields = {"readback": self.kind, "camera": self.camera.url, "display": self.display.name}
        resolution = self.capabilities.credit_resolution_kwh
        if resolution is not None:
            fields["credit_resolution_kwh"] = f"{resolution:g}"
        return Identity(fields, readback=self.kind, lacks=NO_FIRMWARE_LACKS)

    def read_credit(self) -> float:
        """The idle screen's credit; a result message on the screen is waited out."""

        def idle(r: DisplayReading) -> bool:
            return r.value is not None and "kwh" in r.icons

        reading = self._until(idle, self.display.timing.result_s + 1.0)
        if reading is None:
            if self.fallback is not None:
                return self.fallback.read_credit()
            raise self._unsure("the credit (the idle screen)")
        assert reading.value is not None
        self._keep("credit", reading.text, reading)  # as shown: "12.50"
        return reading.value

    def _lit(self) -> DisplayReading:
        reading = self._sure(lambda r: bool(r.text or r.icons))
        if reading is None:
            blank = self._sure()
            if blank is not None:
                raise ReplyTimeout(f"display {self.camera.url}: the display is blank "
                                   "(the meter is off)")  # fmt: skip
            raise self._unsure("the screen")
        return reading

    def read_relay(self) -> tuple[bool, str]:
        try:
            reading = self._lit()
        except DisplayUnsure:
            if self.fallback is not None:
                return self.fallback.read_relay()
            raise
        closed = "relay_open" not in reading.icons
        self._keep("relay", "closed" if closed else "open", reading)
        return closed, ""

    def read_token_result(self) -> dict[str, int | str | None]:
        reading = self._lit()
        if reading.message is None:
            raise missing(self.kind, "a token result: the display shows none now")
        self._keep("result", reading.message, reading)
        return {"code": None, "class": reading.message,
                "accepted": int(self._accepted(reading.message))}  # fmt: skip

    def _accepted(self, name: str) -> bool:
        return any(r.accepted for r in self.display.results_of(name))

    def result_class(self, result: TokenResult) -> str:
        return self.display.class_of(result)

    # -- waiting (polled frames) ----------------------------------------------------------
    def mark(self) -> None:
        # Nothing to remember: keys typed after the mark replace any message on the screen,
        # so a result message seen after them is the new token's.
        pass

    def await_result(self, start: float, timeout_s: float) -> TokenOutcome:
        def settled(r: DisplayReading) -> bool:
            return r.message is not None and r.message != BUSY

        reading = self._until(settled, timeout_s)
        if reading is None:
            if self.fallback is not None:
                return self.fallback.await_result(start, timeout_s)
            raise ReplyTimeout(f"display {self.camera.url}: no result message within "
                               f"{timeout_s:g} s of the token")  # fmt: skip
        assert reading.message is not None
        self._keep("result", reading.message, reading)
        stand_in = TokenResult.ACCEPT if self._accepted(reading.message) else TokenResult.RESERVED
        return TokenOutcome(stand_in, None, None, None, None, time.monotonic() - start,
                            result_class=reading.message)  # fmt: skip

    def wait_for(self, name: str, timeout_s: float, fields: dict[str, str] | None) -> Event:
        """TOKEN_RESULT (a result message), RELAY_CHANGED (the relay icon) and POWER_UP
        (the display lit again), as frames show them."""
        fields = dict(fields or {})
        if name == "TOKEN_RESULT":
            outcome = self.await_result(time.monotonic(), timeout_s)
            return self._events.event(name, name=outcome.label)
        if name == "RELAY_CHANGED":
            closed = fields.get("relay", "closed") == "closed"
            if self.wait_relay(closed, timeout_s, POLL_S) is None:
                state = fields.get("relay", "closed")
                raise ReplyTimeout(
                    f"display {self.camera.url}: relay icon not {state} within {timeout_s:g} s"
                )
            return self._events.event(name, relay="closed" if closed else "open")
        if name == "POWER_UP":
            reading = self._until(lambda r: bool(r.text or r.icons), timeout_s)
            if reading is None:
                raise ReplyTimeout(f"display {self.camera.url}: still blank after "
                                   f"{timeout_s:g} s")  # fmt: skip
            self._keep("power_up", "on", reading)
            return self._events.event(name)
        raise self._lacks(f"the {name} event (the display does not show it)")

    def wait_relay(self, closed: bool, timeout_s: float, poll_s: float) -> float | None:
        start = time.monotonic()

        def shows(r: DisplayReading) -> bool:
            return bool(r.text or r.icons) and ("relay_open" not in r.icons) == closed

        reading = self._until(shows, timeout_s)
        if reading is None:
            return None
        self._keep("relay", "closed" if closed else "open", reading)
        return time.monotonic() - start

    def reset_state(self) -> None:
        raise self._lacks("(reset) the meter state: a display cannot")

    def close(self) -> None:
        self.camera.close()
        if self.fallback is not None:
            self.fallback.close()


def open_display_readback(rig: Rig, resource: ReadbackResource) -> DisplayReadback:
    if resource.url is None:
        raise ConfigError(f"rig {rig.name}: resources.readback: kind display needs url (the "
                          "camera: http://.../snapshot.jpg, /dev/videoN, or a file)")  # fmt: skip
    display = resource.display_map(rig.base)
    fallback = None
    if resource.operator is not None:
        fallback = OperatorReadback(operator_for(rig, resource), display,
                                    resolution_kwh=resource.credit_resolution_kwh,
                                    timeout_s=resource.operator.answer_timeout_s,
                                    record=rig.record_reading)  # fmt: skip
    camera = open_camera(resource.url, timeout_s=resource.timeout_s, base=rig.base)
    return DisplayReadback(camera, display, resolution_kwh=resource.credit_resolution_kwh,
                           threshold=resource.threshold, tries=resource.tries,
                           record=rig.record_reading, evidence_dir=rig.evidence_dir,
                           fallback=fallback)  # fmt: skip

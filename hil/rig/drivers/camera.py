"""Cameras that look at the meter's display: a frame on demand, as a numpy image.

- ``http://HOST/PATH.jpg`` (any http URL not ending in .mjpg): a still-image URL, one GET per
  frame (IP cameras' snapshot URLs, the simulator's ``/frame.jpg``).
- ``/dev/videoN``, ``v4l2:///dev/videoN`` or an ``.mjpg`` stream URL: OpenCV's
  ``VideoCapture``; the frame is the newest the device has (the buffer is drained first).
- ``file:///path`` or a plain path: an image file, or a directory of them taken in name
  order, over and over (tests, and replaying frames recorded on a bench).

Every grab has a deadline; a camera that cannot be opened is `DeviceAbsent` in one line.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse

import cv2
import numpy as np

from hil.errors import DeviceAbsent, GarbledReply, ReplyTimeout

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


class Camera(Protocol):
    url: str

    def grab(self) -> np.ndarray:
        """The newest frame: H x W x 3, BGR (OpenCV's order)."""
        ...

    def close(self) -> None: ...


def _decode(data: bytes, url: str) -> np.ndarray:
    frame = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if frame is None:
        raise GarbledReply(f"camera {url}: the frame is not an image ({len(data)} bytes)")
    return frame


class StillUrlCamera:
    """One HTTP GET per frame."""

    def __init__(self, url: str, timeout_s: float) -> None:
        self.url, self.timeout_s = url, timeout_s
        self.grab()  # found at open, not at the first reading

    def grab(self) -> np.ndarray:
        try:
            with urllib.request.urlopen(self.url, timeout=self.timeout_s) as reply:
                return _decode(reply.read(), self.url)
        except TimeoutError:
            raise ReplyTimeout(f"camera {self.url}: no frame within {self.timeout_s:g} s") from None
        except (urllib.error.URLError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DeviceAbsent(f"camera {self.url}: {reason}; check the camera's address and "
                               "that it is on") from None  # fmt: skip

    def close(self) -> None:
        pass


class VideoCaptureCamera:
    """A V4L2 device or a video stream, through OpenCV."""

    def __init__(self, url: str, source: str | int, timeout_s: float) -> None:
        self.url, self.timeout_s = url, timeout_s
        self._capture = cv2.VideoCapture(source)
        if not self._capture.isOpened():
            raise DeviceAbsent(f"camera {url}: cannot be opened; check the device path "
                               "(v4l2-ctl --list-devices) or the stream URL")  # fmt: skip
        self._capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)

    def grab(self) -> np.ndarray:
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            # grab() without retrieve() drops a buffered frame: the one read is current.
            self._capture.grab()
            ok, frame = self._capture.read()
            if ok and frame is not None:
                return frame
        raise ReplyTimeout(f"camera {self.url}: no frame within {self.timeout_s:g} s")

    def close(self) -> None:
        self._capture.release()


class FileCamera:
    """Frames from an image file, or a directory of them in name order, cycled."""

    def __init__(self, url: str, path: Path) -> None:
        self.url = url
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) \
            if path.is_dir() else [path]  # fmt: skip
        if not files or not files[0].exists():
            raise DeviceAbsent(f"camera {url}: no image at {path} "
                               f"({', '.join(IMAGE_SUFFIXES)})")  # fmt: skip
        self._files, self._next = files, 0

    def grab(self) -> np.ndarray:
        path = self._files[self._next % len(self._files)]
        self._next += 1
        return _decode(path.read_bytes(), str(path))

    def close(self) -> None:
        pass


def open_camera(url: str, *, timeout_s: float = 2.0, base: Path | None = None) -> Camera:
    """The camera at ``url`` (see the module's list); relative paths are from ``base``."""
    parsed = urlparse(url)
    if parsed.scheme in ("http", "https") and not parsed.path.endswith(".mjpg"):
        return StillUrlCamera(url, timeout_s)
    if parsed.scheme in ("http", "https", "rtsp"):
        return VideoCaptureCamera(url, url, timeout_s)
    if parsed.scheme == "v4l2" or url.startswith("/dev/video"):
        device = parsed.path if parsed.scheme == "v4l2" else url
        return VideoCaptureCamera(url, device, timeout_s)
    if parsed.scheme in ("file", ""):
        path = Path(parsed.path if parsed.scheme == "file" else url)
        if base is not None and not path.is_absolute():
            path = base / path
        return FileCamera(url, path)
    raise DeviceAbsent(f"camera {url}: unknown kind of URL; use http://.../snapshot.jpg, "
                       "/dev/videoN, an .mjpg stream URL or a file path")  # fmt: skip

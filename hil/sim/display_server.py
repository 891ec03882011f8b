"""The simulated meter's LCD as a camera sees it, served over HTTP on loopback.

``/frame.jpg`` is a fresh frame of the screen now (a still-image camera URL); ``/stream.mjpg``
the same as an MJPEG stream (multipart/x-mixed-replace), and ``/`` a page showing it, so a
person can read the simulated meter as an operator would. Each frame is rendered with the
display map's layout and seeded camera imperfections (hil.display.render): frame n of a
server started with seed s is always the same picture of the same screen.
"""

from __future__ import annotations

import io
import itertools
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from hil.display.layout import DisplayMap
from hil.display.render import DisplayState, Noise, render

STREAM_FPS = 5.0
BOUNDARY = "hil-frame"
PAGE = """<!doctype html><meta charset="utf-8"><title>hil sim: meter display</title>
<body style="background:#222;color:#ddd;font-family:sans-serif">
<p>The simulated meter's display, as the bench camera sees it ({name}).</p>
<img src="/stream.mjpg" alt="meter display" style="max-width:100%"></body>"""


class DisplayServer:
    """Serves frames of ``screen()`` (the current `DisplayState`, taken under the bench's
    lock by the caller's function) until `close`."""

    def __init__(self, screen: Callable[[], DisplayState], display: DisplayMap, *,
                 noise: Noise | None = None, seed: int = 0, port: int = 0) -> None:  # fmt: skip
        self.screen, self.display = screen, display
        self.noise = noise if noise is not None else Noise()
        self._seeds = itertools.count(seed)
        self._seed_lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="sim-display",
                                        daemon=True)  # fmt: skip
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/frame.jpg"

    def frame_jpeg(self) -> bytes:
        with self._seed_lock:
            seed = next(self._seeds)
        image = render(self.screen(), self.display, noise=self.noise, seed=seed)
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=92)
        return out.getvalue()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass  # the harness polls many frames: no line per request

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                if path == "/frame.jpg":
                    self._send(server.frame_jpeg(), "image/jpeg")
                elif path == "/stream.mjpg":
                    self._stream()
                elif path == "/":
                    self._send(PAGE.format(name=server.display.name).encode(), "text/html")
                else:
                    self.send_error(404, "try /frame.jpg, /stream.mjpg or /")

            def _send(self, body: bytes, kind: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def _stream(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type",
                                 f"multipart/x-mixed-replace; boundary={BOUNDARY}")  # fmt: skip
                self.end_headers()
                try:
                    while True:
                        frame = server.frame_jpeg()
                        head = (f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                                f"Content-Length: {len(frame)}\r\n\r\n")  # fmt: skip
                        self.wfile.write(head.encode())
                        self.wfile.write(frame + b"\r\n")
                        time.sleep(1 / STREAM_FPS)
                except (BrokenPipeError, ConnectionResetError):
                    return  # the viewer went away

        return Handler

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

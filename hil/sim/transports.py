"""The simulator's only I/O: connect pure byte handlers to real OS endpoints.

A handler is ``handler(data, at) -> reply``: it gets the bytes as they arrived and the clock
reading taken when they arrived, and returns the bytes to send back (possibly ``b""``).

* `PtyEndpoint`: a pseudo-terminal; clients open `.path` like a serial port (pyserial).
* `TcpEndpoint`: a TCP server on 127.0.0.1; clients use ``socket://127.0.0.1:PORT`` (pyserial)
  or ``TCPIP::127.0.0.1::PORT::SOCKET`` (pyvisa-py). Each client gets its own handler from a
  factory, so per-connection state (a line buffer) is not shared between clients.
* `LineAdapter`: turns a SCPI-style line handler into a byte handler.
* `Faults`: per-endpoint fault injection, changeable while the endpoint runs.

Threads wait in selectors together with a wake-up pipe, so `close()` returns promptly; every
write has a deadline, so a client that stops reading cannot block the simulator. A handler that
raises is logged and the endpoint keeps serving.
"""

from __future__ import annotations

import logging
import os
import random
import selectors
import socket
import threading
import time
import tty
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext, suppress
from functools import partial

from hil.closing import Closing

__all__ = [
    "ByteHandler",
    "Faults",
    "LineAdapter",
    "LineHandler",
    "PtyEndpoint",
    "TcpEndpoint",
]

log = logging.getLogger(__name__)

ByteHandler = Callable[[bytes, float], bytes]
LineHandler = Callable[[str, float], str | None]
Clock = Callable[[], float]

_READ_SIZE = 4096
_JOIN_TIMEOUT_S = 2.0


class Faults:
    """Fault injection for one endpoint. Change the attributes at any time.

    * `silent`: input is swallowed (the handler never sees it) and nothing is sent.
    * `drop_rate`: probability that each outgoing byte is lost.
    * `garble_rate`: probability that each outgoing byte is replaced by a different byte.
    * `delay_s`: wait before sending each reply (the handler still sees the arrival time).
    """

    def __init__(
        self,
        *,
        silent: bool = False,
        drop_rate: float = 0.0,
        garble_rate: float = 0.0,
        delay_s: float = 0.0,
        seed: int | None = None,
    ) -> None:
        self.silent = silent
        self.drop_rate = drop_rate
        self.garble_rate = garble_rate
        self.delay_s = delay_s
        self.rng = random.Random(seed)

    def clear(self) -> None:
        self.silent = False
        self.drop_rate = self.garble_rate = self.delay_s = 0.0

    def mangle(self, data: bytes) -> bytes:
        """Apply drop and garble to outgoing bytes."""
        if self.drop_rate <= 0 and self.garble_rate <= 0:
            return data
        out = bytearray()
        for byte in data:
            if self.rng.random() < self.drop_rate:
                continue
            if self.rng.random() < self.garble_rate:
                byte ^= self.rng.randrange(1, 256)  # non-zero XOR: always a different byte
            out.append(byte)
        return bytes(out)


class LineAdapter:
    """Byte handler around a line handler: buffers to ``\\n``, drops ``\\r``, adds ``\\n``.

    Blank lines are skipped. A line longer than `max_line` without a terminator is discarded.
    Give each connection its own adapter; pass `lock` to serialise calls into shared state.
    """

    def __init__(
        self,
        handle: LineHandler,
        *,
        lock: AbstractContextManager[object] | None = None,
        max_line: int = 4096,
    ) -> None:
        self.handle = handle
        self.max_line = max_line
        self._lock: AbstractContextManager[object] = lock if lock is not None else nullcontext()
        self._buf = bytearray()

    def __call__(self, data: bytes, at: float) -> bytes:
        self._buf += data
        out = bytearray()
        while (end := self._buf.find(b"\n")) >= 0:
            raw = bytes(self._buf[:end])
            del self._buf[: end + 1]
            line = raw.replace(b"\r", b"").decode("ascii", errors="replace").strip()
            if not line:
                continue
            try:
                with self._lock:
                    reply = self.handle(line, at)
            except Exception:  # keep serving the lines after a failing one
                log.exception("line handler failed on %r", line)
                continue
            if reply is not None:
                out += reply.encode("ascii", errors="replace") + b"\n"
        if len(self._buf) > self.max_line:
            self._buf.clear()
        return bytes(out)


class _Endpoint(Closing):
    """Shared plumbing: clock, faults, stop signalling, handler calls, context manager."""

    def __init__(self, clock: Clock, faults: Faults | None, write_timeout_s: float) -> None:
        self.clock = clock
        self.faults = faults if faults is not None else Faults()
        self.write_timeout_s = write_timeout_s
        self._stop = threading.Event()
        # Never read: once written it stays readable, so every selector wakes and sees it.
        self._wake_r, self._wake_w = os.pipe()
        self._threads: list[threading.Thread] = []
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def _start(self, target: Callable[..., None], *args: object, name: str) -> None:
        # Daemon threads: a forgotten close() never blocks interpreter exit.
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()]
        self._threads.append(thread)
        thread.start()

    def _selector(self, fileobj: int | socket.socket) -> selectors.BaseSelector:
        sel = selectors.DefaultSelector()
        sel.register(self._wake_r, selectors.EVENT_READ)
        sel.register(fileobj, selectors.EVENT_READ)
        return sel

    def _serve(self, handler: ByteHandler, data: bytes, write: Callable[[bytes], None]) -> None:
        if self.faults.silent:
            return
        at = self.clock()
        try:
            reply = handler(data, at)
        except Exception:  # a handler bug must not take the endpoint down
            log.exception("handler failed on %r", data)
            return
        self._emit(reply, write)

    def _emit(self, data: bytes, write: Callable[[bytes], None]) -> None:
        if not data or self.faults.silent:
            return
        delay = self.faults.delay_s
        if delay > 0 and self._stop.wait(delay):
            return
        data = self.faults.mangle(data)
        if data:
            write(data)

    def _shutdown(self) -> None:
        """Subclasses release their own fds/sockets here (threads are already stopped)."""

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        os.write(self._wake_w, b"x")
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(_JOIN_TIMEOUT_S)
        self._shutdown()
        os.close(self._wake_r)
        os.close(self._wake_w)


class PtyEndpoint(_Endpoint):
    """A pty pair: the simulator holds the master, clients open `path` (the slave)."""

    def __init__(
        self,
        handler: ByteHandler,
        *,
        clock: Clock = time.monotonic,
        faults: Faults | None = None,
        write_timeout_s: float = 1.0,
        name: str = "pty",
    ) -> None:
        super().__init__(clock, faults, write_timeout_s)
        self.handler = handler
        self._master, self._slave = os.openpty()
        # Raw: no echo, no CR/LF translation, so bytes pass exactly as a USB CDC port's would.
        # We keep the slave fd open so the master never sees a hang-up between clients.
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self.path = os.ttyname(self._slave)
        self._write_lock = threading.Lock()
        self._start(self._run, name=f"sim-{name}")

    @property
    def url(self) -> str:
        return self.path

    def send(self, data: bytes) -> None:
        """Send unsolicited bytes (events); faults apply as to replies."""
        if not self._closed:
            self._emit(data, self._write)

    def _run(self) -> None:
        with self._selector(self._master) as sel:
            while not self._stop.is_set():
                for key, _ in sel.select():
                    if key.fd == self._wake_r:
                        return
                    try:
                        data = os.read(self._master, _READ_SIZE)
                    except BlockingIOError:
                        continue
                    except OSError:  # EIO: no slave open; wait instead of spinning
                        self._stop.wait(0.05)
                        continue
                    if data:
                        self._serve(self.handler, data, self._write)

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        deadline = time.monotonic() + self.write_timeout_s
        with self._write_lock:
            while view and not self._stop.is_set():
                try:
                    view = view[os.write(self._master, view) :]
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        log.warning(
                            "pty %s: client not reading, %d bytes lost", self.path, len(view)
                        )
                        return
                    self._stop.wait(0.005)
                except OSError:
                    return

    def _shutdown(self) -> None:
        os.close(self._master)
        os.close(self._slave)


class _Client:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.lock = threading.Lock()


class TcpEndpoint(_Endpoint):
    """TCP server; every accepted client gets `handler_factory()` and its own thread."""

    def __init__(
        self,
        handler_factory: Callable[[], ByteHandler],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Clock = time.monotonic,
        faults: Faults | None = None,
        write_timeout_s: float = 1.0,
        name: str = "tcp",
    ) -> None:
        super().__init__(clock, faults, write_timeout_s)
        self.handler_factory = handler_factory
        self.name = name
        self._server = socket.create_server((host, port))
        self._server.setblocking(False)
        self.host = host
        self.port: int = self._server.getsockname()[1]
        self._clients: set[_Client] = set()
        self._clients_lock = threading.Lock()
        self._start(self._accept_loop, name=f"sim-{name}-accept")

    @property
    def url(self) -> str:
        """pyserial URL."""
        return f"socket://{self.host}:{self.port}"

    @property
    def visa_resource(self) -> str:
        """pyvisa resource name (raw socket)."""
        return f"TCPIP::{self.host}::{self.port}::SOCKET"

    @property
    def client_count(self) -> int:
        with self._clients_lock:
            return len(self._clients)

    def send(self, data: bytes) -> None:
        """Send unsolicited bytes to every connected client; faults apply."""
        with self._clients_lock:
            clients = list(self._clients)
        for client in clients:
            self._emit(data, partial(self._write, client))

    def _accept_loop(self) -> None:
        with self._selector(self._server) as sel:
            while not self._stop.is_set():
                for key, _ in sel.select():
                    if key.fd == self._wake_r:
                        return
                    try:
                        sock, _addr = self._server.accept()
                    except (BlockingIOError, InterruptedError):
                        continue
                    sock.setblocking(True)
                    sock.settimeout(self.write_timeout_s)  # bounds sendall(); recv follows select
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    client = _Client(sock)
                    with self._clients_lock:
                        self._clients.add(client)
                    self._start(self._client_loop, client, name=f"sim-{self.name}-client")

    def _client_loop(self, client: _Client) -> None:
        try:
            handler = self.handler_factory()
            with self._selector(client.sock) as sel:
                while not self._stop.is_set():
                    for key, _ in sel.select():
                        if key.fd == self._wake_r:
                            return
                        try:
                            data = client.sock.recv(_READ_SIZE)
                        except (TimeoutError, BlockingIOError):
                            continue
                        except OSError:
                            return
                        if not data:  # client hung up
                            return
                        self._serve(handler, data, partial(self._write, client))
        except Exception:
            log.exception("tcp %s: client thread failed", self.name)
        finally:
            self._drop(client)

    def _write(self, client: _Client, data: bytes) -> None:
        try:
            with client.lock:
                client.sock.sendall(data)
        except OSError:  # includes timeout: a client that does not read is cut off
            log.warning("tcp %s: write failed, closing client", self.name)
            # Shutdown, not close: the client thread then reads EOF and cleans up itself.
            with suppress(OSError):
                client.sock.shutdown(socket.SHUT_RDWR)

    def _drop(self, client: _Client) -> None:
        with self._clients_lock:
            if client not in self._clients:
                return
            self._clients.discard(client)
        with suppress(OSError):
            client.sock.shutdown(socket.SHUT_RDWR)
        client.sock.close()

    def _shutdown(self) -> None:
        self._server.close()
        with self._clients_lock:
            clients = list(self._clients)
        for client in clients:
            self._drop(client)

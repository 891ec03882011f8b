"""A lab on loopback: a labgrid coordinator, an exporter publishing the serial ports of
simulated benches (``hil sim --tcp``), one labgrid place per bench, and the rig files and
pool file a lab would write (docs/lab-setup.md does the same by hand)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from hil.paths import RIGS

BIN = Path(sys.executable).parent


def free_port_base(count: int, start: int = 21000) -> int:
    """The first of ``count`` consecutive free TCP ports on loopback."""
    base = start + (os.getpid() % 200) * 40
    while True:
        if all(_free(base + i) for i in range(count)):
            return base
        base += count + 1


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _tool(name: str) -> str:
    path = BIN / name
    return str(path) if path.exists() else name


def _wait(what: str, ok, proc: subprocess.Popen | None = None, timeout: float = 30) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not ok():
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: process exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not ready after {timeout} s")
        time.sleep(0.1)


def rig_text(name: str, port_base: int) -> str:
    """A lab rig file for a simulated bench: serial ports come from the labgrid place,
    instruments (LXI on the lab network in real life) by their own address."""
    text = (RIGS / "external-sim.yaml").read_text(encoding="utf-8")
    text = text.replace("name: external-sim", f"name: {name}")
    text = text.replace('url: "socket://127.0.0.1:7400"', "url: place:relay_board")
    text = text.replace('url: "socket://127.0.0.1:7401"', "url: place:probe")
    for offset in (2, 3, 4):
        text = text.replace(f"127.0.0.1::{7400 + offset}", f"127.0.0.1::{port_base + offset}")
    assert "place:relay_board" in text and "place:probe" in text, "external-sim.yaml changed"
    return text


class LoopbackLab:
    """Start with ``start()``, stop with ``stop()``; ``pool`` is the pool file."""

    def __init__(self, root: Path, places: tuple[str, ...] = ("sim-a", "sim-b")) -> None:
        self.root = root
        self.places = places
        self.procs: list[subprocess.Popen] = []
        self.coordinator = f"127.0.0.1:{free_port_base(1, 20500)}"
        self.pool = root / "lab-pool.yaml"
        self.log = root / "lab.log"

    def _spawn(self, *cmd: str) -> subprocess.Popen:
        log = open(self.log, "a", encoding="utf-8")  # noqa: SIM115 - lives as long as the process
        proc = subprocess.Popen(cmd, cwd=self.root, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def client(self, *args: str) -> str:
        out = subprocess.run(
            [_tool("labgrid-client"), "-x", self.coordinator, *args],
            capture_output=True, text=True, timeout=30, cwd=self.root,
        )  # fmt: skip
        if out.returncode != 0:
            raise RuntimeError(f"labgrid-client {' '.join(args)}: {out.stderr.strip()}")
        return out.stdout

    def start(self) -> LoopbackLab:
        coordinator = self._spawn(_tool("labgrid-coordinator"), "-l", self.coordinator)
        port = self.coordinator.rsplit(":", 1)[1]
        _wait("labgrid-coordinator", lambda: not _free(int(port)), coordinator)
        rigs_dir = self.root / "rigs"
        rigs_dir.mkdir()
        exporter_cfg = []
        for place in self.places:
            base = free_port_base(6, 22000 + 100 * len(exporter_cfg))
            ready = self.root / f"{place}.ready"
            sim = self._spawn(sys.executable, "-m", "hil", "sim", "--tcp", "--port-base",
                              str(base), "--ready-file", str(ready))  # fmt: skip
            _wait(f"hil sim for {place}", ready.exists, sim)
            (rigs_dir / f"{place}.yaml").write_text(rig_text(place, base), encoding="utf-8")
            exporter_cfg.append(
                f"{place}:\n"
                f"  relay_board: {{cls: NetworkSerialPort, host: 127.0.0.1, port: {base},"
                " protocol: raw}\n"
                f"  probe: {{cls: NetworkSerialPort, host: 127.0.0.1, port: {base + 1},"
                " protocol: raw}\n"
            )
        (self.root / "exporter.yaml").write_text("".join(exporter_cfg), encoding="utf-8")
        exporter = self._spawn(_tool("labgrid-exporter"), "-c", self.coordinator,
                               "--name", "bench-host", "exporter.yaml")  # fmt: skip
        _wait(
            "labgrid-exporter",
            lambda: self.client("resources").count("NetworkSerialPort") >= 2 * len(self.places),
            exporter,
        )
        for place in self.places:
            self.client("-p", place, "create")
            self.client("-p", place, "add-match", f"bench-host/{place}/*")
            self.client("-p", place, "set-tags", "model=sim", "firmware=1_0")
        self.pool.write_text(
            f"labgrid:\n  coordinator: {self.coordinator}\n  rigs_dir: rigs\n", encoding="utf-8"
        )
        return self

    def stop(self) -> None:
        for proc in reversed(self.procs):
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()

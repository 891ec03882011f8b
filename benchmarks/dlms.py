"""DLMS codec and link throughput on one core: frames per second, encode and decode.

Run: python benchmarks/dlms.py [--seconds S] [--json]

Codec cases (pure, no I/O): an HDLC I-frame carrying a GET-Response with a credit value
(encode = build APDU + frame; decode = stream reader + APDU + A-XDR), the wrapper with the same
APDU, the AARQ with a password, and a 40-entry object list (A-XDR structures). Round-trip cases
run the driver against the simulated meter on loopback: `read_credit()` over the wrapper on TCP,
over HDLC on TCP, and over HDLC on a pty. Cases run in interleaved rounds so a noisy machine
slows all alike; the figure is the median round.

The yardstick: at 9600 baud 8N1 a link carries 960 bytes/s (a 30-byte I-frame takes 31 ms).
Each codec case is also given in bytes/s and as a multiple of that line rate: the harness must
never be the slow side of an optical link.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable

from hil.dlms import apdu as a
from hil.dlms import axdr, cosem, hdlc
from hil.dlms.wrapper import WrapperReader, wrap
from hil.rig.drivers.dlms import DlmsClient
from hil.sim.dlms_server import DlmsServer, InMemoryMeter
from hil.sim.transports import PtyEndpoint

SERVER, CLIENT = hdlc.server_address(1), hdlc.client_address(16)
LINE_RATE_BPS = 9600 / 10  # bytes/s at 9600 baud, 10 bits a byte (8N1)


def codec_cases() -> dict[str, tuple[Callable[[], object], int]]:
    """name -> (one call, bytes it handles)."""
    response = a.GetResponseNormal(axdr.i32(125_000))
    frame = hdlc.HdlcFrame(
        CLIENT, SERVER, hdlc.control_i(1, 2), hdlc.LLC_RESPONSE + response.encode()
    )
    frame_bytes = frame.encode()
    wrapped = wrap(1, 16, response.encode())
    aarq = a.Aarq(password=b"12345678")
    aarq_bytes = aarq.encode()
    entry = axdr.structure(
        axdr.u16(115),
        axdr.u8(0),
        axdr.octets(cosem.TOKEN_GATEWAY.to_bytes()),
        axdr.structure(
            axdr.array(*[axdr.structure(axdr.i8(i), axdr.enum(1), axdr.null()) for i in range(6)]),
            axdr.array(axdr.structure(axdr.i8(1), axdr.enum(1))),
        ),
    )
    objects = axdr.array(*[entry] * 40)
    objects_bytes = objects.encode()

    def hdlc_encode() -> bytes:
        pdu = a.GetResponseNormal(axdr.i32(125_000)).encode()
        return hdlc.HdlcFrame(CLIENT, SERVER, 0x52, hdlc.LLC_RESPONSE + pdu).encode()

    def hdlc_decode() -> object:
        (got,) = hdlc.FrameReader().feed(frame_bytes)
        return a.decode_apdu(got.info[3:])

    def wrapper_encode() -> bytes:
        return wrap(1, 16, a.GetResponseNormal(axdr.i32(125_000)).encode())

    def wrapper_decode() -> object:
        (got,) = WrapperReader().feed(wrapped)
        return a.decode_apdu(got.apdu)

    return {
        "hdlc_get_response_encode": (hdlc_encode, len(frame_bytes)),
        "hdlc_get_response_decode": (hdlc_decode, len(frame_bytes)),
        "wrapper_get_response_encode": (wrapper_encode, len(wrapped)),
        "wrapper_get_response_decode": (wrapper_decode, len(wrapped)),
        "aarq_lls_encode": (aarq.encode, len(aarq_bytes)),
        "aarq_lls_decode": (lambda: a.decode_apdu(aarq_bytes), len(aarq_bytes)),
        "object_list_40_encode": (objects.encode, len(objects_bytes)),
        "object_list_40_decode": (lambda: axdr.decode_all(objects_bytes), len(objects_bytes)),
    }


def measure(cases: dict[str, Callable[[], object]], seconds: float) -> dict[str, float]:
    """Calls per second of each case: median over interleaved rounds of ~0.1 s each."""
    rounds: dict[str, list[float]] = {name: [] for name in cases}
    per_case = max(0.05, seconds / max(1, len(cases)) / 5)
    end = time.monotonic() + seconds
    while time.monotonic() < end or min(len(r) for r in rounds.values()) < 3:
        for name, call in cases.items():
            n, start = 0, time.perf_counter()
            while (elapsed := time.perf_counter() - start) < per_case:
                for _ in range(20):
                    call()
                n += 20
            rounds[name].append(n / elapsed)
    return {name: statistics.median(r) for name, r in rounds.items()}


def round_trips(seconds: float) -> dict[str, float]:
    meter = InMemoryMeter(12.5)
    server = DlmsServer(meter, password=b"12345678")
    figures: dict[str, float] = {}
    tcp = server.serve_tcp()
    hdlc_tcp = server.serve_hdlc_tcp()
    pty = PtyEndpoint(server.hdlc_handler())
    try:
        urls = {
            "roundtrip_wrapper_tcp": f"tcp://127.0.0.1:{tcp.port}",
            "roundtrip_hdlc_tcp": hdlc_tcp.url,
            "roundtrip_hdlc_pty": pty.url,
        }
        for name, url in urls.items():
            with DlmsClient(url, password="12345678", baudrate=115200) as client:
                client.read_credit()  # learns the scale once
                n, start = 0, time.perf_counter()
                while (elapsed := time.perf_counter() - start) < seconds / len(urls):
                    client.read_credit()
                    n += 1
                figures[name] = n / elapsed
    finally:
        for endpoint in (tcp, hdlc_tcp, pty):
            endpoint.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="total time for codec cases")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    cases = codec_cases()
    figures = measure({name: call for name, (call, _) in cases.items()}, args.seconds)
    rates = {name: figures[name] * size for name, (_, size) in cases.items()}
    trips = round_trips(max(1.5, args.seconds / 2))
    if args.json:
        record = {"per_second": figures | trips, "bytes_per_second": rates}
        print(json.dumps({"python": platform.python_version(), **record}))
        return
    print(f"DLMS codec, Python {platform.python_version()}, one core")
    print(f"  {'case':30s} {'frames/s':>10s} {'bytes':>6s} {'bytes/s':>11s} {'x 9600 Bd':>10s}")
    for name, (_, size) in cases.items():
        print(
            f"  {name:30s} {figures[name]:10,.0f} {size:6d} {rates[name]:11,.0f}"
            f" {rates[name] / LINE_RATE_BPS:10,.0f}"
        )
    print("  driver read_credit() against the simulated meter (GET + answer), per second:")
    for name, value in trips.items():
        print(f"  {name:30s} {value:10,.0f}")


if __name__ == "__main__":
    main()

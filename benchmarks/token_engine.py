"""Token engine throughput on one core: encode and decode, EA07 and EA11.

Prints tokens/s for each case, with the decoder key precomputed and with the key
derived per token (DKGA04 HMAC, or DKGA02 DES, + cipher key setup), and the ratio to the
target of 50,000 tokens/s. Run: python benchmarks/token_engine.py [--seconds S]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from hil.sts import codec
from hil.sts.dkga import derive_decoder_key
from hil.sts.identity import MeterPan
from hil.sts.keys import DecoderKey, KeyInfo
from hil.sts.sample_keys import TEST_VENDING_KEY_DKGA04
from hil.sts.tokens import CreditToken

TARGET = 50_000
PAN = MeterPan("600727000000000009")
VK = bytes.fromhex(TEST_VENDING_KEY_DKGA04)  # test material


def rate(fn: Callable[[int], object], seconds: float) -> float:
    """Calls per second of fn(i), measured for about ``seconds`` after a warm-up."""
    for i in range(2000):
        fn(i)
    n, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for i in range(n, n + 5000):
            fn(i)
        n += 5000
    return n / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per case")
    args = parser.parse_args()

    print(f"{'case':<44} {'tokens/s':>10} {'vs target':>10}")
    for ea in (11, 7):
        info = KeyInfo(sgc=123457, ti=1, krn=1, kt=2, ea=ea, dkga=4, base_year=2014)
        key = DecoderKey(derive_decoder_key(VK, PAN, info), ea)
        tokens = [codec.encode(CreditToken(i + 1, i & 15, 100 + i), key) for i in range(4096)]

        def derived(_i: int, info: KeyInfo = info, ea: int = ea) -> DecoderKey:
            return DecoderKey(derive_decoder_key(VK, PAN, info), ea)

        cases = {
            "encode, key precomputed": lambda i, key=key: codec.encode(
                CreditToken(i & 0xFFFFFF, i & 15, i & 0x3FFF), key
            ),
            "decode, key precomputed": lambda i, key=key, t=tokens: codec.decode(t[i & 4095], key),
            "encode, key derived per token": lambda i: codec.encode(
                CreditToken(i & 0xFFFFFF, 0, 100), derived(i)
            ),
            "decode, key derived per token": lambda i, t=tokens: codec.decode(
                t[i & 4095], derived(i)
            ),
        }
        for name, fn in cases.items():
            per_s = rate(fn, args.seconds)
            print(f"EA{ea:02d} {name:<39} {per_s:>10,.0f} {per_s / TARGET:>9.2f}x")


if __name__ == "__main__":
    main()

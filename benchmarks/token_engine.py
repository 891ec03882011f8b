"""Token engine throughput on one core: scalar and batch, EA11 and EA07, and DKGA04.

Run: python benchmarks/token_engine.py [--seconds S] [--batch N] [--json]

Every case runs in interleaved rounds (case A, case B, ..., then again) so that a noisy
machine slows all cases alike; the figure is the median round. Scalar cases make one
token per call (``codec.encode(CreditToken(...), key)``, ``codec.decode(digits, key)``),
batch cases ``--batch`` tokens per call (``encode_many``, ``decode_many`` from a list of
strings, plain fields). Batch cases are measured in steady state: each key has first
processed the rows after which the batch engine keeps per-key FI tables (see
docs/token-engine.md). The ratios batch/scalar are from the same run.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np

from hil.sts import codec
from hil.sts.batch import TokenFields, decode_many, derive_many, encode_many
from hil.sts.dkga import derive_decoder_key
from hil.sts.identity import MeterPan
from hil.sts.keys import DecoderKey, KeyInfo
from hil.sts.luhn import luhn_check_digit
from hil.sts.sample_keys import TEST_VENDING_KEY_DKGA04
from hil.sts.tokens import CreditToken

VK = bytes.fromhex(TEST_VENDING_KEY_DKGA04)  # public test material
PAN = MeterPan("600727000000000009")
TARGETS = {"ea11_encode_scalar": 200_000.0}  # issue 17
RATIO_TARGETS = {"ea11_encode_ratio": 12.0, "ea11_decode_ratio": 9.0}
WARM_ROWS = 1 << 17  # past the batch engine's per-key table threshold


def meter_pans(count: int) -> list[str]:
    """Distinct valid MeterPANs (legacy IIN, MfrCode 01)."""
    pans = []
    for i in range(count):
        drn = f"01{i:08d}"
        body = "600727" + drn + str(luhn_check_digit(drn))
        pans.append(body + str(luhn_check_digit(body)))
    return pans


def build_cases(batch: int, seed: int) -> dict[str, tuple[Callable[[], object], int]]:
    """name -> (one call, items per call)."""
    rng = np.random.default_rng(seed)
    cases: dict[str, tuple[Callable[[], object], int]] = {}
    for ea in (11, 7):
        info = KeyInfo(sgc=123457, ti=1, krn=1, kt=2, ea=ea, dkga=4, base_year=2014)
        key = DecoderKey(derive_decoder_key(VK, PAN, info), ea)
        tids = rng.integers(0, 1 << 24, batch)
        amounts = rng.integers(0, 1 << 14, batch)  # up to 1638.3 kWh: the common range
        rnds = rng.integers(0, 16, batch)
        rows = list(zip(tids.tolist(), rnds.tolist(), amounts.tolist(), strict=True))
        digits = encode_many(key, TokenFields.credit(tids, amounts, rnds)).tolist()
        for _ in range(WARM_ROWS // batch + 1):
            encode_many(key, TokenFields.credit(tids, amounts, rnds))

        def scalar_encode(key: DecoderKey = key, rows: list = rows) -> None:
            encode = codec.encode
            for tid, rnd, amount in rows:
                encode(CreditToken(tid, rnd, amount), key)

        def scalar_decode(key: DecoderKey = key, digits: list = digits) -> None:
            decode = codec.decode
            for text in digits:
                decode(text, key)

        def batch_encode(
            key: DecoderKey = key,
            tids: np.ndarray = tids,
            amounts: np.ndarray = amounts,
            rnds: np.ndarray = rnds,
        ) -> None:
            encode_many(key, TokenFields.credit(tids, amounts, rnds))

        def batch_decode(key: DecoderKey = key, digits: list = digits) -> None:
            decode_many(key, digits)

        def batch_decode_tokens(key: DecoderKey = key, digits: list = digits) -> None:
            decode_many(key, digits).tokens()

        name = f"ea{ea:02d}"
        cases[f"{name}_encode_scalar"] = (scalar_encode, batch)
        cases[f"{name}_encode_batch"] = (batch_encode, batch)
        cases[f"{name}_decode_scalar"] = (scalar_decode, batch)
        cases[f"{name}_decode_batch"] = (batch_decode, batch)
        cases[f"{name}_decode_batch_tokens"] = (batch_decode_tokens, batch)

    info = KeyInfo(sgc=123457, ti=1, krn=1, kt=2, ea=11, dkga=4, base_year=2014)
    pans = meter_pans(batch)
    meter_objects = [MeterPan(p) for p in pans]
    cases["dkga04_derive_scalar"] = (
        lambda: [derive_decoder_key(VK, p, info) for p in meter_objects],
        batch,
    )
    cases["dkga04_derive_batch"] = (lambda: derive_many(VK, pans, info), batch)
    return cases


def measure(
    cases: dict[str, tuple[Callable[[], object], int]], seconds: float, rounds: int
) -> dict[str, float]:
    """Median items/s per case over interleaved rounds of about seconds/rounds each."""
    per_round = seconds / rounds
    rates: dict[str, list[float]] = {name: [] for name in cases}
    for fn, _ in cases.values():
        fn()  # warm-up: imports, caches, table builds
    for _ in range(rounds):
        for name, (fn, items) in cases.items():
            calls, start = 0, time.perf_counter()
            while (elapsed := time.perf_counter() - start) < per_round:
                fn()
                calls += 1
            rates[name].append(calls * items / elapsed)
    return {name: statistics.median(values) for name, values in rates.items()}


def with_ratios(rates: dict[str, float]) -> dict[str, float]:
    out = dict(rates)
    for prefix in ("ea11_encode", "ea11_decode", "ea07_encode", "ea07_decode", "dkga04_derive"):
        out[f"{prefix}_ratio"] = rates[f"{prefix}_batch"] / rates[f"{prefix}_scalar"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="total time per case")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--batch", type=int, default=1000, help="tokens per batch call")
    parser.add_argument("--seed", type=int, default=17, help="seed of the random inputs")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    figures = with_ratios(measure(build_cases(args.batch, args.seed), args.seconds, args.rounds))
    if args.json:
        meta = {
            "unit": "tokens/s (dkga04: keys/s); ratios are batch/scalar",
            "batch_size": args.batch,
            "python": platform.python_version(),
            "numpy": np.__version__,
            "machine": platform.machine(),
        }
        print(json.dumps({**{k: round(v, 2) for k, v in figures.items()}, **meta}, indent=2))
        return
    print(f"{'case':<30} {'per second':>12}  note")
    for name, value in figures.items():
        if name.endswith("_ratio"):
            target = RATIO_TARGETS.get(name)
            note = f"target >= {target:.0f}x" if target else ""
            print(f"{name:<30} {value:>11.1f}x  {note}")
        else:
            target = TARGETS.get(name)
            note = f"target {target:,.0f}/s" if target else ""
            print(f"{name:<30} {value:>12,.0f}  {note}")


if __name__ == "__main__":
    main()

"""Seven-segment OCR of the meter's LCD: how often a rendered frame reads back right.

Run: python benchmarks/display_ocr.py [--frames N] [--noise K] [--seed S] [--json]

Renders N frames of the built-in simulated LCD (hil/data/displays/sim-lcd.yaml) at the
default camera noise (times K), each showing a random credit at a random resolution or a
random result word, with random icons, all drawn from --seed; reads each back and compares.
A reading is right when its text and icons are what was drawn. The figures that matter:
wrong-and-sure must be 0 (a wrong reading only ever comes with a confidence below the
threshold), and right should be >= 99.9 %. Render and OCR times are given apart, per frame.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import time

from hil.display import (
    DEFAULT_THRESHOLD,
    DisplayState,
    Noise,
    builtin_display_map,
    credit_text,
    read_display,
    render,
)

RESOLUTIONS = (0.001, 0.01, 0.1, 1.0)


def frames(count: int, seed: int, cells: int, words: list[str], icons: list[str]):
    """(frame seed, state) pairs: 60 % credit values, 40 % result words."""
    rng = random.Random(seed)
    for n in range(count):
        if rng.random() < 0.6:
            kwh = 10 ** rng.uniform(-2, 5)
            text = credit_text(kwh, rng.choice(RESOLUTIONS), cells)
        else:
            text = rng.choice(words)
        lit = frozenset(name for name in icons if rng.random() < 0.4)
        yield seed * 1_000_003 + n, DisplayState(text, lit)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=2000, help="frames to render and read")
    parser.add_argument("--noise", type=float, default=1.0, help="times the default noise")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    lcd = builtin_display_map()
    noise = Noise().scaled(args.noise)
    words = [m.text for m in lcd.messages.values()]
    right = wrong_sure = wrong_unsure = unsure_right = 0
    render_ms: list[float] = []
    ocr_ms: list[float] = []
    examples: list[str] = []
    for frame_seed, state in frames(
        args.frames, args.seed, lcd.field.cells, words, list(lcd.icons)
    ):
        start = time.perf_counter()
        image = render(state, lcd, noise=noise, seed=frame_seed)
        middle = time.perf_counter()
        reading = read_display(image, lcd, threshold=args.threshold)
        end = time.perf_counter()
        render_ms.append((middle - start) * 1000)
        ocr_ms.append((end - middle) * 1000)
        ok = reading.text == state.text.strip() and reading.icons == state.icons
        right += ok
        if not ok:
            if reading.sure:
                wrong_sure += 1
            else:
                wrong_unsure += 1
            if len(examples) < 5:
                examples.append(
                    f"seed {frame_seed}: {state.text.strip()!r} read {reading.text!r} "
                    f"({reading.confidence:.2f}, weakest {reading.weakest})"
                )
        elif not reading.sure:
            unsure_right += 1

    figures = {
        "frames": args.frames,
        "noise": args.noise,
        "threshold": args.threshold,
        "right_pct": 100 * right / args.frames,
        "wrong_and_sure": wrong_sure,
        "wrong_but_unsure": wrong_unsure,
        "unsure_but_right": unsure_right,
        "ocr_ms_median": statistics.median(ocr_ms),
        "ocr_ms_p95": percentile(ocr_ms, 95),
        "render_ms_median": statistics.median(render_ms),
        "render_ms_p95": percentile(render_ms, 95),
    }
    if args.json:
        print(json.dumps({"python": platform.python_version(), **figures}))
        return
    print(
        f"Display OCR, {args.frames} frames of {lcd.name} at {args.noise:g} x default noise, "
        f"threshold {args.threshold:g}, Python {platform.python_version()}"
    )
    print(f"  readings right       {figures['right_pct']:8.2f} %")
    print(f"  wrong and sure       {wrong_sure:8d}    (must be 0)")
    print(f"  wrong but unsure     {wrong_unsure:8d}")
    print(f"  unsure but right     {unsure_right:8d}")
    print(
        f"  OCR ms per frame     median {figures['ocr_ms_median']:6.2f}   "
        f"p95 {figures['ocr_ms_p95']:6.2f}"
    )
    print(
        f"  render ms per frame  median {figures['render_ms_median']:6.2f}   "
        f"p95 {figures['render_ms_p95']:6.2f}"
    )
    for line in examples:
        print(f"  wrong: {line}")


if __name__ == "__main__":
    main()

"""Phantom generation speed on one core: phantoms per second at 512x512.

Target: 200 phantoms at 512x512 in under 20 s on one core. Run with::

    OMP_NUM_THREADS=1 python benchmarks/bench_phantoms.py [--n 200] [--size 512]

The baseline measured in the same run is the cost of the same number of 512x512 Gaussian
blurs of white noise (what any noisy synthetic image costs at least), so the ratio is
comparable across machines.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")


def main() -> None:
    """Time make_phantom for --n seeds and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--size", type=int, default=512)
    args = parser.parse_args()

    import cv2
    import numpy as np

    cv2.setNumThreads(1)
    from radinpaint.datasets.phantom import make_phantom

    make_phantom(0, size=args.size)  # warm-up (imports, first-call costs)
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    for _ in range(args.n):
        noise = rng.standard_normal((args.size, args.size), dtype=np.float32)
        cv2.GaussianBlur(noise, (0, 0), 2.0)
    baseline = time.perf_counter() - t0

    t0 = time.perf_counter()
    for seed in range(args.n):
        make_phantom(seed, size=args.size)
    total = time.perf_counter() - t0
    clean_t0 = time.perf_counter()
    for seed in range(args.n):
        make_phantom(seed, size=args.size, artifacts=False)
    clean_total = time.perf_counter() - clean_t0

    print(f"phantoms: {args.n} at {args.size}x{args.size}, one core")
    print(f"  with artifacts:    {total:.2f} s total, {args.n / total:.1f} phantoms/s")
    print(f"  without artifacts: {clean_total:.2f} s total, {args.n / clean_total:.1f} phantoms/s")
    print(f"  baseline (noise + blur per image): {baseline:.2f} s; ratio {total / baseline:.1f}x")
    target = 20.0 * args.n / 200.0
    print(f"  target: under {target:.1f} s -> {'met' if total < target else 'NOT met'}")


if __name__ == "__main__":
    main()

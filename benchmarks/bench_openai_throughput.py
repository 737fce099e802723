"""Throughput of the openai inpainter under a rate limit, against a local fake of the API.

Sends ``cases x variants`` image edits (default 200 x 3 = 600, the study's size) through the
real openai SDK to the fake server of the test suite (``tests/inpainters/fake_openai_server``,
on 127.0.0.1) which answers each call after ``--latency`` seconds. The backend runs with a
client-side limit of ``--rate`` images per minute and ``--concurrency`` calls in flight.

Prints the wall time, the achieved images per minute, and that as a fraction of the ideal
set by the rate limit alone (images / rate); and, for comparison, the time the reference
study's script would take for the same images: it sent its calls one after another and slept
15 s after each (``n=3`` per call; about 50 minutes for 200 images).

Images are 256x256 (``size="256x256"``) so that PNG encoding on a small CPU does not become
the bottleneck being measured. Nothing leaves the machine.

Usage::

    python benchmarks/bench_openai_throughput.py                  # 600 images, ~1 minute
    python benchmarks/bench_openai_throughput.py --n 1 --concurrency 16
    python benchmarks/bench_openai_throughput.py --inject-429 10   # with Retry-After: 1
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "inpainters"))

STUDY_SLEEP_S = 15.0


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print its figures."""
    from fake_openai_server import FakeOpenAI, serve

    from radinpaint import InpaintRequest, get_inpainter
    from radinpaint.records import Mask, Radiograph

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, default=200)
    p.add_argument("--variants", type=int, default=3)
    p.add_argument("--n", type=int, default=3, help="images per API call")
    p.add_argument("--latency", type=float, default=1.0, help="seconds per call at the server")
    p.add_argument("--rate", type=float, default=600.0, help="images per minute (client limit)")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--inject-429", type=int, default=0, help="429 answers (Retry-After: 1)")
    args = p.parse_args(argv)

    import numpy as np

    rng = np.random.default_rng(0)
    mask_arr = np.zeros((128, 96), bool)
    mask_arr[10:30, 60:90] = True
    mask = Mask(mask_arr, "bench")
    requests = []
    for c in range(args.cases):
        image = Radiograph.from_float(rng.random((128, 96), dtype=np.float32), 16)
        requests += [
            InpaintRequest(image, mask, seed=c, variant=v, case_id=f"case{c}")
            for v in range(args.variants)
        ]
    images = len(requests)
    calls = args.cases * -(-args.variants // args.n)

    state = FakeOpenAI(latency=args.latency)
    for _ in range(args.inject_429):
        state.fail_next(429, retry_after=1)
    with serve(state) as server:
        backend = get_inpainter(
            "openai",
            base_url=server.base_url,
            api_key="sk-benchmark",
            allow_external_upload=True,
            size="256x256",
            quality="low",
            n=args.n,
            images_per_minute=args.rate,
            max_concurrency=args.concurrency,
        )
        start = time.perf_counter()
        results = backend.inpaint(requests)
        wall = time.perf_counter() - start
    assert len(results) == images

    ideal = images / (args.rate / 60.0)
    achieved_per_min = images / wall * 60.0
    study_calls = args.cases * -(-args.variants // 3)
    study = study_calls * (STUDY_SLEEP_S + args.latency)
    print(f"images: {images} in {calls} calls (n={args.n}), server latency {args.latency:.1f} s")
    print(f"limit: {args.rate:.0f} images/min, {args.concurrency} calls in flight at most")
    print(f"HTTP requests received: {server.requests_total} (429s injected: {args.inject_429})")
    print(f"most calls in flight at the server: {server.max_in_flight}")
    print(f"wall time: {wall:.1f} s; achieved {achieved_per_min:.0f} images/min")
    print(f"ideal under the limit: {ideal:.1f} s; achieved fraction of ideal: {ideal / wall:.3f}")
    print(
        f"study script (sequential, {STUDY_SLEEP_S:.0f} s sleep per n=3 call): {study_calls} "
        f"calls x {STUDY_SLEEP_S + args.latency:.0f} s = {study:.0f} s ({study / 60:.1f} min); "
        f"speed-up {study / wall:.1f}x"
    )
    print(f"estimated cost at list prices (gpt-image-1.5, low): ${backend.spent_usd:.2f}")


if __name__ == "__main__":
    main()

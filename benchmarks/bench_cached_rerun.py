"""What a fully cached rerun of an evaluation costs: content hashes per case and wall time.

Runs an evaluation (4 inpainters x 3 variants, every variant computed, the shipped
phantom ensemble) on large phantoms with a cache, then the same evaluation again on the same
cache, and prints for each run the wall time and how many SHA-256 content hashes of images
and masks were computed per case (records memoize their hash, so each distinct image is
hashed once), next to the number of distinct images a case involves.

    OMP_NUM_THREADS=2 python benchmarks/bench_cached_rerun.py --n 8 --size 1024
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from typing import Any

from radinpaint import records
from radinpaint.datasets.phantom import PhantomDataset
from radinpaint.evaluation import Evaluation

BACKENDS = ["identity", "telea", "navier-stokes", "resample"]


class CountingSha256:
    """Counts SHA-256 objects the records module creates (one per content hash computed)."""

    def __init__(self) -> None:
        self.calls = 0

    def sha256(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return hashlib.sha256(*args, **kwargs)


def run_once(n: int, size: int, cache: str) -> tuple[float, int, dict[str, Any]]:
    counter = CountingSha256()
    records.hashlib = counter  # type: ignore[assignment]  # the records module's hashlib
    try:
        start = time.perf_counter()
        result = Evaluation(
            PhantomDataset(n, size=size, seed=11),
            inpainters=BACKENDS,
            predictors=["phantom-ensemble"],
            variants=3,
            cache_dir=cache,
            replicate_seed_independent=False,
            pixel_detail_cases=0,
            progress=False,
        ).run()
        seconds = time.perf_counter() - start
        timings = result.manifest["timings_s"]
        print("   stage seconds: " + ", ".join(f"{k} {v:.2f}" for k, v in timings.items()))
        return seconds, counter.calls, result.manifest["counts"]
    finally:
        records.hashlib = hashlib  # type: ignore[assignment]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=8, help="phantom cases")
    p.add_argument("--size", type=int, default=1024, help="phantom size in pixels")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as cache:
        print(
            f"{args.n} phantoms at {args.size} px; inpainters {', '.join(BACKENDS)} x 3 "
            "variants (all computed); predictor phantom-ensemble"
        )
        for label in ("first run", "cached rerun"):
            seconds, hashes, counts = run_once(args.n, args.size, cache)
            print(
                f"{label:>13}: {seconds:7.2f} s; {hashes / args.n:5.1f} content hashes per case; "
                f"inpaint computed {int(counts['inpaint_computed'])}, "
                f"cached {int(counts['inpaint_cached'])}; predictions computed "
                f"{int(counts['predict_computed'])}, cached {int(counts['predict_cached'])}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

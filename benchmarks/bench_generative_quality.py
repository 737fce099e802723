"""FID, KID and precision/recall/density/coverage of every bench backend, with bootstrap CIs.

Runs the bench's backends (``radinpaint bench``'s default set) on phantoms through an
:class:`~radinpaint.evaluation.Evaluation` whose only metric is ``generative``, and prints,
per backend and variant (``pooled``: every variant together), each statistic with its 95%
interval (basic bootstrap over cases), the number of cases, and the time spent.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/bench_generative_quality.py            # 200 phantoms
    python benchmarks/bench_generative_quality.py --n 20 --size 256 --n-resamples 200
    python benchmarks/bench_generative_quality.py --fid-coverage 30   # interval coverage
    python benchmarks/bench_generative_quality.py --features inception \\
        --weights /models/pt_inception-2015-12-05-6726825d.pth          # needs torch-fidelity

``--fid-coverage R`` instead draws R pairs of 200-case samples from two 8-dimensional
Gaussians with a known FID and counts how many basic and percentile intervals (200
resamples) hold it.

Inpainting results and predictions are cached (``--cache``), so a second run only extracts
features and bootstraps. The decomposition the evaluation also computes uses
``--decomposition-resamples`` (default 200) to keep the run short.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path


def _cell(value: float, low: float, high: float, digits: int) -> str:
    if not math.isfinite(value):
        return ""
    return f"{value:.{digits}g} [{low:.{digits}g}, {high:.{digits}g}]"


def fid_coverage(reps: int, *, d: int = 8, n: int = 200, n_resamples: int = 200) -> None:
    """Print how many of ``reps`` basic and percentile FID intervals hold the true FID of
    N(0, I) against N(0.2, 1.2 I) in ``d`` dimensions, from ``n`` cases each."""
    import numpy as np

    from radinpaint.metrics.generative import PairedFeatures, generative_scores

    truth = d * 0.2**2 + d * (1 + 1.2 - 2 * math.sqrt(1.2))
    held = {"basic": 0, "percentile": 0}
    values = []
    for r in range(reps):
        rng = np.random.default_rng(100 + r)
        x = rng.normal(size=(n, d))
        y = rng.normal(size=(n, d)) * math.sqrt(1.2) + 0.2
        pair = PairedFeatures.from_arrays(x, y)
        for method in held:
            est = generative_scores(pair, n_resamples=n_resamples, seed=r, method=method)["fid"]
            held[method] += est.ci_low <= truth <= est.ci_high
        values.append(est.value)
    print(f"true FID {truth:.4f}; mean estimate {np.mean(values):.4f} ({n} cases, d={d})")
    for method, count in held.items():
        print(f"{method}: {count} of {reps} intervals hold the true FID")


def main(argv: list[str]) -> int:
    """Run the evaluation and print the generative table."""
    from radinpaint.cli.bench import DEFAULT_BACKENDS, available_backends
    from radinpaint.datasets import PhantomDataset
    from radinpaint.evaluation import Evaluation
    from radinpaint.evaluation.presets import get_preset

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200, help="phantoms (200)")
    parser.add_argument("--size", type=int, default=512, help="phantom height (512)")
    parser.add_argument("--variants", type=int, default=3, help="variants per case (3)")
    parser.add_argument("--seed", type=int, default=0, help="dataset and run seed (0)")
    parser.add_argument("--n-resamples", type=int, default=1000, help="bootstrap resamples")
    parser.add_argument("--decomposition-resamples", type=int, default=200,
                        help="resamples of the evaluation's decomposition (200)")  # fmt: skip
    parser.add_argument("--features", default="phantom-ensemble", help="feature extractor")
    parser.add_argument("--weights", default=None, help="InceptionV3 weights (inception)")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/radinpaint-generative/cache"),
                        help="cache folder (reruns reuse it)")  # fmt: skip
    parser.add_argument("--workers", type=int, default=2, help="threads for backends (2)")
    parser.add_argument("--fid-coverage", type=int, default=0,
                        help="only check FID interval coverage on R Gaussian samples")  # fmt: skip
    args = parser.parse_args(argv)
    if args.fid_coverage:
        fid_coverage(args.fid_coverage)
        return 0

    specs, notes = available_backends(list(DEFAULT_BACKENDS), None, None, None, args.cache)
    for note in notes:
        print(f"left out {note}")
    options: dict[str, object] = {"features": args.features, "n_resamples": args.n_resamples}
    if args.weights:
        options["weights"] = args.weights
    from radinpaint.evaluation import BackendSpec
    from radinpaint.evaluation.executor import LocalExecutor

    evaluation = Evaluation(
        dataset=PhantomDataset(args.n, seed=args.seed, size=args.size),
        inpainters=specs,
        predictors=["phantom-ensemble"],
        variants=args.variants,
        seed=args.seed,
        preset=get_preset("recommended").with_resamples(args.decomposition_resamples),
        metrics=[BackendSpec("generative", options)],
        cache_dir=args.cache,
        executor=LocalExecutor(args.workers),
        progress=False,
        n_samples=0,
        pixel_detail_cases=0,
    )
    print(f"{args.n} phantoms ({args.size} px) x {args.variants} variants; backends: "
          f"{', '.join(s.label for s in evaluation.inpainters)}")  # fmt: skip
    started = time.perf_counter()
    result = evaluation.run()
    elapsed = time.perf_counter() - started
    if "generative" in result.metric_errors:
        print(f"generative not computed: {result.metric_errors['generative']}")
        return 1
    res = result.metrics["generative"]
    table = res.table
    print(f"features: {res.details['features']}; {res.details['n_originals']} originals; "
          f"{args.n_resamples} resamples, basic 95% intervals over cases")  # fmt: skip
    stats = ("fid", "kid", "precision", "recall", "density", "coverage")
    header = ["inpainter", "variant", "n", *stats]
    lines = []
    for (label, variant), group in table.groupby(["inpainter", "variant"], sort=False):
        by = {r["metric"]: r for _, r in group.iterrows()}
        digits = {"fid": 3, "kid": 2}
        cells = [
            _cell(by[s]["value"], by[s]["ci_low"], by[s]["ci_high"], digits.get(s, 2))
            for s in stats
        ]
        lines.append([str(label), str(variant), str(int(group["n_cases"].iloc[0])), *cells])
    widths = [max(len(h), *(len(row[i]) for row in lines)) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for row in lines:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    timings = result.manifest.get("timings_s", {}) if isinstance(result.manifest, dict) else {}
    images = timings.get("metric_images_s")
    metrics = timings.get("metrics_s")
    print(f"total {elapsed:.1f} s; features {images:.1f} s; bootstrap and scores "
          f"{metrics:.1f} s" if images is not None and metrics is not None
          else f"total {elapsed:.1f} s")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Ray executor vs local executor on phantoms: wall time, driver memory, per-image costs.

Each measurement runs in a fresh subprocess (so peak RSS is that run's alone):

- ``local`` and ``ray`` over ``--n`` phantoms through the bench's classical backends and the
  ``phantom-ensemble`` predictor: wall time of ``Evaluation.run`` and the ratio;
- ``ray`` over ``--n-small`` phantoms: the driver's peak RSS against the large run's (the
  driver holds one chunk at a time, so the ratio should stay near 1);
- per-image costs from the local run's own timings (seconds per inpainted output per
  backend, seconds per predicted image), the figures ``docs/distributed.md`` plans with.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/bench_ray.py --n 2000 --n-small 200 --size 128 \\
        --out runs/bench_ray.json

Ray starts a local instance with ``--cpus`` CPUs (default 2).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BACKENDS = "identity,resample,telea,navier-stokes"
"""The default backends: the bench's controls and classical inpainters that run in seconds
on a CPU for thousands of small phantoms (``--backends`` takes any of the bench's)."""


def one_run(
    executor: str, n: int, size: int, cpus: int, cache: str | None, opts: argparse.Namespace
) -> dict[str, Any]:
    """Run one evaluation in this process and report wall time, peak RSS and timings."""
    import resource

    from radinpaint.datasets.phantom import PhantomDataset
    from radinpaint.evaluation import Evaluation, LocalExecutor, RayExecutor

    ex: Any = LocalExecutor(cpus) if executor == "local" else RayExecutor(num_cpus=cpus)
    ev = Evaluation(
        PhantomDataset(n, size=size, seed=1),
        inpainters=opts.backends.split(","),
        predictors=["phantom-ensemble"],
        variants=opts.variants,
        views=tuple(opts.views.split(",")),
        chunk_size=16,
        progress=False,
        executor=ex,
        cache_dir=cache,
        n_samples=0,
        pixel_detail_cases=0,
    )
    if executor == "ray":
        ex._init()  # start Ray before the clock: the cluster is there before a run
    t = time.perf_counter()
    result = ev.run()
    wall = time.perf_counter() - t
    counts = result.manifest["counts"]
    timings = result.manifest.get("timings_s", {})
    return {
        "executor": executor,
        "n": n,
        "size": size,
        "cpus": cpus,
        "wall_s": wall,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rows": len(result.table),
        "errors": int(result.table["error"].notna().sum()),
        "counts": counts,
        "timings": timings,
    }


def _subprocess(
    executor: str, n: int, size: int, cpus: int, cache: str | None, opts: argparse.Namespace
) -> dict:
    cmd = [sys.executable, __file__, "--one", executor, "--n", str(n), "--size", str(size)]
    cmd += ["--cpus", str(cpus)] + (["--cache", cache] if cache else [])
    cmd += ["--backends", opts.backends, "--views", opts.views, "--variants", str(opts.variants)]
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{executor} n={n} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def per_image(run: dict) -> dict[str, float]:
    """Seconds per computed output per backend, and per predicted image, from a run."""
    counts, timings = run["counts"], run["timings"]
    out: dict[str, float] = {}
    n = run["n"]
    for key, seconds in timings.items():
        if key.startswith("inpaint[") and key.endswith("]_s"):
            out[key[len("inpaint[") : -3] + "_s_per_case"] = seconds / max(1, n)
    predicted = counts.get("predict_computed", 0)
    if predicted:
        out["predict_s_per_image"] = timings.get("predict_s", 0.0) / predicted
        out["predicted_images"] = predicted
    return out


def costs(n: int, size: int, backends: str) -> dict[str, float]:
    """Seconds per image of each backend and of the predictor, one at a time on this CPU.

    ``n`` phantoms of ``size`` pixels, every backend called serially (one variant, the total
    view only), each stage timed by the evaluation itself.
    """
    from radinpaint.datasets.phantom import PhantomDataset
    from radinpaint.evaluation import Evaluation, SerialExecutor

    result = Evaluation(
        PhantomDataset(n, size=size, seed=2),
        inpainters=backends.split(","),
        predictors=["phantom-ensemble"],
        variants=1,
        views=("total",),
        chunk_size=n,
        progress=False,
        executor=SerialExecutor(),
        n_samples=0,
        pixel_detail_cases=0,
    ).run()
    timings, counts = result.manifest["timings_s"], result.manifest["counts"]
    out = {
        key[len("inpaint[") : -3]: seconds / n
        for key, seconds in timings.items()
        if key.startswith("inpaint[") and key.endswith("]_s")
    }
    out["phantom-ensemble (per image)"] = timings["predict_s"] / max(
        1, counts.get("predict_computed", 0)
    )
    return out


def main(argv: list[str] | None = None) -> None:
    """Run the comparison and print (and optionally write) the figures."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--n-small", type=int, default=200)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--cpus", type=int, default=2)
    p.add_argument("--cache", default=None)
    p.add_argument("--backends", default=BACKENDS, help="comma list of inpainter specs")
    p.add_argument("--views", default="total", help="decomposition views scored")
    p.add_argument("--variants", type=int, default=3)
    p.add_argument("--costs", type=int, default=4, help="phantoms for per-image costs (0: skip)")
    p.add_argument("--cost-size", type=int, default=1024)
    p.add_argument("--cost-backends", default="resample,telea,navier-stokes,biharmonic,gan")
    p.add_argument("--skip-compare", action="store_true", help="per-image costs only")
    p.add_argument("--one", choices=["local", "ray"], default=None, help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    if args.one:
        print(json.dumps(one_run(args.one, args.n, args.size, args.cpus, args.cache, args)))
        return
    per_image_costs = costs(args.costs, args.cost_size, args.cost_backends) if args.costs else {}
    print(f"seconds per image at {args.cost_size} px, one at a time:")
    print(json.dumps(per_image_costs, indent=1))
    if args.skip_compare:
        return
    runs = {
        "local": _subprocess("local", args.n, args.size, args.cpus, None, args),
        "ray": _subprocess("ray", args.n, args.size, args.cpus, None, args),
        "ray_small": _subprocess("ray", args.n_small, args.size, args.cpus, None, args),
    }
    summary = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "wall_ratio_ray_over_local": runs["ray"]["wall_s"] / runs["local"]["wall_s"],
        "driver_rss_ratio_large_over_small": runs["ray"]["peak_rss_mb"]
        / runs["ray_small"]["peak_rss_mb"],
        "per_image_local": per_image(runs["local"]),
        "per_image_costs": {"size": args.cost_size, "seconds": per_image_costs},
        "runs": {k: {kk: v for kk, v in r.items() if kk != "counts"} for k, r in runs.items()},
    }
    for k, r in runs.items():
        print(
            f"{k:10s} n={r['n']:5d}  wall {r['wall_s']:8.1f} s  driver peak RSS "
            f"{r['peak_rss_mb']:7.1f} MB  rows {r['rows']}  errors {r['errors']}"
        )
    print(f"wall ratio ray/local: {summary['wall_ratio_ray_over_local']:.2f}")
    print(f"driver RSS ratio {args.n}/{args.n_small}: "
          f"{summary['driver_rss_ratio_large_over_small']:.2f}")  # fmt: skip
    print(json.dumps(summary["per_image_local"], indent=1))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(summary, indent=1, default=str))


if __name__ == "__main__":
    main()

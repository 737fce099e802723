"""Saliency maps: speed, and how far inpainting moves where the shipped models look.

1. Speed: seconds per image of :func:`radinpaint.saliency.explain` for the shipped phantom
   ensemble on 512-pixel phantoms, per target and method, batched (passes of
   ``--batch`` images) and one image at a time (one call per image, passes of one).
2. Saliency shift on ``--n`` phantoms: the originals and the outputs of ``identity``,
   ``resample``, ``telea`` and ``redraw`` (``diffusion:mode=redraw``), Grad-CAM and
   gradient x input of both targets, the per-case shift and the ``saliency-shift`` metric
   (means with 95% percentile bootstrap CIs, 1000 resamples). Identity must read exactly 0.

Writes ``saliency.md``, ``saliency.html``, the grid figure and the CSVs to ``--out``.

    OMP_NUM_THREADS=1 python benchmarks/bench_saliency.py --threads 1 --out /tmp/saliency
    OMP_NUM_THREADS=1 python benchmarks/bench_saliency.py --threads 1 --speed-only
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

BACKENDS: tuple[tuple[str, str, dict], ...] = (
    ("identity", "identity", {}),
    ("resample", "resample", {}),
    ("telea", "telea", {}),
    ("redraw", "diffusion", {"mode": "redraw"}),
)
"""Label, registered name and options of each backend compared."""


def speed(ens, cases, methods, batch: int) -> list[dict]:
    """Seconds per image, batched and one at a time, per target and method."""
    from radinpaint.saliency import explain

    male = [c.male for c in cases]
    rows = []
    for target in ens.targets:
        for method, n in methods:
            some, sexes = cases[:n], male[:n]
            explain(ens, some[:1], target=target, method=method, male=sexes[:1])  # warm up
            t0 = time.perf_counter()
            explain(ens, some, target=target, method=method, male=sexes, batch_size=batch)
            batched = (time.perf_counter() - t0) / n
            t0 = time.perf_counter()
            for c, m in zip(some, sexes, strict=True):
                explain(ens, [c], target=target, method=method, male=[m], batch_size=1)
            single = (time.perf_counter() - t0) / n
            rows.append({"target": target, "method": method, "images": n,
                         "batched_s_per_image": round(batched, 4),
                         "single_s_per_image": round(single, 4),
                         "speedup": round(single / batched, 2)})  # fmt: skip
            print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=200, help="phantoms for the shift (default 200)")
    p.add_argument("--speed-n", type=int, default=32, help="phantoms timed (default 32)")
    p.add_argument("--ig-n", type=int, default=8, help="phantoms timed with IG (default 8)")
    p.add_argument("--batch", type=int, default=16, help="images per pass (default 16)")
    p.add_argument("--chunk", type=int, default=50, help="cases per chunk (default 50)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
    p.add_argument("--speed-only", action="store_true", help="time the maps only (part 1)")
    p.add_argument("--out", type=Path, default=Path("/tmp/radinpaint-saliency"),
                   help="report folder (default /tmp/radinpaint-saliency)")  # fmt: skip
    args = p.parse_args()

    import torch

    from radinpaint import get_inpainter, get_metric
    from radinpaint.datasets import make_phantoms
    from radinpaint.predictors import load_phantom_ensemble
    from radinpaint.records import InpaintRequest
    from radinpaint.report.saliency import saliency_panels, write_saliency_report
    from radinpaint.saliency import saliency_shift_table

    torch.set_num_threads(args.threads)
    ens = load_phantom_ensemble(device="cpu")
    started = time.perf_counter()
    timing = speed(
        ens, make_phantoms(args.speed_n, seed=11),
        [("grad-cam", args.speed_n), ("input-x-gradient", args.speed_n),
         ("integrated-gradients", args.ig_n)],
        args.batch,
    )  # fmt: skip
    if args.speed_only:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "speed.json").write_text(json.dumps(timing, indent=1))
        return
    backends = [(label, get_inpainter(name, **opts)) for label, name, opts in BACKENDS]
    methods = ("grad-cam", "input-x-gradient")
    tables = []
    inpaint_s = 0.0
    saliency_s = 0.0
    grid = None
    for start in range(0, args.n, args.chunk):
        cases = make_phantoms(args.n, seed=0)[start : start + args.chunk]
        t0 = time.perf_counter()
        outputs = {}
        for label, backend in backends:
            requests = [InpaintRequest(image=c.image, mask=c.artifact_mask, seed=0,
                                       case_id=c.id) for c in cases]  # fmt: skip
            outputs[label] = [r.image for r in backend.inpaint(requests)]
        inpaint_s += time.perf_counter() - t0
        t0 = time.perf_counter()
        tables.append(saliency_shift_table(ens, cases, outputs, methods=methods,
                                           batch_size=args.batch))  # fmt: skip
        saliency_s += time.perf_counter() - t0
        if grid is None:
            grid = (cases[:2], {k: v[:2] for k, v in outputs.items() if k != "identity"})
        print(f"{min(start + args.chunk, args.n)}/{args.n} cases", flush=True)
    import pandas as pd

    per_case = pd.concat(tables, ignore_index=True)
    result = get_metric("saliency-shift", n_resamples=args.resamples).compute(per_case)
    ident = per_case[per_case["inpainter"] == "identity"]
    shift_cols = ["rank_shift", "emd", "tv", *(c for c in per_case if c.startswith("delta_"))]
    values = ident[shift_cols].to_numpy(float)
    identity_zero = bool(np.all((values == 0.0) | np.isnan(values)))
    assert grid is not None
    panels = saliency_panels(ens, grid[0], grid[1])
    total = time.perf_counter() - started
    facts = {
        "cases": args.n,
        "predictor": f"{ens.name} ({len(ens.members)} members), CPU, {args.threads} thread(s)",
        "methods": ", ".join(methods),
        "backends": ", ".join(label for label, _, _ in BACKENDS),
        "identity exactly 0": identity_zero,
        "inpainting (s)": round(inpaint_s, 1),
        "saliency and shift (s)": round(saliency_s, 1),
        "total (s)": round(total, 1),
    }
    paths = write_saliency_report(args.out, result, panels=panels, per_case=per_case,
                                  facts=facts)  # fmt: skip
    (args.out / "speed.json").write_text(json.dumps(timing, indent=1))
    table = result.table
    table = table[table["member"] == "ensemble"]
    cols = ["inpainter", "target", "saliency", "n", "rank_shift", "rank_shift_ci_low",
            "rank_shift_ci_high", "emd", "emd_ci_low", "emd_ci_high", "tv",
            "delta_share_artifact", "delta_share_hand", "delta_share_growth_plates",
            "delta_share_carpals"]  # fmt: skip
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(table[cols].round(4).to_string(index=False))
    print(json.dumps(facts))
    print("wrote", ", ".join(str(p) for p in paths.values()))


if __name__ == "__main__":
    main()

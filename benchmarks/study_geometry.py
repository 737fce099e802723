"""The study's geometry on portrait phantoms, with its negative and positive controls.

Runs one evaluation on ``--n`` phantoms (generator version 2: RSNA aspect ratios) with the
shipped ``phantom-ensemble`` and four controls, and prints what the closing figures of a
study-fidelity check need:

- ``study-geometry`` (``resample:restore=false``): the squash to 1024x1024 the reference
  study did, scored as its predictors read it (never resized back): mean signed and mean
  absolute bone-age shift and the share of sex flips, each with a 95% percentile bootstrap
  CI over cases, and the signed-rank p of the shift;
- ``resample``: the same squash, resized back (what a pipeline that restores keeps of it);
- ``identity``: every view, part and change must be exactly 0;
- ``blur`` (``--sigma`` pixels, default 1.5): a positive control, a known systematic
  damage the signed-shift test must detect;
- for each, the Shapley decomposition's parts and the residual (0 by construction).

Usage::

    python benchmarks/study_geometry.py                       # 200 phantoms, 512 high
    python benchmarks/study_geometry.py --n 40 --size 256     # a quick look
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def _bootstrap(values: np.ndarray, seed: int = 0, n: int = 2000) -> tuple[float, float]:
    from radinpaint.metrics.bootstrap import bootstrap_ci

    ci = bootstrap_ci(
        values,
        statistic=lambda v, axis=-1: np.mean(v, axis=axis),
        n_resamples=n,
        method="percentile",
        seed=seed,
    )
    return float(ci.ci_low), float(ci.ci_high)


def main(argv: list[str]) -> int:
    """Run the evaluation and print the figures."""
    from radinpaint.datasets import PhantomDataset
    from radinpaint.evaluation import Evaluation, get_preset
    from radinpaint.metrics.paired import signed_shift_test

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--size", type=int, default=512, help="phantom height (512)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sigma", type=float, default=1.5, help="blur sigma (pixels)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)

    data = PhantomDataset(args.n, seed=args.seed, size=args.size)
    ratios = np.array([data[i].image.shape[0] / data[i].image.shape[1] for i in range(args.n)])
    print(
        f"{args.n} phantoms, {args.size} high; height/width: median {np.median(ratios):.3f}, "
        f"range {ratios.min():.3f}-{ratios.max():.3f}, portrait {np.mean(ratios > 1):.0%}"
    )
    start = time.perf_counter()
    result = Evaluation(
        data,
        inpainters=[
            "identity",
            "resample",
            "study-geometry=resample:restore=false",
            f"blur:sigma={args.sigma}",
        ],
        predictors=["phantom-ensemble"],
        variants=1,
        preset=get_preset("recommended").with_resamples(200),
        progress=False,
        pixel_detail_cases=0,
    ).run()
    print(f"evaluation: {time.perf_counter() - start:.1f} s")
    if len(result.failures):
        print(result.failures.to_string())
    total = result.scored_rows("total")
    for label, rows in total.groupby("inpainter", sort=False):
        rows = rows.sort_values("case_id")
        shift = (rows["pred_bone_age"] - rows["orig_pred_bone_age"]).to_numpy(float)
        flips = ((rows["pred_p_male"] >= 0.5) != (rows["orig_pred_p_male"] >= 0.5)).to_numpy(float)
        test = signed_shift_test(rows["orig_pred_bone_age"], rows["pred_bone_age"])
        lo, hi = _bootstrap(shift) if np.any(shift) else (0.0, 0.0)
        alo, ahi = _bootstrap(np.abs(shift)) if np.any(shift) else (0.0, 0.0)
        flo, fhi = _bootstrap(flips) if np.any(flips) else (0.0, 0.0)
        print(
            f"{label:>16}: shift {shift.mean():+.3f} months [{lo:+.3f}, {hi:+.3f}] "
            f"(signed-rank p {test.p_value:.2g}); |shift| {np.abs(shift).mean():.3f} "
            f"[{alo:.3f}, {ahi:.3f}]; sex flips {int(flips.sum())}/{len(flips)} "
            f"= {flips.mean():.1%} [{flo:.1%}, {fhi:.1%}]"
        )
    dec = result.decomposition
    cols = ["inpainter", "part", "shift", "shift_lo", "shift_hi", "shift_p", "p_male_shift"]
    print(dec[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    residual = dec[dec["part"] == "residual"][["shift", "p_male_shift"]].abs().to_numpy()
    print(f"largest |residual|: {np.nanmax(residual):.3g}")
    ident_rows = result.table[result.table["inpainter"] == "identity"]
    ident_dec = dec[dec["inpainter"] == "identity"]
    zero = (
        (ident_rows["pred_bone_age"] == ident_rows["orig_pred_bone_age"]).all()
        and (ident_rows["pred_p_male"] == ident_rows["orig_pred_p_male"]).all()
        and (ident_dec[["shift", "shift_lo", "shift_hi", "p_male_shift"]] == 0.0).all().all()
    )
    print(f"identity exactly zero on every view and part: {bool(zero)}")
    print()
    print(result.summary_paragraph())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The ``diffusion`` backend's inpaint mode against telea and the GAN, on bench phantoms.

Usage::

    OMP_NUM_THREADS=2 python benchmarks/bench_diffusion.py [--n 200] [--weights FILE]

For each of ``--n`` bench phantoms (seed 0, 512 px, version 2) with burned-in artifacts, each
backend inpaints the ground-truth artifact mask; the output is compared with the phantom's
artifact-free ``clean_image``. Printed per backend: whether every pixel outside the mask is
the input's (bit for bit), and the mean absolute error (grey levels in [0, 1]) inside the
mask, over the mask's pixels on the hand (``case.anatomy_mask``) and over those on the
background separately, pooled over all phantoms; and the seconds per image.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    """Run the comparison and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="phantoms (default 200)")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--weights", default=None, help="diffusion weights (default shipped)")
    parser.add_argument("--backends", default="diffusion-inpaint,telea,gan")
    args = parser.parse_args()

    from radinpaint import InpaintRequest, get_inpainter
    from radinpaint.datasets import PhantomDataset

    cases = [
        c for c in PhantomDataset(args.n, seed=0, size=args.size) if not c.artifact_mask.is_empty
    ]
    requests = [InpaintRequest(c.image, c.artifact_mask, seed=0, case_id=c.id) for c in cases]
    specs = {
        "diffusion-inpaint": ("diffusion", {"mode": "inpaint", "weights": args.weights}),
        "telea": ("telea", {}),
        "gan": ("gan", {}),
    }
    print(f"{len(cases)} phantoms with artifacts (of {args.n}); in-mask MAE vs clean_image")
    header = ("backend", "outside exact", "MAE mask", "MAE hand", "MAE background",
              "hand px", "bg px", "s/img")  # fmt: skip
    print("{:<18}{:>14}{:>10}{:>10}{:>16}{:>10}{:>10}{:>8}".format(*header))
    for label in args.backends.split(","):
        name, options = specs[label]
        backend = get_inpainter(name, **{k: v for k, v in options.items() if v is not None})
        start = time.perf_counter()
        results = backend.inpaint(requests)
        seconds = (time.perf_counter() - start) / len(requests)
        exact = True
        sums = {"mask": [0.0, 0], "hand": [0.0, 0], "bg": [0.0, 0]}
        for case, request, result in zip(cases, requests, results, strict=True):
            m = request.mask.array
            out = result.image.pixels
            exact &= bool(np.array_equal(out[~m], request.image.pixels[~m]))
            diff = np.abs(out.astype(np.float64) - case.clean_image.pixels)
            hand = case.anatomy_mask.array
            for key, region in (("mask", m), ("hand", m & hand), ("bg", m & ~hand)):
                sums[key][0] += float(diff[region].sum())
                sums[key][1] += int(region.sum())
        mae = {k: s / n if n else float("nan") for k, (s, n) in sums.items()}
        print(
            f"{label:<18}{exact!s:>14}{mae['mask']:>10.4f}{mae['hand']:>10.4f}"
            f"{mae['bg']:>16.4f}{sums['hand'][1]:>10}{sums['bg'][1]:>10}{seconds:>8.3f}"
        )


if __name__ == "__main__":
    main()

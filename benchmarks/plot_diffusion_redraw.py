"""Draw docs/img/diffusion-redraw.png: phantoms and three ``diffusion`` redraws of each.

Usage::

    python benchmarks/plot_diffusion_redraw.py [--weights FILE] [--strength 0.5] [--out PNG]

Rows: bench phantoms (seed 0, 512 px, version 2); columns: the original, then the redraws of
variants 0, 1 and 2 (SDEdit at ``--strength``, the shipped weights unless ``--weights``),
resized back to the original's shape, then the inpaint mode's output.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    """Render the grid and print the seconds per redraw."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=None)
    parser.add_argument("--strength", type=float, default=None)
    parser.add_argument("--cases", default="0,1,2", help="phantom indices (bench seed 0)")
    parser.add_argument("--out", default=str(REPO / "docs" / "img" / "diffusion-redraw.png"))
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from radinpaint import InpaintRequest, get_inpainter
    from radinpaint.datasets import PhantomDataset

    ds = PhantomDataset(200, seed=0, size=512)
    cases = [ds[int(i)] for i in args.cases.split(",")]
    redraw = get_inpainter(
        "diffusion", mode="redraw", strength=args.strength, weights=args.weights, device="cpu"
    )
    inpaint = get_inpainter("diffusion", mode="inpaint", weights=args.weights, device="cpu")
    requests = [
        InpaintRequest(c.image, c.artifact_mask, seed=0, variant=v, case_id=c.id)
        for c in cases
        for v in range(3)
    ]
    start = time.perf_counter()
    outputs = redraw.inpaint(requests)
    per = (time.perf_counter() - start) / len(requests)
    filled = inpaint.inpaint([InpaintRequest(c.image, c.artifact_mask, seed=0) for c in cases])
    strength = redraw.options()["strength"]
    fig, axes = plt.subplots(len(cases), 5, figsize=(12, 3.2 * len(cases)))
    for r, case in enumerate(cases):
        row = [("original", case.image.pixels)]
        row += [(f"redraw, variant {v}", outputs[3 * r + v].image.pixels) for v in range(3)]
        row += [("inpaint mode (markers)", filled[r].image.pixels)]
        for c, (title, pixels) in enumerate(row):
            ax = axes[r, c]
            ax.imshow(pixels, cmap="gray", vmin=0, vmax=1)
            ax.set_title(f"{title}" if r == 0 else "", fontsize=9)
            ax.axis("off")
        axes[r, 0].set_title(f"original ({case.id}, {case.bone_age_months:.0f} mo)", fontsize=9)
    fig.suptitle(f"diffusion backend, SDEdit strength {strength}, phantom weights", fontsize=10)
    fig.tight_layout()
    fig.savefig(args.out, dpi=80)
    print(f"wrote {args.out}; {per:.3f} s per redraw (batch of {len(requests)})")


if __name__ == "__main__":
    main()

"""Draw 16 phantoms beside real RSNA radiographs (for a local look: the RSNA images may not
be redistributed, so the figure is not shipped).

Usage::

    python benchmarks/plot_phantoms.py [--real ../shared/data/rsna-samples] [--out docs/img/...]

The real images are read from the RSNA samples folder (not part of the repository); the
picture shows them downscaled next to phantoms so a reader can judge the likeness.
"""

from __future__ import annotations

import argparse
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    """Render the comparison grid."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", default=str(REPO.parent / "shared" / "data" / "rsna-samples"))
    parser.add_argument("--out", default="runs/phantoms-vs-real.png")
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()

    import csv

    import cv2
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from radinpaint.datasets.phantom import PhantomDataset

    real_dir = Path(args.real)
    with (real_dir / "labels.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    marked = [r for r in rows if r["file"].startswith("with-markers/")][:6]
    hands = [r for r in rows if r["file"].startswith("hands-only/")][::5][:2]
    real = marked + hands
    phantoms = list(PhantomDataset(16, seed=args.seed, size=512, bit_depth=8))

    cols = 8
    fig, axes = plt.subplots(3, cols, figsize=(cols * 1.9, 3 * 2.25), dpi=100)
    for ax, r in zip(axes[0], real, strict=False):
        img = cv2.imread(str(real_dir / r["file"]), cv2.IMREAD_GRAYSCALE)
        scale = 256 / max(img.shape)
        img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        ax.imshow(img, cmap="gray", vmin=0, vmax=255)
        sex = "M" if r["male"] == "True" else "F"
        ax.set_title(f"real {r['boneage']} mo {sex}", fontsize=8)
    for ax, case in zip(axes[1:].ravel(), phantoms, strict=False):
        img = case.image.to_uint()
        scale = 256 / max(img.shape)  # keep each phantom's own shape, as for the real ones
        img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        ax.imshow(img, cmap="gray", vmin=0, vmax=255)
        sex = "M" if case.male else "F"
        ax.set_title(f"phantom {case.bone_age_months:.0f} mo {sex}", fontsize=8)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_facecolor("black")
    fig.suptitle("Top row: real RSNA radiographs. Rows 2-3: radinpaint phantoms", fontsize=10)
    fig.tight_layout()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()

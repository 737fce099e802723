"""Measure what real radiographs and their marker masks look like, for the GAN's training.

Prints the statistics that :mod:`radinpaint.inpainters.gan.holes` (marker-shaped holes) and
:mod:`radinpaint.inpainters.gan.appearance` (real-radiograph appearance of phantoms) are
tuned to, measured on the shared RSNA samples (nothing is written):

- marker masks: for each component the ``markers`` provider finds on the marked samples,
  its kind, the sides of its minimum-area rotated rectangle relative to the image's shorter
  side, aspect, angle, whether it touches the image border; and the halo: how far the
  provider's mask reaches beyond the hand-drawn reference plate outline
  (``tests/data/marker-references``), as the median distance of the mask's border pixels
  from the reference;
- grain: the fine-detail SD (residual after a Gaussian blur of sigma 1 px, robust SD via the
  MAD, in 8-bit grey levels) in flat windows (32 px, local SD of the blurred image below
  2 grey levels, at most 5 % of pixels clipped at 0 or 255) on every sample, split into
  dark (< 0.25) and bright windows, and the residual's lag-1 autocorrelation (grain size);
- contrast: the 1st/50th/99th grey-level percentiles of each image, and the fraction of
  pixels in the outermost 2 % of rows/columns that are near black (< 0.05) or near white
  (> 0.95): image-border frames.

Run with::

    OMP_NUM_THREADS=1 python benchmarks/measure_real_appearance.py [--samples DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO.parent / "shared" / "data" / "rsna-samples"
REFERENCES = REPO / "tests" / "data" / "marker-references"


def _robust_sd(values: np.ndarray) -> float:
    med = float(np.median(values))
    return 1.4826 * float(np.median(np.abs(values - med)))


def grain_stats(pixels: np.ndarray, window: int = 32) -> list[tuple[float, float, float]]:
    """``(mean level, fine-detail SD in 8-bit levels, lag-1 autocorrelation)`` per flat window."""
    import cv2

    x = pixels.astype(np.float32) * 255.0
    blur = cv2.GaussianBlur(x, (0, 0), 1.0)
    res = x - blur
    out = []
    h, w = x.shape
    for y0 in range(window, h - 2 * window, window):
        for x0 in range(window, w - 2 * window, window):
            b = blur[y0 : y0 + window, x0 : x0 + window]
            raw = x[y0 : y0 + window, x0 : x0 + window]
            clipped = float(((raw <= 1.0) | (raw >= 254.0)).mean())
            if float(b.std()) > 2.0 or clipped > 0.05:
                continue
            r = res[y0 : y0 + window, x0 : x0 + window]
            sd = _robust_sd(r)
            a = r - r.mean()
            den = float((a * a).sum()) or 1.0
            ac = float((a[:, 1:] * a[:, :-1]).sum() + (a[1:] * a[:-1]).sum()) / (2 * den)
            out.append((float(b.mean()) / 255.0, sd, ac))
    return out


def marker_stats(folder: Path) -> None:
    """Print the shapes the markers provider masks on the marked samples."""
    import cv2

    import radinpaint
    from radinpaint.io import read_image

    provider = radinpaint.get_mask_provider("markers")
    sides, aspects, angles, halos, border, kinds, area = [], [], [], [], 0, {}, []
    for path in sorted((folder / "with-markers").glob("*.png")):
        image = read_image(path)
        (mask,) = provider.masks([image])
        m = mask.array.astype(np.uint8)
        h, w = m.shape
        short = min(h, w)
        area.append(float(m.mean()))
        n, labels = cv2.connectedComponents(m)
        for comp in mask.components:
            kinds[comp.kind] = kinds.get(comp.kind, 0) + 1
        for k in range(1, n):
            ys, xs = np.nonzero(labels == k)
            if ys.size < 20:
                continue
            (_, _), (a, b), ang = cv2.minAreaRect(np.stack([xs, ys], 1).astype(np.float32))
            lo, hi = sorted((a, b))
            sides.append((lo / short, hi / short))
            aspects.append(hi / max(lo, 1.0))
            angles.append(((ang + 45) % 90) - 45)
            if ys.min() == 0 or xs.min() == 0 or ys.max() == h - 1 or xs.max() == w - 1:
                border += 1
        ref_path = REFERENCES / path.name
        if ref_path.exists():
            ref = cv2.imread(str(ref_path), cv2.IMREAD_GRAYSCALE) > 0
            dist = cv2.distanceTransform((~ref).astype(np.uint8), cv2.DIST_L2, 5)
            edge = m.astype(bool) & ~cv2.erode(m, np.ones((3, 3), np.uint8)).astype(bool)
            d = dist[edge & ~ref]
            if d.size:
                halos.append(float(np.median(d)))
        print(
            f"  {path.stem:12s} {w}x{h} mask {100 * m.mean():5.2f}% "
            f"components {[c.kind for c in mask.components]}"
        )
    s = np.array(sides)
    print(f"marker components: {len(sides)}; kinds {kinds}; touching the border {border}")
    print(
        f"  shorter side / image side: median {np.median(s[:, 0]):.3f} "
        f"[{s[:, 0].min():.3f}-{s[:, 0].max():.3f}]"
    )
    print(
        f"  longer side / image side:  median {np.median(s[:, 1]):.3f} "
        f"[{s[:, 1].min():.3f}-{s[:, 1].max():.3f}]"
    )
    print(
        f"  aspect: median {np.median(aspects):.2f} [{min(aspects):.2f}-{max(aspects):.2f}]; "
        f"|angle| (deg, mod 90): median {np.median(np.abs(angles)):.1f} "
        f"max {np.max(np.abs(angles)):.1f}"
    )
    if halos:
        print(
            f"  halo beyond the reference outline (px): median {np.median(halos):.1f} "
            f"[{min(halos):.1f}-{max(halos):.1f}]"
        )
    print(f"  mask share of the image: median {100 * np.median(area):.2f}%")


def appearance_stats(folder: Path) -> None:
    """Print grain, contrast and border statistics over every sample."""
    from radinpaint.io import read_image

    dark, bright, acs, p1, p50, p99, black, white = [], [], [], [], [], [], [], []
    for path in sorted(folder.rglob("*.png")):
        x = read_image(path).pixels.astype(np.float32)
        for level, sd, ac in grain_stats(x):
            (dark if level < 0.25 else bright).append(sd)
            acs.append(ac)
        q = np.percentile(x, [1, 50, 99])
        p1.append(q[0])
        p50.append(q[1])
        p99.append(q[2])
        h, w = x.shape
        b = max(2, int(0.02 * min(h, w)))
        frame = np.concatenate([x[:b].ravel(), x[-b:].ravel(), x[:, :b].ravel(), x[:, -b:].ravel()])
        black.append(float((frame < 0.05).mean()))
        white.append(float((frame > 0.95).mean()))
    print(f"images: {len(p1)}")
    for name, v in (("dark (<0.25)", dark), ("bright", bright)):
        if v:
            q = np.percentile(v, [10, 50, 90])
            print(
                f"  grain SD, flat {name} windows ({len(v)}): "
                f"p10 {q[0]:.2f} median {q[1]:.2f} p90 {q[2]:.2f} (8-bit levels)"
            )
    print(f"  residual lag-1 autocorrelation: median {np.median(acs):.2f}")
    print(
        f"  percentiles: p1 median {np.median(p1):.3f}; p50 median {np.median(p50):.3f} "
        f"[{min(p50):.3f}-{max(p50):.3f}]; p99 median {np.median(p99):.3f}"
    )
    print(
        f"  border frame near-black share: median {np.median(black):.2f} "
        f"(>0.5 on {sum(v > 0.5 for v in black)}); near-white: median {np.median(white):.2f} "
        f"(>0.5 on {sum(v > 0.5 for v in white)})"
    )


def main() -> None:
    """Print both sets of statistics."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=Path, default=SAMPLES)
    args = parser.parse_args()
    if not args.samples.is_dir():
        raise SystemExit(f"{args.samples} not found")
    marker_stats(args.samples)
    appearance_stats(args.samples)


if __name__ == "__main__":
    main()

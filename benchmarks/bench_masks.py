"""Benchmark of the mask providers on phantoms and on the real RSNA samples.

    OMP_NUM_THREADS=1 python benchmarks/bench_masks.py --n 200 [--providers markers,learned]

Prints, per provider, on ``--n`` phantoms (seed 7): pooled pixel IoU, recall, precision,
mean per-image IoU and ms per image; the hand segmentation's IoU against the phantom
anatomy masks; and, when ``../shared/data/rsna-samples`` exists, on the 8 radiographs with
markers (hand annotations in ``tests/masks/real_marker_boxes.json``): plate recall (a plate
is found when the mask covers >= 50% of its outline), recall of all top-level objects,
component precision, the fraction of hand pixels masked, and the share of the 33
hands-only images where anything is masked.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT.parent / "shared" / "data" / "rsna-samples"
NOTES = ROOT / "tests" / "masks" / "real_marker_boxes.json"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--providers", default="markers,learned")
    parser.add_argument("--real-providers", default="markers")
    args = parser.parse_args(argv)

    from radinpaint.datasets.phantom import make_phantoms
    from radinpaint.io import read_image
    from radinpaint.masks.anatomy import segment_hand
    from radinpaint.masks.scoring import (
        PixelScores,
        component_precision,
        region_coverage,
        score_pixels,
    )
    from radinpaint.registry import get_mask_provider

    cases = make_phantoms(args.n, seed=7)
    print(f"phantoms: {len(cases)} (seed 7, 512 px)")
    for name in args.providers.split(","):
        provider = get_mask_provider(name)
        t = time.perf_counter()
        masks = provider.masks(cases)
        ms = 1000 * (time.perf_counter() - t) / len(cases)
        scores = [score_pixels(m, c.artifact_mask) for m, c in zip(masks, cases, strict=True)]
        tot = PixelScores.total(scores)
        print(
            f"  {name:10s} IoU {tot.iou:.3f}  recall {tot.recall:.3f}  precision "
            f"{tot.precision:.3f}  mean IoU {np.mean([s.iou for s in scores]):.3f}  "
            f"{ms:.0f} ms/image"
        )
    t = time.perf_counter()
    hand_iou = [score_pixels(segment_hand(c.image), c.anatomy_mask).iou for c in cases]
    ms = 1000 * (time.perf_counter() - t) / len(cases)
    print(
        f"  hand       IoU mean {np.mean(hand_iou):.3f}  median {np.median(hand_iou):.3f}  "
        f"min {np.min(hand_iou):.3f}  {ms:.0f} ms/image"
    )

    if not NOTES.exists() or not (SAMPLES / "labels.csv").exists():
        print("real samples not found: skipped")
        return 0
    notes = json.loads(NOTES.read_text())["images"]
    marked = {file: read_image(SAMPLES / "with-markers" / file) for file in notes}
    hand_of = {file: segment_hand(image).array for file, image in marked.items()}
    hands = [read_image(p) for p in sorted((SAMPLES / "hands-only").glob("*.png"))]
    for name in args.real_providers.split(","):
        provider = get_mask_provider(name)
        plates = plates_found = objs = objs_found = good = total = 0
        hand_masked = []
        for file, objects in notes.items():
            (mask,) = provider.masks([marked[file]])
            for o in objects:
                if "inside" in o:
                    continue
                cov = region_coverage(mask, box=o["box"], polygon=o.get("polygon"))
                objs += 1
                objs_found += cov >= 0.5
                if o["kind"] == "plate":
                    plates += 1
                    plates_found += cov >= 0.5
            g, n = component_precision(mask.components, [o["box"] for o in objects])
            good, total = good + g, total + n
            hand = hand_of[file]
            hand_masked.append(float((mask.array & hand).sum()) / max(1, hand.sum()))
        flagged = sum(provider.masks([image])[0].fraction > 0.001 for image in hands)
        print(
            f"real {name}: plate recall {plates_found}/{plates}  objects {objs_found}/{objs}  "
            f"component precision {good}/{total}  hand pixels masked max "
            f"{max(hand_masked):.4f}  hands-only flagged {flagged}/{len(hands)}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

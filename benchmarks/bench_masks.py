"""Benchmark of the mask providers on phantoms and on the real RSNA samples.

    OMP_NUM_THREADS=1 python benchmarks/bench_masks.py --n 40

Prints, per provider, on ``--n`` phantoms (seed 7): pooled pixel IoU, recall, precision,
mean per-image IoU and ms per image; and the hand segmentation's IoU against the phantom
anatomy masks.

When ``../shared/data/rsna-samples`` exists, then, on the 8 radiographs with markers, per
provider of ``--real-providers``:

- markers found (of 8): the image's marker (7 plates, the lone letter of ``1381_small``)
  covered >= 50% (hand annotations in ``tests/masks/real_marker_boxes.json``);
- pooled pixel precision and recall against the reference masks of
  ``tests/data/marker-references`` (each plate's outline, redrawn by hand on zoomed crops,
  grown by 2 px for the edge blur; see the README there);
- the residual outline contrast after inpainting with ``telea``: the mean absolute step,
  in grey levels of 255, between the ring 1-4 px outside the mask and the local background
  (:func:`radinpaint.masks.scoring.outline_contrast`, hand excluded), averaged over the 7
  plates, with the background ring's own figure (the floor) beside it;
- the largest fraction of hand pixels masked, and how many of the 33 hands-only images
  get anything masked;

and names the recommended provider for real radiographs: the best F1 among those that mask
at most 0.5% of any hand and flag at most one hands-only image.
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
REFERENCES = ROOT / "tests" / "data" / "marker-references"
REAL_PROVIDERS = (
    "markers:halo=false;markers;markers:dilate=8;learned;union:providers=markers+learned"
)


def _phantoms(n: int, names: list[str]) -> None:
    from radinpaint.datasets.phantom import make_phantoms
    from radinpaint.masks.anatomy import segment_hand
    from radinpaint.masks.scoring import PixelScores, score_pixels
    from radinpaint.registry import get_mask_provider

    cases = make_phantoms(n, seed=7)
    print(f"phantoms: {len(cases)} (seed 7, 512 px)")
    for name in names:
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


def _provider(spec: str):
    from radinpaint.masks.combine import parse_provider_spec

    return parse_provider_spec(spec)


def _real(specs: list[str]) -> None:
    import cv2

    from radinpaint.io import read_image
    from radinpaint.masks.anatomy import segment_hand
    from radinpaint.masks.scoring import (
        PixelScores,
        outline_contrast,
        region_coverage,
        score_pixels,
    )
    from radinpaint.records import InpaintRequest, Mask
    from radinpaint.registry import get_inpainter

    notes = json.loads(NOTES.read_text())["images"]
    marked = {file: read_image(SAMPLES / "with-markers" / file) for file in notes}
    references = {
        file: Mask(cv2.imread(str(REFERENCES / file), cv2.IMREAD_GRAYSCALE) > 0, "reference")
        for file in notes
    }
    hand_of = {file: segment_hand(image).array for file, image in marked.items()}
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (11, 11))
    near_hand = {f: cv2.dilate(h.astype(np.uint8), disc) > 0 for f, h in hand_of.items()}
    hands = [read_image(p) for p in sorted((SAMPLES / "hands-only").glob("*.png"))]
    telea = get_inpainter("telea")
    rows = []
    for spec in specs:
        provider = _provider(spec)
        t = time.perf_counter()
        masks = {file: provider.masks([image])[0] for file, image in marked.items()}
        ms = 1000 * (time.perf_counter() - t) / len(marked)
        found = 0
        scores, steps, floors, hand_masked = [], [], [], []
        for file, objects in notes.items():
            mask = masks[file]
            main = next(o for o in objects if "inside" not in o and o["kind"] != "mark")
            found += region_coverage(mask, box=main["box"], polygon=main.get("polygon")) >= 0.5
            scores.append(score_pixels(mask, references[file]))
            hand = hand_of[file]
            hand_masked.append(float((mask.array & hand).sum()) / max(1, hand.sum()))
            if main["kind"] != "plate" or mask.is_empty:
                continue
            (result,) = telea.inpaint([InpaintRequest(marked[file], mask, case_id=file)])
            contrast = outline_contrast(result.image.pixels, mask, exclude=near_hand[file])
            steps.append(255 * contrast.step)
            floors.append(255 * contrast.floor)
        flagged = sum(provider.masks([image])[0].fraction > 0.001 for image in hands)
        total = PixelScores.total(scores)
        f1 = 2 * total.tp / max(1, 2 * total.tp + total.fp + total.fn)
        rows.append((spec, f1, max(hand_masked), flagged))
        print(
            f"real {spec}: markers found {found}/{len(notes)}  precision {total.precision:.3f}  "
            f"recall {total.recall:.3f}  F1 {f1:.3f}  outline contrast (telea) "
            f"{np.mean(steps) if steps else float('nan'):.2f} (floor "
            f"{np.mean(floors) if floors else float('nan'):.2f}) over {len(steps)} plates  "
            f"hand pixels masked max {max(hand_masked):.4f}  hands-only flagged "
            f"{flagged}/{len(hands)}  {ms:.0f} ms/image"
        )
        print(f"    outline contrast per plate: {', '.join(f'{s:.1f}' for s in steps)}")
    safe = [r for r in rows if r[2] <= 0.005 and r[3] <= 1]
    if safe:
        best = max(safe, key=lambda r: r[1])
        print(f"recommended for real radiographs: {best[0]} (F1 {best[1]:.3f})")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="phantoms (0: skip them)")
    parser.add_argument("--providers", default="markers,learned", help="on phantoms")
    parser.add_argument(
        "--real-providers",
        default=REAL_PROVIDERS,
        help="on the real samples; ';'-separated provider specs (name:key=value,...)",
    )
    args = parser.parse_args(argv)

    if args.n > 0:
        _phantoms(args.n, args.providers.split(","))
    if not NOTES.exists() or not (SAMPLES / "labels.csv").exists():
        print("real samples not found: skipped")
        return 0
    _real([s for s in args.real_providers.split(";") if s.strip()])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

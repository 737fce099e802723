"""Rebuild the reference marker masks of this folder from the hand annotations.

Run from the repository root: ``python tests/data/marker-references/make_references.py
[--show DIR]``. It reads ``tests/masks/real_marker_boxes.json`` (plate outlines drawn on
zoomed, contrast-stretched crops of the 8 RSNA samples with markers) and writes one 0/255
PNG per image here, at the image's own size. ``--show DIR`` also writes overlays on the
images from ``../shared/data/rsna-samples`` for checking by eye. See README.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
NOTES = ROOT / "tests" / "masks" / "real_marker_boxes.json"
SAMPLES = ROOT.parent / "shared" / "data" / "rsna-samples" / "with-markers"
SHAPES = {  # (height, width) of each sample, so that no image is needed to rebuild
    "10186.png": (907, 924),
    "10468.png": (1141, 1132),
    "11933.png": (957, 1090),
    "14092.png": (1365, 1004),
    "4621.png": (1160, 953),
    "6488.png": (1265, 916),
    "8824.png": (1503, 1443),
    "1381_small.png": (520, 385),
}
HALO = 2  # px added around every outline: the blur of the plate's edge


def reference(shape: tuple[int, int], objects: list[dict]) -> np.ndarray:
    """Every top-level annotated object (plate outline, else box), grown by HALO px."""
    out = np.zeros(shape, np.uint8)
    for obj in objects:
        if "inside" in obj:
            continue  # letters and text lie inside their plate
        if "polygon" in obj:
            cv2.fillPoly(out, [np.asarray(obj["polygon"], np.int32)], 255)
        else:
            x0, y0, x1, y1 = obj["box"]
            out[y0:y1, x0:x1] = 255
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * HALO + 1, 2 * HALO + 1))
    return cv2.dilate(out, disc)


def main(argv: list[str] | None = None) -> int:
    """Write the reference masks (and overlays with ``--show``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show", type=Path, default=None)
    args = parser.parse_args(argv)
    notes = json.loads(NOTES.read_text())["images"]
    for name, objects in notes.items():
        mask = reference(SHAPES[name], objects)
        cv2.imwrite(str(HERE / name), mask, [cv2.IMWRITE_PNG_BILEVEL, 1])
        if args.show is not None:
            args.show.mkdir(parents=True, exist_ok=True)
            grey = cv2.imread(str(SAMPLES / name), cv2.IMREAD_GRAYSCALE)
            assert grey.shape == mask.shape, (name, grey.shape, mask.shape)
            rgb = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
            contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
            cv2.drawContours(rgb, contours, -1, (0, 0, 255), 1)
            cv2.imwrite(str(args.show / name), rgb)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Rebuild the reference hand outlines of this folder from ``recipe.json``.

Run from the repository root: ``python tests/data/hand-outlines/make_outlines.py [--show DIR]``.
It reads the real samples from ``../shared/data/rsna-samples`` and writes one 0/255 PNG per
image here (longest side 256 px). ``--show DIR`` also writes overlays for checking by eye.
See README.md for the method.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
from scipy import ndimage as ndi

HERE = Path(__file__).resolve().parent
SAMPLES = HERE.parents[2].parent / "shared" / "data" / "rsna-samples"
WORK = 512  # longest side the outline is drawn at
STORE = 256  # longest side it is stored at


def read_grey(path: Path) -> np.ndarray:
    arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise FileNotFoundError(path)
    return arr[..., 0] if arr.ndim == 3 else arr


def _polygon(shape: tuple[int, int], points: list, scale: float) -> np.ndarray:
    out = np.zeros(shape, np.uint8)
    pts = (np.asarray(points, float) * scale).round().astype(np.int32)
    cv2.fillPoly(out, [pts], 1)
    return out > 0


def build(image: np.ndarray, recipe: dict) -> np.ndarray:
    """The outline at WORK px: threshold, region of interest, one component, holes filled."""
    h, w = image.shape
    scale = WORK / max(h, w)
    shape = (round(h * scale), round(w * scale))
    if recipe.get("nonzero"):  # background already removed (set to 0): the rest is the hand
        full = (image > 0).astype(np.float32)
        region = cv2.resize(full, (shape[1], shape[0]), interpolation=cv2.INTER_AREA) >= 0.5
        return one_region(region)
    small = cv2.resize(image, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
    grey = cv2.GaussianBlur(small.astype(np.float32), (0, 0), recipe.get("sigma", 1.0))
    allowed = np.ones(shape, bool)
    if "roi" in recipe:
        allowed &= _polygon(shape, recipe["roi"], scale)
    if "inset" in recipe:
        left, top, right, bottom = recipe["inset"]
        box = [(left, top), (w - right, top), (w - right, h - bottom), (left, h - bottom)]
        allowed &= _polygon(shape, box, scale)
    for poly in recipe.get("cut", []):
        allowed &= ~_polygon(shape, poly, scale)
    if "bgmax" in recipe:  # flatten an uneven background with a quadratic fit
        yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
        xx /= shape[1]
        yy /= shape[0]
        terms = np.stack([np.ones_like(xx), xx, yy, xx * xx, xx * yy, yy * yy], -1)
        dark = (grey < recipe["bgmax"]) & allowed
        coef, *_ = np.linalg.lstsq(terms[dark], grey[dark], rcond=None)
        grey = grey - terms @ coef
    region = (grey > recipe["level"]) & allowed
    labels, _ = ndi.label(region)
    if "seed" in recipe:
        sx, sy = recipe["seed"]
        keep = labels[int(sy * scale), int(sx * scale)]
        if keep == 0:
            raise ValueError("the seed point is not on the hand")
    else:
        keep = int(np.bincount(labels.ravel())[1:].argmax()) + 1
    region = labels == keep
    for poly in recipe.get("add", []):
        region |= _polygon(shape, poly, scale)
    for poly in recipe.get("remove", []):
        region &= ~_polygon(shape, poly, scale)
    return one_region(region)


def one_region(region: np.ndarray) -> np.ndarray:
    """The largest connected part, holes filled."""
    labels, count = ndi.label(ndi.binary_fill_holes(region))
    if count > 1:
        return labels == int(np.bincount(labels.ravel())[1:].argmax()) + 1
    return labels > 0


def stored(region: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The outline at STORE px (area average, cut at one half)."""
    h, w = shape
    scale = STORE / max(h, w)
    size = (round(w * scale), round(h * scale))
    return cv2.resize(region.astype(np.float32), size, interpolation=cv2.INTER_AREA) >= 0.5


def overlay(image: np.ndarray, mask: np.ndarray, side: int = 400) -> np.ndarray:
    scale = side / max(image.shape)
    size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
    grey = cv2.createCLAHE(3.0, (8, 8)).apply(cv2.resize(image, size, interpolation=cv2.INTER_AREA))
    edge = cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
    rgb = np.dstack([grey] * 3)
    contours, _ = cv2.findContours(edge, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(rgb, contours, -1, (0, 0, 255), 1)
    return rgb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--show", type=Path, help="write overlays (BGR PNG) to this folder")
    args = parser.parse_args()
    recipes = json.loads((HERE / "recipe.json").read_text())["outlines"]
    for file, recipe in recipes.items():
        image = read_grey(SAMPLES / file)
        region = stored(build(image, recipe), image.shape)
        cv2.imwrite(str(HERE / (Path(file).stem + ".png")), (region * 255).astype(np.uint8))
        if args.show:
            args.show.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(args.show / (Path(file).stem + ".png")), overlay(image, region))
        print(f"{file}: {region.shape[1]}x{region.shape[0]}, {region.mean():.1%} hand")


if __name__ == "__main__":
    main()

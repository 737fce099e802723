"""Hand (anatomy) segmentation, used to tell markers apart from bone, and the ``hand`` provider.

:func:`segment_hand` finds the hand and forearm in a radiograph with a classical method: no
model, no training data. On a smoothed copy of the image (longest side 256 px):

1. bright strips along the image's sides (scanner edges, collimator glow) and a bright flat
   surround (collimator shadow) are set to the darkest level, so that they cannot join the
   forearm;
2. a global threshold is swept over the grey range (levels closer together among the dark,
   soft-tissue greys) and, for each level, the largest bright connected region is kept.
   Among those regions it keeps the ones that look like a hand rather than like the exposure
   field or the background:

   - not rectangular (the collimated field is a filled rectangle, possibly rotated);
   - touching at most two sides of the image (the background touches all four);
   - stable: its area changes by less than 6% at the next threshold level (when no level is
     stable, as with very dark soft tissue, the steadiest one);

   and of these takes the lowest threshold whose boundary is nearly as sharp (mean gradient)
   as the sharpest one. The lowest level wins because soft tissue is the outermost sharp
   edge: higher levels trace the bones inside the hand;
3. the outline is redrawn at the skin edge with a local threshold: the background level is
   measured just outside it and the soft-tissue level just inside it, both as smooth maps
   (uneven exposure, faint finger tips next to a bright palm), and the edge is put 60% of the
   way from one to the other. This keeps the soft-tissue rims and finger tips that a single
   global level cuts off or overshoots;
4. holes are filled, thin attachments come off with an opening, and the largest part stays.

Why not a library call: Otsu and multi-Otsu thresholds (scikit-image) pick the exposure field
or the bones on images with collimation borders or light backgrounds, and active contours
need an initialisation this method would have to provide anyway. Measured against the phantom
anatomy masks in ``benchmarks/bench_masks.py`` and against reference outlines drawn on 15 real
RSNA radiographs (``tests/data/hand-outlines``) in ``benchmarks/bench_hand_mask.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import numpy as np

from ..errors import InvalidInputError
from ..records import Case, Mask, MaskComponent, Radiograph
from ._base import MIN_SIDE, check_dilate, finish_mask, radiographs, resize_to

__all__ = ["HandMasks", "segment_hand"]

_WORK_SIDE = 256
_LEVELS = 48
_MIN_AREA = 0.06  # the hand covers at least this fraction of the image
_MAX_RECT_FILL = 0.83  # convex hull / min-area rectangle above this: an exposure field
_MAX_STEP_CHANGE = 0.06  # area change to the next level below this: a stable region
_SHARPNESS = 0.35
_SPACING = 1.5  # levels are spaced as t**1.5 over the range: finer among soft-tissue greys
_STRIP_BAND = 0.05  # bright strips along an edge are at most this deep (fraction of the side)
_STRIP_DELTA = 0.02  # and this much brighter than the image just inside them
_EDGE_FRACTION = 0.6  # the skin edge: this far from the background to the soft tissue
_GROW = 0.04  # each refinement step moves the outline by at most this (fraction of the side)
_REFINE_STEPS = 2


def _candidate(
    smooth: np.ndarray,
    level: float,
    border: int,
    kernel: np.ndarray,
) -> tuple[np.ndarray, bool] | None:
    """The largest region brighter than ``level`` and whether it is shaped like a hand."""
    import cv2
    from scipy import ndimage as ndi
    from skimage.morphology import remove_small_holes

    above = smooth > level
    core = cv2.morphologyEx(above.astype(np.uint8), cv2.MORPH_OPEN, kernel) > 0
    core[:border, :] = False
    core[-border:, :] = False
    core[:, :border] = False
    core[:, -border:] = False
    labels, count = ndi.label(core)
    if count == 0:
        return None
    areas = np.bincount(labels.ravel())[1:]
    best = int(areas.argmax())
    if areas[best] < _MIN_AREA * above.size:
        return None
    region = labels == best + 1
    region |= ndi.binary_dilation(region, iterations=border + 1) & above
    region = remove_small_holes(region, max_size=int(0.02 * above.size))
    contours, _ = cv2.findContours(
        region.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE
    )
    outline = max(contours, key=cv2.contourArea)
    (_, _), (rw, rh), _ = cv2.minAreaRect(outline)
    rect_area = max(rw * rh, 1.0)
    hull_fill = cv2.contourArea(cv2.convexHull(outline)) / rect_area
    fill = float(region.sum()) / rect_area
    edge = border + 1
    sides = [
        region[:edge, :].any(axis=0).mean(),
        region[-edge:, :].any(axis=0).mean(),
        region[:, :edge].any(axis=1).mean(),
        region[:, -edge:].any(axis=1).mean(),
    ]
    touching = sum(s > 0.1 for s in sides)
    handlike = fill <= 0.85 and hull_fill <= _MAX_RECT_FILL and touching <= 2
    return region, handlike


def _flatten_outside(smooth: np.ndarray) -> np.ndarray:
    """Set a flat region around the image (collimator shadow, table) to the darkest level.

    Only a surround brighter than most of the image is flattened: the part of the image
    connected to its border whose grey level stays within a small tolerance of the border's
    typical level. Such a bright collimator shadow would otherwise join the forearm into one
    region touching every side.
    """
    from scipy import ndimage as ndi

    i = max(1, round(0.012 * max(smooth.shape)))  # inside any frame line at the very edge
    border = np.concatenate(
        [smooth[i, i:-i], smooth[-i - 1, i:-i], smooth[i:-i, i], smooth[i:-i, -i - 1]]
    )
    typical = float(np.median(border))
    if typical < float(np.median(smooth)) + 0.05:
        return smooth  # a dark or ordinary surround: the sweep handles it
    tol = max(0.03, 4.0 * float(np.median(np.abs(border - typical))) * 1.4826)
    near = np.abs(smooth - typical) <= tol
    edge = np.zeros(smooth.shape, dtype=bool)
    edge[i, i:-i] = edge[-i - 1, i:-i] = edge[i:-i, i] = edge[i:-i, -i - 1] = True
    labels, _ = ndi.label(near)
    ids = np.unique(labels[edge & near])
    ids = ids[ids > 0]
    if ids.size == 0:
        return smooth
    outside = np.isin(labels, ids)
    if not 0.05 <= outside.mean() <= 0.6:
        return smooth  # nothing to flatten, or the "surround" would take the hand with it
    out = smooth.copy()
    out[outside] = float(smooth.min())
    return out


def _edge_strips(smooth: np.ndarray) -> np.ndarray:
    """Bright strips along the image's sides (scanner edges, collimator glow), as a mask.

    For each side, the median grey level of each line parallel to it: the lines next to the
    side that are clearly brighter than the lines just inside the band are a strip. A hand or
    forearm crossing the side covers less than half of a line, so it does not count.
    """
    h, w = smooth.shape
    band = max(3, round(_STRIP_BAND * max(h, w)))
    ref = max(2, round(0.03 * max(h, w)))
    strips = np.zeros(smooth.shape, dtype=bool)
    if min(h, w) < 4 * (band + ref):
        return strips
    views = (
        (smooth, strips),
        (smooth[::-1], strips[::-1]),
        (smooth.T, strips.T),
        (smooth.T[::-1], strips.T[::-1]),
    )
    for image, out in views:
        lines = np.median(image[: band + ref], axis=1)
        inside = float(np.median(lines[band:]))
        bright = np.flatnonzero(lines[:band] > inside + _STRIP_DELTA)
        if bright.size and bright[0] <= 1:
            out[: int(bright.max()) + 1] = True
    return strips


def _level_map(values: np.ndarray, where: np.ndarray, sigma: float, default: float) -> np.ndarray:
    """A smooth map of the mean of ``values`` over ``where`` (normalised convolution)."""
    import cv2

    weight = cv2.GaussianBlur(where.astype(np.float32), (0, 0), sigma)
    total = cv2.GaussianBlur(np.where(where, values, 0).astype(np.float32), (0, 0), sigma)
    out = np.full(values.shape, default, dtype=np.float32)
    ok = weight > 1e-3
    out[ok] = total[ok] / weight[ok]
    return out


def _refine(smooth: np.ndarray, region: np.ndarray, strips: np.ndarray) -> np.ndarray:
    """Redraw the sweep's outline at the skin edge with a local threshold.

    The background level is taken just outside the outline and the soft-tissue level just
    inside it, both as smooth maps (an uneven exposure is followed); the skin edge is where
    the grey level crosses ``_EDGE_FRACTION`` of the way from one to the other. The new
    outline may move by at most ``_GROW`` of the image side.
    """
    from scipy import ndimage as ndi

    side = max(smooth.shape)
    reach = max(2, round(_GROW * side))
    sigma = max(2.0, 0.04 * side)
    for _ in range(_REFINE_STEPS):
        ring = _disc_dilate(region, reach + 2) & ~_disc_dilate(region, 2) & ~strips
        rim = region & ~ndi.binary_erosion(region, iterations=2)
        if ring.sum() < 20 or rim.sum() < 20:
            return region
        bg = _level_map(smooth, ring, sigma, float(np.median(smooth[ring])))
        tissue = _level_map(smooth, rim, sigma, float(np.median(smooth[rim])))
        contrast = np.maximum(tissue - bg, 0.0)
        level = bg + _EDGE_FRACTION * contrast
        new = (smooth > level) & _disc_dilate(region, reach) & ~strips
        labels, _ = ndi.label(new)
        keep = np.unique(labels[new & region])
        new = np.isin(labels, keep[keep > 0])
        changed = int((new ^ region).sum())
        region = new
        if changed <= 0.002 * max(1, int(region.sum())):
            break
    return region


def _disc_dilate(mask: np.ndarray, r: int) -> np.ndarray:
    import cv2

    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    return cv2.dilate(mask.astype(np.uint8), k) > 0


def _segment_small(smooth: np.ndarray) -> np.ndarray:
    import cv2
    from scipy import ndimage as ndi

    smooth = _flatten_outside(smooth)
    strips = _edge_strips(smooth)
    if strips.any():
        smooth = np.where(strips, float(smooth.min()), smooth).astype(smooth.dtype)

    gx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=3)
    grad = np.hypot(gx, gy)
    lo, hi = np.percentile(smooth, [1.0, 99.5])
    if hi - lo < 1e-3:
        return np.zeros(smooth.shape, dtype=bool)
    border = max(1, round(0.01 * max(smooth.shape)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    found: list[tuple[float, np.ndarray, bool]] = []
    steps = np.linspace(0.0, 1.0, _LEVELS + 2)[1:-1] ** _SPACING
    for level in lo + (hi - lo) * steps:
        cand = _candidate(smooth, float(level), border, kernel)
        if cand is None:
            continue
        region, handlike = cand
        rim = region ^ ndi.binary_erosion(region)
        rim[: border + 1, :] = False
        rim[-border - 1 :, :] = False
        rim[:, : border + 1] = False
        rim[:, -border - 1 :] = False
        if rim.sum() < 20:
            continue
        found.append((float(grad[rim].mean()), region, handlike))
    stable: list[tuple[float, np.ndarray]] = []
    for i in range(len(found) - 1):
        sharp, region, handlike = found[i]
        nxt = found[i + 1][1]
        area = float(region.sum())
        if not handlike:
            continue
        if abs(area - nxt.sum()) / area < _MAX_STEP_CHANGE and (region & nxt).sum() / area > 0.9:
            stable.append((sharp, region))
    if not stable:
        # a smooth ramp of grey levels (dark soft tissue): take the steadiest hand-like level
        steady = [
            (abs(float(r.sum()) - float(found[i + 1][1].sum())) / float(r.sum()), s, r)
            for i, (s, r, handlike) in enumerate(found[:-1])
            if handlike
        ]
        if not steady:
            return np.zeros(smooth.shape, dtype=bool)
        _, sharp, region = min(steady, key=lambda t: t[0])
        stable = [(sharp, region)]
    top = max(s for s, _ in stable)
    region = next(r for s, r in stable if s >= _SHARPNESS * top)
    refined = _refine(smooth, region, strips)
    if refined.sum() >= 0.5 * region.sum():  # else the local levels were not to be trusted
        region = refined
    region = ndi.binary_fill_holes(region)
    # thin attachments (frame lines, table edges) come off with an opening
    region = cv2.morphologyEx(region.astype(np.uint8), cv2.MORPH_OPEN, kernel) > 0
    labels, count = ndi.label(region)
    if count > 1:
        areas = np.bincount(labels.ravel())[1:]
        region = labels == int(areas.argmax()) + 1
    return region


def segment_hand(image: Radiograph) -> Mask:
    """The hand and forearm of a radiograph, as a mask (True = anatomy).

    Deterministic and model-free (see the module docstring for the method). An image with no
    hand (blank, uniform, smaller than 16 px a side) gives an empty mask.

    Args:
        image: any radiograph; bright = dense (MONOCHROME2), as radinpaint reads them.

    Returns:
        A :class:`~radinpaint.records.Mask` of the image's shape, source ``"hand"``.
    """
    import cv2

    if not isinstance(image, Radiograph):
        raise InvalidInputError(
            f"segment_hand takes a Radiograph, got {type(image).__name__}",
            input=type(image).__name__,
            fix="wrap pixels first: Radiograph.from_float(array) or Radiograph.from_uint(array)",
        )
    h, w = image.shape
    if min(h, w) < MIN_SIDE:
        return Mask(np.zeros((h, w), dtype=bool), "hand")
    scale = _WORK_SIDE / max(h, w)
    small_shape = (max(1, round(h * scale)), max(1, round(w * scale)))
    small = resize_to(image.pixels, small_shape)
    smooth = cv2.GaussianBlur(small, (0, 0), 1.0)
    region = _segment_small(smooth)
    if not region.any():
        return Mask(np.zeros((h, w), dtype=bool), "hand")
    up = resize_to(region.astype(np.float32), (h, w)) >= 0.5
    return Mask(up, "hand")


@attrs.define
class HandMasks:
    """Mask provider ``hand``: the anatomy itself (what inpainting must keep).

    Useful to check a mask (``markers & hand`` should be empty), to restrict an inpainter
    to the background (``~hand``), or as the anatomy reference of a benchmark.

    Args:
        dilate: margin in pixels added around the hand (default 0).
    """

    dilate: int = attrs.field(default=0)

    name = "hand"

    def __attrs_post_init__(self) -> None:
        self.dilate = check_dilate(self.dilate, self.name)

    def masks(self, items: Sequence[Case | Radiograph]) -> list[Mask]:
        """One hand mask per item, in order, with one ``"hand"`` component each."""
        out = []
        for image in radiographs(items):
            mask = segment_hand(image)
            comps: list[MaskComponent] = []
            if not mask.is_empty:
                ys, xs = np.nonzero(mask.array)
                box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
                comps.append(MaskComponent(box, "hand", 1.0))
            out.append(finish_mask(mask.array, self.name, comps, self.dilate))
        return out

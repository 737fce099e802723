"""Hand (anatomy) segmentation, used to tell markers apart from bone, and the ``hand`` provider.

:func:`segment_hand` finds the hand and forearm in a radiograph with a classical method: no
model, no training data. It sweeps a global threshold over a smoothed copy of the image
(longest side 256 px) and keeps, for each level, the largest bright connected region. Among
those regions it keeps the ones that look like a hand rather than like the exposure field or
the background:

- not rectangular (the collimated field is a filled rectangle, possibly rotated);
- touching at most two sides of the image (the background touches all four);
- stable: its area changes by less than 6% at the next threshold level;

and of these takes the lowest threshold whose boundary is nearly as sharp (mean gradient) as
the sharpest one. The lowest level wins because soft tissue is the outermost sharp edge:
higher levels trace the bones inside the hand.

Why not a library call: Otsu and multi-Otsu thresholds (scikit-image) pick the exposure field
or the bones on images with collimation borders or light backgrounds, and active contours
need an initialisation this method would have to provide anyway. Measured against the phantom
anatomy masks in ``benchmarks/bench_masks.py``.
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
    if outside.mean() < 0.05:
        return smooth
    out = smooth.copy()
    out[outside] = float(smooth.min())
    return out


def _segment_small(smooth: np.ndarray) -> np.ndarray:
    import cv2
    from scipy import ndimage as ndi

    smooth = _flatten_outside(smooth)

    gx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=3)
    grad = np.hypot(gx, gy)
    lo, hi = np.percentile(smooth, [1.0, 99.5])
    if hi - lo < 1e-3:
        return np.zeros(smooth.shape, dtype=bool)
    border = max(1, round(0.01 * max(smooth.shape)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    found: list[tuple[float, np.ndarray, bool]] = []
    for level in np.linspace(lo, hi, _LEVELS + 2)[1:-1]:
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
        return np.zeros(smooth.shape, dtype=bool)
    top = max(s for s, _ in stable)
    region = next(r for s, r in stable if s >= _SHARPNESS * top)
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

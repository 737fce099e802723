"""Scoring masks against known ones: pixel IoU, recall, precision, box/polygon coverage, and
what a mask leaves behind after inpainting (the residual outline of a marker).

Used by ``benchmarks/bench_masks.py`` and the tests; useful to anyone checking a mask provider
against their own annotations.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import attrs
import numpy as np

from ..errors import InvalidInputError
from ..records import Mask, MaskComponent, check_same_shape

__all__ = [
    "OutlineContrast",
    "PixelScores",
    "component_precision",
    "outline_contrast",
    "region_coverage",
    "region_mask",
    "score_pixels",
]


@attrs.frozen
class PixelScores:
    """Pixel counts of a predicted mask against a true one, and the rates they give.

    Attributes:
        tp: pixels in both; fp: predicted only; fn: true only.
    """

    tp: int
    fp: int
    fn: int

    @property
    def iou(self) -> float:
        """Intersection over union; 1.0 when both masks are empty."""
        union = self.tp + self.fp + self.fn
        return 1.0 if union == 0 else self.tp / union

    @property
    def recall(self) -> float:
        """Fraction of true pixels predicted; 1.0 when nothing was to be found."""
        return 1.0 if self.tp + self.fn == 0 else self.tp / (self.tp + self.fn)

    @property
    def precision(self) -> float:
        """Fraction of predicted pixels that are true; 1.0 when nothing was predicted."""
        return 1.0 if self.tp + self.fp == 0 else self.tp / (self.tp + self.fp)

    def __add__(self, other: PixelScores) -> PixelScores:
        return PixelScores(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    @classmethod
    def total(cls, scores: Iterable[PixelScores]) -> PixelScores:
        """Pooled counts over many images."""
        out = cls(0, 0, 0)
        for s in scores:
            out = out + s
        return out


def score_pixels(predicted: Mask, truth: Mask) -> PixelScores:
    """Pixel counts of ``predicted`` against ``truth`` (same shape, else an error)."""
    check_same_shape(truth.shape, predicted.shape, f"scoring mask {predicted.source!r}")
    p, t = predicted.array, truth.array
    return PixelScores(int((p & t).sum()), int((p & ~t).sum()), int((~p & t).sum()))


def region_mask(
    shape: tuple[int, int],
    box: Sequence[int] | None = None,
    polygon: Sequence[Sequence[float]] | None = None,
) -> np.ndarray:
    """A boolean array of ``shape`` that is True inside a polygon, else inside a box.

    ``box`` is ``(x0, y0, x1, y1)`` end-exclusive; ``polygon`` a list of ``(x, y)`` points.
    """
    import cv2

    out = np.zeros(shape, dtype=np.uint8)
    if polygon is not None:
        pts = np.round(np.asarray(polygon, dtype=np.float64)).astype(np.int32)
        cv2.fillPoly(out, [pts], 1)
    elif box is not None:
        x0, y0, x1, y1 = (int(v) for v in box)
        out[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)] = 1
    else:
        raise InvalidInputError(
            f"region_mask of shape {tuple(shape)} needs a box or a polygon, got neither",
            input="region_mask(box=None, polygon=None)",
            fix="pass box=(x0, y0, x1, y1) or polygon=[(x, y), ...]",
        )
    return out > 0


def region_coverage(
    mask: Mask,
    box: Sequence[int] | None = None,
    polygon: Sequence[Sequence[float]] | None = None,
) -> float:
    """Fraction of a box (or polygon) that ``mask`` covers."""
    region = region_mask(mask.shape, box, polygon)
    n = int(region.sum())
    return 0.0 if n == 0 else float((mask.array & region).sum()) / n


def component_precision(
    components: Sequence[MaskComponent],
    boxes: Sequence[Sequence[int]],
    *,
    min_overlap: float = 0.25,
) -> tuple[int, int]:
    """How many components overlap an annotated box, out of how many.

    A component counts as correct when at least ``min_overlap`` of its box lies inside one
    of ``boxes``, or when one of ``boxes`` lies at least that much inside it.
    """

    def inter(a: Sequence[int], b: Sequence[int]) -> int:
        w = min(a[2], b[2]) - max(a[0], b[0])
        h = min(a[3], b[3]) - max(a[1], b[1])
        return max(0, w) * max(0, h)

    def area(a: Sequence[int]) -> int:
        return max(1, (a[2] - a[0]) * (a[3] - a[1]))

    good = 0
    for comp in components:
        for box in boxes:
            i = inter(comp.box, box)
            if i >= min_overlap * area(comp.box) or i >= min_overlap * area(box):
                good += 1
                break
    return good, len(components)


@attrs.frozen
class OutlineContrast:
    """What a mask's border looks like in an inpainted image (intensity in [0, 1]).

    Attributes:
        step: mean absolute difference, over the ring just outside the mask, between the
            (lightly smoothed) filled image and its local background; a marker's rim or
            blur halo left outside the mask shows up here as a "ghost" outline.
        floor: the same measure on the background ring itself: what noise and texture
            give where there is no outline. A clean fill has ``step`` close to ``floor``.
    """

    step: float
    floor: float


def outline_contrast(
    filled: np.ndarray,
    mask: Mask | np.ndarray,
    *,
    exclude: np.ndarray | None = None,
    ring: int = 4,
    gap: int = 12,
    width: int = 12,
) -> OutlineContrast:
    """The residual outline a mask leaves after inpainting (see :class:`OutlineContrast`).

    The local background is a Gaussian average (sigma ``gap``) of the ring ``gap`` to
    ``gap + width`` pixels outside the mask, normalised by the ring's weight, so that a
    slope in the background is followed; the outline is measured on the ``ring`` pixels
    next to the mask. Pixels in ``exclude`` (the hand, say) count in neither ring.

    Args:
        filled: the inpainted image, float pixels (H, W).
        mask: the mask the image was inpainted with (same shape).
        exclude: pixels left out of both rings.
        ring: width in pixels of the ring next to the mask.
        gap: distance in pixels from the mask to the background ring.
        width: width in pixels of the background ring.

    Returns:
        :class:`OutlineContrast`; both figures are 0.0 for an empty mask.
    """
    import cv2

    array = mask.array if isinstance(mask, Mask) else np.asarray(mask, dtype=bool)
    pixels = np.asarray(filled, dtype=np.float32)
    check_same_shape(pixels.shape, array.shape, "outline_contrast")
    if not array.any():
        return OutlineContrast(0.0, 0.0)

    def grown(r: int) -> np.ndarray:
        disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        return cv2.dilate(array.astype(np.uint8), disc) > 0

    keep = ~np.asarray(exclude, dtype=bool) if exclude is not None else np.ones_like(array)
    near = grown(ring) & ~array & keep
    far = grown(gap + width) & ~grown(gap) & keep
    if not near.any() or not far.any():
        return OutlineContrast(0.0, 0.0)
    weight = cv2.GaussianBlur(far.astype(np.float32), (0, 0), gap)
    level = cv2.GaussianBlur(np.where(far, pixels, 0.0).astype(np.float32), (0, 0), gap)
    background = level / np.maximum(weight, 1e-6)
    smooth = cv2.GaussianBlur(pixels, (0, 0), 1.0)
    diff = np.abs(smooth - background)
    return OutlineContrast(float(diff[near].mean()), float(diff[far].mean()))

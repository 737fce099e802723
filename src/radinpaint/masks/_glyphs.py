"""Finding glyphs: the bright, flat, sharp-edged strokes of lead letters and burned-in text.

Internal to :mod:`radinpaint.masks.markers`. Works on a float32 image in [0, 1] at the
detector's working scale and returns one :class:`Glyph` per accepted connected component.

A glyph is found in three steps:

1. seeds: pixels much brighter than their surroundings at the scale of a letter stroke
   (white top-hat), in a locally flat neighbourhood;
2. each seed region is redrawn at the level halfway between its plateau and the ring of
   background around it, which follows the sharp edge of a lead letter closely;
3. each region is scored on what tells lead from bone: contrast against its ring, edge
   sharpness (gradient at the outline relative to the contrast), interior flatness, stroke
   width, and how much of it lies on the hand.
"""

from __future__ import annotations

import attrs
import numpy as np

from ._base import grow

__all__ = ["Glyph", "GlyphSettings", "find_glyphs", "noise_level"]

_MAX_NOISE = 0.08


@attrs.frozen
class GlyphSettings:
    """Thresholds of the glyph finder (defaults tuned on phantoms and real radiographs).

    Attributes:
        min_contrast: plateau minus surrounding ring, in [0, 1] intensity.
        min_sharpness: edge gradient divided by contrast (1 / edge width in px).
        max_roughness: interior standard deviation divided by contrast.
        max_hand_overlap: largest fraction of a glyph that may lie on the hand.
        max_area_fraction: largest glyph, as a fraction of the image.
        min_area: smallest glyph, in working pixels.
    """

    min_contrast: float = 0.25
    min_sharpness: float = 0.16
    max_roughness: float = 0.3
    max_hand_overlap: float = 0.25
    max_area_fraction: float = 0.02
    min_area: int = 12


@attrs.frozen
class Glyph:
    """One accepted bright component: its pixels (within ``box``), measurements and score."""

    box: tuple[int, int, int, int]
    region: np.ndarray = attrs.field(repr=False, eq=False)
    contrast: float
    sharpness: float
    roughness: float
    stroke: float
    level: float
    background: float
    score: float

    @property
    def height(self) -> int:
        """Box height in working pixels."""
        return self.box[3] - self.box[1]

    @property
    def width(self) -> int:
        """Box width in working pixels."""
        return self.box[2] - self.box[0]


def noise_level(image: np.ndarray) -> float:
    """Robust estimate of the pixel noise standard deviation (MAD of a Laplacian)."""
    import cv2

    lap = cv2.Laplacian(image, cv2.CV_32F, ksize=1)
    mad = float(np.median(np.abs(lap - np.median(lap))))
    # for white noise, the 4-neighbour Laplacian has std sqrt(20) * sigma
    return 1.4826 * mad / np.sqrt(20.0)


def _ring(region: np.ndarray, inner: int, outer: int) -> np.ndarray:
    return grow(region, outer) & ~grow(region, inner)


def _frame_like(box: tuple[int, int, int, int], shape: tuple[int, int]) -> bool:
    """Too large for a letter, or a thin line along the image border (a frame, a plate rim)."""
    h, w = shape
    side = max(h, w)
    bw, bh = box[2] - box[0], box[3] - box[1]
    if max(bw, bh) > 0.2 * side:
        return True
    near_border = min(box[0], box[1], w - box[2], h - box[3]) <= 0.02 * side
    thin = min(bw, bh) <= 0.015 * side and max(bw, bh) >= 3 * min(bw, bh)
    return near_border and thin


def find_glyphs(
    image: np.ndarray,
    hand: np.ndarray | None,
    settings: GlyphSettings,
) -> list[Glyph]:
    """Bright, flat, sharp-edged components of ``image`` (see the module docstring)."""
    import cv2
    from scipy import ndimage as ndi

    h, w = image.shape
    side = max(h, w)
    if noise_level(image) > _MAX_NOISE:
        return []  # nothing is flat in an image this noisy: no letter can be told apart
    # top-hat wider than any letter stroke, narrower than the palm
    tk = max(5, round(side * 0.06) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (tk, tk))
    tophat = cv2.morphologyEx(image, cv2.MORPH_TOPHAT, kernel)
    seeds = tophat >= settings.min_contrast
    if not seeds.any():
        return []
    labels, _ = ndi.label(seeds)
    slices = ndi.find_objects(labels)
    gx = cv2.Sobel(image, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(image, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    grad = np.hypot(gx, gy)
    taken = np.zeros((h, w), dtype=bool)
    glyphs: list[Glyph] = []
    max_area = settings.max_area_fraction * h * w
    for index, sl in enumerate(slices, start=1):
        if sl is None:
            continue
        ys, xs = sl
        pad = max(6, (ys.stop - ys.start + xs.stop - xs.start) // 2)
        y0, y1 = max(0, ys.start - pad), min(h, ys.stop + pad)
        x0, x1 = max(0, xs.start - pad), min(w, xs.stop + pad)
        seed = labels[y0:y1, x0:x1] == index
        if taken[y0:y1, x0:x1][seed].all():
            continue
        win = image[y0:y1, x0:x1]
        plateau = float(np.median(win[seed]))
        ring = _ring(seed, 3, 8) & ~(labels[y0:y1, x0:x1] > 0)
        if ring.sum() < 8:
            continue
        background = float(np.median(win[ring]))
        contrast = plateau - background
        if contrast < settings.min_contrast:
            continue
        # a letter lies on something flat (plate, background); noise does not
        spread = 1.4826 * float(np.median(np.abs(win[ring] - background)))
        if spread > settings.max_roughness * contrast:
            continue
        level = background + 0.5 * contrast
        comp_labels, _ = ndi.label(win >= level)
        ids = np.unique(comp_labels[seed])
        ids = ids[ids > 0]
        if ids.size == 0:
            continue
        region = np.isin(comp_labels, ids)
        area = int(region.sum())
        if area < settings.min_area or area > max_area:
            continue
        touches = region[0, :].any() or region[-1, :].any() or region[:, 0].any()
        touches = touches or region[:, -1].any()
        if touches and (y0 > 0 and y1 < h and x0 > 0 and x1 < w):
            continue  # leaks out of its window: part of something large, not a glyph
        outline = region ^ ndi.binary_erosion(region)
        sharpness = float(grad[y0:y1, x0:x1][outline].mean()) / contrast
        inner = ndi.binary_erosion(region, iterations=1)
        inside = win[inner] if inner.sum() >= 4 else win[region]
        roughness = float(np.std(inside)) / contrast
        dist = ndi.distance_transform_edt(region)
        stroke = 2.0 * float(dist.max())
        if sharpness < settings.min_sharpness or roughness > settings.max_roughness:
            continue
        if hand is not None:
            on_hand = float(hand[y0:y1, x0:x1][region].mean())
            if on_hand > settings.max_hand_overlap:
                continue
        rys, rxs = np.nonzero(region)
        box = (
            x0 + int(rxs.min()),
            y0 + int(rys.min()),
            x0 + int(rxs.max()) + 1,
            y0 + int(rys.max()) + 1,
        )
        if _frame_like(box, (h, w)):
            continue
        score = float(
            np.clip(contrast / 0.5, 0, 1) ** 0.5
            * np.clip(sharpness / 0.3, 0, 1) ** 0.5
            * np.clip(1.0 - roughness / 0.4, 0, 1)
        )
        full = np.zeros((h, w), dtype=bool)
        full[y0:y1, x0:x1] = region
        taken |= full
        sub = full[box[1] : box[3], box[0] : box[2]]
        glyphs.append(
            Glyph(box, sub, contrast, sharpness, roughness, stroke, level, background, score)
        )
    return glyphs

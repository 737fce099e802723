"""Keep bright and dark edges, and the image border, out of a local fill.

A lead marker often lies against a collimator edge, a frame line or the image border. A
local fill (``telea``, ``navier-stokes``, ``biharmonic``, the GAN's tile) propagates
whatever touches the hole, so a thin bright edge smears a glow or a wedge across the whole
plate, a black scanner border draws a dark spike, and ``biharmonic`` extrapolates the steep
gradient. :func:`guard` prepares the fill's input so that it takes its content from the
**dominant** region around the hole instead:

1. **Image border**: where the hole comes within 2 px of the array's edge, the pixels and
   the mask are padded there by reflection (16 px, rounded up to ``multiple_of``), so the
   hole's border side is filled from mirrored context rather than from nothing, and cropped
   again afterwards. Padding that a :class:`~radinpaint.inpainters.geometry.Placement`
   added (letterbox, reflected) gets the reflected mask too (``inner``), so mirrored
   artifact pixels are never taken as context.
2. **Regions**: the unmasked pixels within :data:`RING_WIDTH` px of the hole (the ring)
   are split by intensity with Otsu's threshold. When one side holds at most
   :data:`MAX_MINORITY` of the ring and differs from the other by more than
   :data:`MIN_CONTRAST` robust SDs of the dominant side (and by at least
   :data:`MIN_STEP`), it is a minority edge; the split is repeated once on the dominant
   side (a black border *and* a bright collimator line). The pixels within :data:`BAND`
   px of the hole that lie outside the dominant intensity range and form groups of at
   least :data:`MIN_AREA` pixels reaching the ring, grown by :data:`RIM` pixels (an edge's
   blurred rim), become unknown in the fill's input: the fill then draws only from the
   dominant region. Anatomy around a plate on the hand (bone, soft tissue) holds more of
   the ring than an edge does, so it is left alone.
3. **Restore**: :meth:`GuardedFill.finish` crops the padding and puts back every pixel
   that was not in the original hole exactly as it was, so the minority edges reappear
   untouched outside the mask (under ``"raw"`` compositing, a whole-image redraw, only the
   minority pixels are put back).

Without a clear minority edge (a plate on a uniform background, or a hole split near half
and half between two regions), the fill's input is the crop as it was, except for the
border padding. Limits: a minority edge is not continued into the hole, it stops at the
mask border (a collimator line that crosses the plate shows a gap there, and the soft
tissue of a hand that touches a plate on a small part of its ring is cut along the mask);
a hole that spans several large regions (a plate across a collimator boundary) is filled
as the plain method fills it.
"""

from __future__ import annotations

import attrs
import numpy as np

__all__ = [
    "BAND",
    "BORDER_PAD",
    "MAX_MINORITY",
    "MIN_AREA",
    "MIN_CONTRAST",
    "MIN_STEP",
    "RIM",
    "RING_WIDTH",
    "GuardedFill",
    "dominant_range",
    "guard",
]

RING_WIDTH = 8
"""Width (px) of the ring around the hole whose intensities are classified."""

MAX_MINORITY = 0.15
"""Largest share of the ring a minority edge may hold (more: two regions, or anatomy that
the fill should continue; no guard)."""

MIN_CONTRAST = 6.0
"""Least distance between the two classes' medians, in robust SDs of the dominant one."""

MIN_STEP = 0.03
"""Least distance between the classes' medians in pixel units (about 8 levels at 8 bits)."""

BORDER_PAD = 16
"""Reflection padding (px) added where the hole touches the edge of the array."""

BAND = 24
"""Minority-edge pixels farther than this (px) from the hole stay in the fill's input."""

MIN_AREA = 12
"""Outlying pixels in smaller connected groups are noise, not an edge."""

RIM = 3
"""Minority edges are grown by this many pixels (their blurred rim goes with them)."""

_TOUCH = 2
"""A hole within this many pixels of the array's edge is padded there."""

Widths = tuple[tuple[int, int], tuple[int, int]]


@attrs.frozen(eq=False)
class GuardedFill:
    """The input a fill should see, and how to bring its output back.

    Attributes:
        pixels: the fill's input pixels (padded where the hole touches the array's edge).
        mask: the fill's unknowns in that frame: the hole, its mirror in the padding, and
            the minority-edge pixels.
        pad: ``((top, bottom), (left, right))`` padding added around the given array.
        minority: pixels of the given array (not padded) left out of the fill's input.
        original: the given pixels.
        hole: the given mask.
    """

    pixels: np.ndarray
    mask: np.ndarray
    pad: Widths
    minority: np.ndarray
    original: np.ndarray
    hole: np.ndarray

    @property
    def changed(self) -> bool:
        """True when the fill's input differs from the given crop and mask."""
        return bool(self.minority.any()) or self.pad != ((0, 0), (0, 0))

    def finish(self, output: np.ndarray, *, restore_all: bool = True) -> np.ndarray:
        """The fill's output in the given frame (float32), padding cropped.

        With ``restore_all`` (local fills) every pixel outside the hole is put back from
        the given pixels, exactly; without it (a backend that redraws the whole picture on
        purpose) only the minority-edge pixels are.
        """
        (top, bottom), (left, right) = self.pad
        arr = np.asarray(output, dtype=np.float32)
        h, w = arr.shape
        arr = arr[top : h - bottom, left : w - right]
        keep = ~self.hole if restore_all else self.minority
        return np.where(keep, self.original, arr).astype(np.float32, copy=False)


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def _robust_sd(values: np.ndarray) -> float:
    med = np.median(values)
    return float(1.4826 * np.median(np.abs(values - med)))


def _otsu(values: np.ndarray) -> float:
    """Otsu's threshold of float values (256 bins over their range)."""
    lo, hi = float(values.min()), float(values.max())
    hist, edges = np.histogram(values, bins=256, range=(lo, hi))
    centres = 0.5 * (edges[:-1] + edges[1:])
    w0 = np.cumsum(hist).astype(np.float64)
    w1 = w0[-1] - w0
    s0 = np.cumsum(hist * centres)
    m0 = np.divide(s0, w0, out=np.zeros_like(s0), where=w0 > 0)
    m1 = np.divide(s0[-1] - s0, w1, out=np.zeros_like(s0), where=w1 > 0)
    between = w0 * w1 * (m0 - m1) ** 2
    return float(edges[int(np.argmax(between[:-1])) + 1])


def dominant_range(values: np.ndarray) -> tuple[float, float]:
    """``(lo, hi)``: the intensities of the dominant region among ring ``values``.

    ``-inf``/``inf`` where no minority edge was found on that side (see the module docs).
    """
    lo, hi = -np.inf, np.inf
    cur = np.asarray(values, dtype=np.float64)
    total = cur.size
    for _ in range(2):
        if cur.size < 16 or float(cur.max() - cur.min()) < MIN_STEP:
            break
        t = _otsu(cur)
        low, high = cur[cur < t], cur[cur >= t]
        if low.size == 0 or high.size == 0:
            break
        minority, dominant = (low, high) if low.size < high.size else (high, low)
        if minority.size > MAX_MINORITY * total:
            break
        dom_med = float(np.median(dominant))
        spread = _robust_sd(dominant)
        gap = abs(float(np.median(minority)) - dom_med)
        if gap < max(MIN_CONTRAST * spread, MIN_STEP):
            break
        # the boundary sits near the dominant side, so the minority's blurred rim goes too
        reach = min(abs(t - dom_med), max(4.0 * spread, 0.5 * MIN_STEP))
        if minority is low:
            lo = max(lo, dom_med - reach)
        else:
            hi = min(hi, dom_med + reach)
        cur = dominant
    return lo, hi


def guard(
    pixels: np.ndarray,
    mask: np.ndarray,
    *,
    multiple_of: int = 1,
    inner: tuple[int, int, int, int] | None = None,
    regions: bool = True,
    scale: float = 1.0,
) -> GuardedFill:
    """Prepare a fill's input (see the module docs).

    Args:
        pixels: float pixels of the crop the fill sees.
        mask: its boolean hole (True = to fill).
        multiple_of: border padding is a multiple of this (a generator's stride).
        inner: ``(top, left, height, width)`` of the real pixels when the array carries
            reflected letterbox padding around them (the mask is then mirrored into it).
        regions: also leave minority edges out (False: border handling only).
        scale: backend pixels per image pixel (a resampled tile): the ring, band and rim
            widths are image pixels.

    Returns:
        A :class:`GuardedFill`; run the fill on its ``pixels`` and ``mask`` and pass the
        output to :meth:`GuardedFill.finish`.
    """
    import cv2

    original = np.asarray(pixels, dtype=np.float32)
    hole = np.asarray(mask, dtype=bool)
    fill_mask = hole.copy()
    if inner is not None:
        top, left, h, w = inner
        widths = ((top, hole.shape[0] - h - top), (left, hole.shape[1] - w - left))
        if widths != ((0, 0), (0, 0)) and min(h, w) > 1:
            fill_mask = np.pad(hole[top : top + h, left : left + w], widths, mode="reflect")

    rows = np.flatnonzero(fill_mask.any(axis=1))
    cols = np.flatnonzero(fill_mask.any(axis=0))
    pad: Widths = ((0, 0), (0, 0))
    if rows.size and min(hole.shape) > 1:
        width = _round_up(BORDER_PAD, max(1, multiple_of))
        H, W = hole.shape
        pad = (
            (width if rows[0] < _TOUCH else 0, width if rows[-1] >= H - _TOUCH else 0),
            (width if cols[0] < _TOUCH else 0, width if cols[-1] >= W - _TOUCH else 0),
        )
    work = np.pad(original, pad, mode="reflect") if pad != ((0, 0), (0, 0)) else original
    work_mask = np.pad(fill_mask, pad, mode="reflect") if pad != ((0, 0), (0, 0)) else fill_mask

    minority = np.zeros(hole.shape, dtype=bool)
    if regions and work_mask.any() and not work_mask.all():
        known = ~work_mask
        dist = cv2.distanceTransform(known.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        dist = dist.astype(np.float64) / max(float(scale), 1e-6)  # in image pixels
        ring = known & (dist <= RING_WIDTH)
        if int(ring.sum()) >= 16 * scale * scale:
            lo, hi = dominant_range(work[ring])
            if np.isfinite(lo) or np.isfinite(hi):
                outlier = known & (dist <= BAND) & ((work < lo) | (work > hi))
                count, labels, stats, _ = cv2.connectedComponentsWithStats(
                    outlier.astype(np.uint8), connectivity=8
                )
                touching = np.unique(labels[outlier & ring])
                keep = np.zeros(count, dtype=bool)
                keep[touching[touching > 0]] = True
                keep &= stats[:, cv2.CC_STAT_AREA] >= MIN_AREA * scale * scale  # not noise
                edge = keep[labels]
                if edge.any():
                    r = max(1, round(RIM * scale))
                    rim = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
                    edge = cv2.dilate(edge.astype(np.uint8), rim) > 0
                    edge &= known
                    # enough of the dominant region must stay to fill from
                    if int((ring & ~edge).sum()) >= 16 * scale * scale:
                        work_mask = work_mask | edge
                        (t, b), (left_, r) = pad
                        minority = edge[t : edge.shape[0] - b, left_ : edge.shape[1] - r] & ~hole
    return GuardedFill(
        pixels=np.ascontiguousarray(work, dtype=np.float32),
        mask=np.ascontiguousarray(work_mask),
        pad=pad,
        minority=minority,
        original=original,
        hole=hole,
    )

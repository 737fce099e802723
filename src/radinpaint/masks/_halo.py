"""Growing a marker's mask over its rim and blur halo, until the background comes back.

Internal to :mod:`radinpaint.masks.markers`. A lead plate's outline is not a step: the
plastic has a rim, a bevelled side, sometimes rails, and the system blur spreads all of it
over a few pixels. A mask that stops at the plate's flat face leaves that band outside, and
an inpainter then draws it back in as a faint outline of the plate (a "ghost").

:func:`grow_to_background` walks outward from the marker's outline, piece by piece: the
outline is cut into pieces a few tens of pixels long, and every pixel around the marker
belongs to the piece nearest to it. For each piece it averages the pixels at each distance
(1 px steps; the average over the piece's length beats the pixel noise), takes the
background level from a ring beyond the largest growth allowed (the cap), and finds the
first distance from which the profile stays within the noise of that level. The mask grows
by that distance on that piece (smoothed along the outline, plus a one-pixel margin for the
blur's tail). Pixels in ``keep_out`` (the hand) are never added; pixels in ``avoid`` (other
markers) and ``keep_out`` are left out of the averages.
"""

from __future__ import annotations

import attrs
import numpy as np

from ._base import grow

__all__ = ["HaloSettings", "grow_to_background"]


@attrs.frozen
class HaloSettings:
    """How far and how eagerly a marker's mask grows over its halo.

    Attributes:
        cap_fraction: the largest growth, as a fraction of the marker's shorter side.
        min_cap: the largest growth is at least this many pixels.
        max_cap: and at most this many.
        ring: width in pixels of the ring the background is measured on (beyond the cap).
        piece: length in pixels of the pieces the outline is cut into.
        noise_factor: a distance still belongs to the halo when its average differs from
            the background by more than this many standard errors of that average.
        floor: and by more than this (intensity in [0, 1]), whatever the noise.
        settle: the profile must stay at the background for this many pixels.
        rim_fraction: the widest rim (a band standing out more than the marker's edge),
            as a fraction of the marker's shorter side.
        border_fraction: the band along the image border left out of the profiles, as a
            fraction of the image's longer side (frame lines, the field's dark outside).
        margin: pixels added at the end for the tail of the blur below the noise.
    """

    cap_fraction: float = 0.2
    min_cap: int = 3
    max_cap: int = 40
    ring: int = 8
    piece: int = 24
    noise_factor: float = 4.0
    floor: float = 2.5 / 255.0
    settle: int = 3
    rim_fraction: float = 0.05
    border_fraction: float = 0.015
    margin: int = 1

    def cap(self, short_side: float) -> int:
        """The largest growth in pixels for a marker whose shorter side is ``short_side``."""
        return int(np.clip(round(self.cap_fraction * short_side), self.min_cap, self.max_cap))


def short_side(component: np.ndarray) -> float:
    """The shorter side of the minimum-area rotated rectangle around ``component``."""
    import cv2

    ys, xs = np.nonzero(component)
    if xs.size < 3:
        return float(max(1, xs.size))
    (_, _), (rw, rh), _ = cv2.minAreaRect(np.column_stack([xs, ys]).astype(np.float32))
    return float(max(1.0, min(rw, rh)))


def _pieces(component: np.ndarray, length: int) -> tuple[np.ndarray, int]:
    """An image of piece numbers on the outline pixels of ``component`` (-1 elsewhere)."""
    import cv2

    out = np.full(component.shape, -1, dtype=np.int32)
    contours, _ = cv2.findContours(
        component.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE
    )
    count = 0
    for contour in contours:
        pts = contour[:, 0, :]
        n = max(1, round(len(pts) / length))
        ids = count + (np.arange(len(pts)) * n) // max(1, len(pts))
        out[pts[:, 1], pts[:, 0]] = ids
        count += n
    return out, count


def _extent(profile: np.ndarray, tol: np.ndarray, settle: int, rim: int) -> int:
    """How far the halo reaches along one piece's profile (deviation from the background).

    The first distance from which ``|profile| <= tol`` for ``settle`` steps. A halo fades
    towards the background, with at most a thin rim standing out on the way: where the
    profile instead climbs away from the lowest deviation seen so far, for longer than a
    rim is wide, it has reached something else (a collimator's glow, a frame line) and the
    halo stops at that lowest point. The first two pixels, still in the blur of the edge
    the marker was found by, do not count as lowest points.
    """
    dev = np.abs(profile)
    n = len(dev)
    end = n
    for d in range(n):
        if (dev[d : min(n, d + settle)] <= tol[d : min(n, d + settle)]).all():
            end = d
            break
    low, at, run = np.inf, 0, 0
    for d in range(min(2, end), end):  # the first two pixels still blur the marker's edge
        if dev[d] < low:
            low, at = float(dev[d]), d
        if dev[d] > low + max(float(tol[d]), 0.5 * low):
            run += 1
            if run > rim:
                return at
        else:
            run = 0
    return end


def _levels(ring_sum: np.ndarray, ring_n: np.ndarray) -> np.ndarray | None:
    """The background level of every piece: its ring's mean, else its neighbours'.

    A piece whose ring falls off the image, into the border band or onto the hand takes
    the level of the nearest pieces along the outline that have one (interpolated between
    the two sides); ``None`` when no piece has a ring.
    """
    count = len(ring_n)
    has = np.flatnonzero(ring_n >= 4)
    if has.size == 0:
        return None
    own = ring_sum / np.maximum(ring_n, 1)
    if has.size == count:
        return own
    idx = np.arange(count)
    # circular interpolation along the outline: unwrap the known pieces once around
    xp = np.concatenate([has - count, has, has + count])
    fp = np.concatenate([own[has]] * 3)
    return np.where(ring_n >= 4, own, np.interp(idx, xp, fp))


def _beyond(
    mean: np.ndarray, flat: int, settle: int, own: float, level: float, tol: np.ndarray
) -> bool:
    """Whether the ring's level lies beyond the marker from the first plateau outside it.

    A halo runs from the marker's level towards its background's, so the first plateau
    after the marker's edge (a rim, a rail, the background itself) lies on the same side of
    the marker's level as the ring does. When the ring is on the other side, and far
    beyond (a dark background next to the plate, a bright collimator field farther out),
    the ring belongs to something else, and the halo ends at that first plateau.
    """
    end = min(len(mean), flat + settle)
    if flat >= len(mean) or end <= flat:
        return False
    plateau = float(np.mean(mean[flat:end]))
    margin = float(tol[min(flat, len(tol) - 1)])
    if abs(plateau - own) <= margin or abs(level - own) <= margin:
        return False
    if (plateau - own) * (level - own) >= 0:
        return False
    # and much farther from the plateau than the plateau is from the marker (a plate's
    # bevel may be brighter than its face, a little: that is still the plate)
    return abs(level - plateau) > 4.0 * abs(plateau - own)


def _flattening(mean: np.ndarray, n: np.ndarray, tol: np.ndarray, settle: int) -> int:
    """Where a profile with no background to compare with stops changing (its halo's end)."""
    last = int(np.flatnonzero(n > 0).max()) if (n > 0).any() else 0
    for d in range(1, last):
        ks = range(d, min(last, d + settle))
        if all(abs(mean[k + 1] - mean[k]) <= tol[k] for k in ks):
            return d
    return last


def grow_to_background(
    image: np.ndarray,
    component: np.ndarray,
    *,
    keep_out: np.ndarray | None = None,
    avoid: np.ndarray | None = None,
    settings: HaloSettings | None = None,
    cap: int | None = None,
    debug: dict | None = None,
) -> np.ndarray:
    """``component`` grown over the pixels around it that are not yet background.

    Args:
        image: float pixels in [0, 1], the same shape as ``component``.
        component: one marker's mask (boolean).
        keep_out: pixels never added (the hand).
        avoid: pixels left out of the profiles and the background (other markers).
        settings: thresholds (:class:`HaloSettings`).
        cap: the largest growth in pixels (default from ``settings`` and the marker's size).
        debug: a dict that receives the window's intermediate values (for inspection).

    Returns:
        A boolean array of ``image``'s shape: ``component`` and its halo.
    """
    import cv2
    from scipy import ndimage as ndi

    settings = settings or HaloSettings()
    out = component.copy()
    if not component.any():
        return out
    h, w = image.shape
    if cap is None:
        cap = settings.cap(short_side(component))
    far = cap + settings.settle + settings.ring
    ys, xs = np.nonzero(component)
    y0, y1 = max(0, int(ys.min()) - far - 1), min(h, int(ys.max()) + far + 2)
    x0, x1 = max(0, int(xs.min()) - far - 1), min(w, int(xs.max()) + far + 2)
    win = image[y0:y1, x0:x1].astype(np.float32)
    comp = component[y0:y1, x0:x1]
    blocked = np.zeros(comp.shape, dtype=bool)
    if keep_out is not None:
        blocked |= keep_out[y0:y1, x0:x1]
    unused = grow(blocked, 2)
    if avoid is not None:
        unused |= grow(avoid[y0:y1, x0:x1] & ~comp, 2)
    shut = unused.copy()  # what hides the background: the hand, other markers
    # frame lines and the dark outside of the exposure field hug the image border: the band
    # along it tells nothing about a marker's background
    band = max(settings.min_cap, round(settings.border_fraction * max(h, w)))
    yy, xx = np.ogrid[y0:y1, x0:x1]
    unused |= (np.minimum(yy, h - 1 - yy) < band) | (np.minimum(xx, w - 1 - xx) < band)

    pieces, count = _pieces(comp, settings.piece)
    outline = pieces >= 0
    dist, (iy, ix) = ndi.distance_transform_edt(~outline, return_indices=True)
    piece = pieces[iy, ix]
    step = np.maximum(np.floor(dist).astype(np.int64) - 1, 0)  # 0: next to the outline
    outside = ~comp & (step <= far) & ~unused
    # pixel noise, from the difference with a smoothed copy (robust to slopes and edges)
    detail = (win - cv2.GaussianBlur(win, (0, 0), 2.0))[outside & (step > cap)]
    if detail.size < 20:
        return out
    noise = 1.4826 * float(np.median(np.abs(detail - np.median(detail))))

    bins = far + 1
    key = piece[outside] * bins + step[outside]
    counts = np.bincount(key, minlength=count * bins).reshape(count, bins)
    sums = np.bincount(key, weights=win[outside], minlength=count * bins).reshape(count, bins)
    around = ~comp & (step <= far)  # every pixel in the image, the hand's included
    present = np.bincount(piece[around] * bins + step[around], minlength=count * bins).reshape(
        count, bins
    )
    inner = cap + settings.settle
    onto = ~comp & (step >= inner) & (step <= far) & shut  # ring pixels on the hand
    ring_shut = np.bincount(piece[onto], minlength=count)
    ring_n = counts[:, inner:].sum(axis=1)
    ring_sum = sums[:, inner:].sum(axis=1)
    rim = max(settings.settle + 1, round(settings.rim_fraction * short_side(component)))
    near_border = 2 * settings.settle + settings.margin
    levels = _levels(ring_sum, ring_n)
    # the marker's own level along each piece: its pixels just inside the outline
    edge_in = comp & (dist <= 3)
    own_n = np.bincount(piece[edge_in], minlength=count)
    own = np.bincount(piece[edge_in], weights=win[edge_in], minlength=count) / np.maximum(own_n, 1)
    reach = np.zeros(count, dtype=np.int64)
    for p in range(count):
        n = counts[p, :inner]
        gone = np.flatnonzero(present[p] == 0)
        if gone.size and gone[0] <= near_border:
            reach[p] = int(gone[0])  # a thin strip up to the border: plate or frame, taken
            continue
        if n.sum() == 0:
            continue  # all hand (or all border band): no growth here
        mean = sums[p, :inner] / np.maximum(n, 1)
        tol = np.maximum(settings.floor, settings.noise_factor * noise / np.sqrt(np.maximum(n, 1)))
        if levels is None or (ring_n[p] < 4 and ring_shut[p] > 0):
            # no background to compare with (the hand lies beyond this piece, or no ring
            # anywhere): the halo ends where the profile stops changing
            reach[p] = min(cap, _flattening(mean, n, tol, settings.settle))
            continue
        flat = _flattening(mean, n, tol, settings.settle)
        mean = np.where(n > 0, mean, levels[p])
        if own_n[p] and _beyond(mean, flat, settings.settle, float(own[p]), levels[p], tol):
            reach[p] = min(cap, flat)  # the ring lies on something else: stop at the plateau
            continue
        reach[p] = min(cap, _extent(mean - levels[p], tol, settings.settle, rim))
    if count >= 3:  # one odd piece neither grows alone nor stops its neighbours
        reach = np.median(np.stack([np.roll(reach, 1), reach, np.roll(reach, -1)]), axis=0)
    reach_px = reach[piece]
    grown = (~comp & (reach_px > 0) & (step < reach_px + settings.margin)) | comp
    grown = ndi.binary_fill_holes(grown) & ~blocked | comp
    if debug is not None:
        debug.update(window=(x0, y0, x1, y1), reach=reach, noise=noise, cap=cap, pieces=piece)
    out[y0:y1, x0:x1] |= grown
    return out

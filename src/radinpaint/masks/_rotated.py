"""Finding a plate in the frame of its letters: for plates at any angle, faint or broken.

Internal to :mod:`radinpaint.masks.markers`. The grown-region plate finder of
:mod:`._plates` needs the plate's outline closed all round; a faint plate at an angle often
has a gap in it, and the region then leaks into the background. This finder does not need
the outline at all. Letters are set square on their plate, so the minimum-area rotated
rectangle of a group of letters gives the plate's angle. In the image turned by that angle
the plate is an upright rectangle around the letters: from each side of the letters, the
mean grey level across the letters' span is followed outward (the average over a whole
side beats the pixel noise and bridges gaps), and the plate's edge is where that profile
leaves the plate's own level (measured next to the letters) for good, with a step well
above the noise. A side that runs off the image ends at the border. The four edges,
turned back, give the plate's rotated rectangle.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._base import grow
from ._glyphs import Glyph
from ._plates import glyph_mask

__all__ = ["find_rotated_plate"]

_MIN_RATIO = 1.4  # plate area over the letters' rectangle, at least
_MAX_RATIO = 10.0  # and at most
_MIN_STEP = 0.012  # smallest plate-to-background step, intensity in [0, 1]


def _edge(
    profile: np.ndarray, count: np.ndarray, plate: float, noise: float, away: int = 8
) -> tuple[int, float] | None:
    """Distance at which a side's profile leaves the plate's level for good, and the step.

    ``profile[t]`` is the mean grey level ``t`` pixels out from the letters (NaN where no
    pixel counted, e.g. off the image). The edge is the first step out from the letters
    (over 3 px either side, taken at its strongest point) whose inner side is still at the
    plate's level and whose outer side stays away from it for ``away`` pixels; a profile
    that runs off the image while still at the plate's level ends there (step 0). None
    when the side has no edge.
    """
    n = len(profile)
    known = np.isfinite(profile)
    if known.sum() < 4:
        return None
    last = int(np.flatnonzero(known).max())
    # the plate's level on this side: next to the letters, past their blur
    start = profile[2:5]
    start = start[np.isfinite(start)]
    if start.size:
        plate = float(np.median(start))
    best, at = 0.0, None
    for t in range(3, last - 2):
        if at is not None and t - at > 3:
            break  # the first edge out from the letters, taken at its strongest point
        inner = profile[t - 3 : t]
        outer = profile[t : t + 3]
        if not (np.isfinite(inner).all() and np.isfinite(outer).all()):
            continue
        step = float(outer.mean() - inner.mean())
        rows = max(1.0, float(count[t - 3 : t + 3].min()))
        threshold = max(_MIN_STEP, 5.0 * noise / np.sqrt(rows))
        if abs(step) < threshold:
            continue
        so_far = profile[2:t]
        so_far = so_far[np.isfinite(so_far)]
        level = float(np.median(so_far)) if so_far.size else plate
        if abs(float(inner.mean()) - level) > max(0.5 * abs(step), 3.0 * noise):
            continue  # the inner side is not the plate any more
        beyond = profile[t : min(last + 1, t + away)]
        beyond = beyond[np.isfinite(beyond)]
        if np.abs(beyond - plate).mean() < 0.5 * abs(step):
            continue  # a line or a hole (a rim, the hanging hole), not the plate's end
        if at is None or abs(step) > abs(best):
            best, at = step, t
    if at is not None:
        return at, best
    if last < n - 1:
        tail = profile[max(0, last - 5) : last + 1]
        tail = tail[np.isfinite(tail)]
        if tail.size and np.abs(tail - plate).max() < max(_MIN_STEP, 5.0 * noise):
            return last + 1, 0.0  # still plate where the image ends
    return None


def _stroke_angle(image: np.ndarray, letters: np.ndarray) -> float:
    """The letters' angle in degrees, in (-45, 45]: the mean direction of their edges.

    Lead letters are mostly straight strokes square to their plate (L, E, H, T, the sides
    of most others), so the edge directions, folded onto a quarter turn (four times the
    angle), average to the plate's angle even when the letters' own rectangle does not.
    """
    import cv2

    ys, xs = np.nonzero(letters)
    y0, y1 = max(0, ys.min() - 3), min(image.shape[0], ys.max() + 4)
    x0, x1 = max(0, xs.min() - 3), min(image.shape[1], xs.max() + 4)
    win = cv2.GaussianBlur(image[y0:y1, x0:x1].astype(np.float32), (0, 0), 1.0)
    gx = cv2.Sobel(win, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(win, cv2.CV_32F, 0, 1, ksize=3)
    let = letters[y0:y1, x0:x1]
    rim = grow(let, 1) & ~(cv2.erode(let.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)
    mag = np.hypot(gx, gy)[rim]
    theta = np.arctan2(gy[rim], gx[rim])
    z = np.sum(mag * np.exp(4j * theta))
    return float(np.degrees(np.angle(z) / 4.0))


def find_rotated_plate(
    image: np.ndarray,
    glyphs: Sequence[Glyph],
    hand: np.ndarray | None,
    noise: float,
    debug: dict | None = None,
) -> tuple[np.ndarray, tuple[int, int, int, int], float] | None:
    """The plate around ``glyphs``, set square on them: ``(mask, box, score)`` or None.

    Args:
        image: the working image (float, [0, 1]).
        glyphs: one group of letters.
        hand: the hand at the working scale, or None.
        noise: the image's pixel noise (standard deviation).
        debug: a dict that receives the turned window (for inspection).
    """
    import cv2

    h, w = image.shape
    letters = glyph_mask((h, w), glyphs)
    ys, xs = np.nonzero(letters)
    if xs.size < 10:
        return None
    (cx, cy), (rw, rh), _ = cv2.minAreaRect(np.column_stack([xs, ys]).astype(np.float32))
    size = max(rw, rh)
    angle = _stroke_angle(image, letters)
    reach = round(1.6 * size) + 6
    half = int(np.ceil(0.75 * size)) + reach + 2
    wx0, wy0 = max(0, int(cx) - half), max(0, int(cy) - half)
    wx1, wy1 = min(w, int(cx) + half + 1), min(h, int(cy) + half + 1)
    side = 2 * half + 1
    # the window, padded to a square around the letters' centre (padding marked invalid)
    pad = np.zeros((side, side), np.float32)
    valid = np.zeros((side, side), np.uint8)
    lets = np.zeros((side, side), np.uint8)
    shut = np.zeros((side, side), np.uint8)
    ox, oy = half - int(cx) + wx0, half - int(cy) + wy0
    sl = (slice(oy, oy + wy1 - wy0), slice(ox, ox + wx1 - wx0))
    pad[sl] = image[wy0:wy1, wx0:wx1]
    valid[sl] = 1
    lets[sl] = letters[wy0:wy1, wx0:wx1]
    if hand is not None:
        shut[sl] = grow(hand[wy0:wy1, wx0:wx1], 2)
    centre = (float(cx) - int(cx) + half, float(cy) - int(cy) + half)
    turn = cv2.getRotationMatrix2D(centre, angle, 1.0)
    size_wh = (side, side)
    rot = cv2.warpAffine(pad, turn, size_wh, flags=cv2.INTER_LINEAR)
    rvalid = cv2.warpAffine(valid, turn, size_wh, flags=cv2.INTER_NEAREST) > 0
    rlets = cv2.warpAffine(lets, turn, size_wh, flags=cv2.INTER_NEAREST) > 0
    rshut = cv2.warpAffine(shut, turn, size_wh, flags=cv2.INTER_NEAREST) > 0
    if not rlets.any():
        return None
    lys, lxs = np.nonzero(rlets)
    lx0, lx1, ly0, ly1 = int(lxs.min()), int(lxs.max()) + 1, int(lys.min()), int(lys.max()) + 1
    usable = rvalid & ~rlets & ~rshut
    if debug is not None:
        debug.update(rotated=rot, letters=(lx0, ly0, lx1, ly1), angle=angle)
    # the plate's own level: the ring right around the letters
    stroke = max(2.0, float(np.median([g.stroke for g in glyphs])))
    r0 = max(2, round(0.3 * stroke))
    near = grow(rlets, r0 + max(3, round(0.3 * stroke))) & ~grow(rlets, r0) & usable
    if near.sum() < 10:
        return None
    plate_level = float(np.median(rot[near]))
    rot_nan = np.where(usable, rot, np.nan).astype(np.float32)

    def profile(strip: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
        good = np.isfinite(strip)
        count = good.sum(axis=axis).astype(np.float64)
        total = np.where(good, strip, 0.0).sum(axis=axis)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(count >= 3, total / np.maximum(count, 1), np.nan)
        return mean, count

    edges: dict[str, int] = {}
    steps: dict[str, float] = {}
    spans = {
        "right": (rot_nan[ly0:ly1, lx1 : min(side, lx1 + reach)], 0, False),
        "left": (rot_nan[ly0:ly1, max(0, lx0 - reach) : lx0], 0, True),
        "bottom": (rot_nan[ly1 : min(side, ly1 + reach), lx0:lx1], 1, False),
        "top": (rot_nan[max(0, ly0 - reach) : ly0, lx0:lx1], 1, True),
    }
    for name, (strip, axis, backwards) in spans.items():
        mean, count = profile(strip, axis)
        if backwards:
            mean, count = mean[::-1], count[::-1]
        found = _edge(mean, count, plate_level, noise, away=max(8, round(0.15 * size)))
        if found is None:
            return None
        edges[name], steps[name] = found
    signs = {np.sign(v) for v in steps.values() if v != 0.0}
    if len(signs) != 1:
        return None  # a plate stands out the same way on every side (not a glow's edge)
    px0, px1 = lx0 - edges["left"], lx1 + edges["right"]
    py0, py1 = ly0 - edges["top"], ly1 + edges["bottom"]
    area = float((px1 - px0) * (py1 - py0))
    inside = np.zeros(usable.shape, dtype=bool)
    inside[max(0, py0) : py1, max(0, px0) : px1] = True
    inside &= usable & ~grow(rlets, r0 + 2)
    if inside.sum() > 20:
        contrast = min(abs(v) for v in steps.values() if v != 0.0)
        spread = float(np.median(np.abs(rot[inside] - plate_level)))
        if spread > 0.5 * contrast:
            return None  # not one flat plate inside those edges
    letters_area = max(1.0, float(rw * rh))
    if not _MIN_RATIO * letters_area <= area <= _MAX_RATIO * letters_area:
        return None
    corners = np.array([[px0, py0], [px1, py0], [px1, py1], [px0, py1]], np.float64)
    back = cv2.invertAffineTransform(turn)
    pts = corners @ back[:, :2].T + back[:, 2]
    pts += np.array([int(cx) - half, int(cy) - half], np.float64)
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [np.round(pts).astype(np.int32)], 1)
    plate = (mask > 0) | letters
    if hand is not None and float((plate & hand).sum()) > 0.25 * float(plate.sum()):
        return None
    mys, mxs = np.nonzero(plate)
    box = (int(mxs.min()), int(mys.min()), int(mxs.max()) + 1, int(mys.max()) + 1)
    fill = float(plate.sum()) / max(1.0, area)
    return plate, box, float(np.clip(fill, 0.0, 1.0))

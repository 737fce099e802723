"""Rulers and lines of burned-in text: telling them apart, and masking a whole line.

Internal to :mod:`radinpaint.masks.markers`. Both are rows of glyphs along a line, at any
angle. A ruler's glyphs are mostly tick marks: thin strokes standing square to the line, of
two or three lengths. A text line's glyphs are letters and digits: compact, all of one
height, and the glyph finder may miss one of
them (a thin ``1``, a colon, a letter touching its neighbour). So a text line is masked
whole: the rotated rectangle around its glyphs, after following the line outward from
both ends for characters the glyph finder left out (bright, at the line's height and on
its axis, no farther than a character's gap away).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._base import grow
from ._glyphs import Glyph
from ._plates import glyph_mask

__all__ = ["is_ruler", "text_line"]

_TICK_ELONGATION = 2.5  # a tick is at least this much longer than wide
_TICK_SHARE = 0.6  # a ruler: at least this share of its glyphs are ticks
_RULER_HEIGHT_SPREAD = 0.25  # or its glyphs' heights vary this much (text: one height)
_MAX_STEPS = 40
_REACH = 8.0  # a line grows by at most this many line heights at either end


def _axis(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre and unit direction of the principal axis of ``points`` (N x 2, x and y)."""
    centre = points.mean(axis=0)
    centred = points - centre
    vals, vecs = np.linalg.eigh(centred.T @ centred / max(1, len(points)))
    return centre, vecs[:, int(np.argmax(vals))]


def _tick_like(glyph: Glyph, direction: np.ndarray) -> bool:
    """A thin stroke standing square (within 30 degrees) to ``direction``."""
    import cv2

    ys, xs = np.nonzero(glyph.region)
    if xs.size < 3:
        return False
    (_, _), (rw, rh), angle = cv2.minAreaRect(np.column_stack([xs, ys]).astype(np.float32))
    long_side, short_side = max(rw, rh), max(1.0, min(rw, rh))
    if long_side < _TICK_ELONGATION * short_side:
        return False
    theta = np.radians(angle if rw >= rh else angle + 90.0)
    along = np.array([np.cos(theta), np.sin(theta)])
    return abs(float(along @ direction)) < np.sin(np.radians(30.0))


def _height_spread(glyphs: Sequence[Glyph], direction: np.ndarray) -> float:
    """Coefficient of variation of the glyphs' heights across the line."""
    normal = np.array([-direction[1], direction[0]])
    heights = []
    for g in glyphs:
        ys, xs = np.nonzero(g.region)
        across = (xs + g.box[0]) * normal[0] + (ys + g.box[1]) * normal[1]
        heights.append(float(np.ptp(across)) + 1.0)
    return float(np.std(heights) / max(1e-6, float(np.mean(heights))))


def is_ruler(glyphs: Sequence[Glyph]) -> bool:
    """Five or more glyphs along a line: tick marks square to it, or of uneven heights.

    A ruler's glyphs are ticks of two or three lengths (and a few numbers); a line of text
    has glyphs of one height (on phantoms: height spread 0.00 to 0.20 for text lines, 0.30
    to 0.73 for rulers).
    """
    if len(glyphs) < 5:
        return False
    centres = np.array([((g.box[0] + g.box[2]) / 2, (g.box[1] + g.box[3]) / 2) for g in glyphs])
    _, direction = _axis(centres)
    ticks = sum(_tick_like(g, direction) for g in glyphs)
    if ticks >= _TICK_SHARE * len(glyphs):
        return True
    return _height_spread(glyphs, direction) >= _RULER_HEIGHT_SPREAD


def text_line(
    image: np.ndarray,
    glyphs: Sequence[Glyph],
    hand: np.ndarray | None,
) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The whole line of text ``glyphs`` belong to, as a mask and its box (working pixels).

    The line's axis is the principal axis of the glyphs' pixels; its height, their extent
    across it. From each end, bright pixels (above the glyphs' half-contrast level, off
    the hand) on the axis and no farther than one line height away are taken in, again and
    again, as long as each piece found is no taller than the line. The mask is the rotated
    rectangle around everything found, a quarter of the line's height wider all round.
    """
    import cv2
    from scipy import ndimage as ndi

    h, w = image.shape
    pixels = glyph_mask((h, w), glyphs)
    level = float(np.median([g.level for g in glyphs]))
    ys, xs = np.nonzero(pixels)
    pts = np.column_stack([xs, ys]).astype(np.float64)
    centre, direction = _axis(pts)
    normal = np.array([-direction[1], direction[0]])
    along = (pts - centre) @ direction
    across = (pts - centre) @ normal
    height = max(2.0, float(np.ptp(across)) + 1.0)
    lo, hi = float(along.min()), float(along.max())
    # a window around the line: it may grow by _REACH line heights at either end
    reach = int(np.ceil(max(abs(lo), abs(hi)) + _REACH * height)) + 2
    cx, cy = round(float(centre[0])), round(float(centre[1]))
    wx0, wy0 = max(0, cx - reach), max(0, cy - reach)
    wx1, wy1 = min(w, cx + reach + 1), min(h, cy + reach + 1)
    win = image[wy0:wy1, wx0:wx1]
    bright = win >= level
    if hand is not None:
        bright &= ~grow(hand[wy0:wy1, wx0:wx1], 2)
    labels, _ = ndi.label(bright)
    gy, gx = np.mgrid[wy0:wy1, wx0:wx1]
    rel = np.stack([gx - centre[0], gy - centre[1]], axis=-1)
    u = rel @ direction
    v = rel @ normal
    band = np.abs(v - float(np.median(across))) <= 0.75 * height
    taken = pixels[wy0:wy1, wx0:wx1].copy()
    for _ in range(_MAX_STEPS):
        added = False
        for end, sign in ((hi, 1.0), (lo, -1.0)):
            zone = band & (sign * (u - end) > 0) & (sign * (u - end) <= height) & bright
            zone &= np.abs(u) <= reach - 1
            ids = np.unique(labels[zone & ~taken])
            for i in ids[ids > 0]:
                piece = labels == i
                if piece.sum() > 4 * height * height:
                    continue  # far larger than a character: not part of the line
                pv = v[piece]
                if float(np.ptp(pv)) > 1.3 * height:
                    continue  # taller than the line
                taken |= piece
                pu = u[piece]
                lo, hi = min(lo, float(pu.min())), max(hi, float(pu.max()))
                added = True
        if not added:
            break
    tys, txs = np.nonzero(taken)
    pts = np.column_stack([txs + wx0, tys + wy0]).astype(np.float32)
    (rx, ry), (rw, rh), angle = cv2.minAreaRect(pts)
    pad = max(1.0, 0.25 * height)
    corners = cv2.boxPoints(((rx, ry), (rw + 2 * pad, rh + 2 * pad), angle))
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [np.round(corners).astype(np.int32)], 1)
    out = (mask > 0) | pixels
    out[wy0:wy1, wx0:wx1] |= taken
    if hand is not None:
        out &= ~hand
    oys, oxs = np.nonzero(out)
    box = (int(oxs.min()), int(oys.min()), int(oxs.max()) + 1, int(oys.max()) + 1)
    return out, box

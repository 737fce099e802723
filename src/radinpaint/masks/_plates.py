"""Grouping glyphs into markers and finding the plate that holds them.

Internal to :mod:`radinpaint.masks.markers`. A lead marker is a plastic plate (a flat
rectangle, often rotated, a little brighter or darker than the background) holding one or
more lead letters. Once the letters are found (:mod:`._glyphs`), the plate is grown from the
grey level right around them: every pixel within a tolerance of that level, connected to the
letters, inside a window a little larger than the letter group. The plate is accepted when
that region is rectangular (fills most of its minimum-area rotated rectangle), stops before
the window's edges (so it is not the background) and is larger than the letters; its mask is
then the rotated rectangle itself, which also covers the plate's hanging hole and rim.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import numpy as np

from ._base import grow
from ._glyphs import Glyph

__all__ = ["Marker", "centre_in", "find_plate", "find_ruler", "glyph_mask", "group_glyphs"]

_PLATE_TOLERANCE = 0.25
_MIN_RECT_FILL = 0.75
_MAX_PLATE_RATIO = 10.0
_MIN_PLATE_RATIO = 1.4


@attrs.frozen
class Marker:
    """A group of glyphs and, when found, the region masked for them (working pixels).

    ``plate`` is that region: the plate holding the glyphs (kind ``"plate"``), a ruler's
    strip (``"ruler"``) or the rectangle of a line of text (``"text"``, ``"letter"``);
    ``plate_box`` its box and ``plate_score`` how sure the finder is of it.
    """

    glyphs: tuple[Glyph, ...]
    plate: np.ndarray | None = attrs.field(default=None, repr=False, eq=False)
    plate_box: tuple[int, int, int, int] | None = None
    plate_score: float = 0.0
    reason: str = ""
    kind: str = ""

    @property
    def box(self) -> tuple[int, int, int, int]:
        """Bounding box of the glyphs."""
        return (
            min(g.box[0] for g in self.glyphs),
            min(g.box[1] for g in self.glyphs),
            max(g.box[2] for g in self.glyphs),
            max(g.box[3] for g in self.glyphs),
        )

    @property
    def score(self) -> float:
        """Best glyph score."""
        return max(g.score for g in self.glyphs)


def _gap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    dx = max(0, max(a[0], b[0]) - min(a[2], b[2]))
    dy = max(0, max(a[1], b[1]) - min(a[3], b[3]))
    return float(np.hypot(dx, dy))


def group_glyphs(glyphs: Sequence[Glyph], *, spacing: float = 0.8) -> list[tuple[Glyph, ...]]:
    """Join glyphs closer than ``spacing`` times the larger glyph's longer side."""
    n = len(glyphs)
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(n):
        for j in range(i + 1, n):
            gi, gj = glyphs[i], glyphs[j]
            size = max(gi.width, gi.height, gj.width, gj.height)
            if _gap(gi.box, gj.box) <= spacing * size:
                parent[root(i)] = root(j)
    groups: dict[int, list[Glyph]] = {}
    for i in range(n):
        groups.setdefault(root(i), []).append(glyphs[i])
    return [tuple(g) for g in groups.values()]


def _paint(shape: tuple[int, int], glyphs: Sequence[Glyph]) -> np.ndarray:
    out = np.zeros(shape, dtype=bool)
    for g in glyphs:
        x0, y0, x1, y1 = g.box
        out[y0:y1, x0:x1] |= g.region
    return out


def glyph_mask(shape: tuple[int, int], glyphs: Sequence[Glyph]) -> np.ndarray:
    """The pixels of ``glyphs`` painted into an array of ``shape``."""
    return _paint(shape, glyphs)


def find_plate(
    image: np.ndarray,
    glyphs: Sequence[Glyph],
    hand: np.ndarray | None,
    noise: float,
    debug: dict | None = None,
) -> Marker:
    """The marker made of ``glyphs``, with its plate if one can be found around them."""
    import cv2
    from scipy import ndimage as ndi

    h, w = image.shape
    marker = Marker(tuple(glyphs))
    letters = _paint((h, w), glyphs)
    x0, y0, x1, y1 = marker.box
    size = max(x1 - x0, y1 - y0)
    stroke = max(2.0, float(np.median([g.stroke for g in glyphs])))
    r0 = max(2, round(0.3 * stroke))
    r1 = r0 + max(3, round(0.3 * stroke))
    pad = round(1.2 * size) + r1
    wx0, wy0 = max(0, x0 - pad), max(0, y0 - pad)
    wx1, wy1 = min(w, x1 + pad), min(h, y1 + pad)
    win = image[wy0:wy1, wx0:wx1]
    let = letters[wy0:wy1, wx0:wx1]

    near = grow(let, r1) & ~grow(let, r0)
    if near.sum() < 10:
        return attrs.evolve(marker, reason="no ring")
    level = float(np.median(win[near]))
    smooth = cv2.GaussianBlur(win, (0, 0), 1.5)
    # the plate's outline is a sharp edge even where the plate is as grey as the background;
    # the edge threshold comes from the gradients on the plate next to the letters (noise)
    u8: np.ndarray = np.clip(win * 255.0, 0, 255).astype(np.uint8)
    u8 = cv2.GaussianBlur(cv2.medianBlur(cv2.medianBlur(u8, 5), 5), (0, 0), 1.0)
    gx = cv2.Sobel(u8, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(u8, cv2.CV_32F, 0, 1, ksize=3)
    # most of the window is flat: its median gradient is the noise the edges must beat;
    # faint plate outlines need lower thresholds, tried in turn
    base = max(4.0, 3.0 * float(np.median(np.hypot(gx, gy))))
    lows = sorted({round(max(4.0, base * f), 1) for f in (1.0, 0.7, 0.5, 0.35)}, reverse=True)
    hand_win = hand[wy0:wy1, wx0:wx1] if hand is not None else None
    reasons = []
    for low in lows:
        edges = cv2.Canny(u8, low, 2.0 * low, L2gradient=True) > 0
        free = ~grow(edges, 2) & (np.abs(smooth - level) <= _PLATE_TOLERANCE)
        if hand_win is not None:
            free &= ~hand_win
        labels, _ = ndi.label(free)
        counts = np.bincount(labels[near & free], minlength=labels.max() + 1)
        counts[0] = 0
        ids = np.flatnonzero(counts >= max(4, 0.05 * counts.sum()))
        if ids.size == 0:
            reasons.append("no region")
            continue
        order = ids[np.argsort(-counts[ids])]
        candidates: list[np.ndarray | list[int]] = (
            [ids] if ids.size == 1 else [*([i] for i in order), ids]
        )
        inside = (wy0 > 0, wy1 < h, wx0 > 0, wx1 < w)
        for chosen in candidates:
            region = ndi.binary_fill_holes(np.isin(labels, chosen) | grow(let, r0))
            closed = cv2.morphologyEx(region.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((5, 5)))
            region = ndi.binary_fill_holes(closed > 0)
            if debug is not None and not debug:
                debug.update(window=win, region=region, free=free, edges=edges)
            found = _plate_shape(region, let, inside, (x1 - x0, y1 - y0))
            if isinstance(found, str):
                reasons.append(found)
                continue
            corners = cv2.boxPoints(found[0])
            plate_win = np.zeros(region.shape, dtype=np.uint8)
            cv2.fillPoly(plate_win, [np.round(corners).astype(np.int32)], 1)
            plate = np.zeros((h, w), dtype=bool)
            plate[wy0:wy1, wx0:wx1] = plate_win > 0
            members = tuple(g for g in glyphs if centre_in(g, plate))
            if not members:
                continue
            plate |= _paint((h, w), members)
            if hand is not None:
                plate &= ~_core(hand)
            ys, xs = np.nonzero(plate)
            box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
            score = float(np.clip((found[1] - 0.7) / 0.25, 0, 1))
            return Marker(members, plate, box, score, kind="plate")
    return attrs.evolve(marker, reason="; ".join(dict.fromkeys(reasons)) or "no plate")


def find_ruler(shape: tuple[int, int], glyphs: Sequence[Glyph]) -> Marker | None:
    """A ruler: five or more tick marks or digits along a line; its mask is their rectangle.

    The rectangle is the rotated bounding rectangle of the glyphs, widened by a quarter of
    its width on each side to take in the ruler's body.
    """
    import cv2

    if len(glyphs) < 5:
        return None
    centres = np.array([((g.box[0] + g.box[2]) / 2, (g.box[1] + g.box[3]) / 2) for g in glyphs])
    centred = centres - centres.mean(axis=0)
    eig = np.sort(np.linalg.eigvalsh(centred.T @ centred / len(glyphs)))
    if eig[0] > 0 and np.sqrt(eig[1] / eig[0]) < 6.0:
        return None
    pixels = _paint(shape, glyphs)
    ys, xs = np.nonzero(pixels)
    rect = cv2.minAreaRect(np.column_stack([xs, ys]).astype(np.float32))
    (cx, cy), (rw, rh), angle = rect
    if max(rw, rh) < 4.0 * max(1.0, min(rw, rh)):
        return None
    if rw < rh:
        rw *= 1.5
    else:
        rh *= 1.5
    out = np.zeros(shape, dtype=np.uint8)
    corners = cv2.boxPoints(((cx, cy), (rw + 2, rh + 2), angle))
    cv2.fillPoly(out, [np.round(corners).astype(np.int32)], 1)
    mask = (out > 0) | pixels
    ys, xs = np.nonzero(mask)
    box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    return Marker(tuple(glyphs), mask, box, 1.0, kind="ruler")


def centre_in(glyph: Glyph, area: np.ndarray) -> bool:
    """Whether the centre of ``glyph``'s box lies in ``area``."""
    cx = (glyph.box[0] + glyph.box[2]) // 2
    cy = (glyph.box[1] + glyph.box[3]) // 2
    return bool(area[min(cy, area.shape[0] - 1), min(cx, area.shape[1] - 1)])


def _plate_shape(
    region: np.ndarray,
    letters: np.ndarray,
    inside: tuple[bool, bool, bool, bool],
    group: tuple[int, int],
) -> tuple[tuple, float] | str:
    """The rotated rectangle of a plate-like region and its fill, or why it is no plate."""
    import cv2

    # a plate ends inside the window, except where the window is cut by the image border
    sides = (region[0, :].mean(), region[-1, :].mean(), region[:, 0].mean(), region[:, -1].mean())
    if any(frac > 0.25 and cut for frac, cut in zip(sides, inside, strict=True)):
        return "leaks out of window"
    solid = (region | letters).astype(np.uint8)
    contours, _ = cv2.findContours(solid, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    hull = cv2.convexHull(np.vstack(contours))
    rect = cv2.minAreaRect(hull)
    rw, rh = rect[1]
    rect_area = max(rw * rh, 1.0)
    hull_area = max(cv2.contourArea(hull), 1.0)
    fill = hull_area / rect_area
    solidity = float(solid.sum()) / hull_area
    if fill < _MIN_RECT_FILL or solidity < 0.5 or hull_area < 1.5 * float(letters.sum()):
        return "not rectangular or too small"
    gw, gh = group
    # the letters' own rotated rectangle: a slanted line of text has a large upright box
    lys, lxs = np.nonzero(letters)
    (_, _), (lw, lh), _ = cv2.minAreaRect(np.column_stack([lxs, lys]).astype(np.float32))
    if rect_area > _MAX_PLATE_RATIO * max(1.0, float(lw * lh)):
        return "too large for its letters"
    if min(rw, rh) < 0.6 * min(gw, gh):
        return "narrower than letters"
    # a plate is a little larger than its letters, never a whole exposure field
    if rect_area > _MAX_PLATE_RATIO * max(1, gw * gh) or max(rw, rh) > 3.0 * max(gw, gh):
        return "too large"
    if rect_area < _MIN_PLATE_RATIO * gw * gh:
        return "no larger than the letters"
    return rect, fill


def _core(hand: np.ndarray) -> np.ndarray:
    """The hand without a thin outer rim (the plate may cover the skin's edge)."""
    import cv2

    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
    return cv2.erode(hand.astype(np.uint8), k) > 0

"""Random training holes: free-form strokes and marker-shaped regions.

The generator learns to fill holes shaped like what it will be asked to remove. Each call of
:func:`random_holes` draws one to three shapes of these kinds (sizes relative to the crop):

``"free-form"``
    Brush strokes of random vertices, lengths and widths (as in DeepFill v2's training).
``"plate"``
    A rotated filled rectangle: a lead marker plate or label sticker.
``"letters"``
    One to three thick capital letters (``L``, ``R``, initials) drawn with OpenCV's Hershey
    font, slightly dilated: a marker whose mask follows the glyphs.
``"text"``
    A line of small text (digits, letters, dates), dilated into a band of glyphs.
``"ruler"``
    A long thin rotated band with tick marks along one side.

Everything is drawn from the numpy ``Generator`` passed in, so the same seed gives the same
holes (:func:`holes_for_batch` derives one generator per sample from a seed and a step).
"""

from __future__ import annotations

import math
import string
from collections.abc import Sequence

import numpy as np

from ...errors import InvalidInputError
from ...seeds import derive_seed

__all__ = ["HOLE_KINDS", "holes_for_batch", "random_holes"]

HOLE_KINDS: tuple[str, ...] = ("free-form", "plate", "letters", "text", "ruler")
"""The kinds of shape :func:`random_holes` draws."""

_DEFAULT_WEIGHTS = {"free-form": 0.3, "plate": 0.2, "letters": 0.2, "text": 0.15, "ruler": 0.15}


def _rotated_rect(
    mask: np.ndarray, centre: tuple[float, float], size: tuple[float, float], angle: float
) -> None:
    import cv2

    box = cv2.boxPoints((centre, size, angle))
    cv2.fillPoly(mask, [np.round(box).astype(np.int32)], 1)


def _free_form(mask: np.ndarray, rng: np.random.Generator) -> None:
    import cv2

    h, w = mask.shape
    side = min(h, w)
    for _ in range(int(rng.integers(1, 4))):
        x, y = float(rng.uniform(0, w)), float(rng.uniform(0, h))
        width = int(rng.uniform(0.04, 0.14) * side) + 1
        angle = float(rng.uniform(0, 2 * math.pi))
        for _ in range(int(rng.integers(2, 7))):
            angle += float(rng.uniform(-0.8, 0.8))
            length = float(rng.uniform(0.08, 0.3) * side)
            nx = float(np.clip(x + length * math.cos(angle), 0, w - 1))
            ny = float(np.clip(y + length * math.sin(angle), 0, h - 1))
            cv2.line(mask, (round(x), round(y)), (round(nx), round(ny)), 1, width)
            cv2.circle(mask, (round(nx), round(ny)), width // 2, 1, -1)
            x, y = nx, ny


def _plate(mask: np.ndarray, rng: np.random.Generator) -> None:
    h, w = mask.shape
    side = min(h, w)
    size = (float(rng.uniform(0.12, 0.6) * side), float(rng.uniform(0.12, 0.6) * side))
    angle = float(rng.normal(0, 8)) if rng.random() < 0.6 else float(rng.uniform(0, 90))
    _rotated_rect(mask, (float(rng.uniform(0, w)), float(rng.uniform(0, h))), size, angle)


def _text(mask: np.ndarray, rng: np.random.Generator, *, big: bool) -> None:
    import cv2

    h, w = mask.shape
    side = min(h, w)
    if big:
        text = "".join(rng.choice(list("LRLRABCDEFGHJKMNPST"), size=int(rng.integers(1, 4))))
        height = float(rng.uniform(0.12, 0.35) * side)
        thickness = max(1, int(height / 6))
    else:
        chars = list(string.ascii_uppercase + string.digits + "/-:. ")
        text = "".join(rng.choice(chars, size=int(rng.integers(4, 14))))
        height = float(rng.uniform(0.04, 0.1) * side)
        thickness = max(1, int(height / 8))
    scale = height / 22.0  # FONT_HERSHEY_SIMPLEX capitals are about 22 px tall at scale 1
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    canvas: np.ndarray = np.zeros((th + base + 2 * thickness + 4, tw + 2 * thickness + 4), np.uint8)
    cv2.putText(
        canvas,
        text,
        (thickness + 2, th + thickness + 2),
        cv2.FONT_HERSHEY_SIMPLEX,
        scale,
        1,
        thickness,
        cv2.LINE_8,
    )
    grow = max(1, int(height / 10))
    canvas = cv2.dilate(canvas, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8))
    angle = float(rng.normal(0, 6)) if rng.random() < 0.8 else float(rng.choice([90.0, -90.0]))
    ch, cw = canvas.shape
    diag = math.ceil(math.hypot(ch, cw)) + 2
    big_canvas: np.ndarray = np.zeros((diag, diag), np.uint8)
    y0, x0 = (diag - ch) // 2, (diag - cw) // 2
    big_canvas[y0 : y0 + ch, x0 : x0 + cw] = canvas
    rot = cv2.getRotationMatrix2D((diag / 2, diag / 2), angle, 1.0)
    big_canvas = cv2.warpAffine(big_canvas, rot, (diag, diag), flags=cv2.INTER_NEAREST)
    cy, cx = int(rng.integers(0, h)), int(rng.integers(0, w))
    _paste_or(mask, big_canvas, cy - diag // 2, cx - diag // 2)


def _paste_or(mask: np.ndarray, stamp: np.ndarray, top: int, left: int) -> None:
    h, w = mask.shape
    sh, sw = stamp.shape
    y0, x0 = max(0, top), max(0, left)
    y1, x1 = min(h, top + sh), min(w, left + sw)
    if y1 <= y0 or x1 <= x0:
        return
    mask[y0:y1, x0:x1] |= stamp[y0 - top : y1 - top, x0 - left : x1 - left]


def _ruler(mask: np.ndarray, rng: np.random.Generator) -> None:
    import cv2

    h, w = mask.shape
    side = min(h, w)
    length = float(rng.uniform(0.5, 1.2) * side)
    band = float(rng.uniform(0.03, 0.08) * side)
    angle = float(rng.choice([0.0, 90.0])) + float(rng.normal(0, 4))
    cx, cy = float(rng.uniform(0, w)), float(rng.uniform(0, h))
    _rotated_rect(mask, (cx, cy), (length, band), angle)
    # tick marks on one side of the band
    theta = math.radians(angle)
    ux, uy = math.cos(theta), math.sin(theta)
    nx, ny = -uy, ux
    spacing = max(3.0, float(rng.uniform(0.03, 0.06) * side))
    n = int(length / spacing)
    for i in range(n + 1):
        t = -length / 2 + i * spacing
        tick = band * (1.6 if i % 5 == 0 else 1.0)
        x0, y0 = cx + t * ux + nx * band / 2, cy + t * uy + ny * band / 2
        x1, y1 = x0 + nx * tick, y0 + ny * tick
        cv2.line(mask, (round(x0), round(y0)), (round(x1), round(y1)), 1, max(1, int(band / 4)))


def random_holes(
    shape: tuple[int, int],
    rng: np.random.Generator,
    *,
    kinds: Sequence[str] = HOLE_KINDS,
    max_fraction: float = 0.5,
) -> np.ndarray:
    """A boolean hole mask of ``shape`` with one to three random shapes of ``kinds``.

    Args:
        shape: ``(h, w)`` of the crop.
        rng: the random generator (all randomness comes from it).
        kinds: which of :data:`HOLE_KINDS` may be drawn.
        max_fraction: shapes are redrawn (up to 5 times) while the hole covers more than
            this fraction of the crop; the last draw is kept regardless.

    Returns:
        Boolean ``(h, w)`` array with at least one True pixel.
    """
    unknown = sorted(set(kinds) - set(HOLE_KINDS))
    if unknown or not kinds:
        raise InvalidInputError(
            f"unknown hole kinds {unknown}" if unknown else "no hole kinds to draw from",
            input=f"kinds={tuple(kinds)!r}",
            available=HOLE_KINDS,
            fix="name one or more of the available kinds",
        )
    weights = np.array([_DEFAULT_WEIGHTS[k] for k in kinds], dtype=np.float64)
    weights /= weights.sum()
    h, w = int(shape[0]), int(shape[1])
    mask = np.zeros((h, w), np.uint8)
    for _attempt in range(5):
        mask[:] = 0
        for _ in range(int(rng.choice([1, 1, 2, 3]))):
            kind = str(rng.choice(list(kinds), p=weights))
            if kind == "free-form":
                _free_form(mask, rng)
            elif kind == "plate":
                _plate(mask, rng)
            elif kind == "letters":
                _text(mask, rng, big=True)
            elif kind == "text":
                _text(mask, rng, big=False)
            else:
                _ruler(mask, rng)
        frac = float(mask.mean())
        if 0.0 < frac <= max_fraction:
            break
    if not mask.any():  # every shape fell outside: a small centred square
        s = max(1, min(h, w) // 6)
        mask[h // 2 - s // 2 : h // 2 - s // 2 + s, w // 2 - s // 2 : w // 2 - s // 2 + s] = 1
    return mask.astype(bool)


def holes_for_batch(
    batch: int,
    shape: tuple[int, int],
    seed: int,
    step: int,
    *,
    kinds: Sequence[str] = HOLE_KINDS,
) -> np.ndarray:
    """``(batch, h, w)`` boolean holes for training step ``step``: the same seed and step
    always give the same holes, whatever happened before (resumable training)."""
    return np.stack(
        [
            random_holes(
                shape, np.random.default_rng(derive_seed(seed, "holes", step, i)), kinds=kinds
            )
            for i in range(batch)
        ]
    )

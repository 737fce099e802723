"""Where a member's input pixels come from: the inverse of a :class:`Preprocessing`.

A member sees a ``size x size`` square made by cropping the radiograph to its foreground
(optional) and bringing the crop to the square by its ``fit``: ``letterbox`` (longest side
to ``size``, symmetric zero padding), ``squash`` (straight to ``size x size``) or
``center-crop`` (shortest side to ``size``, the central square kept). :func:`input_frame`
records those steps for one image; :func:`to_image_frame` takes a map over the square back
to the radiograph's own pixels: padding is dropped, the rest is resized (bilinear) to the
crop's shape and placed at the crop's position; pixels the network never saw (outside the
crop, or cut off by a centre crop) get zero.
"""

from __future__ import annotations

import attrs
import numpy as np

from ..predictors.preprocessing import Preprocessing
from ..records import Radiograph

__all__ = ["InputFrame", "input_frame", "to_image_frame"]


@attrs.frozen
class InputFrame:
    """How one radiograph was placed in a member's input square.

    Attributes:
        image_shape: ``(H, W)`` of the radiograph.
        crop: ``(row0, row1, col0, col1)``: the part of the radiograph that was kept.
        resized: ``(h, w)`` of the crop after resizing.
        offset: ``(top, left)`` of the resized crop inside the square (negative when the
            square is a centre crop of it).
        size: side of the square.
    """

    image_shape: tuple[int, int]
    crop: tuple[int, int, int, int]
    resized: tuple[int, int]
    offset: tuple[int, int]
    size: int


def input_frame(prep: Preprocessing, image: Radiograph) -> InputFrame:
    """The placement :meth:`Preprocessing.geometry` gives ``image`` (the same steps and
    rounding: :func:`~radinpaint.predictors.preprocessing.crop_foreground`, then
    ``round(side * size / longest)`` and padding ``(size - side) // 2`` before for a
    letterbox, ``size x size`` for a squash, ``round(side * size / shortest)`` and the
    central square for a centre crop)."""
    pixels = image.pixels
    if prep.quantize_8bit:
        pixels = np.rint(pixels * 255.0).astype(np.float32) / np.float32(255.0)
    h, w = pixels.shape
    r0, r1, c0, c1 = 0, h, 0, w
    if prep.crop_foreground:
        fg = pixels > prep.crop_threshold
        rows = np.flatnonzero(fg.any(axis=1))
        if rows.size:
            cols = np.flatnonzero(fg.any(axis=0))
            r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    ch, cw = r1 - r0, c1 - c0
    size = prep.size
    if prep.fit == "squash":
        return InputFrame((h, w), (r0, r1, c0, c1), (size, size), (0, 0), size)
    if prep.fit == "center-crop":
        scale = size / min(ch, cw)
        nh, nw = max(size, round(ch * scale)), max(size, round(cw * scale))
        offset = (-((nh - size) // 2), -((nw - size) // 2))
        return InputFrame((h, w), (r0, r1, c0, c1), (nh, nw), offset, size)
    scale = size / max(ch, cw)
    nh, nw = max(1, round(ch * scale)), max(1, round(cw * scale))
    top, left = (size - nh) // 2, (size - nw) // 2
    if (nh, nw) == (size, size):
        top, left = 0, 0
    return InputFrame((h, w), (r0, r1, c0, c1), (nh, nw), (top, left), size)


def to_image_frame(square: np.ndarray, frame: InputFrame) -> np.ndarray:
    """A ``(size, size)`` map over a member's input as a float32 map over the radiograph."""
    import cv2

    nh, nw = frame.resized
    top, left = frame.offset
    r0, r1, c0, c1 = frame.crop
    # the resized crop, with the square's values where the square covered it (zero where a
    # centre crop cut it off); the padding of a letterbox is dropped
    # (pixel j of the resized crop is pixel j + offset of the square)
    inner: np.ndarray = np.zeros((nh, nw), np.float32)
    y0, x0 = max(-top, 0), max(-left, 0)
    y1, x1 = min(frame.size - top, nh), min(frame.size - left, nw)
    inner[y0:y1, x0:x1] = square[y0 + top : y1 + top, x0 + left : x1 + left]
    if (nh, nw) != (r1 - r0, c1 - c0):
        inner = cv2.resize(inner, (c1 - c0, r1 - r0), interpolation=cv2.INTER_LINEAR)
    out = np.zeros(frame.image_shape, np.float32)
    out[r0:r1, c0:c1] = inner
    return out

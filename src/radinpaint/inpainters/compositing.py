"""Putting a backend's output back into the original radiograph.

Three modes, chosen per run and recorded in :attr:`InpaintResult.compositing`:

``"paste-back"``
    Pixels inside the mask come from the backend, every other pixel from the original, bit
    for bit: ``result.to_uint()`` equals ``original.to_uint()`` outside the mask at any bit
    depth (8, 12, 16), because those float32 values are copied, not recomputed.
``"feather"``
    Like paste-back, but the backend's pixels blend into the original over ``feather``
    pixels *inside* the mask edge (weight rises from ``1/(feather+1)`` on the edge to 1 at
    ``feather`` pixels in). Outside the mask stays exact; the artifact's outermost pixels
    keep some of the original, so dilate the mask first when the edge itself must go.
``"raw"``
    The backend's output as it is, everywhere (what an API returns; the study's protocol).

The backend's pixels are clipped to ``[0, 1]`` and otherwise kept as float32; writers round
them to the image's bit depth (use :func:`quantize` to do it in memory).
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidInputError
from ..records import Mask, Radiograph, check_same_shape

__all__ = ["COMPOSITING", "composite", "feather_weights", "quantize"]

COMPOSITING: tuple[str, ...] = ("paste-back", "feather", "raw")
"""The compositing modes a run can choose."""


def check_compositing(value: str) -> str:
    """Return ``value`` if it is a known compositing mode, else raise InvalidInputError."""
    if value not in COMPOSITING:
        raise InvalidInputError(
            f"unknown compositing {value!r}",
            available=COMPOSITING,
            fix="choose paste-back (exact outside the mask), feather or raw",
        )
    return value


def quantize(pixels: np.ndarray, bit_depth: int) -> np.ndarray:
    """Float pixels clipped to ``[0, 1]`` and rounded to the levels of ``bit_depth`` (float32)."""
    top = float((1 << bit_depth) - 1)
    arr = np.clip(np.asarray(pixels, dtype=np.float64), 0.0, 1.0)
    return (np.rint(arr * top) / top).astype(np.float32)


def feather_weights(mask: Mask | np.ndarray, feather: int) -> np.ndarray:
    """Blend weights in ``[0, 1]``: 0 outside the mask, rising to 1 ``feather`` px inside it.

    A marked pixel at distance ``d`` (in pixels, Euclidean) from the nearest unmarked pixel
    gets ``min(1, d / (feather + 1))``; ``feather=0`` gives the mask itself.
    """
    arr = mask.array if isinstance(mask, Mask) else np.asarray(mask, dtype=bool)
    if feather < 0:
        raise InvalidInputError(f"feather must be >= 0 pixels, got {feather}")
    if feather == 0 or not arr.any():
        return arr.astype(np.float32)
    import cv2

    # Pad with unmarked pixels so the image border counts as outside only where it is.
    padded = np.pad(arr.astype(np.uint8), 1, mode="edge")
    dist = cv2.distanceTransform(padded, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]
    weights = np.minimum(1.0, dist / float(feather + 1)).astype(np.float32)
    weights[~arr] = 0.0
    return weights


def composite(
    original: Radiograph,
    output: np.ndarray,
    mask: Mask,
    mode: str = "paste-back",
    *,
    feather: int = 4,
) -> Radiograph:
    """Combine a backend's full-size output with the original image.

    Args:
        original: the request's image.
        output: the backend's float pixels, full size ``(H, W)``, nominally in ``[0, 1]``
            (clipped). Bring a resized or cropped output back with
            :meth:`~radinpaint.inpainters.geometry.Placement.from_backend` first.
        mask: the request's mask (True = replaced).
        mode: ``"paste-back"``, ``"feather"`` or ``"raw"`` (see the module docs).
        feather: blend width in pixels for ``"feather"``.

    Returns:
        A radiograph with the original's bit depth, source and photometric.

    Raises:
        ShapeMismatchError: ``output`` or ``mask`` does not have the original's shape.
        InvalidInputError: unknown mode, or non-finite output pixels.
    """
    check_compositing(mode)
    out = np.asarray(output, dtype=np.float32)
    check_same_shape(original.shape, out.shape, "backend output given to composite")
    check_same_shape(original.shape, mask.shape, "mask given to composite")
    if not np.isfinite(out).all():
        raise InvalidInputError(
            "backend output has NaN or infinite pixels",
            input=original.source,
            fix="this is a backend bug: check its numerical stability",
        )
    produced = np.clip(out, 0.0, 1.0)
    if mode == "raw":
        return original.with_pixels(produced)
    if mode == "paste-back":
        pixels = np.where(mask.array, produced, original.pixels)
        return original.with_pixels(pixels.astype(np.float32, copy=False))
    weights = feather_weights(mask, feather)
    blended = original.pixels + weights * (produced - original.pixels)
    pixels = np.where(mask.array, blended, original.pixels)
    return original.with_pixels(pixels.astype(np.float32, copy=False))

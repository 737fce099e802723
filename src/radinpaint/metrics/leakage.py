"""Leakage: how much an inpainter changed the image where it was not asked to.

A backend that pastes back (classical inpainting, compositing) keeps every pixel outside
the mask; a generative model that redraws the whole image (the study's gpt-image-1 edit)
does not. Differences are counted at the image's bit depth, so float rounding below one
grey level never counts as a change.
"""

from __future__ import annotations

import math

import attrs
import numpy as np

from ..errors import InvalidInputError
from ._common import as_image_pair, as_region, checked_bit_depth

__all__ = ["Leakage", "leakage"]


@attrs.frozen
class Leakage:
    """Change outside the artifact mask.

    Attributes:
        changed_fraction: fraction of out-of-mask pixels whose quantized value changed.
        n_changed: out-of-mask pixels that changed.
        n_outside: out-of-mask pixels.
        max_abs_change: largest out-of-mask change, in grey levels of ``bit_depth``.
        mean_abs_change: mean out-of-mask change, in grey levels.
        ssim: mean SSIM over out-of-mask pixels whose SSIM window lies wholly outside the
            mask and inside the image (1 = unchanged).
        psnr: PSNR in dB over out-of-mask pixels (``inf`` when nothing changed).
        bit_depth: the depth values were quantized at.
        note: why a value is nan.
    """

    changed_fraction: float
    n_changed: int
    n_outside: int
    max_abs_change: float
    mean_abs_change: float
    ssim: float
    psnr: float
    bit_depth: int
    note: str = ""


def leakage(
    original: object,
    output: object,
    mask: object | None = None,
    *,
    bit_depth: int | None = None,
    win_size: int = 7,
) -> Leakage:
    """Fraction of changed pixels, SSIM and PSNR outside the artifact mask.

    Method: both images are quantized to integers at ``bit_depth`` (default: the
    original's, when it is a Radiograph, else 16): ``q = rint(x * (2^d - 1))``. A pixel
    outside the mask has changed when its quantized values differ. PSNR
    ``= 10 log10(1 / MSE)`` over out-of-mask pixels (values rescaled to [0, 1]; ``inf``
    for no change). SSIM: ``skimage.metrics.structural_similarity`` (``data_range=1``,
    uniform ``win_size`` window) full map, averaged over out-of-mask pixels whose whole
    window is outside the mask and inside the image, so the inpainted content does not
    enter the score.

    Args:
        original, output: radiographs or 2-D arrays in [0, 1] of one shape.
        mask: artifact mask (bool); None or empty means "the whole image is outside".
        bit_depth: quantization depth; default from ``original``.
        win_size: SSIM window (odd, >= 3; skimage's default is 7).

    References:
        Wang Z, Bovik AC, Sheikh HR, Simoncelli EP (2004). Image quality assessment: from
        error visibility to structural similarity. IEEE Trans Image Process 13:600-612.
    """
    from scipy.ndimage import maximum_filter
    from skimage.metrics import structural_similarity

    depth = checked_bit_depth(original, bit_depth)
    if win_size < 3 or win_size % 2 == 0:
        raise InvalidInputError(f"win_size must be odd and >= 3, got {win_size}")
    a, b = as_image_pair(original, output)
    m = as_region(mask, a.shape, "mask")
    if m is None:
        m = np.zeros(a.shape, dtype=bool)
    top = float((1 << depth) - 1)
    qa = np.rint(np.clip(a, 0.0, 1.0) * top)
    qb = np.rint(np.clip(b, 0.0, 1.0) * top)
    outside = ~m
    n_out = int(outside.sum())
    if n_out == 0:
        nan = math.nan
        return Leakage(nan, 0, 0, nan, nan, nan, nan, depth, "the mask covers the image")
    diff = np.abs(qb - qa)[outside]
    n_changed = int(np.count_nonzero(diff))
    mse = float(np.mean((diff / top) ** 2))
    psnr = math.inf if mse == 0.0 else float(10.0 * np.log10(1.0 / mse))

    note = ""
    pad = (win_size - 1) // 2
    if min(a.shape) < win_size:
        ssim = math.nan
        note = f"image smaller than the SSIM window ({win_size})"
    else:
        _, smap = structural_similarity(
            qa / top, qb / top, data_range=1.0, win_size=win_size, full=True
        )
        valid = ~maximum_filter(m, size=win_size, mode="constant", cval=False)
        border = np.zeros(a.shape, dtype=bool)
        border[pad : a.shape[0] - pad, pad : a.shape[1] - pad] = True
        valid &= border
        if valid.any():
            ssim = float(smap[valid].mean())
        else:
            ssim = math.nan
            note = "no pixel has its SSIM window wholly outside the mask"
    return Leakage(
        changed_fraction=n_changed / n_out,
        n_changed=n_changed,
        n_outside=n_out,
        max_abs_change=float(diff.max()),
        mean_abs_change=float(diff.mean()),
        ssim=ssim,
        psnr=psnr,
        bit_depth=depth,
        note=note,
    )

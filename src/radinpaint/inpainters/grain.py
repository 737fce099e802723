"""Film grain and quantum noise for inpainted holes, matched to the noise around them.

Every local fill (``telea``, ``navier-stokes``, ``biharmonic``, the GAN's tile) is smoother
than a radiograph: on the 8 RSNA samples with lead markers, the fine detail inside a filled
plate had a standard deviation of 0.00-0.06 times that of its surroundings in the median
(0.6 at most), so every fill read as a smooth patch. :func:`add_grain` adds noise inside
the mask that looks like the noise around it:

1. **Where it learns from**: the unmasked pixels between 3 and 19 px from the mask (the
   ring). Their fine detail is the residual after a Gaussian blur of sigma 1 px
   (:func:`fine_detail`); a robust estimator (median absolute deviation) ignores edges and
   anatomy that cross the ring.
2. **Grain size**: the residual's lag-1 autocorrelation (mean of the horizontal and the
   vertical one) gives the width ``sigma`` of the Gaussian filter that, applied to white
   noise, produces residuals with the same autocorrelation (a table computed from the
   discrete kernels). Quantization noise of the image's bit depth (white, ``q**2 / 12``) is
   taken out of the estimate first, since writing the output adds it again.
3. **Level**: the residual SD is measured per quantile bin of the local brightness (up to
   four bins) and interpolated at each filled pixel's value, so brighter and darker parts of
   a fill get the noise their neighbourhood has (signal-dependent, as quantum noise is);
   values beyond the ring's range take the nearest bin's.
4. **Synthesis**: white Gaussian noise, filtered with that Gaussian, scaled so that its
   *fine detail* has the ring's SD (the full-band amplitude follows from the filter), added
   to the fill inside the mask only and clipped to ``[0, 1]``.

Determinism: the noise is drawn from a generator seeded with the request's image and mask
content hashes (:meth:`~radinpaint.records.Radiograph.content_hash`,
:meth:`~radinpaint.records.Mask.content_hash`), never with the variant seed, so a backend
that declares ``deterministic=True`` still gives bit-identical outputs whatever the seed.
Pixels outside the mask are never touched. A flat, noiseless neighbourhood (a synthetic
test image) gets no noise at all.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import attrs
import numpy as np

from ..errors import InvalidInputError

if TYPE_CHECKING:
    from ..records import Mask, Radiograph

__all__ = [
    "GrainModel",
    "add_grain",
    "as_bool_option",
    "estimate_grain",
    "fine_detail",
    "synthesize_grain",
]

DETAIL_SIGMA = 1.0
"""Sigma (px) of the blur whose residual is the "fine detail" measured and matched."""

RING_GAP = 3
"""Ring pixels are at least this far from the mask (the detail blur never reaches the hole)."""

RING_WIDTH = 16
"""Width (px) of the ring the noise is learned from."""

MAX_BINS = 4
"""Brightness bins of the signal-dependent noise level."""

MIN_PER_BIN = 300
"""Ring pixels per brightness bin (fewer pixels: fewer bins)."""

MIN_RING = 24
"""Fewer ring pixels than this: no estimate, no grain."""

_SIGMAS = np.round(np.arange(0.0, 3.01, 0.05), 2)
"""Grain sizes (Gaussian sigma in px of the filter applied to white noise) in the table."""


def as_bool_option(value: object) -> bool:
    """Read a boolean backend option: a bool, 0/1, or a word (true/false, yes/no, on/off)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, np.integer)) and int(value) in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in ("1", "true", "yes", "on"):
            return True
        if word in ("0", "false", "no", "off"):
            return False
    raise InvalidInputError(
        f"expected true or false, got {value!r}", fix="pass true or false (e.g. grain=false)"
    )


def _kernel(sigma: float) -> np.ndarray:
    """The 1-D discrete Gaussian (sum 1) used for both the detail blur and the synthesis."""
    if sigma <= 0:
        return np.ones(1)
    radius = max(1, int(np.ceil(3.0 * sigma)))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def _blur(arr: np.ndarray, sigma: float) -> np.ndarray:
    import cv2

    k = _kernel(sigma)
    if k.size == 1:
        return np.asarray(arr, np.float64).copy()
    src = np.ascontiguousarray(arr, dtype=np.float64)
    return cv2.sepFilter2D(src, cv2.CV_64F, k, k, borderType=cv2.BORDER_REFLECT_101)


def fine_detail(pixels: np.ndarray) -> np.ndarray:
    """The fine detail of ``pixels``: what a Gaussian blur of sigma :data:`DETAIL_SIGMA`
    removes (float64, same units as the pixels)."""
    arr = np.asarray(pixels, dtype=np.float64)
    return arr - _blur(arr, DETAIL_SIGMA)


def _spectrum(kernel: np.ndarray, size: int) -> np.ndarray:
    """The DFT over ``size`` samples of a centred 1-D kernel."""
    padded = np.zeros(size)
    r = kernel.size // 2
    padded[: r + 1] = kernel[r:]
    if r:
        padded[-r:] = kernel[:r]
    return np.fft.fft(padded)


@functools.lru_cache(maxsize=1)
def _table() -> tuple[np.ndarray, np.ndarray]:
    """For each sigma of :data:`_SIGMAS`: the fine detail's lag-1 autocorrelation, and the
    fraction of the (unit) noise variance the fine detail keeps, when white noise is
    filtered by that Gaussian (from the discrete kernels' spectra; a few milliseconds)."""
    n = 64
    g = _spectrum(_kernel(DETAIL_SIGMA), n)
    rho = np.empty(_SIGMAS.size)
    keep = np.empty(_SIGMAS.size)
    for i, s in enumerate(_SIGMAS):
        k = _spectrum(_kernel(float(s)), n)
        kk = np.outer(k, k)
        power = np.abs((1.0 - np.outer(g, g)) * kk) ** 2
        acov = np.fft.ifft2(power).real
        norm = float((np.abs(kk) ** 2).sum()) / (n * n)
        rho[i] = 0.5 * (acov[0, 1] + acov[1, 0]) / acov[0, 0]
        keep[i] = acov[0, 0] / norm
    return rho, keep


@attrs.frozen
class GrainModel:
    """The noise around a hole, as :func:`estimate_grain` measured it.

    Attributes:
        sigma: width (px) of the Gaussian filter that turns white noise into this grain
            (0: white noise).
        levels: brightness (pixel value) at the centre of each bin, increasing.
        detail_sd: the fine-detail SD to reproduce at each of ``levels`` (pixel units,
            quantization noise taken out).
        amplitude: the full-band SD of the synthetic noise at each of ``levels``.
    """

    sigma: float
    levels: tuple[float, ...]
    detail_sd: tuple[float, ...]
    amplitude: tuple[float, ...]

    def amplitude_at(self, values: np.ndarray) -> np.ndarray:
        """The noise SD for pixels of brightness ``values`` (nearest bin beyond the range)."""
        if len(self.levels) == 1:
            return np.full(np.shape(values), self.amplitude[0])
        return np.interp(values, self.levels, self.amplitude)


def _robust_sd(values: np.ndarray) -> float:
    if values.size == 0:
        return 0.0
    med = np.median(values)
    return float(1.4826 * np.median(np.abs(values - med)))


def _ring(mask: np.ndarray) -> np.ndarray:
    import cv2

    # distance of each unmasked pixel to the nearest masked one (the border is far away)
    dist = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return (~mask) & (dist > RING_GAP) & (dist <= RING_GAP + RING_WIDTH)


def estimate_grain(pixels: np.ndarray, mask: np.ndarray, bit_depth: int) -> GrainModel | None:
    """Measure the noise in the ring around ``mask`` (see the module docs).

    Args:
        pixels: float pixels of a window holding the mask and its ring.
        mask: boolean, True where the hole is.
        bit_depth: the image's bit depth (its quantization noise is taken out).

    Returns:
        The model, or None when the ring is too small or has no noise.
    """
    arr = np.asarray(pixels, dtype=np.float64)
    hole = np.asarray(mask, dtype=bool)
    ring = _ring(hole)
    if int(ring.sum()) < MIN_RING:
        return None
    resid = fine_detail(arr)
    r = resid[ring]
    sd = _robust_sd(r)
    q = 1.0 / float((1 << int(bit_depth)) - 1)
    rho_table, keep = _table()
    white_keep = float(keep[0])
    white_rho = float(rho_table[0])
    var_q = white_keep * q * q / 12.0  # the quantization noise's share of the fine detail
    if sd * sd <= 1.5 * var_q:
        return None  # only quantization: nothing to add

    # grain size from the lag-1 autocorrelation of the (trimmed) residual
    inlier = ring & (np.abs(resid - np.median(r)) <= 4.0 * sd)
    r0 = np.where(inlier, resid, 0.0)
    cov0 = float((r0 * r0).sum() / max(1, inlier.sum()))
    pairs_x = inlier[:, :-1] & inlier[:, 1:]
    pairs_y = inlier[:-1, :] & inlier[1:, :]
    n1 = int(pairs_x.sum() + pairs_y.sum())
    if n1 == 0 or cov0 <= 0:
        return None
    cov1 = float(
        ((r0[:, :-1] * r0[:, 1:])[pairs_x].sum() + (r0[:-1, :] * r0[1:, :])[pairs_y].sum()) / n1
    )
    cov0 -= var_q
    cov1 -= white_rho * var_q
    if cov0 <= 0:
        return None
    rho = float(np.clip(cov1 / cov0, rho_table[0], rho_table[-1]))
    sigma = float(np.interp(rho, rho_table, _SIGMAS))
    share = float(np.interp(sigma, _SIGMAS, keep))

    # signal-dependent level: robust SD per brightness bin of the local mean
    known = (~hole).astype(np.float64)
    weight = _blur(known, 2.0)
    level = np.divide(
        _blur(np.where(hole, 0.0, arr), 2.0), weight, out=arr.copy(), where=weight > 1e-6
    )
    lv = level[ring]
    n_bins = int(max(1, min(MAX_BINS, lv.size // MIN_PER_BIN)))
    edges = np.quantile(lv, np.linspace(0.0, 1.0, n_bins + 1))
    which = np.clip(np.searchsorted(edges, lv, side="right") - 1, 0, n_bins - 1)
    levels, details, amps = [], [], []
    for b in range(n_bins):
        sel = which == b
        if int(sel.sum()) < MIN_RING:
            continue
        var = max(0.0, _robust_sd(r[sel]) ** 2 - var_q)
        levels.append(float(np.median(lv[sel])))
        details.append(float(np.sqrt(var)))
        amps.append(float(np.sqrt(var / share)))
    if not levels or max(amps) <= 0:
        return None
    order = np.argsort(levels)
    return GrainModel(
        sigma=sigma,
        levels=tuple(float(levels[i]) for i in order),
        detail_sd=tuple(float(details[i]) for i in order),
        amplitude=tuple(float(amps[i]) for i in order),
    )


def synthesize_grain(shape: tuple[int, int], sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Unit-variance Gaussian noise of ``shape``, correlated by a Gaussian of ``sigma`` px."""
    k = _kernel(sigma)
    pad = k.size // 2
    white = rng.standard_normal((shape[0] + 2 * pad, shape[1] + 2 * pad))
    if pad == 0:
        return white
    import cv2

    field = cv2.sepFilter2D(white, cv2.CV_64F, k, k, borderType=cv2.BORDER_REFLECT_101)
    return field[pad:-pad, pad:-pad] / float(np.sqrt((np.outer(k, k) ** 2).sum()))


def _window(stats: np.ndarray, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """``(y0, y1, x0, x1)``: a component's box (OpenCV stats row) grown to hold its ring."""
    import cv2

    x, y = int(stats[cv2.CC_STAT_LEFT]), int(stats[cv2.CC_STAT_TOP])
    w, h = int(stats[cv2.CC_STAT_WIDTH]), int(stats[cv2.CC_STAT_HEIGHT])
    grow = RING_GAP + RING_WIDTH + 4
    return (
        max(0, y - grow),
        min(shape[0], y + h + grow),
        max(0, x - grow),
        min(shape[1], x + w + grow),
    )


def add_grain(filled: np.ndarray, image: Radiograph, mask: Mask) -> np.ndarray:
    """``filled`` with noise like the image's own added inside ``mask`` (see the module docs).

    Each connected part of the mask (8-connected) learns its noise from its own ring (other
    parts of the mask left out of it).

    Args:
        filled: a backend's full-size output ``(H, W)``, float pixels in ``[0, 1]``.
        image: the request's image (the noise is learned from its pixels around the mask).
        mask: the request's mask; pixels outside it are returned unchanged, bit for bit.

    Returns:
        A new float32 array; the noise is seeded by the image's and the mask's content
        hashes, so the same request always gets the same grain.
    """
    import cv2

    from ..seeds import rng

    out = np.array(filled, dtype=np.float32, copy=True)
    hole = mask.array
    rows = np.flatnonzero(hole.any(axis=1))
    if rows.size == 0 or hole.all():
        return out
    cols = np.flatnonzero(hole.any(axis=0))
    # label the parts inside the mask's bounding box only (cheap on a large image)
    by, bx = int(rows[0]), int(cols[0])
    box = hole[by : int(rows[-1]) + 1, bx : int(cols[-1]) + 1]
    count, labels, stats, _ = cv2.connectedComponentsWithStats(box.astype(np.uint8), connectivity=8)
    stats = stats.copy()
    stats[:, cv2.CC_STAT_LEFT] += bx
    stats[:, cv2.CC_STAT_TOP] += by
    gen = rng(0, "grain", image.content_hash(), mask.content_hash())
    for label in range(1, count):
        y0, y1, x0, x1 = _window(stats[label], hole.shape)
        win_hole = hole[y0:y1, x0:x1]
        part = np.zeros(win_hole.shape, dtype=bool)
        # the part's pixels: its label inside the box, moved into the window
        ly0, lx0 = max(y0, by), max(x0, bx)
        ly1, lx1 = min(y1, by + box.shape[0]), min(x1, bx + box.shape[1])
        part[ly0 - y0 : ly1 - y0, lx0 - x0 : lx1 - x0] = (
            labels[ly0 - by : ly1 - by, lx0 - bx : lx1 - bx] == label
        )
        model = estimate_grain(image.pixels[y0:y1, x0:x1], win_hole, image.bit_depth)
        if model is None:
            continue
        noise = synthesize_grain((y1 - y0, x1 - x0), model.sigma, gen)
        win = out[y0:y1, x0:x1]
        values = win[part].astype(np.float64)
        added = values + noise[part] * model.amplitude_at(values)
        win[part] = np.clip(added, 0.0, 1.0).astype(np.float32)
    return out

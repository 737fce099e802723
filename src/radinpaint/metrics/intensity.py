"""Pixel-intensity distributions: histograms, per-image SD, KS and Wasserstein distances.

These functions work on images, not on the prediction table: the evaluation calls them
per image (original, output, artifact mask, anatomy mask) and aggregates. Pixels are the
library's float values in [0, 1]; 256 bins of width 1/256 put an 8-bit level ``v`` in bin
``v``, as the study's 8-bit histograms did.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import attrs
import numpy as np

from ..errors import InvalidInputError
from ._common import as_image_pair, as_pixels, as_region, checked_bit_depth

__all__ = [
    "IntensityHistograms",
    "RegionDistance",
    "intensity_distances",
    "intensity_histograms",
    "pixel_sd",
]

REGIONS: tuple[str, ...] = ("image", "in-mask", "out-of-mask", "anatomy")
"""Regions :func:`intensity_distances` reports, when their masks are given."""


@attrs.frozen(eq=False)
class IntensityHistograms:
    """Per-image and pooled intensity histograms.

    Attributes:
        edges: ``bins + 1`` bin edges over [0, 1].
        counts: ``(n_images, bins)`` pixel counts per image (in each image's region).
        per_image: ``(n_images, bins)`` densities (each row sums to 1; nan for an empty
            region).
        pooled: the pooled density: all images' pixels counted together (sums to 1).
        pooled_smoothed: ``pooled`` smoothed with a Gaussian of ``sigma`` bins, or None.
        sigma: the smoothing width in bins (the study: 1.5), or None.
        pixel_sd: per-image pixel SD in the region (population SD, ``ddof=0``).
        pixel_mean: per-image pixel mean in the region.
        n_pixels: per-image pixel count in the region.
    """

    edges: np.ndarray
    counts: np.ndarray
    per_image: np.ndarray
    pooled: np.ndarray
    pooled_smoothed: np.ndarray | None
    sigma: float | None
    pixel_sd: np.ndarray
    pixel_mean: np.ndarray
    n_pixels: np.ndarray


def _values(image: object, region: object | None, name: str) -> np.ndarray:
    pixels = as_pixels(image, name)
    mask = as_region(region, pixels.shape, f"{name} region")
    return pixels[mask] if mask is not None else pixels.ravel()


def pixel_sd(image: object, region: object | None = None) -> float:
    """Population SD (``ddof=0``) of an image's pixels, optionally within a region.

    The study compared per-image pixel SDs of originals and edits: a smoother, more uniform
    redraw has a smaller SD. nan for an empty region.
    """
    values = _values(image, region, "image")
    return float(values.std()) if values.size else math.nan


def intensity_histograms(
    images: Sequence[object],
    regions: Sequence[object | None] | None = None,
    *,
    bins: int = 256,
    sigma: float | None = 1.5,
) -> IntensityHistograms:
    """256-bin intensity histograms per image and pooled, optionally Gaussian-smoothed.

    Method: ``numpy.histogram`` over ``[0, 1]`` with ``bins`` equal bins per image (within
    its region when given); the pooled histogram adds all images' counts and normalises
    (pixel-weighted); ``scipy.ndimage.gaussian_filter1d(pooled, sigma)`` (default
    reflecting borders) smooths it as the study did with ``sigma = 1.5``.

    Args:
        images: radiographs or 2-D arrays in [0, 1].
        regions: one boolean mask (or None for the whole image) per image.
        bins: number of bins (the study: 256).
        sigma: Gaussian smoothing of the pooled histogram in bins; None for none.
    """
    from scipy.ndimage import gaussian_filter1d

    if bins < 1:
        raise InvalidInputError(f"bins must be >= 1, got {bins}")
    if regions is not None and len(regions) != len(images):
        raise InvalidInputError(
            f"one region per image is needed; got {len(regions)} for {len(images)} images"
        )
    edges = np.linspace(0.0, 1.0, bins + 1)
    n = len(images)
    counts = np.zeros((n, bins), dtype=np.int64)
    sd = np.full(n, np.nan)
    mean = np.full(n, np.nan)
    npx = np.zeros(n, dtype=np.int64)
    for i, image in enumerate(images):
        values = _values(image, regions[i] if regions is not None else None, f"image {i}")
        counts[i], _ = np.histogram(values, bins=edges)
        npx[i] = values.size
        if values.size:
            sd[i], mean[i] = float(values.std()), float(values.mean())
    with np.errstate(invalid="ignore", divide="ignore"):
        per_image = counts / counts.sum(axis=1, keepdims=True)
    total = counts.sum()
    pooled = counts.sum(axis=0) / total if total else np.full(bins, np.nan)
    smoothed = gaussian_filter1d(pooled, sigma) if sigma else None
    return IntensityHistograms(
        edges, counts, per_image, pooled, smoothed, sigma, sd, mean, npx
    )  # fmt: skip


@attrs.frozen
class RegionDistance:
    """How the output's pixel distribution differs from the original's in one region.

    Attributes:
        region: ``"image"``, ``"in-mask"``, ``"out-of-mask"`` or ``"anatomy"``.
        ks: two-sample Kolmogorov-Smirnov statistic (max CDF difference, 0 to 1).
        wasserstein: 1-Wasserstein (earth mover's) distance in intensity units [0, 1].
        mean_shift: output mean minus original mean.
        sd_original, sd_output: pixel SDs (``ddof=0``).
        n_pixels: pixels in the region.
        note: why values are nan (empty region).
    """

    region: str
    ks: float
    wasserstein: float
    mean_shift: float
    sd_original: float
    sd_output: float
    n_pixels: int
    note: str = ""


def _distance(region: str, a: np.ndarray, b: np.ndarray, top: int) -> RegionDistance:
    """Distances between two samples of integer grey levels in ``[0, top]``.

    The empirical CDFs are step functions that jump only at grey levels, so both
    distances follow exactly from cumulative level counts: KS is the largest CDF gap over
    the levels, and the 1-Wasserstein distance (the area between the CDFs) is the sum of
    the gaps times the level width ``1 / top``. This is O(N + levels) instead of sorting
    millions of pixels, and equals ``scipy.stats.ks_2samp`` and
    ``scipy.stats.wasserstein_distance`` on the same levels (checked in the tests).
    """
    if a.size == 0:
        nan = math.nan
        return RegionDistance(region, nan, nan, nan, nan, nan, 0, "empty region")
    ca = np.bincount(a, minlength=top + 1)
    cb = np.bincount(b, minlength=top + 1)
    gap = np.abs(np.cumsum(ca) / a.size - np.cumsum(cb) / b.size)
    ks = float(gap.max())
    wd = float(gap[:-1].sum() / top)
    levels = np.arange(top + 1) / top
    mean_a, mean_b = float(ca @ levels / a.size), float(cb @ levels / b.size)
    sd_a = math.sqrt(float(ca @ (levels - mean_a) ** 2 / a.size))
    sd_b = math.sqrt(float(cb @ (levels - mean_b) ** 2 / b.size))
    return RegionDistance(region, ks, wd, mean_b - mean_a, sd_a, sd_b, int(a.size))


def intensity_distances(
    original: object,
    output: object,
    mask: object | None = None,
    anatomy: object | None = None,
    *,
    bit_depth: int | None = None,
) -> Mapping[str, RegionDistance]:
    """KS and Wasserstein distances between original and output pixels, by region.

    Method: pixels are quantized to the grey levels of ``bit_depth``
    (``q = rint(x * (2^d - 1))``, as :func:`~radinpaint.metrics.leakage` does); the
    two-sample Kolmogorov-Smirnov statistic (largest gap between the empirical CDFs; no
    p-value: with ~10^6 pixels every p-value is ~0 and says nothing) and the 1-Wasserstein
    distance (area between the CDFs, in intensity units of [0, 1]) are computed exactly
    from cumulative level counts; they equal ``scipy.stats.ks_2samp(...).statistic`` and
    ``scipy.stats.wasserstein_distance`` on the quantized values, in O(N) rather than
    O(N log N) (a 1600x2080 radiograph takes well under a second instead of many). Regions:
    the whole image, inside the artifact mask, outside it, and over the hand (anatomy
    mask), each when its mask is given. Identical pixels give exactly 0.

    Args:
        original, output: radiographs or 2-D arrays of one shape, values in [0, 1].
        mask: the artifact mask (bool), or None.
        anatomy: the hand mask (bool), or None.
        bit_depth: grey levels to compare at; default the original's (a Radiograph), else
            16.

    Returns:
        ``{region: RegionDistance}`` for ``"image"`` and each region whose mask is given.

    References:
        Massey FJ (1951). The Kolmogorov-Smirnov test for goodness of fit. JASA 46:68-78.
        Vallender SS (1974). Calculation of the Wasserstein distance between probability
        distributions on the line. Theory Probab Appl 18:784-786.
        Ramdas A, Garcia N, Cuturi M (2017). On Wasserstein two-sample testing. Entropy
        19:47.
    """
    a, b = as_image_pair(original, output)
    m = as_region(mask, a.shape, "mask")
    h = as_region(anatomy, a.shape, "anatomy")
    top = (1 << checked_bit_depth(original, bit_depth)) - 1
    qa = np.rint(np.clip(a, 0.0, 1.0) * top).astype(np.int64)
    qb = np.rint(np.clip(b, 0.0, 1.0) * top).astype(np.int64)
    out = {"image": _distance("image", qa.ravel(), qb.ravel(), top)}
    if m is not None:
        out["in-mask"] = _distance("in-mask", qa[m], qb[m], top)
        out["out-of-mask"] = _distance("out-of-mask", qa[~m], qb[~m], top)
    if h is not None:
        out["anatomy"] = _distance("anatomy", qa[h], qb[h], top)
    return out

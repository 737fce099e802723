"""Generator versions and the RSNA-like image shapes of version-2 phantoms.

Version ``"1"`` draws square phantoms (``size x size``). Version ``"2"`` draws, per seed, an
aspect ratio (height / width) from the shapes of real RSNA bone-age radiographs, so that a
phantom is mostly portrait, as those radiographs are: ``size`` pixels high and
``round(size / ratio)`` pixels wide.

>>> import numpy as np
>>> ratio = draw_aspect_ratio(np.random.default_rng(0))
>>> bool(min(RSNA_ASPECT_RATIOS) - JITTER <= ratio <= max(RSNA_ASPECT_RATIOS) + JITTER)
True
>>> image_width(512, 1.3)
394
"""

from __future__ import annotations

import numpy as np

from ...errors import InvalidInputError

__all__ = [
    "JITTER",
    "PHANTOM_VERSIONS",
    "RSNA_ASPECT_RATIOS",
    "draw_aspect_ratio",
    "image_width",
    "normalize_version",
]

PHANTOM_VERSIONS = ("1", "2")
"""The generator versions :func:`~radinpaint.datasets.phantom.make_phantom` can draw."""

# Measured from shared/data/rsna-samples/labels.csv (kept beside the checkout, ../shared/
# from the repository root): the 41 real RSNA Pediatric Bone Age radiographs there, 21 of the
# training split and 20 of the test split (8 raw frames under with-markers/, 33 registered
# 1600x2080 frames under hands-only/). Ratio = height / width from its `height` and `width`
# columns, one value per row (all 41 rows), rounded to 4 decimals, sorted. Statistics of the
# 41: mean 1.2712, median 1.3000, min 0.8780, max 1.3810, 39 of 41 (95 %) portrait (> 1).
RSNA_ASPECT_RATIOS: tuple[float, ...] = (
    0.878,
    0.9816,
    1.008,
    1.0416,
    1.2172,
    *(1.3,) * 33,
    1.3506,
    1.3596,
    1.381,
)
"""Height / width of the 41 measured RSNA radiographs (see the comment above it)."""

JITTER = 0.02
"""Half-width of the uniform jitter added to a drawn ratio (ties at 1.30 stay apart)."""

MIN_WIDTH = 64
"""No phantom is narrower than this, whatever its ratio."""


def normalize_version(version: object) -> str:
    """``version`` as one of :data:`PHANTOM_VERSIONS` (ints 1 and 2 are accepted too).

    Raises:
        InvalidInputError: for any other value, naming it and the versions available.
    """
    if (
        isinstance(version, (int, np.integer))
        and not isinstance(version, bool)
        and str(int(version)) in PHANTOM_VERSIONS
    ):
        return str(int(version))
    if isinstance(version, str) and version.strip() in PHANTOM_VERSIONS:
        return version.strip()
    raise InvalidInputError(
        f"unknown phantom generator version {version!r}",
        input=f"version={version!r}",
        available=PHANTOM_VERSIONS,
        fix="pass version='2' (the default: RSNA-like portrait shapes) or version='1' "
        "(the square phantoms of generator version 1); on the command line, "
        "--phantom-version 2 or 1",
    )


def draw_aspect_ratio(rng: np.random.Generator) -> float:
    """One height / width ratio: a measured RSNA ratio drawn uniformly, plus jitter.

    One of the 41 values of :data:`RSNA_ASPECT_RATIOS` (the empirical distribution of real
    RSNA radiographs: mean 1.27, median 1.30, 0.88 to 1.38, 95 % portrait) is chosen with equal
    probability, and a uniform jitter in ``[-JITTER, +JITTER]`` is added so that the many ties
    at 1.30 do not give every phantom the same shape. The result lies in
    ``[0.858, 1.401]``.
    """
    base = RSNA_ASPECT_RATIOS[int(rng.integers(len(RSNA_ASPECT_RATIOS)))]
    return float(base + rng.uniform(-JITTER, JITTER))


def image_width(height: int, ratio: float) -> int:
    """The width of an image ``height`` pixels high with height / width ``ratio``.

    ``round(height / ratio)``, but never under :data:`MIN_WIDTH` pixels.
    """
    return max(MIN_WIDTH, round(height / ratio))

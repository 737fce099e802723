"""Real-radiograph appearance for training crops drawn from phantoms.

Phantoms are clean and evenly exposed; real radiographs are not. Training the GAN on the
41 shared RSNA samples themselves and shipping the result would redistribute what was
learnt from images whose terms forbid it, so the shipped weights are trained on phantoms
made to look like real radiographs by :func:`real_appearance`, applied to each training
crop (``appearance="real"`` in :func:`~radinpaint.inpainters.gan.train.train_gan`,
``radinpaint train-gan --appearance real``).

The levels were measured with ``benchmarks/measure_real_appearance.py`` on the 41 samples of
``rsna-samples`` (8-bit grey levels; the fine-detail SD is the robust SD of the residual
after a Gaussian blur of sigma 1 px, in 32 px windows that are flat and not clipped):

- grain in flat bright windows (374): p10 1.01, median 1.34, p90 1.53; in flat dark
  windows (< 0.25, 2,803): median 0.62. The grain grows with the signal: about
  ``1.34 * sqrt(level / 0.5)`` below 0.5;
- grain size: the residual's lag-1 autocorrelation is +0.06 on the samples and -0.17 on
  phantoms (white noise): the real grain is slightly correlated, as white noise blurred
  by a Gaussian of sigma about 0.5-0.55 px (-0.11 at sigma 0.4, +0.01 at 0.5, +0.16 at 0.6);
- contrast: the 99th percentile is 0.89 (median over the samples), the 1st percentile 0
  (a black background, often clipped), against 0.64-0.79 and 0-0.28 on phantoms;
- image borders: 34 of 41 samples have a near-black frame (over half the outermost 2 % of
  rows and columns below 0.05); none has a white one. 33 of the 41 (``hands-only/``) had
  their background removed before they were shared, which explains most of the black
  frames and the black 1st percentile; the 8 raw frames (``with-markers/``) show the
  collimation borders and bright edges the augmentation draws.

The steps, each drawn from the generator passed in (so a crop's look depends only on the
seed, step and sample, like its holes):

1. soft blur (Gaussian, sigma 0.5-1.1 px): removes most of the phantom's white noise and
   softens its edges like the system blur;
2. contrast curve: a window ``[lo, hi]`` (lo 0-0.08 below the crop's 1st percentile, hi
   giving a 99th percentile of 0.8-0.97), then a gamma of 0.7-1.45, or (one time in
   three) a film-like S-curve;
3. a low-frequency multiplicative bias field (heel effect, uneven plates): a 3x3 grid of
   factors within +-0-10 % interpolated over the crop;
4. one time in six, a collimation border: a straight line near one side beyond which the
   image is flat and bright (0.75-1.0), with a bright strip 1-6 px wide along it;
5. one time in six, an image-border frame: a black (or, one time in five, white) band of
   1-8 px along one or two sides;
6. grain: white noise blurred by sigma 0.45-0.6 px, scaled so that its fine-detail SD is
   1.0-1.6 grey levels at levels of 0.5 and above and ``sqrt(level / 0.5)`` times that
   below, at least 0.45 times (the measured 1.34 bright and 0.62 dark).
"""

from __future__ import annotations

import math

import numpy as np

from ...errors import InvalidInputError

__all__ = ["APPEARANCES", "apply_appearance", "fine_detail_sd", "real_appearance"]

APPEARANCES: tuple[str, ...] = ("none", "real")
"""The appearance augmentations :func:`apply_appearance` knows."""

GRAIN_RANGE: tuple[float, float] = (1.0, 1.6)
"""Fine-detail SD of the added grain at bright levels, in 8-bit grey levels."""


def fine_detail_sd(pixels: np.ndarray) -> float:
    """Robust SD (MAD x 1.4826) of ``pixels`` minus its Gaussian blur of sigma 1 px, in
    8-bit grey levels (``pixels`` in [0, 1])."""
    import cv2

    x = np.asarray(pixels, np.float32) * 255.0
    res = x - cv2.GaussianBlur(x, (0, 0), 1.0)
    med = float(np.median(res))
    return 1.4826 * float(np.median(np.abs(res - med)))


def _grain(shape: tuple[int, int], rng: np.random.Generator, sigma: float) -> np.ndarray:
    """Correlated unit grain: white noise blurred by ``sigma`` and scaled so that its
    fine-detail SD is 1 (in the units of :func:`fine_detail_sd` times 1/255)."""
    import cv2

    noise = rng.standard_normal(shape).astype(np.float32)
    noise = np.asarray(cv2.GaussianBlur(noise, (0, 0), sigma), np.float32)
    res = noise - cv2.GaussianBlur(noise, (0, 0), 1.0)
    sd = float(res.std()) or 1.0
    out: np.ndarray = noise / sd
    return out


def _curve(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    p1, p99 = (float(v) for v in np.percentile(x, [1, 99]))
    lo = p1 - float(rng.uniform(0.0, 0.08))
    target = float(rng.uniform(0.8, 0.97))
    hi = lo + max(p99 - lo, 0.05) / target
    y = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    if rng.random() < 1 / 3:
        k = float(rng.uniform(3.0, 6.0))
        c = float(rng.uniform(0.35, 0.6))
        a, b = math.tanh(-k * c), math.tanh(k * (1 - c))
        y = (np.tanh(k * (y - c)) - a) / (b - a)
    else:
        y = y ** float(np.exp(rng.uniform(math.log(0.7), math.log(1.45))))
    out: np.ndarray = y.astype(np.float32)
    return out


def _bias(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    import cv2

    h, w = x.shape
    amp = float(rng.uniform(0.0, 0.1))
    grid = (1.0 + rng.uniform(-amp, amp, size=(3, 3))).astype(np.float32)
    field = cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
    out: np.ndarray = x * field
    return out


def _side_distance(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Signed distance (px) from a straight line near one side, negative beyond it."""
    h, w = shape
    side = int(rng.integers(0, 4))
    inset = float(rng.uniform(0.03, 0.3)) * min(h, w)
    tilt = math.radians(float(rng.normal(0, 5)))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if side == 0:
        d = yy - inset - (xx - w / 2) * math.tan(tilt)
    elif side == 1:
        d = (h - 1 - inset) - yy + (xx - w / 2) * math.tan(tilt)
    elif side == 2:
        d = xx - inset - (yy - h / 2) * math.tan(tilt)
    else:
        d = (w - 1 - inset) - xx + (yy - h / 2) * math.tan(tilt)
    out: np.ndarray = d * math.cos(tilt)
    return out


def _collimation(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    d = _side_distance((x.shape[0], x.shape[1]), rng)
    level = float(rng.uniform(0.75, 1.0))
    strip = float(rng.uniform(1.0, 6.0))
    bright = min(1.0, level + float(rng.uniform(0.03, 0.12)))
    y = np.where(d < 0, level, x)
    y = np.where((d >= 0) & (d < strip), bright, y)
    out: np.ndarray = y.astype(np.float32)
    return out


def _frame(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    y = x.copy()
    value = 1.0 if rng.random() < 0.2 else 0.0
    for _ in range(int(rng.integers(1, 3))):
        band = int(rng.integers(1, 9))
        side = int(rng.integers(0, 4))
        if side == 0:
            y[:band] = value
        elif side == 1:
            y[-band:] = value
        elif side == 2:
            y[:, :band] = value
        else:
            y[:, -band:] = value
    return y


def real_appearance(
    pixels: np.ndarray, rng: np.random.Generator, *, grain: float | None = None
) -> np.ndarray:
    """``pixels`` (``(H, W)`` in [0, 1]) made to look like a real radiograph (see the module
    docstring for the steps and the measured levels they follow).

    Args:
        pixels: the crop.
        rng: every random choice comes from it.
        grain: the grain's fine-detail SD at bright levels in 8-bit grey levels (None:
            drawn from :data:`GRAIN_RANGE`).

    Returns:
        A new float32 array of the same shape, clipped to [0, 1].
    """
    import cv2

    x = np.asarray(pixels, np.float32)
    if x.ndim != 2:
        raise InvalidInputError(f"expected an (H, W) crop, got shape {x.shape}")
    x = np.asarray(cv2.GaussianBlur(x, (0, 0), float(rng.uniform(0.5, 1.1))), np.float32)
    x = _curve(x, rng)
    x = _bias(x, rng)
    if rng.random() < 1 / 6:
        x = _collimation(x, rng)
    if rng.random() < 1 / 6:
        x = _frame(x, rng)
    level_sd = float(rng.uniform(*GRAIN_RANGE)) if grain is None else float(grain)
    unit = _grain((x.shape[0], x.shape[1]), rng, float(rng.uniform(0.45, 0.6)))
    scale = np.sqrt(np.clip(x / 0.5, 0.2, 1.0)) * (level_sd / 255.0)
    out: np.ndarray = np.clip(x + unit * scale, 0.0, 1.0).astype(np.float32)
    return out


def apply_appearance(pixels: np.ndarray, appearance: str, rng: np.random.Generator) -> np.ndarray:
    """``pixels`` with the named appearance (``"none"`` returns them unchanged).

    Raises:
        InvalidInputError: an unknown appearance.
    """
    if appearance == "none":
        return pixels
    if appearance == "real":
        return real_appearance(pixels, rng)
    raise InvalidInputError(
        f"unknown appearance {appearance!r}",
        input=f"appearance={appearance!r}",
        available=APPEARANCES,
        fix="use 'none' or 'real'",
    )

"""Undoing a shift after inpainting: linear recalibration and histogram matching.

Three remedies, each scored by how much of the damage it recovers:

- :func:`linregress_calibration`: the study's in-sample fit ``truth ~ pred`` on every row,
  applied to the same rows. It uses the labels it is scored against, so it is optimistic;
  it is kept to replay the study.
- :func:`crossval_calibration`: the same line fitted on training folds and applied to the
  held-out fold (folds by case, so the variants of a case never straddle folds). This is
  the honest version and what radinpaint recommends.
- :func:`histogram_match`: map the output's intensities onto the original's distribution
  (``skimage.exposure.match_histograms``); the evaluation predicts again on the result.

:func:`recovered_fraction` = ``(after - calibrated) / (after - original)``: 1 when the
remedy brings the metric back to the original's value, 0 when it does nothing.
"""

from __future__ import annotations

import math

import attrs
import numpy as np

from ..errors import InvalidInputError
from ._common import as_pixels, as_vector, same_length

__all__ = [
    "LinearCalibration",
    "crossval_calibration",
    "histogram_match",
    "linregress_calibration",
    "recovered_fraction",
]


@attrs.frozen(eq=False)
class LinearCalibration:
    """A linear recalibration ``truth ~ intercept + slope * pred`` and its predictions.

    Attributes:
        calibrated: recalibrated predictions, one per input row.
        slope, intercept, rvalue: of the line (of the in-sample fit; for cross-validation,
            the mean over folds).
        n: rows.
        in_sample: True when the rows scored are the rows fitted (the study's way).
        fold_slopes, fold_intercepts: per-fold lines (empty for in-sample).
        folds: held-out fold of every row (-1 for in-sample).
    """

    calibrated: np.ndarray
    slope: float
    intercept: float
    rvalue: float
    n: int
    in_sample: bool
    fold_slopes: tuple[float, ...] = ()
    fold_intercepts: tuple[float, ...] = ()
    folds: np.ndarray | None = None


def _pair(pred: object, truth: object) -> tuple[np.ndarray, np.ndarray]:
    p = as_vector(pred, "pred")
    t = as_vector(truth, "truth")
    same_length(pred=p, truth=t)
    if p.size < 3:
        raise InvalidInputError(f"a calibration line needs at least 3 rows, got {p.size}")
    return p, t


def linregress_calibration(pred: object, truth: object) -> LinearCalibration:
    """The study's in-sample recalibration: ``scipy.stats.linregress(pred, truth)``.

    Method: ordinary least squares of truth on prediction over all rows (the study: 600
    rows, 200 cases x 3 variants), then ``intercept + slope * pred`` on the same rows.
    Because the line is fitted to the labels it is scored against, the MAE after it is
    optimistic; see :func:`crossval_calibration`.
    """
    from scipy.stats import linregress

    p, t = _pair(pred, truth)
    if np.ptp(p) == 0.0:
        raise InvalidInputError(
            "every prediction is the same value: no calibration line can be fitted",
            input="pred",
        )
    fit = linregress(p, t)
    calibrated = fit.intercept + fit.slope * p
    return LinearCalibration(
        calibrated, float(fit.slope), float(fit.intercept), float(fit.rvalue), p.size, True
    )


def crossval_calibration(
    pred: object,
    truth: object,
    groups: object | None = None,
    *,
    n_folds: int = 5,
    seed: int = 0,
) -> LinearCalibration:
    """Cross-validated linear recalibration: never scores a row with a line fitted on it.

    Method: rows are split into ``n_folds`` folds by group (case id: all variants of a
    case fall in the same fold) with ``sklearn.model_selection.GroupKFold(shuffle=True,
    random_state=seed)``; for each fold ``scipy.stats.linregress(pred, truth)`` is fitted
    on the other folds and applied to it.

    Args:
        pred: predictions per row.
        truth: ground truth per row.
        groups: case id per row; None treats each row as its own case.
        n_folds: number of folds (at most the number of cases).
        seed: fold assignment seed.

    Reference:
        Steyerberg EW (2019). *Clinical Prediction Models*, 2nd ed., ch. 15 (updating and
        recalibration), ch. 17 (validation).
    """
    from scipy.stats import linregress
    from sklearn.model_selection import GroupKFold

    p, t = _pair(pred, truth)
    g = np.arange(p.size) if groups is None else np.asarray(groups)
    if g.shape != p.shape:
        raise InvalidInputError(f"groups must have one value per row; got {g.size} for {p.size}")
    n_groups = np.unique(g).size
    if not 2 <= n_folds <= n_groups:
        raise InvalidInputError(
            f"n_folds must be between 2 and the number of cases ({n_groups}), got {n_folds}"
        )
    out = np.empty_like(p)
    folds = np.full(p.size, -1, dtype=np.int64)
    slopes, intercepts, rvalues = [], [], []
    splitter = GroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    for k, (train, test) in enumerate(splitter.split(p, t, groups=g)):
        if np.ptp(p[train]) == 0.0:
            raise InvalidInputError(
                f"fold {k}: every training prediction is the same value; no line can be fitted"
            )
        fit = linregress(p[train], t[train])
        out[test] = fit.intercept + fit.slope * p[test]
        folds[test] = k
        slopes.append(float(fit.slope))
        intercepts.append(float(fit.intercept))
        rvalues.append(float(fit.rvalue))
    return LinearCalibration(
        out,
        float(np.mean(slopes)),
        float(np.mean(intercepts)),
        float(np.mean(rvalues)),
        p.size,
        False,
        tuple(slopes),
        tuple(intercepts),
        folds,
    )


def histogram_match(image: object, reference: object) -> object:
    """The image with its intensity histogram matched to the reference's.

    Method: ``skimage.exposure.match_histograms(image, reference)`` (quantile mapping of
    the cumulative distribution). Given a :class:`~radinpaint.records.Radiograph`, returns a
    Radiograph with the same bit depth and source (values clipped to [0, 1]); given an
    array, returns a float32 array. The evaluation predicts again on the result to see how
    much of the change was a global intensity shift.

    Reference:
        Gonzalez RC, Woods RE (2018). *Digital Image Processing*, 4th ed., sec. 3.3
        (histogram matching).
    """
    from skimage.exposure import match_histograms

    src = as_pixels(image, "image")
    ref = as_pixels(reference, "reference")
    matched = np.clip(match_histograms(src, ref), 0.0, 1.0).astype(np.float32)
    with_pixels = getattr(image, "with_pixels", None)
    if callable(with_pixels):
        return with_pixels(matched)
    return matched


def recovered_fraction(after: float, calibrated: float, original: float) -> float:
    """Share of a metric's change that a remedy undoes.

    ``(after - calibrated) / (after - original)``: 1 = back to the original's value,
    0 = no help, negative = worse, > 1 = better than the original. Works for MAE (lower is
    better) and AUC (higher is better) alike. nan when the metric did not change
    (``after == original``) or a value is missing.
    """
    a, c, o = float(after), float(calibrated), float(original)
    if not all(math.isfinite(v) for v in (a, c, o)) or a == o:
        return math.nan
    return (a - c) / (a - o)

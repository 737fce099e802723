"""The reference study's statistics, step by step, to replay its numbers exactly.

Matsuoka et al. (arXiv 2511.23066) scored bone age and sex after gpt-image-1 edits this way:

1. average the predictions of each case's 3 variants (:func:`study_mean_over_variants`);
2. score the per-case means: MAE and RMSE of bone age, ROC AUC of sex;
3. 95 % CIs from a 1000-resample percentile bootstrap of cases
   (:func:`study_bootstrap_ci`);
4. "calibration": ``scipy.stats.linregress(pred, truth)`` fitted in-sample on all rows
   (600 = 200 cases x 3 variants) and applied to the same rows;
5. pixel analysis: pooled 256-bin histograms smoothed with a Gaussian of sigma 1.5 bins,
   and per-image pixel SD (:func:`study_histograms`).

What radinpaint recommends instead is in ``docs/statistics.md``: paired tests against the
originals, DeLong for the AUC, BCa intervals, cross-validated recalibration.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import attrs
import numpy as np

from ..errors import InvalidInputError
from . import stats
from ._common import Estimate, as_vector, check_confidence, check_resamples, same_length
from .calibration import linregress_calibration
from .consistency import variant_consistency
from .intensity import IntensityHistograms, intensity_histograms

__all__ = [
    "STUDY_BINS",
    "STUDY_N_RESAMPLES",
    "STUDY_SIGMA",
    "StudyScores",
    "study_bootstrap_ci",
    "study_histograms",
    "study_mean_over_variants",
    "study_scores",
]

STUDY_N_RESAMPLES = 1000
"""Bootstrap resamples the study drew."""
STUDY_BINS = 256
"""Histogram bins of the study's pixel analysis."""
STUDY_SIGMA = 1.5
"""Gaussian smoothing (in bins) of the study's pooled histograms."""
_BLOCK_CELLS = 4_000_000
"""Largest resamples x cases index block drawn at once."""


def study_mean_over_variants(case_ids: object, *columns: object) -> tuple[np.ndarray, ...]:
    """Group rows by case and average each column over the case's variants.

    Returns ``(unique_case_ids, mean_column_1, ...)`` with cases in first-seen order.
    Missing (non-finite) values are ignored in the mean (a case with none stays nan). The
    means are :func:`radinpaint.metrics.stats.case_means`, as every metric and the
    evaluation's headline average variants.
    """
    import pandas as pd

    ids = np.asarray(case_ids)
    cols = [as_vector(c, f"column {i}", allow_nan=True) for i, c in enumerate(columns)]
    for c in cols:
        same_length(case_ids=ids, column=c)
    _, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    names = [f"c{i}" for i in range(len(cols))]
    frame = pd.DataFrame(
        {"case": rank[inverse.reshape(-1)]}
        | {n: np.where(np.isfinite(c), c, np.nan) for n, c in zip(names, cols, strict=True)}
    )
    means = stats.case_means(frame, ["case"], names) if len(frame) else frame
    return (ids[np.sort(first)], *(means[n].to_numpy(np.float64) for n in names))


def _resampled_metric(metric: str, y: np.ndarray, s: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """The metric on each row of case indices ``idx`` (from :mod:`.stats`)."""
    if metric == "auc":
        return stats.auc(y[idx].astype(bool), s[idx], axis=1)
    return (stats.mae if metric == "mae" else stats.rmse)(y[idx], s[idx], axis=1)


def study_bootstrap_ci(
    y_true: object,
    y_pred: object,
    metric: str,
    *,
    n_resamples: int = STUDY_N_RESAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
) -> Estimate:
    """The study's percentile bootstrap of a per-case metric.

    Method: with ``rng = numpy.random.default_rng(seed)``, ``n_resamples`` resamples of
    the ``n`` cases are drawn as ``rng.integers(0, n, size=(n_resamples, n))`` (row ``b``
    is the ``b``-th resample, exactly what ``n_resamples`` successive calls
    ``rng.integers(0, n, n)`` give); the metric is computed on each; resamples where it is
    undefined (an AUC resample with a single class) are skipped; the interval is
    ``numpy.percentile`` at ``alpha/2`` and ``1 - alpha/2`` (linear interpolation).

    Args:
        y_true: per-case truth (bone age, or 0/1 sex labels for ``"auc"``).
        y_pred: per-case prediction (bone age, or probability of male).
        metric: ``"mae"``, ``"rmse"`` or ``"auc"``.
    """
    confidence = check_confidence(confidence)
    n_resamples = check_resamples(n_resamples)
    if metric not in ("mae", "rmse", "auc"):
        raise InvalidInputError(
            f"unknown study metric {metric!r}", available=("mae", "rmse", "auc")
        )
    y = as_vector(y_true, "y_true")
    s = as_vector(y_pred, "y_pred")
    n = same_length(y_true=y, y_pred=s)
    label = "study-percentile"
    if n < 2:
        return Estimate.missing("too few cases", confidence=confidence, method=label, n=n)
    if metric == "auc" and np.unique(y).size < 2:
        return Estimate.missing(
            "an AUC needs both classes", confidence=confidence, method=label, n=n
        )
    value = float(_resampled_metric(metric, y, s, np.arange(n)[None, :])[0])
    rng = np.random.default_rng(seed)
    # Drawn in blocks of rows to bound memory; the stream is the same as one big draw.
    step = max(1, _BLOCK_CELLS // n)
    dist = np.concatenate(
        [
            _resampled_metric(
                metric, y, s, rng.integers(0, n, size=(min(step, n_resamples - k), n))
            )
            for k in range(0, n_resamples, step)
        ]
    )
    dist = dist[np.isfinite(dist)]
    skipped = n_resamples - dist.size
    note = f"{skipped} single-class resample(s) skipped" if skipped else ""
    if dist.size == 0:
        return Estimate(value, math.nan, math.nan, confidence, label, n, 0, math.nan, note)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.percentile(dist, [100 * alpha, 100 * (1 - alpha)])
    se = float(dist.std(ddof=1)) if dist.size > 1 else math.nan
    return Estimate(value, low, high, confidence, label, n, int(dist.size), se, note)


@attrs.frozen
class StudyScores:
    """The study's headline numbers for one set of predictions.

    Attributes:
        mae, rmse: bone-age errors of per-case means, with percentile bootstrap CIs.
        auc: sex AUC of per-case mean probabilities, with percentile bootstrap CI.
        accuracy: sex accuracy of the per-case majority vote of the variants' calls (each
            call ``p > 0.5``, the case male when at least half its calls are), as the
            study's ``confusion_matrix_gender.py`` counted it.
        calibrated_mae: the study's "calibrated" MAE: ``linregress`` of every row's
            prediction (variants kept apart) on the original image's prediction, applied
            to the same rows, and the MAE per row against that original prediction (its
            ``mult_original_vs_calibrated.py`` regressed on the original predictions, which
            it merged in as "ground truth"). Without original predictions: against the
            true bone age, then averaged per case.
        slope, intercept: the in-sample line.
        mean_sd: mean per-case bone-age SD across variants (``np.std``, ``ddof=0``, as the
            study computed it).
        flip_rate: fraction of cases whose variants' sex calls disagree.
        n_cases, n_rows: cases and rows (case x variant) used.
    """

    mae: Estimate
    rmse: Estimate
    auc: Estimate
    accuracy: float
    calibrated_mae: float
    slope: float
    intercept: float
    mean_sd: float
    flip_rate: float
    n_cases: int
    n_rows: int


def study_scores(
    case_ids: object,
    true_bone_age: object,
    pred_bone_age: object,
    true_male: object,
    pred_p_male: object,
    *,
    orig_pred_bone_age: object | None = None,
    n_resamples: int = STUDY_N_RESAMPLES,
    seed: int = 0,
) -> StudyScores:
    """Score one inpainter's predictions (one row per case x variant) as the study did.

    Steps: mean over variants per case; MAE, RMSE (bone age) and AUC (sex) of the means,
    each with :func:`study_bootstrap_ci` (same ``seed`` for each metric); accuracy of the
    majority vote of the variants' calls; the in-sample calibration of the study's script
    (see :class:`StudyScores`; ``orig_pred_bone_age``: each row's original-image
    prediction); per-case SD (``ddof=0``) and sex flips across variants.
    Rows must be complete (drop missing labels first).
    """
    ids = np.asarray(case_ids)
    ba_t = as_vector(true_bone_age, "true_bone_age")
    ba_p = as_vector(pred_bone_age, "pred_bone_age")
    sx_t = as_vector(true_male, "true_male")
    sx_p = as_vector(pred_p_male, "pred_p_male")
    same_length(case_ids=ids, true_bone_age=ba_t, pred_bone_age=ba_p, true_male=sx_t,
                pred_p_male=sx_p)  # fmt: skip
    if orig_pred_bone_age is not None:
        ba_o = as_vector(orig_pred_bone_age, "orig_pred_bone_age")
        same_length(case_ids=ids, orig_pred_bone_age=ba_o)
        cal = linregress_calibration(ba_p, ba_o)
    else:
        cal = linregress_calibration(ba_p, ba_t)
    calls = (sx_p > 0.5).astype(float)  # the study's int(prob > 0.5) per variant
    uid, t_mean, p_mean, m_mean, pm_mean, cal_mean = study_mean_over_variants(
        ids, ba_t, ba_p, sx_t, sx_p, cal.calibrated
    )
    votes = study_mean_over_variants(ids, ba_t, ba_p, sx_t, calls, cal.calibrated)[4]
    majority = votes >= 0.5
    kw = {"n_resamples": n_resamples, "seed": seed}
    cons = variant_consistency(ids, ba_p, sx_p, ddof=0)
    if orig_pred_bone_age is not None:
        calibrated_mae = float(stats.mae(ba_o, cal.calibrated))
    else:
        calibrated_mae = float(stats.mae(t_mean, cal_mean))
    return StudyScores(
        mae=study_bootstrap_ci(t_mean, p_mean, "mae", **kw),
        rmse=study_bootstrap_ci(t_mean, p_mean, "rmse", **kw),
        auc=study_bootstrap_ci(m_mean, pm_mean, "auc", **kw),
        accuracy=float(np.mean(majority == (m_mean >= 0.5))),
        calibrated_mae=calibrated_mae,
        slope=cal.slope,
        intercept=cal.intercept,
        mean_sd=cons.mean_sd,
        flip_rate=cons.flip_rate,
        n_cases=int(uid.size),
        n_rows=int(ids.size),
    )


def study_histograms(
    images: Sequence[object], regions: Sequence[object | None] | None = None
) -> IntensityHistograms:
    """The study's pixel analysis: pooled 256-bin histograms smoothed with sigma 1.5.

    :func:`~radinpaint.metrics.intensity_histograms` with ``bins=256, sigma=1.5``; per-image
    pixel SDs are in ``pixel_sd``.
    """
    return intensity_histograms(images, regions, bins=STUDY_BINS, sigma=STUDY_SIGMA)

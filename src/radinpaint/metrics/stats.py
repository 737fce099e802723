"""The point statistics radinpaint reports, each implemented once.

An evaluation's headline and decomposition (:mod:`radinpaint.evaluation`), the metric
plugins, the statistical functions of :mod:`radinpaint.metrics` (their bootstrap
resamples included) and the member spread of an ensemble's predictions all compute these
statistics here, so the same rows give the same number, bit for bit, wherever it is
reported.

- :func:`mae`, :func:`rmse`, :func:`bias`: errors of predictions against the truth,
  vectorised along an axis (the rows of a block of bootstrap resamples).
- :func:`auc` and :func:`auc_strata`: ROC AUC as the Mann-Whitney statistic from midranks,
  ``(R_pos - m (m + 1) / 2) / (m n)``. Midranks are multiples of 1/2, so the rank sum and
  the subtraction are exact and the AUC is the exact ratio rounded once: it does not
  depend on the order of the cases, and scores that rank the cases alike get the same AUC.
- :func:`accuracy`: the share of correct calls at a threshold.
- :func:`finite_mean` and :func:`finite_sd`: a mean and a standard deviation that skip
  missing (non-finite) values; the SD of equal values is exactly 0.
- :func:`case_means`: a table's per-case means over variants; the mean of equal values is
  exactly that value.
- :func:`complete`: the cases where every array has a value.

Only numpy is imported here (scipy for ranking, on first use), so every part of radinpaint
can use this module without import cycles.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "accuracy",
    "auc",
    "auc_strata",
    "bias",
    "case_means",
    "complete",
    "finite_mean",
    "finite_sd",
    "mae",
    "rmse",
]


def _mean(values: np.ndarray, axis: int) -> np.ndarray:
    """``np.mean`` along ``axis``; nan without a warning for no values."""
    if values.size == 0:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=RuntimeWarning)
            return np.mean(values, axis=axis)
    return np.mean(values, axis=axis)


def mae(y_true: object, y_pred: object, axis: int = -1) -> np.ndarray:
    """Mean absolute error ``mean(|pred - true|)`` along ``axis`` (nan for no cases)."""
    t, p = np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)
    return _mean(np.abs(p - t), axis)


def rmse(y_true: object, y_pred: object, axis: int = -1) -> np.ndarray:
    """Root mean squared error ``sqrt(mean((pred - true)^2))`` along ``axis``."""
    t, p = np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)
    return np.sqrt(_mean((p - t) ** 2, axis))


def bias(y_true: object, y_pred: object, axis: int = -1) -> np.ndarray:
    """Mean signed error ``mean(pred - true)`` along ``axis``; positive = over-estimation."""
    t, p = np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)
    return _mean(p - t, axis)


def auc(labels: object, scores: object, axis: int = -1) -> np.ndarray:
    """ROC AUC of ``scores`` for binary ``labels`` along ``axis`` (nan for a single class).

    Method: Mann-Whitney U from midranks (``scipy.stats.rankdata``),
    ``AUC = (R_pos - m (m + 1) / 2) / (m n)`` with ``m`` positives, ``n`` negatives and
    ``R_pos`` the positives' rank sum; ties count 1/2. Equal to
    ``sklearn.metrics.roc_auc_score`` up to rounding, but rounded once (see the module
    docs). Vectorised: ``labels`` broadcast against ``scores``, so each row of a block of
    resamples may hold its own class counts.
    """
    from scipy.stats import rankdata

    s = np.asarray(scores, dtype=np.float64)
    lab = np.broadcast_to(np.asarray(labels, dtype=bool), s.shape)
    if axis != -1:
        s, lab = np.moveaxis(s, axis, -1), np.moveaxis(lab, axis, -1)
    ranks = rankdata(s, axis=-1) if s.shape[-1] else s
    m = lab.sum(axis=-1)
    n = lab.shape[-1] - m
    rank_sum = np.where(lab, ranks, 0.0).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        value = (rank_sum - m * (m + 1) / 2.0) / (m * n)
    return np.where((m == 0) | (n == 0), np.nan, value)[()]


def auc_strata(positives: object, negatives: object, axis: int = -1) -> np.ndarray:
    """:func:`auc` from the scores of the positive and of the negative cases.

    Leading axes broadcast (a block of stratified resamples of each class).
    """
    pos = np.asarray(positives, dtype=np.float64)
    neg = np.asarray(negatives, dtype=np.float64)
    if axis != -1:
        pos, neg = np.moveaxis(pos, axis, -1), np.moveaxis(neg, axis, -1)
    lead = np.broadcast_shapes(pos.shape[:-1], neg.shape[:-1])
    pos = np.broadcast_to(pos, (*lead, pos.shape[-1]))
    neg = np.broadcast_to(neg, (*lead, neg.shape[-1]))
    labels = np.concatenate([np.ones(pos.shape[-1], bool), np.zeros(neg.shape[-1], bool)])
    return auc(labels, np.concatenate([pos, neg], axis=-1))


def accuracy(labels: object, p_positive: object, threshold: float = 0.5) -> float:
    """Share of correct calls, calling positive when ``p >= threshold`` (nan for none)."""
    y = np.asarray(labels, dtype=bool)
    p = np.asarray(p_positive, dtype=np.float64)
    return float(np.mean((p >= threshold) == y)) if y.size else math.nan


def finite_mean(values: object) -> float:
    """Mean of the finite values (nan when there are none)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else math.nan


def _sd(values: np.ndarray, ddof: int, need: int) -> float:
    v = values[np.isfinite(values)]
    if v.size < need:
        return math.nan
    # equal values give exactly 0 (np.std can leave a rounding residue)
    return 0.0 if np.ptp(v) == 0.0 else float(np.std(v, ddof=ddof))


def finite_sd(
    values: object, *, ddof: int = 0, min_count: int | None = None, axis: int = -1
) -> float | np.ndarray:
    """Standard deviation along ``axis`` of the finite values (missing ones are skipped).

    nan where fewer than ``min_count`` values (at least ``ddof + 1``, the default) are
    left; exactly 0 where the values left are all equal. Returns a float for 1-D input,
    else an array without ``axis``.

    Used for the spread of an ensemble's members per image (``ddof=0``, ``min_count=2``:
    one member has no spread) and of a case's variants (``ddof=1`` by default).
    """
    x = np.moveaxis(np.asarray(values, dtype=np.float64), axis, -1)
    need = ddof + 1 if min_count is None else max(int(min_count), ddof + 1)
    if x.ndim == 1:
        return _sd(x, ddof, need)
    flat = x.reshape(-1, x.shape[-1])
    out = np.array([_sd(row, ddof, need) for row in flat], dtype=np.float64)
    return out.reshape(x.shape[:-1])


def complete(*arrays: object) -> tuple[np.ndarray, ...]:
    """The arrays (as float) restricted to the positions where none of them is nan."""
    arrs = [np.asarray(a, dtype=np.float64) for a in arrays]
    ok = np.ones(arrs[0].shape, dtype=bool)
    for a in arrs:
        ok &= ~np.isnan(a)
    return tuple(a[ok] for a in arrs)


def case_means(
    frame: pd.DataFrame, keys: Sequence[str], columns: Sequence[str], *, sort: bool = True
) -> pd.DataFrame:
    """Mean of ``columns`` per group of ``keys`` (e.g. per case, over its variants).

    Method: a group's values are added in the order of its rows and divided by their
    count (``numpy.bincount`` with weights), so a group's mean depends on its own rows only,
    not on how other groups' rows are interleaved with them. Missing values (nan) are
    skipped; a group with none gives nan. Where a group's values are all equal the mean is
    exactly that value (a sum of equal values can round), so the truth and the originals'
    predictions, which repeat in every row of a case, come out as they went in. Rows with
    a missing key are left out (as pandas groups). Returns ``keys`` and ``columns``, one row
    per group, in sorted key order, or in order of first appearance with ``sort=False``.
    """
    keys, columns = list(keys), list(columns)
    frame = frame[frame[keys].notna().all(axis=1)] if len(frame) else frame
    grouper = frame.groupby(keys, sort=sort)
    codes = grouper.ngroup().to_numpy()
    out = grouper.size().index.to_frame(index=False)
    k = len(out)
    for col in columns:
        v = frame[col].to_numpy(dtype=np.float64)
        ok = ~np.isnan(v)
        c, w = codes[ok], v[ok]
        sums = np.bincount(c, weights=w, minlength=k)
        counts = np.bincount(c, minlength=k)
        low, high = np.full(k, np.inf), np.full(k, -np.inf)
        np.minimum.at(low, c, w)
        np.maximum.at(high, c, w)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = sums / counts
        out[col] = np.where((counts > 0) & (low == high), low, mean)
    return out

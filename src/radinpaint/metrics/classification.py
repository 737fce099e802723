"""ROC AUC with DeLong variance (fast algorithm of Sun and Xu), bootstrap CIs, accuracy.

DeLong's method estimates the variance of one AUC, and the covariance of AUCs of several
scores on the same cases, from the "structural components" of the Mann-Whitney statistic.
Sun and Xu (2014) showed that the components follow from midranks, which brings the cost
from O(m n) to O((m + n) log(m + n)). No maintained Python library offers the correlated
DeLong test (scikit-learn gives the AUC only; statsmodels has no ROC test), so it is
written here, with midranks from ``scipy.stats.rankdata`` and a brute-force O(m n)
implementation in the test suite as the check.

References:
    DeLong ER, DeLong DM, Clarke-Pearson DL (1988). Comparing the areas under two or more
    correlated receiver operating characteristic curves: a nonparametric approach.
    Biometrics 44:837-845.
    Sun X, Xu W (2014). Fast implementation of DeLong's algorithm for comparing the areas
    under correlated receiver operating characteristic curves. IEEE Signal Processing
    Letters 21(11):1389-1393.
"""

from __future__ import annotations

import math

import attrs
import numpy as np

from ..errors import InvalidInputError
from . import stats
from ._common import Estimate, as_labels, as_vector, check_confidence, same_length
from .bootstrap import stratified_bootstrap_ci

__all__ = [
    "DeLongTest",
    "accuracy",
    "auc",
    "auc_bootstrap_ci",
    "auc_delta_bootstrap_ci",
    "delong_ci",
    "delong_covariance",
    "delong_test",
]


def _split(y_true: object, *score_sets: object) -> tuple[np.ndarray, np.ndarray]:
    """Scores of positives ``(k, m)`` and negatives ``(k, n)``."""
    y = as_labels(y_true, "y_true")
    scores = np.vstack([as_vector(s, f"scores {i}") for i, s in enumerate(score_sets)])
    same_length(y_true=y, scores=scores[0])
    if scores.shape[1] != y.size:
        raise InvalidInputError("every score array must have one value per label")
    return scores[:, y], scores[:, ~y]


def auc(y_true: object, scores: object) -> float:
    """Area under the ROC curve (probability a positive outscores a negative; ties = 1/2).

    Method: Mann-Whitney U from midranks, ``AUC = (R_pos - m(m+1)/2) / (m n)``
    (:func:`radinpaint.metrics.stats.auc`, the one AUC every report uses); equal to
    ``sklearn.metrics.roc_auc_score`` up to rounding. Returns nan when only one class is
    present.

    Reference:
        Hanley JA, McNeil BJ (1982). The meaning and use of the area under a receiver
        operating characteristic (ROC) curve. Radiology 143:29-36.
    """
    pos, neg = _split(y_true, scores)
    if pos.shape[1] == 0 or neg.shape[1] == 0:
        return math.nan
    return float(stats.auc_strata(pos[0], neg[0]))


def delong_covariance(y_true: object, *score_sets: object) -> tuple[np.ndarray, np.ndarray]:
    """AUCs of ``k`` scores on the same cases and DeLong's ``k x k`` covariance matrix.

    Method (Sun and Xu 2014): with ``m`` positives X and ``n`` negatives Y, and midranks
    ``T_X`` (within X), ``T_Y`` (within Y), ``T_Z`` (within X and Y pooled), the structural
    components are ``V10_i = (T_Z(X_i) - T_X(X_i)) / n`` and
    ``V01_j = 1 - (T_Z(Y_j) - T_Y(Y_j)) / m``; ``AUC = mean(V10)``; the covariance is
    ``S10 / m + S01 / n`` with ``S10``, ``S01`` the sample covariances (ddof 1) of the
    components across scores. The AUCs themselves are :func:`auc` of each score (the same
    value ``mean(V10)`` is, rounded once).

    Returns:
        ``(aucs, covariance)`` with shapes ``(k,)`` and ``(k, k)``; the covariance is nan
        when a class has fewer than 2 cases.

    Raises:
        InvalidInputError: when a class is absent (no AUC exists).
    """
    from scipy.stats import rankdata

    pos, neg = _split(y_true, *score_sets)
    m, n = pos.shape[1], neg.shape[1]
    if m == 0 or n == 0:
        raise InvalidInputError(
            f"an AUC needs both classes; got {m} positive and {n} negative case(s)",
            fix="evaluate on a set with both sexes",
        )
    tx = rankdata(pos, axis=1)
    ty = rankdata(neg, axis=1)
    tz = rankdata(np.concatenate([pos, neg], axis=1), axis=1)
    v10 = (tz[:, :m] - tx) / n
    v01 = 1.0 - (tz[:, m:] - ty) / m
    aucs = np.asarray(stats.auc_strata(pos, neg), dtype=np.float64).reshape(-1)
    k = pos.shape[0]
    if m < 2 or n < 2:
        return aucs, np.full((k, k), math.nan)
    s10 = np.atleast_2d(np.cov(v10))
    s01 = np.atleast_2d(np.cov(v01))
    return aucs, s10 / m + s01 / n


def delong_ci(y_true: object, scores: object, confidence: float = 0.95) -> Estimate:
    """AUC with DeLong's asymptotic confidence interval.

    Method: ``AUC +/- z_(1-alpha/2) * sqrt(Var_DeLong)``, clipped to [0, 1] (as pROC
    does). Variance by the fast algorithm of Sun and Xu (see :func:`delong_covariance`).
    An AUC of exactly 0 or 1 has zero DeLong variance; the interval is then that point and
    ``note`` says so: prefer :func:`auc_bootstrap_ci` there.

    Reference:
        DeLong et al. (1988) Biometrics 44:837-845; Sun and Xu (2014) IEEE SPL 21:1389.
    """
    from scipy.stats import norm

    confidence = check_confidence(confidence)
    pos, neg = _split(y_true, scores)
    n = pos.shape[1] + neg.shape[1]
    if pos.shape[1] == 0 or neg.shape[1] == 0:
        return Estimate.missing(
            f"an AUC needs both classes; got {pos.shape[1]} positive and {neg.shape[1]} "
            "negative case(s)",
            confidence=confidence,
            method="delong",
            n=n,
        )
    aucs, cov = delong_covariance(y_true, scores)
    value, var = float(aucs[0]), float(cov[0, 0])
    if not math.isfinite(var):
        return Estimate(
            value, math.nan, math.nan, confidence, "delong", n, 0, math.nan,
            "DeLong's variance needs at least 2 cases of each class",
        )  # fmt: skip
    se = math.sqrt(max(var, 0.0))
    z = float(norm.ppf(0.5 + confidence / 2.0))
    note = "" if se > 0 else "DeLong's variance is zero (perfect or constant ranking)"
    low, high = max(0.0, value - z * se), min(1.0, value + z * se)
    return Estimate(value, low, high, confidence, "delong", n, 0, se, note)


@attrs.frozen
class DeLongTest:
    """DeLong's test for two correlated AUCs (same cases, two scores).

    Attributes:
        auc_a: AUC of the first scores (pass the originals' predictions here).
        auc_b: AUC of the second scores (the inpainted images' predictions).
        delta: ``auc_b - auc_a``.
        var_a, var_b, covariance: DeLong's variance of each AUC and their covariance.
        se_delta: ``sqrt(var_a + var_b - 2 covariance)``.
        z: ``delta / se_delta``.
        p_value: two-sided p-value ``2 * (1 - Phi(|z|))`` (a probability, not its log).
        ci_low, ci_high: confidence interval of ``delta`` (``delta +/- z_(1-alpha/2) se``).
        confidence: confidence level of the interval.
        n_positive, n_negative: class counts.
        note: set when a convention decided the result (identical scores: ``z = 0``,
            ``p = 1``) or why values are nan.
    """

    auc_a: float
    auc_b: float
    delta: float
    var_a: float
    var_b: float
    covariance: float
    se_delta: float
    z: float
    p_value: float
    ci_low: float
    ci_high: float
    confidence: float
    n_positive: int
    n_negative: int
    note: str = ""


def delong_test(
    y_true: object, scores_a: object, scores_b: object, confidence: float = 0.95
) -> DeLongTest:
    """DeLong's test of equal AUCs for two scores of the same cases.

    Method: ``z = (AUC_b - AUC_a) / sqrt(V_a + V_b - 2 C_ab)`` with DeLong's covariance
    computed by the fast midrank algorithm of Sun and Xu (2014); two-sided
    ``p = 2 (1 - Phi(|z|))``, returned as a probability (not log10 p). When the variance of
    the difference is zero and the AUCs are equal (e.g. identical scores: the identity
    control), ``z = 0`` and ``p = 1`` by convention and ``note`` says so; when it is zero
    and the AUCs differ, ``z`` and ``p`` are nan with a note.

    Args:
        y_true: binary labels (True/1 = positive class, e.g. male).
        scores_a: first scores (the originals' predicted probabilities).
        scores_b: second scores (after inpainting), same cases in the same order.
        confidence: level of the interval for the difference.

    Reference:
        DeLong et al. (1988) Biometrics 44:837-845; Sun X, Xu W (2014) IEEE Signal
        Processing Letters 21(11):1389-1393.
    """
    from scipy.stats import norm

    confidence = check_confidence(confidence)
    y = as_labels(y_true, "y_true")
    a = as_vector(scores_a, "scores_a")
    b = as_vector(scores_b, "scores_b")
    same_length(y_true=y, scores_a=a, scores_b=b)
    m, n = int(y.sum()), int((~y).sum())
    nan = math.nan
    if m == 0 or n == 0:
        return DeLongTest(
            nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, confidence, m, n,
            f"an AUC needs both classes; got {m} positive and {n} negative case(s)",
        )  # fmt: skip
    aucs, cov = delong_covariance(y, a, b)
    auc_a, auc_b = float(aucs[0]), float(aucs[1])
    delta = auc_b - auc_a
    var_a, var_b, c_ab = float(cov[0, 0]), float(cov[1, 1]), float(cov[0, 1])
    if np.array_equal(a, b):
        # The structural components are identical, so the variance of the difference is
        # exactly zero; report the natural answer instead of 0/0.
        return DeLongTest(
            auc_a, auc_b, 0.0, var_a, var_b, c_ab, 0.0, 0.0, 1.0, 0.0, 0.0, confidence, m,
            n, "identical scores: no difference (z = 0, p = 1 by convention)",
        )  # fmt: skip
    var_d = var_a + var_b - 2.0 * c_ab
    if not math.isfinite(var_d):
        return DeLongTest(
            auc_a, auc_b, delta, var_a, var_b, c_ab, nan, nan, nan, nan, nan, confidence, m,
            n, "DeLong's variance needs at least 2 cases of each class",
        )  # fmt: skip
    scale = max(abs(var_a), abs(var_b), 1e-300)
    if var_d <= 1e-14 * scale or var_d <= 0.0:
        if delta == 0.0:
            return DeLongTest(
                auc_a, auc_b, 0.0, var_a, var_b, c_ab, 0.0, 0.0, 1.0, 0.0, 0.0, confidence,
                m, n, "zero variance of the difference and equal AUCs (z = 0, p = 1)",
            )  # fmt: skip
        return DeLongTest(
            auc_a, auc_b, delta, var_a, var_b, c_ab, 0.0, nan, nan, nan, nan, confidence,
            m, n, "zero variance of the difference with unequal AUCs: no test possible",
        )  # fmt: skip
    se = math.sqrt(var_d)
    z = delta / se
    p = float(min(1.0, 2.0 * norm.sf(abs(z))))
    q = float(norm.ppf(0.5 + confidence / 2.0))
    return DeLongTest(
        auc_a, auc_b, delta, var_a, var_b, c_ab, se, z, p, delta - q * se, delta + q * se,
        confidence, m, n,
    )  # fmt: skip


def auc_bootstrap_ci(
    y_true: object,
    scores: object,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    method: str = "percentile",
    seed: int = 0,
) -> Estimate:
    """AUC with a stratified bootstrap confidence interval.

    Method: positives and negatives are resampled separately with replacement (class
    counts fixed, so every resample has an AUC), the AUC is recomputed from midranks, and
    the percentile or BCa interval is taken (``scipy.stats.bootstrap``, non-paired
    two-sample mode, ``rng=default_rng(seed)``).

    Reference:
        Efron and Tibshirani (1993), sec. 8.3; Carpenter and Bithell (2000) Stat Med
        19:1141-1164.
    """
    pos, neg = _split(y_true, scores)
    return stratified_bootstrap_ci(
        (pos[0], neg[0]),
        stats.auc_strata,
        n_resamples=n_resamples,
        confidence=confidence,
        method=method,
        seed=seed,
    )


def auc_delta_bootstrap_ci(
    y_true: object,
    scores_a: object,
    scores_b: object,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    method: str = "percentile",
    seed: int = 0,
) -> Estimate:
    """``AUC_b - AUC_a`` with a paired, stratified bootstrap confidence interval.

    Method: positive and negative cases are resampled separately (class counts fixed);
    both AUCs are recomputed on the same resampled cases, so the interval accounts for the
    correlation between the two scores. Percentile or BCa interval by
    ``scipy.stats.bootstrap``.

    Reference:
        Efron and Tibshirani (1993), sec. 8.3 and ch. 14.
    """
    y = as_labels(y_true, "y_true")
    a = as_vector(scores_a, "scores_a")
    b = as_vector(scores_b, "scores_b")
    same_length(y_true=y, scores_a=a, scores_b=b)
    pa, na, pb, nb = a[y], a[~y], b[y], b[~y]

    def delta(ip: np.ndarray, ineg: np.ndarray, axis: int = -1) -> np.ndarray:
        ip, ineg = ip.astype(np.intp), ineg.astype(np.intp)
        return stats.auc_strata(pb[ip], nb[ineg]) - stats.auc_strata(pa[ip], na[ineg])

    strata = (np.arange(pa.size, dtype=np.float64), np.arange(na.size, dtype=np.float64))
    return stratified_bootstrap_ci(
        strata,
        delta,
        n_resamples=n_resamples,
        confidence=confidence,
        method=method,
        seed=seed,
    )


def accuracy(y_true: object, p_positive: object, threshold: float = 0.5) -> float:
    """Fraction of correct calls, calling positive when ``p >= threshold`` (study: 0.5)."""
    y = as_labels(y_true, "y_true")
    p = as_vector(p_positive, "p_positive")
    same_length(y_true=y, p_positive=p)
    return stats.accuracy(y, p, threshold)

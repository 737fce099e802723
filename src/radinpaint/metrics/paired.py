"""Paired comparisons of the same cases before and after inpainting.

- :func:`paired_bootstrap_delta`: change in MAE/RMSE/bias with a paired bootstrap CI.
- :func:`wilcoxon_abs_errors`: Wilcoxon signed-rank test on per-case absolute errors.
- :func:`mcnemar_test`: McNemar's test for changed binary calls (sex).
- :func:`stuart_maxwell_test`: marginal homogeneity for more than two categories.

The change in AUC has its own tests in :mod:`radinpaint.metrics.classification`
(:func:`~radinpaint.metrics.delong_test`, :func:`~radinpaint.metrics.auc_delta_bootstrap_ci`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import InvalidInputError
from ._common import Estimate, TestResult, as_labels, as_vector, same_length
from .bootstrap import STATISTICS, bootstrap_ci

__all__ = [
    "EXACT_MCNEMAR_BELOW",
    "mcnemar_test",
    "paired_bootstrap_delta",
    "signed_shift_test",
    "stuart_maxwell_test",
    "wilcoxon_abs_errors",
]

EXACT_MCNEMAR_BELOW = 25
"""McNemar's test is exact (binomial) when fewer discordant pairs than this."""


def _triple(
    y_true: object, pred_before: object, pred_after: object
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t = as_vector(y_true, "y_true")
    b = as_vector(pred_before, "pred_before")
    a = as_vector(pred_after, "pred_after")
    same_length(y_true=t, pred_before=b, pred_after=a)
    return t, b, a


def paired_bootstrap_delta(
    y_true: object,
    pred_before: object,
    pred_after: object,
    *,
    metric: str = "mae",
    n_resamples: int = 1000,
    confidence: float = 0.95,
    method: str = "percentile",
    seed: int = 0,
) -> Estimate:
    """Change of a regression metric, ``metric(after) - metric(before)``, with a paired CI.

    Method: cases are resampled with replacement; on every resample both metrics are
    recomputed on the same cases and differenced, so the interval accounts for the
    correlation between the two sets of predictions (far narrower than two separate
    intervals). Percentile or BCa interval by ``scipy.stats.bootstrap`` (paired).

    Args:
        y_true: ground truth per case.
        pred_before: predictions on the originals.
        pred_after: predictions on the inpainted images, same cases, same order.
        metric: ``"mae"``, ``"rmse"`` or ``"bias"``.

    Reference:
        Efron B, Tibshirani RJ (1993). *An Introduction to the Bootstrap*, ch. 14.
    """
    if metric not in STATISTICS:
        raise InvalidInputError(
            f"unknown metric {metric!r} for a paired delta", available=sorted(STATISTICS)
        )
    t, b, a = _triple(y_true, pred_before, pred_after)
    f = STATISTICS[metric]

    def delta(tt: np.ndarray, bb: np.ndarray, aa: np.ndarray, axis: int = -1) -> np.ndarray:
        return f(tt, aa, axis=axis) - f(tt, bb, axis=axis)

    return bootstrap_ci(
        t,
        b,
        a,
        statistic=delta,
        n_resamples=n_resamples,
        confidence=confidence,
        method=method,
        seed=seed,
    )


def signed_shift_test(
    pred_before: object, pred_after: object, *, zero_method: str = "wilcox"
) -> TestResult:
    """Wilcoxon signed-rank test of the signed per-case shift ``after - before``.

    A systematic shift (every prediction a few months older, every P(male) a little
    higher) leaves the absolute errors almost unchanged, so a test on ``|error|`` misses
    it; this one asks whether the predictions themselves moved. Same conventions as
    :func:`wilcoxon_abs_errors` (zero shifts dropped with ``"wilcox"``; no non-zero shift:
    ``p = 1`` and a note). ``details`` holds the mean and median shift and the number of
    non-zero shifts.
    """
    b = as_vector(pred_before, "pred_before")
    a = as_vector(pred_after, "pred_after")
    same_length(pred_before=b, pred_after=a)
    diff = a - b
    extra = {
        "mean_shift": float(diff.mean()) if diff.size else math.nan,
        "median_shift": float(np.median(diff)) if diff.size else math.nan,
    }
    return _signed_rank("wilcoxon-shift", diff, zero_method, extra, "shift")


def wilcoxon_abs_errors(
    y_true: object,
    pred_before: object,
    pred_after: object,
    *,
    zero_method: str = "wilcox",
) -> TestResult:
    """Wilcoxon signed-rank test of ``|after - true| - |before - true|`` per case.

    Method: ``scipy.stats.wilcoxon`` on the paired absolute errors (exact null
    distribution for small samples without ties, normal approximation otherwise; zero
    differences dropped with ``zero_method="wilcox"``, or ``"pratt"``/``"zsplit"``).
    ``statistic`` is scipy's (the smaller rank sum, two-sided). When every difference is
    zero (the identity control) no test is possible: ``statistic = 0``, ``p = 1`` by
    convention and ``note`` says so. ``details`` holds the median difference and the
    number of non-zero differences.

    Reference:
        Wilcoxon F (1945). Individual comparisons by ranking methods. Biometrics Bull
        1:80-83.
    """
    t, b, a = _triple(y_true, pred_before, pred_after)
    diff = np.abs(a - t) - np.abs(b - t)
    extra = {"median_difference": float(np.median(diff)) if diff.size else math.nan}
    return _signed_rank("wilcoxon", diff, zero_method, extra, "difference")


def _signed_rank(
    name: str, diff: np.ndarray, zero_method: str, details: dict[str, Any], what: str
) -> TestResult:
    """``scipy.stats.wilcoxon`` on per-case ``diff``; no non-zero value: ``p = 1``."""
    from scipy import stats

    nonzero = int(np.count_nonzero(diff))
    details = {**details, "n_nonzero": nonzero, "zero_method": zero_method}
    if nonzero == 0:
        return TestResult(
            name, 0.0, 1.0 if diff.size else math.nan, int(diff.size), details,
            f"every per-case {what} is zero: no change (p = 1 by convention)"
            if diff.size else "no cases",
        )  # fmt: skip
    res = stats.wilcoxon(diff, zero_method=zero_method)
    return TestResult(name, res.statistic, res.pvalue, int(diff.size), details)


def mcnemar_test(
    calls_before: object,
    calls_after: object,
    *,
    exact: bool | None = None,
    correction: bool = True,
) -> TestResult:
    """McNemar's test for paired binary calls (e.g. sex called male before/after).

    Method: ``statsmodels.stats.contingency_tables.mcnemar`` on the 2x2 table (rows:
    before, columns: after). With ``b`` cases switching True->False and ``c``
    False->True, the exact test is the two-sided binomial test of ``min(b, c)`` with
    ``n = b + c``, ``p = 0.5``; the asymptotic one is ``(|b - c| - 1)^2 / (b + c)`` against
    chi-squared with 1 df. ``exact=None`` picks the exact test when ``b + c < 25``. With no
    discordant pair, ``p = 1``.

    Reference:
        McNemar Q (1947). Note on the sampling error of the difference between correlated
        proportions or percentages. Psychometrika 12:153-157.
    """
    from statsmodels.stats.contingency_tables import mcnemar

    before = as_labels(calls_before, "calls_before")
    after = as_labels(calls_after, "calls_after")
    same_length(calls_before=before, calls_after=after)
    table = np.array(
        [[np.sum(~before & ~after), np.sum(~before & after)],
         [np.sum(before & ~after), np.sum(before & after)]],
    )  # fmt: skip
    b, c = int(table[1, 0]), int(table[0, 1])
    use_exact = (b + c) < EXACT_MCNEMAR_BELOW if exact is None else bool(exact)
    details = {"true_to_false": b, "false_to_true": c, "table": table.tolist()}
    name = "mcnemar-exact" if use_exact else "mcnemar-chi2"
    if b + c == 0:
        return TestResult(name, 0.0, 1.0, int(before.size), details, "no discordant pairs")
    res = mcnemar(table, exact=use_exact, correction=correction)
    return TestResult(name, res.statistic, res.pvalue, int(before.size), details)


def stuart_maxwell_test(
    before: Sequence[object] | np.ndarray,
    after: Sequence[object] | np.ndarray,
    *,
    categories: Sequence[object] | None = None,
) -> TestResult:
    """Stuart-Maxwell test of marginal homogeneity for paired categorical calls.

    Method: from the ``K x K`` table of (before, after) categories, ``d`` = row margins
    minus column margins and its covariance ``V`` with ``V_ii = n_i. + n_.i - 2 n_ii`` and
    ``V_ij = -(n_ij + n_ji)``; the statistic is ``d' V+ d`` with the Moore-Penrose inverse
    ``V+``, against chi-squared with ``rank(V)`` degrees of freedom. ``V`` has one null
    direction per group of categories that exchange cases only among themselves (a
    connected component of the off-diagonal counts), so ``rank(V) = K - groups``: with one
    group this is the classical ``K - 1`` and the statistic equals ``d' V^-1 d`` on the
    first ``K - 1`` categories; with disconnected groups ``K - 1`` would overstate the
    degrees of freedom and make the test conservative. A category no case entered or left
    is a group of its own and adds nothing. With no off-diagonal count the margins are
    equal: ``statistic = 0``, ``p = 1``. For two categories this equals McNemar's test
    without continuity correction.

    Args:
        before, after: one category per case (any hashable labels).
        categories: all categories in order; default: those observed, sorted.

    References:
        Stuart A (1955). A test for homogeneity of the marginal distributions in a two-way
        classification. Biometrika 42:412-416. Maxwell AE (1970). Comparing the
        classification of subjects by two independent judges. Br J Psychiatry 116:651-655.
    """
    from scipy import stats

    x, y = list(before), list(after)
    if len(x) != len(y):
        raise InvalidInputError(
            f"before and after must have one category per case; got {len(x)} and {len(y)}"
        )
    cats = list(categories) if categories is not None else sorted(set(x) | set(y), key=str)
    index = {c: i for i, c in enumerate(cats)}
    unknown = sorted({str(v) for v in x + y if v not in index})
    if unknown:
        raise InvalidInputError(
            f"categories {unknown} are not among the categories given", available=map(str, cats)
        )
    k = len(cats)
    table = np.zeros((k, k), dtype=np.int64)
    for u, v in zip(x, y, strict=True):
        table[index[u], index[v]] += 1
    off = table - np.diag(np.diag(table))
    cov = -(off + off.T).astype(float)
    np.fill_diagonal(cov, off.sum(0) + off.sum(1))
    d = (table.sum(1) - table.sum(0)).astype(float)
    df = int(np.linalg.matrix_rank(cov)) if off.any() else 0
    details: dict[str, Any] = {
        "categories": [str(c) for c in cats],
        "table": table.tolist(),
        "df": df,
        "groups": k - df,
    }
    if not off.any():
        return TestResult(
            "stuart-maxwell", 0.0, 1.0 if len(x) else math.nan, len(x), details,
            "no case changed category: the margins are equal",
        )  # fmt: skip
    statistic = float(d @ np.linalg.pinv(cov) @ d)
    p_value = float(stats.chi2.sf(statistic, df))
    return TestResult("stuart-maxwell", statistic, p_value, len(x), details)

"""AUC and DeLong checked against a brute-force structural-components implementation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from radinpaint.errors import InvalidInputError
from radinpaint.metrics import (
    accuracy,
    auc,
    auc_bootstrap_ci,
    auc_delta_bootstrap_ci,
    delong_ci,
    delong_covariance,
    delong_test,
)


def _brute_force_delong(y, scores_a, scores_b):
    """DeLong et al. (1988) directly: psi over every positive-negative pair, O(m n)."""
    y = np.asarray(y, bool)
    out = []
    for s in (scores_a, scores_b):
        x, z = s[y], s[~y]
        psi = np.zeros((x.size, z.size))
        for i in range(x.size):
            for j in range(z.size):
                psi[i, j] = 1.0 if x[i] > z[j] else (0.5 if x[i] == z[j] else 0.0)
        out.append((psi.mean(), psi.mean(axis=1), psi.mean(axis=0)))
    m, n = int(y.sum()), int((~y).sum())
    (auc_a, v10a, v01a), (auc_b, v10b, v01b) = out

    def cov(u, v):
        return ((u - u.mean()) * (v - v.mean())).sum() / (u.size - 1)

    var_a = cov(v10a, v10a) / m + cov(v01a, v01a) / n
    var_b = cov(v10b, v10b) / m + cov(v01b, v01b) / n
    c = cov(v10a, v10b) / m + cov(v01a, v01b) / n
    z = (auc_b - auc_a) / math.sqrt(var_a + var_b - 2 * c)
    return auc_a, auc_b, var_a, var_b, c, z, 2 * norm.sf(abs(z))


def _case(seed: int, n: int = 40, ties: bool = False):
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.45
    y[:2] = [True, False]
    a = rng.normal(0, 1, n) + 1.2 * y
    b = 0.5 * a + rng.normal(0, 1, n) + 0.3 * y
    if ties:
        a, b = np.round(a), np.round(b * 2) / 2
    return y, a, b


@pytest.mark.parametrize(("seed", "ties"), [(0, False), (1, True), (2, False), (3, True)])
def test_fast_delong_equals_brute_force(seed, ties) -> None:
    y, a, b = _case(seed, ties=ties)
    ref = _brute_force_delong(y, a, b)
    got = delong_test(y, a, b)
    assert got.auc_a == pytest.approx(ref[0], abs=1e-12)
    assert got.auc_b == pytest.approx(ref[1], abs=1e-12)
    assert got.var_a == pytest.approx(ref[2], rel=1e-10)
    assert got.var_b == pytest.approx(ref[3], rel=1e-10)
    assert got.covariance == pytest.approx(ref[4], rel=1e-9, abs=1e-15)
    assert got.z == pytest.approx(ref[5], rel=1e-9)
    assert got.p_value == pytest.approx(ref[6], rel=1e-8)
    assert 0.0 <= got.p_value <= 1.0  # a probability, not log10 p
    assert got.auc_a == pytest.approx(roc_auc_score(y, a), abs=1e-12)
    assert got.auc_b == pytest.approx(roc_auc_score(y, b), abs=1e-12)
    assert got.delta == pytest.approx(got.auc_b - got.auc_a)
    assert got.n_positive == int(y.sum()) and got.n_negative == int((~y).sum())


def test_delong_covariance_of_three_scores() -> None:
    y, a, b = _case(5, n=30)
    c = a + b
    aucs, cov = delong_covariance(y, a, b, c)
    assert aucs.shape == (3,) and cov.shape == (3, 3)
    assert np.allclose(cov, cov.T)
    assert np.all(np.linalg.eigvalsh(cov) > -1e-15)
    assert aucs[2] == pytest.approx(roc_auc_score(y, c))


def test_delong_ci_uses_delong_variance() -> None:
    y, a, b = _case(7)
    ref = _brute_force_delong(y, a, b)
    got = delong_ci(y, a, confidence=0.9)
    half = norm.ppf(0.95) * math.sqrt(ref[2])
    assert got.value == pytest.approx(ref[0])
    assert got.ci_low == pytest.approx(max(0.0, ref[0] - half), rel=1e-9)
    assert got.ci_high == pytest.approx(min(1.0, ref[0] + half), rel=1e-9)
    assert got.method == "delong"


def test_delong_difference_interval_brackets_delta() -> None:
    y, a, b = _case(9, n=60)
    got = delong_test(y, a, b, confidence=0.95)
    se = got.se_delta
    assert got.ci_low == pytest.approx(got.delta - norm.ppf(0.975) * se)
    assert got.ci_high == pytest.approx(got.delta + norm.ppf(0.975) * se)
    # the interval excludes 0 exactly when p < 0.05
    assert (got.p_value < 0.05) == (got.ci_low > 0 or got.ci_high < 0)


def test_identical_scores_give_no_difference() -> None:
    y, a, _ = _case(3)
    got = delong_test(y, a, a.copy())
    assert (got.delta, got.z, got.p_value) == (0.0, 0.0, 1.0)
    assert "identical" in got.note


def test_one_class_is_nan_with_a_reason_not_an_error() -> None:
    y = np.ones(10, bool)
    s = np.linspace(0, 1, 10)
    assert math.isnan(auc(y, s))
    assert math.isnan(delong_ci(y, s).value) and "both classes" in delong_ci(y, s).note
    assert math.isnan(delong_test(y, s, s[::-1]).p_value)
    with pytest.raises(InvalidInputError, match="both classes"):
        delong_covariance(y, s)


def test_perfect_separation_has_zero_delong_variance() -> None:
    y = np.array([0, 0, 0, 1, 1, 1])
    got = delong_ci(y, [0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    assert (got.value, got.ci_low, got.ci_high) == (1.0, 1.0, 1.0)
    assert "zero" in got.note


def _pairwise_auc(y, s):
    """AUC by comparing every positive with every negative (ties count 1/2)."""
    x, z = s[y], s[~y]
    return np.mean((x[:, None] > z[None, :]) + 0.5 * (x[:, None] == z[None, :]))


def _stratified_loop(y, stat, n_resamples, seed):
    """Resample positives then negatives (scipy's order: one sample after the other)."""
    pos, neg = np.flatnonzero(y), np.flatnonzero(~y)
    rng = np.random.default_rng(seed)
    ip = rng.integers(0, pos.size, (n_resamples, pos.size))
    ineg = rng.integers(0, neg.size, (n_resamples, neg.size))
    vals = []
    for b in range(n_resamples):
        rows = np.r_[pos[ip[b]], neg[ineg[b]]]
        vals.append(stat(rows))
    return np.array(vals)


def test_stratified_bootstrap_auc_matches_a_loop_with_sklearn() -> None:
    y, a, _ = _case(11, n=36)
    got = auc_bootstrap_ci(y, a, n_resamples=100, seed=5)
    dist = _stratified_loop(y, lambda r: roc_auc_score(y[r], a[r]), 100, 5)
    low, high = np.percentile(dist, [2.5, 97.5])
    assert got.ci_low == pytest.approx(low, abs=1e-12)
    assert got.ci_high == pytest.approx(high, abs=1e-12)
    assert got.method == "stratified-percentile"


def test_paired_stratified_bootstrap_of_auc_change_matches_a_loop() -> None:
    y, a, b = _case(12, n=36, ties=True)
    got = auc_delta_bootstrap_ci(y, a, b, n_resamples=300, seed=8)

    def delta(r):
        return _pairwise_auc(y[r], b[r]) - _pairwise_auc(y[r], a[r])

    dist = _stratified_loop(y, delta, 300, 8)
    low, high = np.percentile(dist, [2.5, 97.5])
    assert got.value == pytest.approx(roc_auc_score(y, b) - roc_auc_score(y, a))
    assert got.ci_low == pytest.approx(low, abs=1e-12)
    assert got.ci_high == pytest.approx(high, abs=1e-12)
    bca = auc_delta_bootstrap_ci(y, a, b, n_resamples=300, seed=8, method="bca")
    assert math.isfinite(bca.ci_low) and bca.ci_low <= bca.ci_high


def test_accuracy_thresholds_at_one_half() -> None:
    assert accuracy([1, 0, 1, 0], [0.5, 0.49, 0.2, 0.9]) == pytest.approx(0.5)
    assert accuracy([1, 0], [0.6, 0.6], threshold=0.7) == pytest.approx(0.5)
    with pytest.raises(InvalidInputError, match="binary"):
        accuracy([2, 0], [0.1, 0.2])

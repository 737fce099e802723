"""Bootstrap intervals checked against independent numpy re-implementations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import ndtr, ndtri

from radinpaint.errors import InvalidInputError, ShapeMismatchError
from radinpaint.metrics import bootstrap_ci, regression_summary
from radinpaint.metrics.regression import bias, mae, rmse


def _data(n: int = 25, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.uniform(20, 200, n)
    return truth, truth + rng.normal(3, 12, n)


def _loop_distribution(t, p, stat, n_resamples, seed):
    """Resample cases in a plain loop, one index vector per resample."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_resamples):
        idx = rng.integers(0, t.size, t.size)
        out.append(stat(t[idx], p[idx]))
    return np.array(out)


def _mae(t, p):
    return np.mean(np.abs(p - t))


def _rmse(t, p):
    return math.sqrt(np.mean((p - t) ** 2))


def test_point_metrics_match_plain_formulas() -> None:
    t, p = _data()
    assert mae(t, p) == pytest.approx(np.abs(p - t).sum() / t.size, rel=1e-14)
    assert rmse(t, p) == pytest.approx(math.sqrt(((p - t) ** 2).sum() / t.size), rel=1e-14)
    assert bias(t, p) == pytest.approx((p - t).sum() / t.size, rel=1e-14)


@pytest.mark.parametrize(("name", "stat"), [("mae", _mae), ("rmse", _rmse)])
def test_percentile_interval_matches_a_plain_loop(name, stat) -> None:
    t, p = _data()
    got = bootstrap_ci(t, p, statistic=name, n_resamples=400, seed=7, confidence=0.9)
    dist = _loop_distribution(t, p, stat, 400, 7)
    low, high = np.percentile(dist, [5, 95])
    assert got.value == pytest.approx(stat(t, p), rel=1e-12)
    assert got.ci_low == pytest.approx(low, rel=1e-12)
    assert got.ci_high == pytest.approx(high, rel=1e-12)
    assert got.standard_error == pytest.approx(dist.std(ddof=1), rel=1e-10)
    assert got.method == "percentile" and got.n_resamples == 400 and got.n == t.size


def test_bca_interval_matches_efron_formulas() -> None:
    """BCa from the textbook (Efron and Tibshirani 1993, eq. 14.9-14.15), written here."""
    t, p = _data(n=30, seed=4)
    n_res = 500
    got = bootstrap_ci(t, p, statistic="rmse", n_resamples=n_res, seed=3, method="bca")
    theta = _rmse(t, p)
    dist = _loop_distribution(t, p, _rmse, n_res, 3)
    z0 = ndtri(np.mean(dist < theta))
    jack = np.array([_rmse(np.delete(t, i), np.delete(p, i)) for i in range(t.size)])
    d = jack.mean() - jack
    a = (d**3).sum() / (6.0 * ((d**2).sum()) ** 1.5)
    z = ndtri(0.025)
    a1 = ndtr(z0 + (z0 + z) / (1 - a * (z0 + z)))
    a2 = ndtr(z0 + (z0 - z) / (1 - a * (z0 - z)))
    low, high = np.percentile(dist, [100 * a1, 100 * a2])
    assert got.ci_low == pytest.approx(low, rel=1e-10)
    assert got.ci_high == pytest.approx(high, rel=1e-10)
    # BCa moves the interval away from the percentile interval for a skewed statistic
    plain = bootstrap_ci(t, p, statistic="rmse", n_resamples=n_res, seed=3)
    assert (got.ci_low, got.ci_high) != (plain.ci_low, plain.ci_high)


def test_seed_makes_intervals_reproducible() -> None:
    t, p = _data()
    a = bootstrap_ci(t, p, n_resamples=200, seed=11)
    b = bootstrap_ci(t, p, n_resamples=200, seed=11)
    c = bootstrap_ci(t, p, n_resamples=200, seed=12)
    assert a == b
    assert (a.ci_low, a.ci_high) != (c.ci_low, c.ci_high)


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_degenerate_distribution_gives_a_point_interval(method) -> None:
    t, _ = _data()
    got = bootstrap_ci(t, t, statistic="mae", n_resamples=100, method=method)
    assert (got.value, got.ci_low, got.ci_high) == (0.0, 0.0, 0.0)
    assert "same value" in got.note


def test_regression_summary_bundles_three_intervals() -> None:
    t, p = _data()
    s = regression_summary(t, p, n_resamples=100, seed=2)
    assert s.n == t.size
    assert s.mae.value == pytest.approx(mae(t, p))
    assert s.bias.ci_low < s.bias.value < s.bias.ci_high
    flat = s.to_dict()
    assert {"mae", "mae_ci_low", "rmse_ci_high", "bias_se"} <= set(flat)


def test_too_few_cases_is_nan_with_reason() -> None:
    got = bootstrap_ci([1.0], [2.0], n_resamples=10)
    assert math.isnan(got.value) and "at least 2" in got.note


def test_bad_input_raises_clear_errors() -> None:
    t, p = _data()
    with pytest.raises(InvalidInputError, match="method"):
        bootstrap_ci(t, p, method="basic")
    with pytest.raises(InvalidInputError, match="confidence"):
        bootstrap_ci(t, p, confidence=95)
    with pytest.raises(InvalidInputError, match="equal lengths"):
        bootstrap_ci(t, p[:-1])
    with pytest.raises(InvalidInputError, match="missing or non-finite"):
        bootstrap_ci(np.r_[t[:-1], np.nan], p)
    with pytest.raises(InvalidInputError, match="unknown statistic"):
        bootstrap_ci(t, p, statistic="median")
    with pytest.raises(ShapeMismatchError):
        mae(t, p[:3])


def test_block_size_does_not_change_the_interval(monkeypatch) -> None:
    """Large studies draw resamples in blocks; the random stream stays the same."""
    import radinpaint.metrics.bootstrap as boot
    import radinpaint.metrics.study as study

    t, p = _data(n=50)
    whole = bootstrap_ci(t, p, statistic="rmse", n_resamples=300, method="bca", seed=1)
    replay = study.study_bootstrap_ci(t, p, "mae", n_resamples=300, seed=1)
    monkeypatch.setattr(boot, "_MAX_CELLS", 50 * 7)
    monkeypatch.setattr(study, "_BLOCK_CELLS", 50 * 7)
    assert boot._batch(50, 300) == 7
    assert bootstrap_ci(t, p, statistic="rmse", n_resamples=300, method="bca", seed=1) == whole
    assert study.study_bootstrap_ci(t, p, "mae", n_resamples=300, seed=1) == replay

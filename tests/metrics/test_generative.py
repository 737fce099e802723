"""FID, KID and PRDC against closed forms, and their bootstrap intervals."""

from __future__ import annotations

import math

import attrs
import numpy as np
import pytest
import scipy.linalg

from radinpaint.errors import InvalidInputError, ShapeMismatchError
from radinpaint.metrics.generative import (
    PairedFeatures,
    fid,
    frechet_distance,
    generative_scores,
    kid,
    prdc,
)


def _spd(rng: np.random.Generator, d: int, floor: float) -> np.ndarray:
    a = rng.normal(size=(d, d))
    return a @ a.T + floor * np.eye(d)


def test_frechet_distance_of_diagonal_gaussians_is_the_closed_form():
    mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([0.5, 1.0, 1.0])
    a, b = np.array([1.0, 4.0, 0.25]), np.array([2.0, 1.0, 9.0])
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(a + b - 2 * np.sqrt(a * b))
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, abs=1e-12)


def test_frechet_distance_matches_scipy_sqrtm_for_non_commuting_covariances():
    rng = np.random.default_rng(1)
    s1, s2 = _spd(rng, 6, 1.0), _spd(rng, 6, 0.5)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    ref = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * scipy.linalg.sqrtm(s1 @ s2).real)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(ref, rel=1e-10)


def _exact_sample(rng: np.random.Generator, n: int, mu: np.ndarray, sigma: np.ndarray):
    """n Gaussian rows whose sample mean and (ddof 1) covariance are exactly mu and sigma."""
    z = rng.normal(size=(n, mu.size))
    z -= z.mean(axis=0)
    z = z @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False))).T
    return mu + z @ np.linalg.cholesky(sigma).T


def test_fid_of_gaussian_samples_is_the_closed_form():
    rng = np.random.default_rng(2)
    s1, s2 = _spd(rng, 4, 1.0), _spd(rng, 4, 0.5)
    mu1, mu2 = np.zeros(4), np.full(4, 0.5)
    truth = frechet_distance(mu1, s1, mu2, s2)
    # samples with exactly these moments: FID is the closed form (both code paths)
    x, y = _exact_sample(rng, 5000, mu1, s1), _exact_sample(rng, 5000, mu2, s2)
    assert fid(x, y) == pytest.approx(truth, rel=1e-9)
    assert fid(x[:3], y[:3] + 1) > 0  # the n <= d path runs too
    # plain samples, large n: within the sampling error (about 0.3% here)
    x = rng.multivariate_normal(mu1, s1, 200_000)
    y = rng.multivariate_normal(mu2, s2, 200_000)
    assert fid(x, y) == pytest.approx(truth, rel=1e-2)


def test_fid_of_a_set_with_itself_is_exactly_zero_in_any_order():
    x = np.random.default_rng(3).normal(size=(50, 80))
    assert fid(x, x) == 0.0
    assert fid(x, x[::-1]) == 0.0
    cov = np.cov(x, rowvar=False)
    assert frechet_distance(x.mean(0), cov, x.mean(0), cov.copy()) == 0.0


@pytest.mark.parametrize("shape", [(40, 10), (15, 10)])
def test_fid_from_rows_equals_fid_from_moments(shape):
    rng = np.random.default_rng(4)
    x = rng.normal(size=shape)
    y = rng.normal(size=(shape[0] + 5, shape[1])) * 1.3 + 0.2
    moments = frechet_distance(
        x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False)
    )
    assert fid(x, y) == pytest.approx(moments, rel=1e-9)


def _discrete_mmd2(p: np.ndarray, q: np.ndarray) -> float:
    """Exact squared MMD (cubic kernel, gamma 1/d) of uniform distributions on rows."""

    def k(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return (a @ b.T / a.shape[1] + 1.0) ** 3

    return float(k(p, p).mean() + k(q, q).mean() - 2 * k(p, q).mean())


def test_kid_estimates_the_exact_mmd_of_known_distributions():
    rng = np.random.default_rng(5)
    support_p = rng.normal(size=(6, 3))
    support_q = support_p + np.array([0.8, 0.0, -0.4])
    truth = _discrete_mmd2(support_p, support_q)
    # each support point exactly as often: only the subsets are random
    x = support_p[rng.permutation(np.repeat(np.arange(6), 500))]
    y = support_q[rng.permutation(np.repeat(np.arange(6), 500))]
    standard = kid(x, y, subset_size=500, n_subsets=20, seed=0)
    assert standard.subset_size == 500 and standard.n_subsets == 20
    assert standard.value == pytest.approx(truth, rel=0.05)
    # the same outputs paired with the originals they came from: the U-statistic
    ix = rng.permutation(np.repeat(np.arange(6), 500))
    paired = kid(support_p[ix], support_q[ix], subset_size=500, n_subsets=20, paired=True)
    assert paired.value == pytest.approx(truth, rel=0.05)


def test_kid_is_about_zero_for_one_distribution_and_exactly_zero_for_identical_pairs():
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(800, 8)), rng.normal(size=(800, 8))
    same = kid(x, y)
    assert abs(same.value) < 3 * max(same.std, 1e-4) and abs(same.value) < 2e-3
    assert kid(x, x, paired=True).value == 0.0
    # the standard estimator's cross term keeps each pair's own match: negative here
    assert kid(x, x).value < 0


def test_prdc_of_identical_sets_and_of_far_disjoint_sets():
    x = np.random.default_rng(7).normal(size=(60, 5))
    assert prdc(x, x) == prdc(x, x.copy())
    same = prdc(x, x)
    assert (same.precision, same.recall, same.coverage) == (1.0, 1.0, 1.0)
    assert same.density == pytest.approx(1.0)
    far = prdc(x, x + 1000.0)
    assert (far.precision, far.recall, far.density, far.coverage) == (0.0, 0.0, 0.0, 0.0)


def test_prdc_on_points_on_a_line():
    real = np.arange(10.0)[:, None]
    fake = np.array([[0.5], [4.0], [20.0]])
    r = prdc(real, fake, k=2)
    # real radii (2nd nearest other point): 2 at both ends, 1 inside; 20 is in no ball
    assert r.precision == pytest.approx(2 / 3)
    # fake radii: 19.5, 16 and 19.5: the ball of 0.5 holds every real
    assert r.recall == 1.0
    # 0.5 is in the balls of 0 and 1, 4.0 in that of 4 only (3 and 5: distance 1, not < 1)
    assert r.density == pytest.approx((2 + 1 + 0) / 3 / 2)
    # reals whose nearest fake is inside their ball: 0, 1 and 4
    assert r.coverage == pytest.approx(3 / 10)


def test_prdc_groups_keep_copies_out_of_a_points_radius():
    x = np.random.default_rng(8).normal(size=(30, 4))
    doubled = np.concatenate([x, x])
    groups = np.concatenate([np.arange(30), np.arange(30)])
    plain = prdc(doubled, doubled)
    grouped = prdc(doubled, doubled, real_groups=groups, fake_groups=groups)
    assert plain != grouped  # a copy at distance 0 shrinks every radius
    assert grouped.precision == grouped.recall == grouped.coverage == 1.0


def test_prdc_needs_more_cases_than_k_and_a_valid_k():
    x = np.random.default_rng(9).normal(size=(5, 3))
    assert all(math.isnan(v) for v in attrs.astuple(prdc(x, x, k=5)))
    assert prdc(x, x, k=4).precision == 1.0
    with pytest.raises(InvalidInputError, match="k must be"):
        prdc(x, x, k=0)


def test_inputs_are_checked():
    with pytest.raises(ShapeMismatchError, match="dimensions"):
        fid(np.zeros((4, 3)), np.zeros((4, 2)))
    with pytest.raises(InvalidInputError, match="non-finite"):
        fid(np.full((4, 3), np.nan), np.zeros((4, 3)))
    with pytest.raises(ShapeMismatchError, match="paired"):
        kid(np.zeros((4, 3)), np.zeros((5, 3)), paired=True)
    with pytest.raises(ShapeMismatchError):
        PairedFeatures.from_arrays(np.zeros((4, 3)), np.zeros((5, 3)))


def test_paired_features_give_the_same_numbers_as_the_functions():
    rng = np.random.default_rng(10)
    x = rng.normal(size=(40, 12))
    y = x + 0.3 * rng.normal(size=(40, 12))
    scores = PairedFeatures.from_arrays(x, y).scores()
    expected = [fid(x, y), kid(x, y, paired=True).value, *attrs.astuple(prdc(x, y))]
    np.testing.assert_allclose(scores, expected, rtol=1e-9, atol=1e-12)


def test_identical_outputs_give_zero_fid_and_kid_with_a_point_interval():
    x = np.random.default_rng(11).normal(size=(30, 16))
    est = generative_scores(PairedFeatures.from_arrays(x, x), n_resamples=50)
    for name in ("fid", "kid"):
        assert (est[name].value, est[name].ci_low, est[name].ci_high) == (0.0, 0.0, 0.0)
        assert "single point" in est[name].note
    assert est["precision"].value == est["recall"].value == est["coverage"].value == 1.0
    assert est["fid"].n == 30


def test_the_basic_bootstrap_interval_holds_the_true_fid():
    d, n, reps, held = 2, 80, 20, 0
    truth = d * 0.3**2 + d * (1 + 1.5 - 2 * math.sqrt(1.5))
    for r in range(reps):
        rng = np.random.default_rng(100 + r)
        x = rng.normal(size=(n, d))
        y = rng.normal(size=(n, d)) * math.sqrt(1.5) + 0.3
        pair = PairedFeatures.from_arrays(x, y)
        basic = generative_scores(pair, n_resamples=100, seed=r)["fid"]
        held += basic.ci_low <= truth <= basic.ci_high
    assert held >= 17  # a 95% interval: 19 of 20 expected


def test_prdc_intervals_are_conditional_on_the_full_samples_balls():
    rng = np.random.default_rng(13)
    x = rng.normal(size=(60, 5))
    y = x + 0.8 * rng.normal(size=(60, 5))
    est = generative_scores(PairedFeatures.from_arrays(x, x), n_resamples=200)
    # identical sets: density is 1 and its interval holds it (balls are not recomputed on
    # resamples, whose fewer distinct cases would give larger balls)
    assert est["density"].value == pytest.approx(1.0)
    assert est["density"].ci_low <= 1.0 <= est["density"].ci_high
    est = generative_scores(PairedFeatures.from_arrays(x, y), n_resamples=200)
    for name in ("precision", "recall", "density", "coverage"):
        assert est[name].ci_low <= est[name].value <= est[name].ci_high, name


def test_pooled_variants_and_same_seed_give_the_same_interval():
    rng = np.random.default_rng(12)
    x = rng.normal(size=(25, 6))
    y = x[:, None, :] + 0.5 * rng.normal(size=(25, 3, 6))
    pair = PairedFeatures.from_arrays(x, y)
    assert pair.per_case == 3
    a = generative_scores(pair, n_resamples=40, seed=3)
    b = generative_scores(pair, n_resamples=40, seed=3)
    assert a == b
    assert all(math.isfinite(e.value) for e in a.values())
    with pytest.raises(InvalidInputError, match="interval method"):
        generative_scores(pair, method="studentized")

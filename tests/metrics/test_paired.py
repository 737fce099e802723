"""Paired tests checked against independent computations."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from radinpaint.errors import InvalidInputError
from radinpaint.metrics import (
    mcnemar_test,
    paired_bootstrap_delta,
    stuart_maxwell_test,
    wilcoxon_abs_errors,
)


def _preds(n: int = 24, seed: int = 0):
    rng = np.random.default_rng(seed)
    t = rng.uniform(20, 200, n)
    before = t + rng.normal(0, 6, n)
    after = t + rng.normal(8, 20, n)
    return t, before, after


def test_paired_bootstrap_recomputes_both_maes_on_each_resample() -> None:
    t, b, a = _preds()
    got = paired_bootstrap_delta(t, b, a, metric="mae", n_resamples=300, seed=4)
    rng = np.random.default_rng(4)
    deltas = []
    for _ in range(300):
        i = rng.integers(0, t.size, t.size)
        deltas.append(np.mean(np.abs(a[i] - t[i])) - np.mean(np.abs(b[i] - t[i])))
    low, high = np.percentile(deltas, [2.5, 97.5])
    assert got.value == pytest.approx(np.mean(np.abs(a - t)) - np.mean(np.abs(b - t)))
    assert got.ci_low == pytest.approx(low, rel=1e-12)
    assert got.ci_high == pytest.approx(high, rel=1e-12)


def test_paired_interval_is_narrower_than_two_separate_ones() -> None:
    """Pairing removes the between-case variance both MAEs share."""
    rng = np.random.default_rng(3)
    t = rng.uniform(20, 200, 40)
    b = t + rng.normal(0, 15, 40)
    a = b + rng.normal(1, 2, 40)  # nearly the same errors
    d = paired_bootstrap_delta(t, b, a, n_resamples=300)
    rng2 = np.random.default_rng(0)
    i = rng2.integers(0, 40, (300, 40))
    j = rng2.integers(0, 40, (300, 40))
    unpaired = np.abs(a[i] - t[i]).mean(1) - np.abs(b[j] - t[j]).mean(1)
    assert d.ci_high - d.ci_low < 0.5 * np.ptp(np.percentile(unpaired, [2.5, 97.5]))


def _exact_signed_rank_p(d: np.ndarray) -> float:
    """Two-sided exact p of the signed-rank statistic by enumerating all sign patterns."""
    ranks = stats.rankdata(np.abs(d))
    w_obs = ranks[d > 0].sum()
    null = np.array(
        [sum(r for r, s in zip(ranks, signs, strict=True) if s)
         for signs in itertools.product((0, 1), repeat=d.size)]
    )  # fmt: skip
    return min(1.0, 2 * min(np.mean(null <= w_obs), np.mean(null >= w_obs)))


def test_wilcoxon_matches_exact_enumeration() -> None:
    t, b, a = _preds(n=11, seed=2)
    got = wilcoxon_abs_errors(t, b, a)
    d = np.abs(a - t) - np.abs(b - t)
    assert got.p_value == pytest.approx(_exact_signed_rank_p(d), rel=1e-9)
    assert got.details["n_nonzero"] == 11
    assert got.details["median_difference"] == pytest.approx(np.median(d))


def test_wilcoxon_with_no_change_is_p_one() -> None:
    t, b, _ = _preds()
    got = wilcoxon_abs_errors(t, b, b.copy())
    assert (got.statistic, got.p_value) == (0.0, 1.0)
    assert "zero" in got.note


def test_mcnemar_exact_equals_binomial_test() -> None:
    before = np.array([1] * 20 + [0] * 20, bool)
    after = before.copy()
    after[:7] = False  # 7 male -> female
    after[20:22] = True  # 2 female -> male
    got = mcnemar_test(before, after)
    assert got.test == "mcnemar-exact"
    assert got.details["true_to_false"] == 7 and got.details["false_to_true"] == 2
    assert got.p_value == pytest.approx(stats.binomtest(2, 9, 0.5).pvalue, rel=1e-12)


def test_mcnemar_switches_to_chi2_for_many_discordant_pairs() -> None:
    rng = np.random.default_rng(1)
    before = rng.random(200) < 0.5
    after = np.where(rng.random(200) < 0.3, ~before, before)
    b = int(np.sum(before & ~after))
    c = int(np.sum(~before & after))
    assert b + c >= 25
    got = mcnemar_test(before, after)
    expected = stats.chi2.sf((abs(b - c) - 1) ** 2 / (b + c), 1)
    assert got.test == "mcnemar-chi2"
    assert got.p_value == pytest.approx(expected, rel=1e-12)
    forced = mcnemar_test(before, after, exact=True)
    assert forced.p_value == pytest.approx(stats.binomtest(min(b, c), b + c).pvalue)


def test_mcnemar_without_discordant_pairs() -> None:
    calls = np.array([True, False, True])
    assert mcnemar_test(calls, calls).p_value == 1.0


def _stuart_maxwell_by_hand(table: np.ndarray) -> tuple[float, int]:
    k = table.shape[0]
    d = table.sum(1) - table.sum(0)
    v = -(table + table.T).astype(float)
    for i in range(k):
        v[i, i] = table[i].sum() + table[:, i].sum() - 2 * table[i, i]
    d, v = d[:-1], v[:-1, :-1]
    return float(d @ np.linalg.solve(v, d)), k - 1


def test_stuart_maxwell_matches_the_formula() -> None:
    rng = np.random.default_rng(6)
    before = rng.integers(0, 4, 120)
    after = np.where(rng.random(120) < 0.4, np.minimum(before + 1, 3), before)
    got = stuart_maxwell_test(before, after)
    table = np.zeros((4, 4), int)
    np.add.at(table, (before, after), 1)
    stat, df = _stuart_maxwell_by_hand(table)
    assert got.statistic == pytest.approx(stat, rel=1e-10)
    assert got.details["df"] == df
    assert got.p_value == pytest.approx(stats.chi2.sf(stat, df), rel=1e-8)
    assert got.details["table"] == table.tolist()


def test_stuart_maxwell_on_two_categories_is_mcnemar_without_correction() -> None:
    before = np.array([0] * 15 + [1] * 15)
    after = before.copy()
    after[:6] = 1
    after[15:17] = 0
    got = stuart_maxwell_test(before, after)
    assert got.statistic == pytest.approx((6 - 2) ** 2 / 8)


def test_stuart_maxwell_drops_categories_nobody_left_or_entered() -> None:
    before = np.array(["a", "a", "b", "b", "c", "c", "c"])
    after = np.array(["b", "a", "a", "b", "c", "c", "c"])
    got = stuart_maxwell_test(before, after, categories=["a", "b", "c", "d"])
    assert math.isfinite(got.statistic)
    # c and d: nobody entered or left them; they are groups of their own and add no df
    assert got.details["df"] == 1 and got.details["groups"] == 3
    assert got.p_value == pytest.approx(1.0)  # one each way: margins equal
    same = stuart_maxwell_test(before, before)
    assert (same.statistic, same.p_value) == (0.0, 1.0)
    with pytest.raises(InvalidInputError, match="not among"):
        stuart_maxwell_test(["a"], ["z"], categories=["a"])


def test_stuart_maxwell_df_counts_groups_that_exchange_only_among_themselves() -> None:
    # a<->b and c<->d only: two groups, so 4 - 2 = 2 degrees of freedom, not 3
    before = np.array(["a"] * 6 + ["b"] * 2 + ["c"] * 5 + ["d"] * 1)
    after = np.array(["b"] * 6 + ["a"] * 2 + ["d"] * 5 + ["c"] * 1)
    got = stuart_maxwell_test(before, after)
    assert got.details["df"] == 2 and got.details["groups"] == 2
    # the two groups are independent: the statistic is the sum of their McNemar statistics
    assert got.statistic == pytest.approx((6 - 2) ** 2 / 8 + (5 - 1) ** 2 / 6)
    assert got.p_value == pytest.approx(stats.chi2.sf(got.statistic, 2))


def test_stuart_maxwell_holds_its_level_under_the_null_with_disconnected_groups() -> None:
    """Under marginal homogeneity the 5 % test rejects about 5 % of the time (binomial
    noise), also when categories exchange cases only within two separate groups."""
    rng = np.random.default_rng(2026)
    reps, n, rejections = 2000, 120, 0
    partner = np.array([1, 0, 3, 2])
    for _ in range(reps):
        before = rng.integers(0, 4, n)
        moves = rng.random(n) < 0.3
        after = np.where(moves, partner[before], before)
        res = stuart_maxwell_test(before, after, categories=[0, 1, 2, 3])
        rejections += res.p_value < 0.05
    rate = rejections / reps
    sd = math.sqrt(0.05 * 0.95 / reps)
    assert abs(rate - 0.05) < 3.5 * sd, rate  # with df = K - 1 = 3 the rate is about 1 %

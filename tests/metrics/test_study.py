"""The study preset against a plain, step-by-step re-computation with the same seeds."""

from __future__ import annotations

import statistics

import numpy as np
import pytest

from radinpaint.metrics import study_bootstrap_ci, study_mean_over_variants, study_scores


def _rows(n_cases=20, n_var=3, seed=0):
    rng = np.random.default_rng(seed)
    ids = np.repeat([f"case{i}" for i in range(n_cases)], n_var)
    true_age = np.repeat(rng.uniform(20, 220, n_cases), n_var)
    male = np.repeat((rng.random(n_cases) < 0.5).astype(float), n_var)
    male[:n_var], male[n_var : 2 * n_var] = 1.0, 0.0
    pred_age = 0.8 * true_age + 25 + rng.normal(0, 18, ids.size)
    p_male = np.clip(0.35 + 0.3 * male + rng.normal(0, 0.2, ids.size), 0, 1)
    order = rng.permutation(ids.size)  # rows in any order
    return ids[order], true_age[order], pred_age[order], male[order], p_male[order]


def _per_case(ids, *cols):
    seen = list(dict.fromkeys(ids.tolist()))
    out = []
    for col in cols:
        groups = [[v for i, v in zip(ids, col, strict=True) if i == c] for c in seen]
        out.append(np.array([np.mean(g) for g in groups]))
    return seen, out


def _auc(y, s):
    pos, neg = s[y == 1], s[y == 0]
    wins = sum((p > q) + 0.5 * (p == q) for p in pos for q in neg)
    return wins / (pos.size * neg.size)


def _loop_ci(metric, y, s, seed, n_resamples=1000):
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(n_resamples):
        idx = rng.integers(0, y.size, y.size)
        if metric == "auc":
            if len(set(y[idx].tolist())) < 2:
                continue
            vals.append(_auc(y[idx], s[idx]))
        elif metric == "mae":
            vals.append(np.mean(np.abs(s[idx] - y[idx])))
        else:
            vals.append(np.sqrt(np.mean((s[idx] - y[idx]) ** 2)))
    return np.percentile(vals, [2.5, 97.5]), len(vals)


def test_study_scores_replay_every_step() -> None:
    ids, ta, pa, m, pm = _rows()
    got = study_scores(ids, ta, pa, m, pm, seed=3)
    cases, (t_mean, p_mean, m_mean, pm_mean) = _per_case(ids, ta, pa, m, pm)
    assert got.n_cases == len(cases) == 20 and got.n_rows == 60
    assert got.mae.value == pytest.approx(np.mean(np.abs(p_mean - t_mean)))
    assert got.rmse.value == pytest.approx(np.sqrt(np.mean((p_mean - t_mean) ** 2)))
    assert got.auc.value == pytest.approx(_auc(m_mean, pm_mean))
    for name, y, s in (("mae", t_mean, p_mean), ("rmse", t_mean, p_mean),
                       ("auc", m_mean, pm_mean)):  # fmt: skip
        (low, high), used = _loop_ci(name, y, s, seed=3)
        est = getattr(got, name)
        assert est.ci_low == pytest.approx(low, rel=1e-12), name
        assert est.ci_high == pytest.approx(high, rel=1e-12), name
        assert est.n_resamples == used
    # the study's confusion_matrix_gender.py: per variant int(p > 0.5), the case's call
    # is the majority (mean of the calls >= 0.5)
    _, (votes,) = _per_case(ids, (pm > 0.5).astype(float))
    assert got.accuracy == pytest.approx(np.mean((votes >= 0.5) == (m_mean == 1)))
    # in-sample line on all 60 rows, applied to the same rows, then case means
    slope, intercept = np.polyfit(pa, ta, 1)
    _, (cal_mean,) = _per_case(ids, intercept + slope * pa)
    assert got.slope == pytest.approx(slope) and got.intercept == pytest.approx(intercept)
    assert got.calibrated_mae == pytest.approx(np.mean(np.abs(cal_mean - t_mean)))
    sds = [statistics.pstdev(pa[ids == c].tolist()) for c in cases]  # np.std: ddof 0
    flips = [len({bool(v >= 0.5) for v in pm[ids == c]}) > 1 for c in cases]
    assert got.mean_sd == pytest.approx(np.mean(sds))
    assert got.flip_rate == pytest.approx(np.mean(flips))


def test_study_calibration_regresses_on_the_original_predictions() -> None:
    """mult_original_vs_calibrated.py: linregress(pred per row, original prediction per row)
    and the MAE per row against the original predictions (600 rows in the study)."""
    ids, ta, pa, m, pm = _rows()
    rng = np.random.default_rng(9)
    orig = ta + rng.normal(0, 6, ta.size)  # the original image's prediction, per row
    got = study_scores(ids, ta, pa, m, pm, orig_pred_bone_age=orig, seed=3)
    slope, intercept = np.polyfit(pa, orig, 1)
    assert got.slope == pytest.approx(slope) and got.intercept == pytest.approx(intercept)
    assert got.calibrated_mae == pytest.approx(np.mean(np.abs(intercept + slope * pa - orig)))


def test_auc_bootstrap_skips_single_class_resamples() -> None:
    y = np.array([1.0] + [0.0] * 7)
    s = np.linspace(0.9, 0.1, 8)
    got = study_bootstrap_ci(y, s, "auc", n_resamples=200, seed=1)
    (low, high), used = _loop_ci("auc", y, s, seed=1, n_resamples=200)
    assert used < 200 and got.n_resamples == used and "skipped" in got.note
    assert (got.ci_low, got.ci_high) == pytest.approx((low, high))


def test_mean_over_variants_keeps_first_seen_order_and_skips_nan() -> None:
    ids, means = study_mean_over_variants(["b", "a", "b", "a"], [1.0, 2.0, np.nan, 4.0])
    assert ids.tolist() == ["b", "a"] and means.tolist() == [1.0, 3.0]

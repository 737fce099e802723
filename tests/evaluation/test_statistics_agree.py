"""The headline, the decomposition and the metric plugins report the same numbers.

Every statistic has one implementation (:mod:`radinpaint.metrics.stats`); here one tidy
table, built by hand, is scored every way and the shared numbers must agree bit for bit.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from radinpaint.evaluation import EvaluationResult, decomposition_table, get_preset, views_table
from radinpaint.evaluation.pixels import PixelStats
from radinpaint.evaluation.predcache import StoredPrediction
from radinpaint.metrics import stats
from radinpaint.metrics.paired_metric import PairedMetric
from radinpaint.metrics.table_metrics import (
    ClassificationMetric,
    ConsistencyMetric,
    RegressionMetric,
    StudyMetric,
)
from radinpaint.records import Predictions

N_CASES, N_VARIANTS = 23, 3


def _table(seed: int = 0) -> pd.DataFrame:
    """Two predictors x (identity, redraw, resample) x 3 variants x (total, in-mask).

    Values are generic floats (no exactly representable shortcuts): variants of ``redraw``
    differ, the truth and the originals' predictions repeat in every row of a case.
    """
    rng = np.random.default_rng(seed)
    true_age = rng.uniform(24, 216, N_CASES)
    male = (rng.random(N_CASES) < 0.5).astype(float)
    male[:2] = (1.0, 0.0)
    rows = []
    for pred in ("model-a", "model-b"):
        orig_age = true_age + rng.normal(0, 8, N_CASES)
        orig_p = np.clip(0.5 + (male - 0.5) * 0.6 + rng.normal(0, 0.2, N_CASES), 0.01, 0.99)
        for inp in ("identity", "redraw", "resample"):
            for view in ("total", "in-mask"):
                for v in range(N_VARIANTS):
                    if inp == "identity":
                        age, p = orig_age, orig_p
                    else:
                        scale = 20 if inp == "redraw" else 3
                        age = orig_age + scale / 2 + rng.normal(0, scale, N_CASES)
                        p = np.clip(orig_p + rng.normal(0, scale / 60, N_CASES), 0, 1)
                    for i in range(N_CASES):
                        rows.append(
                            {
                                "case_id": f"case-{i:03d}",
                                "inpainter": inp,
                                "variant": v,
                                "predictor": pred,
                                "view": view,
                                "true_bone_age": true_age[i],
                                "true_male": male[i],
                                "pred_bone_age": age[i],
                                "pred_p_male": p[i],
                                "orig_pred_bone_age": orig_age[i],
                                "orig_pred_p_male": orig_p[i],
                                "error": None,
                            }
                        )
    return pd.DataFrame(rows)


def _result(table: pd.DataFrame) -> EvaluationResult:
    return EvaluationResult(
        table=table,
        metrics={},
        metric_errors={},
        decomposition=decomposition_table(table),
        pixels=PixelStats(),
        failures=pd.DataFrame(),
        manifest={},
        samples=[],
        preset=get_preset("study"),
    )


def _total(metric_table: pd.DataFrame) -> pd.DataFrame:
    rows = metric_table[metric_table["view"].isin(["total", "original"])]
    return rows.set_index(["predictor", "inpainter"])


def _scores(table: pd.DataFrame) -> dict[str, pd.DataFrame]:
    result = _result(table)
    dec = views_table(table)
    opts = {"n_resamples": 20, "seed": 1}
    return {
        "head": result.headline().set_index(["predictor", "inpainter"]),
        "dec": dec[dec["view"] == "total"].set_index(["predictor", "inpainter"]),
        "dec_in": dec[dec["view"] == "in-mask"].set_index(["predictor", "inpainter"]),
        "reg": _total(RegressionMetric(**opts).compute(table).table),
        "cls": _total(ClassificationMetric(**opts).compute(table).table),
        "paired": _total(PairedMetric(**opts).compute(table).table),
        "study": _total(StudyMetric(**opts).compute(table).table),
        "cons": _total(ConsistencyMetric().compute(table).table),
        "cons0": _total(ConsistencyMetric(ddof=0).compute(table).table),
    }


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def test_headline_decomposition_and_metrics_agree_exactly() -> None:
    s = _scores(_table())
    head, dec, reg, cls, paired, study = (
        s[k] for k in ("head", "dec", "reg", "cls", "paired", "study")
    )
    assert len(head) == 6
    for key, h in head.iterrows():
        pred, _ = key
        orig = (pred, "original")
        # bone-age MAE on the outputs and on the originals
        for value in (dec.loc[key, "mae"], reg.loc[key, "mae"], paired.loc[key, "mae_after"],
                      study.loc[key, "mae"]):  # fmt: skip
            assert value == h["mae"], key
        assert reg.loc[orig, "mae"] == h["orig_mae"] == paired.loc[key, "mae_original"]
        assert dec.loc[key, "delta_mae"] == h["delta_mae"]
        assert paired.loc[key, "delta_mae"] == h["delta_mae"]
        # sex AUC on the outputs and on the originals, and its change
        for value in (dec.loc[key, "auc"], cls.loc[key, "auc"], paired.loc[key, "auc_after"],
                      study.loc[key, "auc"]):  # fmt: skip
            assert value == h["auc"], key
        assert cls.loc[orig, "auc"] == h["orig_auc"] == paired.loc[key, "auc_original"]
        assert dec.loc[key, "delta_auc"] == h["delta_auc"] == paired.loc[key, "delta_auc"]
        # the rest of the headline is the views table's total view
        for col in ("mean_abs_shift", "flip_rate", "n"):
            assert dec.loc[key, col] == h[col]
        # the spread across variants, where two metrics report it: the study metric
        # replays the study's np.std (ddof 0); its accuracy is the study's majority vote of
        # the variants' calls, the classification metric's that of the mean probability
        assert s["cons0"].loc[key, "mean_sd"] == study.loc[key, "mean_sd"]
    identity = head.xs("identity", level="inpainter")
    assert (identity[["delta_mae", "delta_auc", "mean_abs_shift", "flip_rate"]] == 0).all().all()
    assert (head.xs("redraw", level="inpainter")["delta_mae"] > 0).all()


def test_numbers_do_not_depend_on_the_order_of_the_cases() -> None:
    table = _table(seed=4)
    rank = dict(zip(sorted(set(table["case_id"])), np.random.default_rng(7).permutation(N_CASES),
                    strict=True))  # fmt: skip
    shuffled = table.sort_values("case_id", key=lambda c: c.map(rank), kind="stable")
    a, b = _scores(table), _scores(shuffled.reset_index(drop=True))
    # the study replays its protocol in first-seen case order (its bootstrap resamples
    # depend on it), and the consistency summary averages cases in that order too, so only
    # the others are compared here
    for name in ("head", "dec", "dec_in", "reg", "cls", "paired"):
        x, y = a[name].sort_index(), b[name].sort_index()
        cols = [c for c in x.columns if pd.api.types.is_float_dtype(x[c])]
        for col in cols:
            for key in x.index:
                assert _same(float(x.loc[key, col]), float(y.loc[key, col])), (name, col, key)


def test_auc_is_one_implementation() -> None:
    from sklearn.metrics import roc_auc_score

    from radinpaint.metrics import auc, delong_ci, delong_covariance, delong_test

    rng = np.random.default_rng(3)
    y = rng.random(57) < 0.4
    a, b = rng.random(57), rng.random(57)
    value = float(stats.auc(y, a))
    assert value == pytest.approx(roc_auc_score(y, a), rel=1e-12)
    assert auc(y, a) == value == delong_ci(y, a).value
    aucs, _ = delong_covariance(y, a, b)
    assert aucs[0] == value and aucs[1] == float(stats.auc(y, b))
    d = delong_test(y, a, b)
    assert (d.auc_a, d.auc_b) == (value, float(stats.auc(y, b)))
    assert float(stats.auc_strata(a[y], a[~y])) == value
    # the same AUC whatever the order of the cases
    order = rng.permutation(57)
    assert float(stats.auc(y[order], a[order])) == value


def test_member_spread_is_one_implementation() -> None:
    nan = math.nan
    members = np.array(
        [
            [100.0, 104.0, 103.5],
            [100.0, nan, 90.0],  # a sex-specific member that does not apply: skipped
            [nan, 88.0, nan],  # one member left: no spread
            [0.1, 0.1, 0.1],  # equal members: exactly 0
            [nan, nan, nan],
        ]
    )
    p = np.full((5, 3), 0.5)
    got = Predictions("ens", np.nanmean(np.where(np.isnan(members), 0, members), axis=1), None,
                      member_bone_age=members).member_spread()["bone_age_months"]  # fmt: skip
    assert got[0] == np.std([100.0, 104.0, 103.5]) and got[1] == 5.0
    assert math.isnan(got[2]) and got[3] == 0.0 and math.isnan(got[4])
    for i in range(5):
        stored = StoredPrediction(1.0, 0.5, tuple(members[i]), tuple(p[i])).spread()
        assert _same(stored[0], float(got[i])), i
        assert stored[1] == 0.0
    assert math.isnan(StoredPrediction().spread()[0])


def test_case_means_are_exact_for_equal_values() -> None:
    frame = pd.DataFrame(
        {
            "case_id": ["a", "a", "a", "b", "b"],
            "x": [0.1, 0.1, 0.1, 1.0, np.nan],
            "y": [1.0, 2.0, 4.0, np.nan, np.nan],
        }
    )
    out = stats.case_means(frame, ["case_id"], ["x", "y"]).set_index("case_id")
    assert out.loc["a", "x"] == 0.1 and out.loc["b", "x"] == 1.0
    assert out.loc["a", "y"] == pytest.approx(7 / 3) and math.isnan(out.loc["b", "y"])

"""The signed shift of the predictions, tested next to the error-based tests: a systematic
shift that barely moves the absolute errors is caught, and identity shows none."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from radinpaint.metrics.paired import signed_shift_test, wilcoxon_abs_errors
from radinpaint.metrics.paired_metric import PairedMetric


def _shifted_table(shift: float, n: int = 200, seed: int = 3) -> pd.DataFrame:
    """Predictions with errors of both signs; ``after`` = ``before`` + ``shift`` for every
    case, P(male) raised by ``shift / 100``."""
    rng = np.random.default_rng(seed)
    truth = rng.uniform(30, 210, n)
    # errors of both signs in equal numbers, larger than the shift: a shift of the
    # predictions makes half the absolute errors larger and half smaller by as much
    size = 5 + np.abs(rng.normal(0, 12, n))
    before = truth + np.where(np.arange(n) % 2 == 0, size, -size)
    male = (np.arange(n) % 2).astype(float)
    p_before = np.clip(0.5 + (male - 0.5) * 0.6 + rng.normal(0, 0.15, n), 0.01, 0.99)
    rows = []
    for inp, delta in (("identity", 0.0), ("shifted", shift)):
        for i in range(n):
            rows.append(
                {
                    "case_id": f"c{i:03d}",
                    "inpainter": inp,
                    "variant": 0,
                    "predictor": "model",
                    "view": "total",
                    "true_bone_age": truth[i],
                    "true_male": male[i],
                    "pred_bone_age": before[i] + delta,
                    "pred_p_male": min(0.999, p_before[i] + delta / 100),
                    "orig_pred_bone_age": before[i],
                    "orig_pred_p_male": p_before[i],
                }
            )
    return pd.DataFrame(rows)


def test_a_systematic_shift_is_caught_where_the_error_test_sees_little():
    table = _shifted_table(3.0)
    shifted = table[table["inpainter"] == "shifted"]
    t = shifted["true_bone_age"].to_numpy()
    b = shifted["orig_pred_bone_age"].to_numpy()
    a = shifted["pred_bone_age"].to_numpy()
    assert wilcoxon_abs_errors(t, b, a).p_value > 0.05  # |error| barely moves
    assert signed_shift_test(b, a).p_value < 1e-10  # the predictions all moved

    res = PairedMetric(n_resamples=200).compute(table).table.set_index("inpainter")
    row = res.loc["shifted"]
    assert row["shift"] == pytest.approx(3.0)
    assert row["shift_ci_low"] == pytest.approx(3.0) and row["shift_ci_high"] == pytest.approx(3.0)
    assert row["shift_wilcoxon_p"] < 1e-10 and row["wilcoxon_p"] > 0.05
    assert row["p_male_shift"] > 0 and row["p_male_shift_wilcoxon_p"] < 1e-6
    ident = res.loc["identity"]
    assert (ident["shift"], ident["shift_wilcoxon_p"], ident["p_male_shift"]) == (0.0, 1.0, 0.0)


def test_no_shift_is_not_flagged():
    rng = np.random.default_rng(0)
    b = rng.normal(100, 20, 80)
    a = b + rng.normal(0, 2, 80)  # noise, no systematic shift
    assert signed_shift_test(b, a).p_value > 0.01
    none = signed_shift_test(b, b)
    assert (none.statistic, none.p_value) == (0.0, 1.0) and "zero" in none.note


def test_the_study_preset_takes_the_variant_sd_as_the_study_did():
    """The study's script: np.std over a case's three variant predictions (ddof = 0)."""
    from radinpaint.evaluation import get_preset
    from radinpaint.registry import get_metric

    (_, name, options) = next(m for m in get_preset("study").metrics if m[1] == "consistency")
    rng = np.random.default_rng(5)
    rows = []
    per_case = []
    for i in range(10):
        preds = rng.normal(120, 9, 3)
        per_case.append(np.std(preds))  # the study's np.std
        for v, value in enumerate(preds):
            rows.append(
                {
                    "case_id": f"c{i}",
                    "inpainter": "redraw",
                    "variant": v,
                    "predictor": "model",
                    "view": "total",
                    "true_bone_age": 120.0,
                    "true_male": float(i % 2),
                    "pred_bone_age": value,
                    "pred_p_male": 0.4 + 0.05 * v,
                    "orig_pred_bone_age": 120.0,
                    "orig_pred_p_male": 0.5,
                }
            )
    result = get_metric(name, **options).compute(pd.DataFrame(rows))
    row = result.table.iloc[0]
    assert row["mean_sd"] == pytest.approx(np.mean(per_case), rel=1e-12)

"""Synthetic tidy prediction tables for the metric tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def build_table(
    n_cases: int = 30,
    n_variants: int = 3,
    *,
    seed: int = 0,
    inpainters: tuple[str, ...] = ("identity", "redraw"),
    predictors: tuple[str, ...] = ("model",),
    views: tuple[str, ...] = ("total",),
) -> pd.DataFrame:
    """A table as an Evaluation builds it: ``identity`` leaves predictions unchanged,
    ``redraw`` adds noise and a bias to bone age and blurs the sex probability."""
    rng = np.random.default_rng(seed)
    true_age = rng.uniform(24, 216, n_cases)
    male = (np.arange(n_cases) % 2).astype(float)
    orig_age = true_age + rng.normal(0, 8, n_cases)
    orig_p = np.clip(0.5 + (male - 0.5) * 0.6 + rng.normal(0, 0.2, n_cases), 0, 1)
    rows = []
    for pred in predictors:
        for inp in inpainters:
            for view in views:
                for v in range(n_variants):
                    if inp == "identity":
                        age, p = orig_age, orig_p
                    else:
                        age = orig_age + 10 + rng.normal(0, 20, n_cases)
                        p = np.clip(0.5 + (orig_p - 0.5) * 0.3 + rng.normal(0, 0.2, n_cases), 0, 1)
                    for i in range(n_cases):
                        rows.append(
                            {
                                "case_id": f"c{i:03d}",
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
                            }
                        )
    return pd.DataFrame(rows)


@pytest.fixture
def make_table():
    """The table builder (:func:`build_table`), for tests that need their own sizes."""
    return build_table

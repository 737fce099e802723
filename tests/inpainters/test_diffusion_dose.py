"""The diffusion redraw's dose-response table and figure, from a synthetic result."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from radinpaint.report.dose import dose_figure, dose_rows, dose_tables, redraw_strengths


class _Metric:
    def __init__(self, table: pd.DataFrame) -> None:
        self.table = table


class _Result:
    """What the dose module reads from an EvaluationResult: table, manifest, metrics,
    headline()."""

    def __init__(self, strengths: list[float], n: int = 30, variants: int = 3) -> None:
        rng = np.random.default_rng(0)
        truth = rng.uniform(20, 200, n)
        male = rng.random(n) < 0.5
        rows: list[dict[str, Any]] = []
        records = [{"name": "telea", "label": "telea", "options": {}}]
        for s in strengths:
            label = f"redraw-{s}"
            records.append({"name": "diffusion", "label": label, "options": {"strength": s}})
            for c in range(n):
                for v in range(variants):
                    rows.append(
                        {
                            "case_id": f"c{c}",
                            "inpainter": label,
                            "backend": "diffusion",
                            "variant": v,
                            "predictor": "p",
                            "view": "total",
                            "true_bone_age": truth[c],
                            "true_male": float(male[c]),
                            "orig_pred_bone_age": truth[c] + 1.0,
                            "orig_pred_p_male": 0.8 if male[c] else 0.2,
                            "pred_bone_age": truth[c] + 1.0 + rng.normal(0, 20 * s),
                            "pred_p_male": (0.8 if male[c] else 0.2) + rng.normal(0, s / 2),
                            "error": None,
                        }
                    )
        self.table = pd.DataFrame(rows)
        self.manifest = {"backends": {"inpainters": records}}
        paired = pd.DataFrame(
            [
                {
                    "predictor": "p",
                    "inpainter": f"redraw-{s}",
                    "view": "total",
                    "delta_mae": 10 * s,
                    "delta_mae_ci_low": 8 * s,
                    "delta_mae_ci_high": 12 * s,
                    "wilcoxon_p": 0.0001,
                }
                for s in strengths
            ]
        )
        self.metrics = {"paired": _Metric(paired)}

    def headline(self) -> pd.DataFrame:
        rows = []
        for label, g in self.table.groupby("inpainter", sort=False):
            err = (g["pred_bone_age"] - g["true_bone_age"]).abs().mean()
            orig = (g["orig_pred_bone_age"] - g["true_bone_age"]).abs().mean()
            rows.append(
                {"predictor": "p", "inpainter": label, "delta_mae": err - orig, "delta_auc": -0.1}
            )
        return pd.DataFrame(rows)


def test_dose_rows_group_by_strength_and_grow() -> None:
    result = _Result([0.6, 0.2, 0.4])
    assert redraw_strengths(result) == {"redraw-0.6": 0.6, "redraw-0.2": 0.2, "redraw-0.4": 0.4}
    rows = dose_rows(result)
    assert list(rows["strength"]) == [0.2, 0.4, 0.6]
    assert rows["mean_abs_shift"].is_monotonic_increasing
    assert rows["variant_sd"].is_monotonic_increasing
    assert (rows["mean_abs_shift_ci_low"] < rows["mean_abs_shift"]).all()
    assert (rows["variant_sd_ci_high"] > rows["variant_sd"]).all()
    assert rows["delta_mae"].tolist() == pytest.approx([2.0, 4.0, 6.0])  # the paired metric's
    assert rows["n_cases"].eq(30).all()
    (table,) = dose_tables(result)
    assert "ΔMAE p" in table.frame.columns and table.frame["ΔMAE p"].eq("<0.001").all()
    png = dose_figure(result)
    assert png is not None and png[:4] == b"\x89PNG"


def test_one_strength_gives_no_dose_section() -> None:
    result = _Result([0.5])
    assert len(dose_rows(result)) == 1
    assert dose_tables(result) == []
    assert dose_figure(result) is None

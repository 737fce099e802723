"""The built-in table metrics: regression, classification, consistency, calibration, study.

Each takes the tidy prediction table (see :mod:`radinpaint.metrics.tables`) and returns a
:class:`~radinpaint.protocols.MetricResult` with a tidy ``table`` (one row per inpainter x
view x predictor, plus ``variant`` with ``aggregate_variants="none"``, plus one
``inpainter="original"`` row per predictor scoring the originals), headline ``values``
named ``"<inpainter>/<view>/<predictor>/<statistic>"``, and ``details`` with the rows
dropped for missing labels or predictions and the reasons for any nan.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import attrs
import numpy as np

from ..errors import InvalidInputError
from ..protocols import MetricResult
from . import stats
from .tables import (
    GROUP_COLUMNS,
    MetricBase,
    check_table,
    drop_missing,
    key_label,
    original_sets,
    scored_sets,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CalibrationMetric",
    "ClassificationMetric",
    "ConsistencyMetric",
    "RegressionMetric",
    "StudyMetric",
]


def _result(
    name: str,
    rows: list[dict[str, Any]],
    headline: tuple[str, ...],
    details: dict[str, Any],
) -> MetricResult:
    import pandas as pd

    table = pd.DataFrame(rows)
    values: dict[str, float] = {}
    for row in rows:
        label = key_label(row if "variant" in row else {c: row[c] for c in GROUP_COLUMNS})
        for stat in headline:
            if stat in row:
                values[f"{label}/{stat}"] = float(row[stat])
    return MetricResult(name=name, values=values, table=table, details=details)


def _note(notes: list[str], key: dict[str, Any], text: str) -> str:
    if text:
        notes.append(f"{key_label(key)}: {text}")
    return text


def _score_all(
    metric: MetricBase,
    table: pd.DataFrame,
    columns: tuple[str, str, str],
    score: Callable[[np.ndarray, np.ndarray], dict[str, Any]],
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Score every group (and the originals) with ``score(truth, prediction)``."""
    truth, pred, orig = columns
    check_table(table, ["case_id", "variant", *GROUP_COLUMNS, *columns], metric.name)
    dropped: dict[str, int] = {}
    notes: list[str] = []
    rows: list[dict[str, Any]] = []
    sets = list(scored_sets(table, [truth, pred], metric.aggregation, dropped))
    orig_dropped: dict[str, int] = {}
    for key, frame in original_sets(table, [truth, orig], orig_dropped):
        sets.append((key, frame[[truth, orig]].rename(columns={orig: pred})))
    for key, frame in sets:
        out = score(frame[truth].to_numpy(float), frame[pred].to_numpy(float))
        out["note"] = _note(notes, key, out.get("note", ""))
        rows.append({**key, **out})
    details = {
        "dropped_rows": dropped,
        "dropped_original_cases": orig_dropped,
        "notes": notes,
        "aggregate_variants": metric.aggregation,
        "options": {**metric.boot_options()},
    }
    return rows, details


@attrs.define(kw_only=True)
class RegressionMetric(MetricBase):
    """Bone-age MAE, RMSE and bias with bootstrap CIs per inpainter x view x predictor.

    Rows lacking ``true_bone_age`` or ``pred_bone_age`` are dropped and counted in
    ``details["dropped_rows"]``. Fewer than 2 cases give nan with a reason in ``note``.
    """

    name: ClassVar[str] = "regression"

    def compute(self, table: pd.DataFrame) -> MetricResult:
        """Score every group of the table; see the class docstring."""
        from .regression import regression_summary

        def score(t: np.ndarray, p: np.ndarray) -> dict[str, Any]:
            if t.size < 2:
                nan = math.nan
                return {"n": int(t.size), "mae": float(stats.mae(t, p)) if t.size else nan,
                        "note": f"{t.size} case(s): too few for an interval"}  # fmt: skip
            s = regression_summary(t, p, **self.boot_options())
            return {**s.to_dict(), "n": s.n, "note": s.mae.note or s.rmse.note}

        rows, details = _score_all(
            self, table, ("true_bone_age", "pred_bone_age", "orig_pred_bone_age"), score
        )
        return _result(
            self.name, rows, ("mae", "mae_ci_low", "mae_ci_high", "rmse", "bias"), details
        )


@attrs.define(kw_only=True)
class ClassificationMetric(MetricBase):
    """Sex AUC with DeLong and stratified-bootstrap CIs, and accuracy at ``threshold``.

    Rows lacking ``true_male`` or ``pred_p_male`` are dropped and counted. A group with a
    single class gets nan and the reason, never an exception.
    """

    name: ClassVar[str] = "classification"
    threshold: float = 0.5

    def compute(self, table: pd.DataFrame) -> MetricResult:
        """Score every group of the table; see the class docstring."""
        from .classification import accuracy, auc_bootstrap_ci, delong_ci

        def score(t: np.ndarray, p: np.ndarray) -> dict[str, Any]:
            y = t >= 0.5
            out: dict[str, Any] = {
                "n": int(t.size),
                "n_male": int(y.sum()),
                "n_female": int((~y).sum()),
                "accuracy": accuracy(y, p, self.threshold) if t.size else math.nan,
            }
            if y.all() or not y.any():
                nan = math.nan
                out.update({"auc": nan, "auc_ci_low": nan, "auc_ci_high": nan})
                out["note"] = "a single class: no AUC"
                return out
            d = delong_ci(y, p, self.confidence)
            b = auc_bootstrap_ci(y, p, **self.boot_options())
            out.update(
                {
                    "auc": d.value,
                    "auc_ci_low": d.ci_low,
                    "auc_ci_high": d.ci_high,
                    "auc_se": d.standard_error,
                    "auc_boot_ci_low": b.ci_low,
                    "auc_boot_ci_high": b.ci_high,
                    "note": d.note or b.note,
                }
            )
            return out

        rows, details = _score_all(
            self, table, ("true_male", "pred_p_male", "orig_pred_p_male"), score
        )
        details["options"]["threshold"] = self.threshold
        return _result(self.name, rows, ("auc", "auc_ci_low", "auc_ci_high", "accuracy"), details)


@attrs.define(kw_only=True)
class ConsistencyMetric:
    """Spread of predictions across the variants of each case.

    Per inpainter x view x predictor: mean and median per-case bone-age SD (``ddof``),
    mean range, and the rate of cases whose variants' sex calls (``p >= threshold``)
    disagree. Variants are never averaged here: they are what is compared.
    """

    name: ClassVar[str] = "consistency"
    threshold: float = 0.5
    ddof: int = 1

    def compute(self, table: pd.DataFrame) -> MetricResult:
        """Score every group of the table; see the class docstring."""
        from .consistency import variant_consistency

        check_table(table, ["case_id", "pred_bone_age", "pred_p_male", *GROUP_COLUMNS],
                    self.name)  # fmt: skip
        rows: list[dict[str, Any]] = []
        notes: list[str] = []
        for values, group in table.groupby(list(GROUP_COLUMNS), sort=True):
            key = dict(zip(GROUP_COLUMNS, values, strict=True))
            c = variant_consistency(
                group["case_id"].to_numpy(),
                group["pred_bone_age"].to_numpy(float),
                group["pred_p_male"].to_numpy(float),
                threshold=self.threshold,
                ddof=self.ddof,
            )
            note = "" if c.n_variants.size and c.n_variants.max() > 1 else "one variant per case"
            rows.append({**key, **c.summary(), "n_cases": c.n_cases,
                         "max_variants": int(c.n_variants.max()) if c.n_cases else 0,
                         "note": _note(notes, key, note)})  # fmt: skip
        return _result(
            self.name,
            rows,
            ("mean_sd", "flip_rate"),
            {"notes": notes, "options": {"threshold": self.threshold, "ddof": self.ddof}},
        )


CALIBRATION_METHODS: tuple[str, ...] = ("in-sample", "cross-validated", "both")


@attrs.define(kw_only=True)
class CalibrationMetric:
    """How much of the bone-age MAE change a linear recalibration recovers.

    Per inpainter x view x predictor, the line ``truth ~ pred`` is fitted on the rows
    (every variant, as the study did) in-sample (the study) and/or cross-validated by case
    (``n_folds``, ``seed``; recommended). Calibrated predictions are then scored like the
    others (``aggregate_variants``: mean over variants per case, or every row), and
    ``recovered = (mae_after - mae_calibrated) / (mae_after - mae_original)``. A linear
    recalibration is monotone, so it cannot change a ranking metric such as the AUC: sex
    is not recalibrated here (histogram matching is the remedy the evaluation re-predicts).
    """

    name: ClassVar[str] = "calibration"
    method: str = attrs.field(default="both")
    n_folds: int = 5
    seed: int = 0
    aggregate_variants: str = "mean"
    aggregate: str | None = None

    @method.validator
    def _check(self, attribute: attrs.Attribute, value: str) -> None:
        if value not in CALIBRATION_METHODS:
            raise InvalidInputError(
                f"unknown calibration method {value!r}", available=CALIBRATION_METHODS
            )

    @property
    def aggregation(self) -> str:
        """The effective variant aggregation."""
        return self.aggregate if self.aggregate is not None else self.aggregate_variants

    def compute(self, table: pd.DataFrame) -> MetricResult:
        """Score every group of the table; see the class docstring."""
        from .calibration import crossval_calibration, linregress_calibration, recovered_fraction

        cols = ["true_bone_age", "pred_bone_age", "orig_pred_bone_age"]
        check_table(table, ["case_id", *GROUP_COLUMNS, *cols], self.name)
        dropped: dict[str, int] = {}
        notes: list[str] = []
        rows: list[dict[str, Any]] = []
        for values, group in table.groupby(list(GROUP_COLUMNS), sort=True):
            key = dict(zip(GROUP_COLUMNS, values, strict=True))
            g = drop_missing(group, cols, dropped).copy()
            row: dict[str, Any] = {**key, "n_rows": len(g), "n_cases": g["case_id"].nunique()}
            fits: dict[str, np.ndarray] = {}
            note = ""
            try:
                t, p = g["true_bone_age"].to_numpy(float), g["pred_bone_age"].to_numpy(float)
                if self.method in ("in-sample", "both"):
                    fit = linregress_calibration(p, t)
                    fits["in_sample"] = fit.calibrated
                    row.update({"slope": fit.slope, "intercept": fit.intercept})
                if self.method in ("cross-validated", "both"):
                    folds = min(self.n_folds, int(g["case_id"].nunique()))
                    cv = crossval_calibration(p, t, g["case_id"].to_numpy(), n_folds=folds,
                                              seed=self.seed)  # fmt: skip
                    fits["cross_validated"] = cv.calibrated
                    row.update({"cv_slope": cv.slope, "cv_intercept": cv.intercept})
            except InvalidInputError as exc:
                note = str(exc)
            for name, calibrated in fits.items():
                g[f"cal_{name}"] = calibrated
            scored = g
            if self.aggregation == "mean" and len(g):
                scored = stats.case_means(g, ["case_id"], [*cols, *(f"cal_{n}" for n in fits)])
            t = scored["true_bone_age"].to_numpy(float)

            def mae_of(col: str, frame: pd.DataFrame = scored, t: np.ndarray = t) -> float:
                return float(stats.mae(t, frame[col].to_numpy(float)))

            row["mae_original"] = mae_of("orig_pred_bone_age")
            row["mae_after"] = mae_of("pred_bone_age")
            for name in ("in_sample", "cross_validated"):
                if name in fits:
                    row[f"mae_{name}"] = mae_of(f"cal_{name}")
                    row[f"recovered_{name}"] = recovered_fraction(
                        row["mae_after"], row[f"mae_{name}"], row["mae_original"]
                    )
            if not note and row["mae_after"] == row["mae_original"]:
                note = "no change in MAE: nothing to recover"
            row["note"] = _note(notes, key, note)
            rows.append(row)
        details = {
            "dropped_rows": dropped,
            "notes": notes,
            "aggregate_variants": self.aggregation,
            "options": {"method": self.method, "n_folds": self.n_folds, "seed": self.seed},
        }
        headline = ("mae_in_sample", "mae_cross_validated", "recovered_in_sample",
                    "recovered_cross_validated")  # fmt: skip
        return _result(self.name, rows, headline, details)


@attrs.define(kw_only=True)
class StudyMetric:
    """The reference study's scoring, replayed: see :func:`radinpaint.metrics.study_scores`.

    Per inpainter x view x predictor: variants averaged per case; MAE, RMSE, AUC with a
    ``n_resamples`` percentile bootstrap; accuracy; MAE after the in-sample linregress;
    mean per-case SD and sex-flip rate across variants. Rows need every label and
    prediction; incomplete rows are dropped and counted.
    """

    name: ClassVar[str] = "study"
    n_resamples: int = 1000
    seed: int = 0

    def _originals(
        self, table: pd.DataFrame, dropped: dict[str, int], notes: list[str]
    ) -> list[dict[str, Any]]:
        """The originals' own scores per predictor (``inpainter="original"``), with the
        same bootstrap: the study reported them beside the edited images'."""
        from .study import study_bootstrap_ci

        cols = ["true_bone_age", "orig_pred_bone_age", "true_male", "orig_pred_p_male"]
        if not set(cols) <= set(table.columns):
            return []
        from .study import study_mean_over_variants
        from .tables import ORIGINAL

        rows = []
        for predictor, group in table.groupby("predictor", sort=True):
            # the cases in the order the outputs are scored (first seen), so that an
            # unchanged output (identity) gets exactly the originals' intervals
            first = group[group["inpainter"] == group["inpainter"].iloc[0]]
            first = drop_missing(first[first["view"] == first["view"].iloc[0]], cols, dropped)
            key = {"inpainter": ORIGINAL, "view": ORIGINAL, "predictor": predictor}
            _, t, p, m, pm = study_mean_over_variants(
                first["case_id"].to_numpy(), *(first[c].to_numpy(float) for c in cols)
            )
            row: dict[str, Any] = {**key, "n_cases": int(t.size)}
            kw = {"n_resamples": self.n_resamples, "seed": self.seed}
            if t.size >= 2:
                row.update(study_bootstrap_ci(t, p, "mae", **kw).to_dict("mae"))
                row.update(study_bootstrap_ci(t, p, "rmse", **kw).to_dict("rmse"))
                auc = study_bootstrap_ci(m, pm, "auc", **kw)
                row.update(auc.to_dict("auc"))
                row["accuracy"] = float(np.mean((pm > 0.5) == (m >= 0.5)))
                row["note"] = _note(notes, key, auc.note)
            rows.append(row)
        return rows

    def compute(self, table: pd.DataFrame) -> MetricResult:
        """Score every group of the table; see the class docstring."""
        from .study import study_scores

        cols = ["true_bone_age", "pred_bone_age", "true_male", "pred_p_male"]
        check_table(table, ["case_id", *GROUP_COLUMNS, *cols], self.name)
        dropped: dict[str, int] = {}
        notes: list[str] = []
        rows: list[dict[str, Any]] = []
        for values, group in table.groupby(list(GROUP_COLUMNS), sort=True):
            key = dict(zip(GROUP_COLUMNS, values, strict=True))
            g = drop_missing(group, cols, dropped)
            row: dict[str, Any] = {**key, "n_rows": len(g)}
            try:
                orig = (
                    g["orig_pred_bone_age"].to_numpy(float)
                    if "orig_pred_bone_age" in g and g["orig_pred_bone_age"].notna().all()
                    else None
                )
                s = study_scores(
                    g["case_id"].to_numpy(), g["true_bone_age"].to_numpy(float),
                    g["pred_bone_age"].to_numpy(float), g["true_male"].to_numpy(float),
                    g["pred_p_male"].to_numpy(float), orig_pred_bone_age=orig,
                    n_resamples=self.n_resamples, seed=self.seed,
                )  # fmt: skip
            except InvalidInputError as exc:
                row["note"] = _note(notes, key, str(exc))
                rows.append(row)
                continue
            for name in ("mae", "rmse", "auc"):
                row.update(getattr(s, name).to_dict(name))
            row.update({"accuracy": s.accuracy, "calibrated_mae": s.calibrated_mae,
                        "slope": s.slope, "intercept": s.intercept, "mean_sd": s.mean_sd,
                        "flip_rate": s.flip_rate, "n_cases": s.n_cases})  # fmt: skip
            row["note"] = _note(notes, key, s.auc.note or s.mae.note)
            rows.append(row)
        rows += self._originals(table, dropped, notes)
        details = {"dropped_rows": dropped, "notes": notes,
                   "options": {"n_resamples": self.n_resamples, "seed": self.seed}}  # fmt: skip
        headline = ("mae", "mae_ci_low", "mae_ci_high", "rmse", "auc", "auc_ci_low",
                    "auc_ci_high", "calibrated_mae", "mean_sd", "flip_rate")  # fmt: skip
        return _result(self.name, rows, headline, details)

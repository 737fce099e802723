"""The ``paired`` metric: every change measured against the same cases' originals."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import attrs
import numpy as np

from ..protocols import MetricResult
from . import stats
from .table_metrics import _note, _result
from .tables import GROUP_COLUMNS, MetricBase, check_table, key_label, scored_sets

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DEFAULT_AGE_BINS", "PairedMetric"]

DEFAULT_AGE_BINS: tuple[float, ...] = (48.0, 96.0, 144.0, 192.0)
"""Inner edges (months) of the bone-age bands whose marginal shift Stuart-Maxwell tests."""

_REG = ("true_bone_age", "pred_bone_age", "orig_pred_bone_age")
_CLS = ("true_male", "pred_p_male", "orig_pred_p_male")


@attrs.define(kw_only=True)
class PairedMetric(MetricBase):
    """Changes against the originals, per inpainter x view x predictor, with paired tests.

    Bone age: ``delta_mae`` (and ``delta_rmse``, ``delta_bias``) with a paired bootstrap
    CI (cases resampled, both MAEs recomputed on the same resample); Wilcoxon signed-rank
    test on per-case absolute errors; the signed shift of the predictions themselves
    (``shift``: mean ``after - before`` in months with a bootstrap CI and a Wilcoxon
    signed-rank p, ``shift_wilcoxon_p``), which catches a systematic shift that barely
    changes the absolute errors; Stuart-Maxwell test of the bone-age band
    distribution (bands split at ``age_bins`` months; None to skip).
    Sex: the signed shift of P(male) (``p_male_shift``, CI, ``p_male_shift_wilcoxon_p``);
    ``delta_auc`` with DeLong's test for correlated ROC curves (z, p, CI) and a
    stratified paired bootstrap CI; McNemar's test of changed calls (``p >= threshold``),
    exact below 25 discordant cases.
    """

    name: ClassVar[str] = "paired"
    threshold: float = 0.5
    age_bins: tuple[float, ...] | None = attrs.field(
        default=DEFAULT_AGE_BINS,
        converter=lambda v: None if v is None else tuple(float(x) for x in v),
    )

    def _regression(self, t: np.ndarray, b: np.ndarray, a: np.ndarray) -> dict[str, Any]:
        from .paired import paired_bootstrap_delta, stuart_maxwell_test, wilcoxon_abs_errors

        out: dict[str, Any] = {"n_bone_age": int(t.size)}
        if t.size < 2:
            out["note_bone_age"] = f"{t.size} case(s) with bone age: too few"
            return out
        out["mae_original"] = float(stats.mae(t, b))
        out["mae_after"] = float(stats.mae(t, a))
        notes = []
        for metric in ("mae", "rmse", "bias"):
            d = paired_bootstrap_delta(t, b, a, metric=metric, **self.boot_options())
            out.update(d.to_dict(f"delta_{metric}"))
            if d.note:
                notes.append(d.note)
        w = wilcoxon_abs_errors(t, b, a)
        out.update({"wilcoxon_statistic": w.statistic, "wilcoxon_p": w.p_value})
        if w.note:
            notes.append(w.note)
        out.update(self._shift("shift", b, a))
        if self.age_bins is not None:
            edges = np.asarray(self.age_bins)
            sm = stuart_maxwell_test(
                np.digitize(b, edges), np.digitize(a, edges), categories=range(edges.size + 1)
            )
            out.update({"stuart_maxwell_statistic": sm.statistic, "stuart_maxwell_p": sm.p_value,
                        "stuart_maxwell_df": sm.details["df"]})  # fmt: skip
        out["note_bone_age"] = "; ".join(dict.fromkeys(notes))
        return out

    def _shift(self, prefix: str, b: np.ndarray, a: np.ndarray) -> dict[str, Any]:
        """The signed per-case shift ``after - before``: mean, CI, Wilcoxon signed-rank p."""
        from .bootstrap import bootstrap_ci
        from .paired import signed_shift_test

        if b.size < 2:
            return {}
        test = signed_shift_test(b, a)
        ci = bootstrap_ci(b, a, statistic="bias", **self.boot_options())  # mean(a - b)
        return {
            prefix: float(np.mean(a - b)),
            f"{prefix}_ci_low": ci.ci_low,
            f"{prefix}_ci_high": ci.ci_high,
            f"{prefix}_wilcoxon_p": test.p_value,
        }

    def _classification(self, t: np.ndarray, b: np.ndarray, a: np.ndarray) -> dict[str, Any]:
        from .classification import auc_delta_bootstrap_ci, delong_test
        from .paired import mcnemar_test

        y = t >= 0.5
        out: dict[str, Any] = {"n_sex": int(t.size)}
        if t.size == 0:
            out["note_sex"] = "no case with sex label and prediction"
            return out
        out.update(self._shift("p_male_shift", b, a))
        m = mcnemar_test(b >= self.threshold, a >= self.threshold)
        out.update({"mcnemar_test": m.test, "mcnemar_statistic": m.statistic,
                    "mcnemar_p": m.p_value, "flips_to_female": m.details["true_to_false"],
                    "flips_to_male": m.details["false_to_true"]})  # fmt: skip
        out["accuracy_original"] = stats.accuracy(y, b, self.threshold)
        out["accuracy_after"] = stats.accuracy(y, a, self.threshold)
        if y.all() or not y.any():
            out["note_sex"] = "a single class: no AUC"
            return out
        d = delong_test(y, b, a, self.confidence)
        out.update({"auc_original": d.auc_a, "auc_after": d.auc_b, "delta_auc": d.delta,
                    "delta_auc_ci_low": d.ci_low, "delta_auc_ci_high": d.ci_high,
                    "delong_z": d.z, "delong_p": d.p_value})  # fmt: skip
        boot = auc_delta_bootstrap_ci(y, b, a, **self.boot_options())
        out.update({"delta_auc_boot_ci_low": boot.ci_low, "delta_auc_boot_ci_high": boot.ci_high})
        out["note_sex"] = d.note
        return out

    def compute(self, table: pd.DataFrame) -> MetricResult:
        """Score every group of the table; see the class docstring."""
        check_table(table, ["case_id", "variant", *GROUP_COLUMNS, *_REG, *_CLS], self.name)
        dropped: dict[str, int] = {}
        notes: list[str] = []
        merged: dict[str, dict[str, Any]] = {}
        for cols, fn in ((_REG, self._regression), (_CLS, self._classification)):
            for key, frame in scored_sets(table, cols, self.aggregation, dropped):
                truth, after, before = (frame[c].to_numpy(float) for c in cols)
                row = merged.setdefault(key_label(key), dict(key))
                row.update(fn(truth, before, after))
        rows = []
        for row in merged.values():
            text = "; ".join(x for x in (row.pop("note_bone_age", ""), row.pop("note_sex", ""))
                             if x)  # fmt: skip
            row["note"] = _note(notes, row, text)
            rows.append(row)
        details = {
            "dropped_rows": dropped,
            "notes": notes,
            "aggregate_variants": self.aggregation,
            "options": {**self.boot_options(), "threshold": self.threshold,
                        "age_bins": list(self.age_bins) if self.age_bins else None},
        }  # fmt: skip
        headline = ("delta_mae", "delta_mae_ci_low", "delta_mae_ci_high", "wilcoxon_p",
                    "shift", "shift_ci_low", "shift_ci_high", "shift_wilcoxon_p",
                    "delta_auc", "delong_p", "mcnemar_p", "p_male_shift",
                    "p_male_shift_wilcoxon_p")  # fmt: skip
        return _result(self.name, rows, headline, details)

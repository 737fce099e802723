"""Statistics and metrics: every number radinpaint reports, with its uncertainty.

Functions take numpy arrays (one value per case, or images) and return frozen attrs
results; the metric plugins (``regression``, ``classification``, ``paired``,
``consistency``, ``calibration``, ``study``) apply them to an evaluation's tidy table.
Everything is imported on first use, so ``import radinpaint.metrics`` is cheap.

Errors and uncertainty:
    :func:`mae`, :func:`rmse`, :func:`bias`, :func:`regression_summary`,
    :func:`bootstrap_ci` (percentile / BCa), :func:`auc`, :func:`delong_ci`,
    :func:`auc_bootstrap_ci`, :func:`accuracy`.
Paired comparisons with the originals:
    :func:`paired_bootstrap_delta`, :func:`wilcoxon_abs_errors`, :func:`delong_test`,
    :func:`auc_delta_bootstrap_ci`, :func:`mcnemar_test`, :func:`stuart_maxwell_test`,
    :func:`signed_shift_test`.
Across variants:
    :func:`variant_consistency`.
Pixels:
    :func:`intensity_histograms`, :func:`intensity_distances`, :func:`pixel_sd`,
    :func:`leakage`.
Remedies:
    :func:`linregress_calibration`, :func:`crossval_calibration`, :func:`histogram_match`,
    :func:`recovered_fraction`.
The reference study's protocol:
    :func:`study_scores`, :func:`study_bootstrap_ci`, :func:`study_mean_over_variants`,
    :func:`study_histograms`.

Every point statistic (MAE, RMSE, bias, AUC, accuracy, means over variants, SDs) has one
implementation, in :mod:`radinpaint.metrics.stats`, which these functions, the metric
plugins and the evaluation's headline and decomposition share.

See ``docs/statistics.md`` for the methods, formulas and references.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._common import Estimate, TestResult
    from .bootstrap import bootstrap_ci, stratified_bootstrap_ci
    from .calibration import (
        LinearCalibration,
        crossval_calibration,
        histogram_match,
        linregress_calibration,
        recovered_fraction,
    )
    from .classification import (
        DeLongTest,
        accuracy,
        auc,
        auc_bootstrap_ci,
        auc_delta_bootstrap_ci,
        delong_ci,
        delong_covariance,
        delong_test,
    )
    from .consistency import VariantConsistency, variant_consistency
    from .intensity import (
        IntensityHistograms,
        RegionDistance,
        intensity_distances,
        intensity_histograms,
        pixel_sd,
    )
    from .leakage import Leakage, leakage
    from .paired import (
        mcnemar_test,
        paired_bootstrap_delta,
        signed_shift_test,
        stuart_maxwell_test,
        wilcoxon_abs_errors,
    )
    from .paired_metric import PairedMetric
    from .regression import RegressionSummary, bias, mae, regression_summary, rmse
    from .study import (
        StudyScores,
        study_bootstrap_ci,
        study_histograms,
        study_mean_over_variants,
        study_scores,
    )
    from .table_metrics import (
        CalibrationMetric,
        ClassificationMetric,
        ConsistencyMetric,
        RegressionMetric,
        StudyMetric,
    )
    from .tables import TABLE_COLUMNS

_EXPORTS: dict[str, str] = {
    "Estimate": "_common",
    "TestResult": "_common",
    "bootstrap_ci": "bootstrap",
    "stratified_bootstrap_ci": "bootstrap",
    "LinearCalibration": "calibration",
    "crossval_calibration": "calibration",
    "histogram_match": "calibration",
    "linregress_calibration": "calibration",
    "recovered_fraction": "calibration",
    "DeLongTest": "classification",
    "accuracy": "classification",
    "auc": "classification",
    "auc_bootstrap_ci": "classification",
    "auc_delta_bootstrap_ci": "classification",
    "delong_ci": "classification",
    "delong_covariance": "classification",
    "delong_test": "classification",
    "VariantConsistency": "consistency",
    "variant_consistency": "consistency",
    "IntensityHistograms": "intensity",
    "RegionDistance": "intensity",
    "intensity_distances": "intensity",
    "intensity_histograms": "intensity",
    "pixel_sd": "intensity",
    "Leakage": "leakage",
    "leakage": "leakage",
    "mcnemar_test": "paired",
    "paired_bootstrap_delta": "paired",
    "signed_shift_test": "paired",
    "stuart_maxwell_test": "paired",
    "wilcoxon_abs_errors": "paired",
    "PairedMetric": "paired_metric",
    "RegressionSummary": "regression",
    "bias": "regression",
    "mae": "regression",
    "regression_summary": "regression",
    "rmse": "regression",
    "StudyScores": "study",
    "study_bootstrap_ci": "study",
    "study_histograms": "study",
    "study_mean_over_variants": "study",
    "study_scores": "study",
    "CalibrationMetric": "table_metrics",
    "ClassificationMetric": "table_metrics",
    "ConsistencyMetric": "table_metrics",
    "RegressionMetric": "table_metrics",
    "StudyMetric": "table_metrics",
    "TABLE_COLUMNS": "tables",
}

__all__ = [
    "TABLE_COLUMNS",
    "CalibrationMetric",
    "ClassificationMetric",
    "ConsistencyMetric",
    "DeLongTest",
    "Estimate",
    "IntensityHistograms",
    "Leakage",
    "LinearCalibration",
    "PairedMetric",
    "RegionDistance",
    "RegressionMetric",
    "RegressionSummary",
    "StudyMetric",
    "StudyScores",
    "TestResult",
    "VariantConsistency",
    "accuracy",
    "auc",
    "auc_bootstrap_ci",
    "auc_delta_bootstrap_ci",
    "bias",
    "bootstrap_ci",
    "crossval_calibration",
    "delong_ci",
    "delong_covariance",
    "delong_test",
    "histogram_match",
    "intensity_distances",
    "intensity_histograms",
    "leakage",
    "linregress_calibration",
    "mae",
    "mcnemar_test",
    "paired_bootstrap_delta",
    "pixel_sd",
    "recovered_fraction",
    "regression_summary",
    "rmse",
    "signed_shift_test",
    "stratified_bootstrap_ci",
    "stuart_maxwell_test",
    "study_bootstrap_ci",
    "study_histograms",
    "study_mean_over_variants",
    "study_scores",
    "variant_consistency",
    "wilcoxon_abs_errors",
]


def __getattr__(name: str) -> Any:
    """Import the public names on first use."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'radinpaint.metrics' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))

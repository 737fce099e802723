"""Registers the built-in metrics.

Each factory imports its module when the metric is built, so loading this plugin costs
nothing beyond this file. Every metric is deterministic given its options (its bootstrap
takes a ``seed``), which is what each declares.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..capabilities import Capabilities
from ..hookspecs import Register, hookimpl

if TYPE_CHECKING:
    from ..saliency.shift import SaliencyShiftMetric
    from .generative_metric import GenerativeMetric
    from .paired_metric import PairedMetric
    from .table_metrics import (
        CalibrationMetric,
        ClassificationMetric,
        ConsistencyMetric,
        RegressionMetric,
        StudyMetric,
    )

METRIC_CAPABILITIES = Capabilities(deterministic=True)
"""What every built-in metric declares: the same table and options give the same result."""


def regression(**options: Any) -> RegressionMetric:
    """Bone-age MAE, RMSE, bias with bootstrap CIs (:class:`RegressionMetric`)."""
    from .table_metrics import RegressionMetric

    return RegressionMetric(**options)


def classification(**options: Any) -> ClassificationMetric:
    """Sex AUC with DeLong and bootstrap CIs, accuracy (:class:`ClassificationMetric`)."""
    from .table_metrics import ClassificationMetric

    return ClassificationMetric(**options)


def paired(**options: Any) -> PairedMetric:
    """Changes vs the originals with paired tests (:class:`PairedMetric`)."""
    from .paired_metric import PairedMetric

    return PairedMetric(**options)


def consistency(**options: Any) -> ConsistencyMetric:
    """Spread across variants: SD, range, sex flips (:class:`ConsistencyMetric`)."""
    from .table_metrics import ConsistencyMetric

    return ConsistencyMetric(**options)


def calibration(**options: Any) -> CalibrationMetric:
    """Recovery by linear recalibration, in-sample and cross-validated."""
    from .table_metrics import CalibrationMetric

    return CalibrationMetric(**options)


def study(**options: Any) -> StudyMetric:
    """The reference study's scoring, replayed (:class:`StudyMetric`)."""
    from .table_metrics import StudyMetric

    return StudyMetric(**options)


def saliency_shift(**options: Any) -> SaliencyShiftMetric:
    """Mean per-case saliency shift with bootstrap CIs (:class:`SaliencyShiftMetric`)."""
    from ..saliency.shift import SaliencyShiftMetric

    return SaliencyShiftMetric(**options)


def generative(**options: Any) -> GenerativeMetric:
    """FID, KID, precision/recall/density/coverage of outputs vs originals (reads images)."""
    from .generative_metric import GenerativeMetric

    return GenerativeMetric(**options)


IMAGE_METRIC_CAPABILITIES = Capabilities(deterministic=True, reads_images=True)
"""What a built-in metric that reads images declares (``generative``)."""

SALIENCY_CAPABILITIES = Capabilities(deterministic=True, reads_images=True, reads_predictors=True)
"""What ``saliency-shift`` declares: it reads the images and explains the evaluation's
predictors."""

_CAPABILITIES = {"generative": IMAGE_METRIC_CAPABILITIES, "saliency-shift": SALIENCY_CAPABILITIES}

_OPTIONS = {
    "regression": ("n_resamples", "confidence", "method", "seed", "aggregate_variants",
                   "aggregate"),
    "classification": ("n_resamples", "confidence", "method", "seed", "aggregate_variants",
                       "aggregate", "threshold"),
    "paired": ("n_resamples", "confidence", "method", "seed", "aggregate_variants",
               "aggregate", "threshold", "age_bins"),
    "consistency": ("threshold", "ddof"),
    "calibration": ("method", "n_folds", "seed", "aggregate_variants", "aggregate"),
    "study": ("n_resamples", "seed"),
    "generative": ("features", "weights", "k", "kid_subset_size", "kid_subsets",
                   "n_resamples", "confidence", "method", "seed", "per_variant"),
    "saliency-shift": ("n_resamples", "confidence", "method", "seed", "aggregate_variants",
                       "aggregate", "predictors", "targets", "saliency", "members",
                       "n_panels", "batch_size", "regions"),
}  # fmt: skip


def _with_signature(factory: Any, names: tuple[str, ...]) -> Any:
    """Give a lazy factory the keyword signature of its class, for option checking."""
    import inspect

    params = [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=None) for n in names]
    factory.__signature__ = inspect.Signature(params)
    return factory


@hookimpl
def radinpaint_register_metrics(register: Register) -> None:
    """Register the built-in metrics."""
    summaries = {
        "regression": "bone-age MAE/RMSE/bias with percentile or BCa bootstrap CIs",
        "classification": "sex AUC with DeLong and stratified bootstrap CIs, accuracy",
        "paired": "changes vs originals: paired bootstrap, Wilcoxon, DeLong, McNemar",
        "consistency": "per-case bone-age SD/range and sex flips across variants",
        "calibration": "MAE recovered by linear recalibration (in-sample, cross-validated)",
        "study": "the reference study's scoring replayed (variant means, percentile CIs)",
        "generative": "FID, KID, precision/recall/density/coverage of outputs vs originals",
        "saliency-shift": "how far saliency maps moved, original to output, with bootstrap CIs",
    }
    factories = {
        "regression": regression,
        "classification": classification,
        "paired": paired,
        "consistency": consistency,
        "calibration": calibration,
        "study": study,
        "generative": generative,
        "saliency-shift": saliency_shift,
    }
    for name, factory in factories.items():
        register(
            name,
            _with_signature(factory, _OPTIONS[name]),
            summary=summaries[name],
            capabilities=_CAPABILITIES.get(name, METRIC_CAPABILITIES),
        )

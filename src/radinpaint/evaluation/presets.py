"""Analysis presets: which metrics run, with which options, on which rows.

``study``
    The reference study's protocol, exactly: the 3 variants of a case are averaged before
    scoring; MAE/RMSE and AUC with a 1000-resample **percentile** bootstrap 95% CI;
    "calibration" as ``scipy.stats.linregress(pred, truth)`` fitted in-sample on all rows;
    intensity histograms pooled over images in 256 bins, Gaussian-smoothed with sigma 1.5;
    outputs scored **as returned** (the study's predictors read the squashed 1024x1024
    outputs and never resized them back). Use it to replay the study's numbers.

``recommended``
    Better methods for the same question: **BCa** bootstrap intervals; paired tests against
    the original predictions (paired bootstrap of the MAE change, Wilcoxon on absolute
    errors, DeLong for the AUC change, McNemar for sex flips); **cross-validated**
    calibration (an in-sample fit flatters itself); every variant scored on its own as well
    as averaged, and the spread across variants reported; outputs scored **restored** to
    the original's shape, so the backend's edit is not confounded with a change of the
    hand's aspect ratio (run ``resample:restore=false`` beside it to see that change).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from ..errors import UnknownPluginError

__all__ = ["PRESETS", "Preset", "get_preset"]


@attrs.frozen
class Preset:
    """A named analysis protocol.

    Attributes:
        name: ``"study"`` or ``"recommended"`` (or your own).
        description: one line for the report.
        metrics: ``(label, metric name, options)`` triples run on the tidy table.
        aggregate_variants: average a case's variants before scoring (decomposition and
            headline numbers); the metric options say the same to each metric.
        histogram_bins: bins of the pooled intensity histograms.
        histogram_sigma: Gaussian smoothing of the pooled histograms (0: none).
        n_resamples: bootstrap resamples.
        ci_method: bootstrap interval: ``"percentile"`` or ``"bca"``.
        geometry: how outputs are scored by default: ``"restored"`` to the original's shape,
            or ``"as-returned"`` by the backend (the study: squashed 1024x1024 outputs).
    """

    name: str
    description: str
    metrics: tuple[tuple[str, str, Mapping[str, Any]], ...]
    aggregate_variants: bool = True
    histogram_bins: int = 256
    histogram_sigma: float = 1.5
    n_resamples: int = 1000
    ci_method: str = "percentile"
    geometry: str = "restored"

    def with_resamples(self, n_resamples: int) -> Preset:
        """The same preset with ``n_resamples`` bootstrap resamples (fast tests, quick looks)."""
        metrics = tuple(
            (label, name, {**opts, "n_resamples": n_resamples} if "n_resamples" in opts else opts)
            for label, name, opts in self.metrics
        )
        return attrs.evolve(self, metrics=metrics, n_resamples=n_resamples)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for the manifest."""
        return {
            "name": self.name,
            "description": self.description,
            "metrics": [{"label": lb, "name": n, "options": dict(o)} for lb, n, o in self.metrics],
            "aggregate_variants": self.aggregate_variants,
            "histogram_bins": self.histogram_bins,
            "histogram_sigma": self.histogram_sigma,
            "n_resamples": self.n_resamples,
            "ci_method": self.ci_method,
            "geometry": self.geometry,
        }


def _study() -> Preset:
    return Preset(
        name="study",
        description="the reference study's protocol: variants averaged per case, 1000-resample "
        "percentile bootstrap, in-sample linregress calibration, 256-bin histograms (sigma 1.5)",
        # one set of intervals, the study's own: its percentile bootstrap of MAE, RMSE and
        # AUC, majority-vote accuracy and calibration on the original predictions are the
        # study metric's (regression/classification/calibration metrics would add second
        # intervals computed another way)
        metrics=(
            ("study", "study", {"n_resamples": 1000, "seed": 0}),
            # the study's per-case SD across its 3 variants is np.std: ddof = 0
            ("consistency", "consistency", {"ddof": 0}),
        ),
        aggregate_variants=True,
        n_resamples=1000,
        ci_method="percentile",
        geometry="as-returned",
    )


def _recommended() -> Preset:
    boot = {"n_resamples": 2000, "method": "bca", "seed": 0}
    return Preset(
        name="recommended",
        description="BCa bootstrap, paired tests (paired bootstrap, Wilcoxon, DeLong, "
        "McNemar), cross-validated calibration, per-variant analysis",
        metrics=(
            ("regression", "regression", {**boot, "aggregate": "mean"}),
            ("regression-per-variant", "regression", {**boot, "aggregate": "none"}),
            ("classification", "classification", {**boot, "aggregate": "mean"}),
            ("paired", "paired", {**boot, "aggregate": "mean"}),
            ("consistency", "consistency", {}),
            ("calibration", "calibration", {"method": "both", "aggregate": "mean"}),
        ),
        aggregate_variants=True,
        n_resamples=2000,
        ci_method="bca",
    )


PRESETS: dict[str, Preset] = {"study": _study(), "recommended": _recommended()}
"""The built-in presets by name."""


def get_preset(name: str) -> Preset:
    """The preset called ``name``."""
    if name not in PRESETS:
        raise UnknownPluginError(
            f"no analysis preset named {name!r}",
            available=sorted(PRESETS),
            fix="use 'study' to replay the reference study or 'recommended'",
        )
    return PRESETS[name]

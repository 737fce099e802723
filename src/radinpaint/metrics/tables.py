"""Shared machinery of the metric plugins: table checks, missing rows, grouping.

The tidy table has one row per case x inpainter x variant x predictor x view; the
evaluation defines it (:mod:`radinpaint.evaluation.schema`; :data:`TABLE_COLUMNS` is
re-exported here). Metrics group it by inpainter x view x predictor; with
``aggregate_variants="mean"`` (the study) a case's variants are averaged before scoring
(:func:`radinpaint.metrics.stats.case_means`), with ``"none"`` each variant is scored on
its own (the group key gains ``variant``), so rows within a scored set are always
independent cases.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from ..errors import InvalidInputError
from . import stats
from ._common import check_confidence, check_method, check_resamples

if TYPE_CHECKING:
    import pandas as pd

    from ..evaluation.schema import TABLE_COLUMNS

__all__ = ["GROUP_COLUMNS", "ORIGINAL", "TABLE_COLUMNS", "MetricBase"]

GROUP_COLUMNS: tuple[str, ...] = ("inpainter", "view", "predictor")
"""Every metric reports one result per combination of these."""

ORIGINAL = "original"
"""``inpainter`` and ``view`` of the rows scoring the originals' own predictions."""

AGGREGATIONS: tuple[str, ...] = ("mean", "none")


def _check_aggregate(instance: object, attribute: attrs.Attribute, value: str | None) -> None:
    if value is not None and value not in AGGREGATIONS:
        raise InvalidInputError(
            f"{attribute.name} must be 'mean' or 'none', got {value!r}",
            available=AGGREGATIONS,
            fix="'mean' averages a case's variants before scoring (the study); 'none' scores "
            "each variant on its own",
        )


@attrs.define(kw_only=True)
class MetricBase:
    """Options every table metric shares.

    Attributes:
        n_resamples: bootstrap resamples (1000 as the study).
        confidence: level of the two-sided intervals.
        method: bootstrap interval, ``"percentile"`` (the study) or ``"bca"``.
        seed: bootstrap seed; every group uses the same seed.
        aggregate_variants: ``"mean"`` (average a case's variants first, the study) or
            ``"none"`` (score each variant separately).
        aggregate: alias of ``aggregate_variants`` (wins when given).
    """

    name: ClassVar[str] = "base"

    n_resamples: int = attrs.field(default=1000, converter=check_resamples)
    confidence: float = attrs.field(default=0.95, converter=check_confidence)
    method: str = attrs.field(default="percentile", converter=check_method)
    seed: int = attrs.field(default=0, converter=int)
    aggregate_variants: str = attrs.field(default="mean", validator=_check_aggregate)
    aggregate: str | None = attrs.field(default=None, validator=_check_aggregate)

    @property
    def aggregation(self) -> str:
        """The effective variant aggregation."""
        return self.aggregate if self.aggregate is not None else self.aggregate_variants

    def boot_options(self) -> dict[str, Any]:
        """Keyword options for the bootstrap functions."""
        return {
            "n_resamples": self.n_resamples,
            "confidence": self.confidence,
            "method": self.method,
            "seed": self.seed,
        }


def check_table(table: pd.DataFrame, needed: Sequence[str], metric: str) -> None:
    """Raise :class:`InvalidInputError` naming the columns the table lacks."""
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise InvalidInputError(
            f"the table given to metric {metric!r} lacks column(s) {', '.join(missing)}",
            available=[str(c) for c in table.columns],
            fix="pass the tidy table an Evaluation builds (see radinpaint.evaluation.schema)",
        )


def drop_missing(
    table: pd.DataFrame, columns: Sequence[str], dropped: dict[str, int]
) -> pd.DataFrame:
    """Rows with every column present; counts of dropped rows go into ``dropped``."""
    out = table
    for col in columns:
        bad = out[col].isna()
        n = int(bad.sum())
        if n:
            dropped[f"missing {col}"] = dropped.get(f"missing {col}", 0) + n
            out = out[~bad]
    return out


def scored_sets(
    table: pd.DataFrame,
    columns: Sequence[str],
    aggregation: str,
    dropped: dict[str, int],
) -> Iterator[tuple[dict[str, Any], pd.DataFrame]]:
    """Yield ``(key, per-case frame)`` per group, rows with missing ``columns`` dropped.

    With ``"mean"`` the frame has one row per case (columns averaged over variants); with
    ``"none"`` one frame per variant. Every group in the table is yielded, even when no
    row survives (the frame is then empty), so that the metric reports it with a reason.
    """
    group_cols = list(GROUP_COLUMNS) + (["variant"] if aggregation == "none" else [])
    for key_values, group in table.groupby(group_cols, sort=True, dropna=False):
        key = dict(zip(group_cols, key_values, strict=True))
        clean = drop_missing(group, columns, dropped)
        if aggregation == "mean":
            clean = stats.case_means(clean, ["case_id"], columns)
        else:
            clean = clean.sort_values("case_id")
        yield key, clean


def original_sets(
    table: pd.DataFrame,
    columns: Sequence[str],
    dropped: dict[str, int],
) -> Iterator[tuple[dict[str, Any], pd.DataFrame]]:
    """Per predictor, one row per case holding the originals' predictions.

    ``columns`` name the ``orig_*`` and label columns; the values of a case's rows are
    averaged, skipping missing ones (they are the same in every row of a case and
    predictor, and the mean of equal values is that value), so a case is dropped only when
    no row has the value.
    """
    for predictor, group in table.groupby("predictor", sort=True):
        per_case = stats.case_means(group, ["case_id"], columns)
        clean = drop_missing(per_case, columns, dropped)
        yield {"inpainter": ORIGINAL, "view": ORIGINAL, "predictor": predictor}, clean


def key_label(key: dict[str, Any]) -> str:
    """``inpainter/view/predictor[/variant]`` for the headline value names."""
    parts = [str(key[c]) for c in GROUP_COLUMNS]
    if "variant" in key:
        parts.append(f"v{key['variant']}")
    return "/".join(parts)


def finite_or_nan(value: object) -> float:
    """A float, nan for None or non-numbers."""
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan
    return out


def __getattr__(name: str) -> Any:
    """``TABLE_COLUMNS``, re-exported from :mod:`radinpaint.evaluation.schema` on first use.

    Imported lazily: importing ``radinpaint.evaluation.schema`` runs the evaluation
    package's ``__init__``, which imports this module.
    """
    if name == "TABLE_COLUMNS":
        from ..evaluation.schema import TABLE_COLUMNS

        globals()[name] = TABLE_COLUMNS
        return TABLE_COLUMNS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

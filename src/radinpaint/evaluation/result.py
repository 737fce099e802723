"""What an evaluation produces: the tidy table, metric results, decomposition, manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import pandas as pd

from ..protocols import MetricResult
from .decomposition import effect_summary
from .pixels import PixelStats
from .presets import Preset

__all__ = ["EvaluationResult"]


@attrs.define
class EvaluationResult:
    """Everything a run measured.

    Attributes:
        table: the tidy table, one row per case x inpainter x variant x predictor x view
            (see :data:`~radinpaint.evaluation.core.TABLE_COLUMNS`; plus ``backend``,
            ``seed``, ``compositing``, ``collapse``, ``cached``, ``replicated``, ``seconds``,
            ``cost_usd``, ``inpaint_flags``, ``member_sd_bone_age``, ``member_sd_p_male`` (spread
            across an ensemble's members, ddof 0) and ``error``).
        metrics: metric label -> :class:`~radinpaint.protocols.MetricResult`.
        metric_errors: metric label -> why it could not be computed.
        decomposition: see :func:`~radinpaint.evaluation.decomposition.decomposition_table`.
        pixels: per-output pixel facts and pooled histograms.
        failures: every failed item: stage, where, error.
        manifest: versions, options, seeds, prompts, input hashes, timings, cost.
        samples: a few cases' original, mask and variant-0 outputs, for the image grid.
        preset: the analysis preset used.
    """

    table: pd.DataFrame
    metrics: dict[str, MetricResult]
    metric_errors: dict[str, str]
    decomposition: pd.DataFrame
    pixels: PixelStats
    failures: pd.DataFrame
    manifest: dict[str, Any]
    samples: list[dict[str, Any]]
    preset: Preset

    def ok_rows(self) -> pd.DataFrame:
        """Rows without an error."""
        if self.table.empty:
            return self.table
        return self.table[self.table["error"].isna()]

    def headline(self) -> pd.DataFrame:
        """Per predictor x inpainter, the total view: MAE and AUC before/after, shift, flips.

        Variants are averaged per case first when the preset says so (the study did).
        """
        from .decomposition import _aggregate_variants

        ok = self.ok_rows()
        if ok.empty:
            return pd.DataFrame()
        ok = ok[ok["view"] == "total"]
        if self.preset.aggregate_variants:
            ok = _aggregate_variants(ok)
        rows = []
        for (pred, inp), group in ok.groupby(["predictor", "inpainter"], sort=False):
            rows.append({"predictor": pred, "inpainter": inp} | effect_summary(group))
        return pd.DataFrame(rows)

    def summary_text(self) -> str:
        """A few lines for a terminal."""
        head = self.headline()
        if head.empty:
            return "no successful rows"
        cols = [
            "predictor",
            "inpainter",
            "mae",
            "orig_mae",
            "delta_mae",
            "auc",
            "delta_auc",
            "mean_abs_shift",
            "flip_rate",
        ]
        return head[[c for c in cols if c in head.columns]].to_string(
            index=False, float_format=lambda v: f"{v:.3f}"
        )

    def write(
        self, out_dir: str | Path, *, formats: tuple[str, ...] = ("csv", "json", "md", "html")
    ) -> dict[str, Path]:
        """Write the report files into ``out_dir`` (see :func:`radinpaint.report.write_report`)."""
        from ..report import write_report

        return write_report(self, out_dir, formats=formats)

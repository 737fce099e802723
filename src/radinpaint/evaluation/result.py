"""What an evaluation produces: the tidy table, metric results, attribution, manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import pandas as pd

from ..protocols import MetricResult
from .attribution import average_variants, effect_summary, summary_paragraph
from .pixels import PixelStats
from .presets import Preset

__all__ = ["EvaluationResult"]


@attrs.define
class EvaluationResult:
    """Everything a run measured.

    Attributes:
        table: the tidy table, one row per case x inpainter x variant x predictor x view
            (see :mod:`radinpaint.evaluation.schema`: :data:`TABLE_COLUMNS`, then ``backend``,
            ``seed``, ``compositing``, ``collapse``, ``cached``, ``replicated``, ``seconds``,
            ``cost_usd``, ``inpaint_flags``, ``member_sd_bone_age``, ``member_sd_p_male`` (spread
            across an ensemble's members, ddof 0) and ``error``).
        metrics: metric label -> :class:`~radinpaint.protocols.MetricResult`.
        metric_errors: metric label -> why it could not be computed.
        decomposition: the Shapley attribution of each inpainter's prediction shift to
            geometry, redraw and content, with intervals and tests (see
            :func:`~radinpaint.evaluation.attribution.decomposition_table`).
        pixels: per-output pixel facts and pooled histograms.
        failures: every failed item: stage, where, error.
        manifest: versions, options, seeds, prompts, input hashes, timings, cost.
        samples: a few cases' original, mask and variant-0 outputs, for the image grid.
        preset: the analysis preset used.
        views: MAE, AUC and prediction shifts of every view against the originals (see
            :func:`~radinpaint.evaluation.attribution.views_table`); empty when not built.
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
    views: pd.DataFrame = attrs.field(factory=pd.DataFrame)

    def ok_rows(self) -> pd.DataFrame:
        """Rows without an error."""
        if self.table.empty:
            return self.table
        return self.table[self.table["error"].isna()]

    def scored_rows(self, view: str = "total") -> pd.DataFrame:
        """The rows the headline scores: rows of ``view`` without an error, and with the
        variants of each case averaged (one row per predictor x inpainter x case) when the
        preset says so, as the metric plugins average them.
        """
        ok = self.ok_rows()
        if not ok.empty:
            ok = ok[ok["view"] == view]
        if ok.empty or not self.preset.aggregate_variants:
            return ok
        return average_variants(ok)

    def headline(self) -> pd.DataFrame:
        """Per predictor x inpainter, the total view: MAE and AUC before/after, shift, flips.

        Variants are averaged per case first when the preset says so (the study did). The
        numbers are those of :func:`~radinpaint.evaluation.attribution.effect_summary`,
        computed with :mod:`radinpaint.metrics.stats` as the metrics compute them.
        """
        ok = self.scored_rows("total")
        if ok.empty:
            return pd.DataFrame()
        rows = []
        for (pred, inp), group in ok.groupby(["predictor", "inpainter"], sort=False):
            rows.append({"predictor": pred, "inpainter": inp} | effect_summary(group))
        return pd.DataFrame(rows)

    def summary_paragraph(self) -> str:
        """One plain-English paragraph the report opens with: for each inpainter, whether
        its shifts of the bone-age prediction and of P(male) are distinguishable from zero
        and where they come from (see
        :func:`~radinpaint.evaluation.attribution.summary_paragraph`). It opens with a
        warning when a phantom-trained predictor read data that are not phantoms (see
        :func:`~radinpaint.predictors.provenance.report_warning`).
        """
        from ..predictors.provenance import report_warning

        text = summary_paragraph(self.decomposition, self.headline())
        warning = report_warning(self.manifest)
        return f"{warning} {text}" if warning else text

    def summary_text(self) -> str:
        """A few lines for a terminal, at most 100 characters wide: per predictor, the
        headline of every inpainter in the run's order (labels longer than 24 characters
        are cut, with an ellipsis)."""
        head = self.headline()
        if head.empty:
            return "no successful rows"
        cols = ["orig_mae", "mae", "delta_mae", "auc", "delta_auc", "mean_abs_shift", "flip_rate"]
        cols = [c for c in cols if c in head.columns]
        labels = [str(v) if len(str(v)) <= 24 else str(v)[:23] + "…" for v in head["inpainter"]]
        width = max(len("inpainter"), *(len(lb) for lb in labels))
        sizes = {c: max(len(c), 7) for c in cols}

        def cell(value: object, size: int) -> str:
            number = pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]
            return f"{'' if pd.isna(number) else f'{number:.3f}':>{size}}"

        lines: list[str] = []
        for pred in dict.fromkeys(head["predictor"]):
            if lines:
                lines.append("")
            lines.append(f"predictor {pred}: bone-age MAE (months), sex AUC; before and after")
            lines.append(" ".join([f"{'inpainter':<{width}}", *(f"{c:>{sizes[c]}}" for c in cols)]))
            for label, (_, row) in zip(labels, head.iterrows(), strict=True):
                if row["predictor"] != pred:
                    continue
                values = [cell(row[c], sizes[c]) for c in cols]
                lines.append(" ".join([f"{label:<{width}}", *values]).rstrip())
        return "\n".join(line[:100] for line in lines)

    def write(
        self, out_dir: str | Path, *, formats: tuple[str, ...] = ("csv", "json", "md", "html")
    ) -> dict[str, Path]:
        """Write the report files into ``out_dir`` (see :func:`radinpaint.report.write_report`)."""
        from ..report import write_report

        return write_report(self, out_dir, formats=formats)

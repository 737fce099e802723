"""The Markdown report (``report.md``) and the sections the HTML report shares."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .tables import (
    ReportTable,
    attribution_rows,
    decomposition_view,
    for_display,
    headline_view,
    interval_tables,
    metric_sections,
    pixel_tables,
    timing_view,
    to_markdown,
    views_view,
)

if TYPE_CHECKING:
    from ..evaluation import EvaluationResult

__all__ = [
    "DECOMPOSITION_TEXT",
    "VIEWS_TEXT",
    "markdown_table",
    "render_markdown",
    "run_facts",
    "summary_paragraph",
]


DECOMPOSITION_TEXT = (
    "Three factors turn an original X into the scored output O: the backend's geometry round "
    "trip (resize or squash, 8-bit; absent for backends that never resample), the redrawing "
    "of pixels outside the artifact mask, and the new content inside it. Each output is also "
    "scored with every subset of the factors applied to X (the views below), and the signed "
    "shift of each prediction, output minus original, is split per case into one part per "
    "factor by the Shapley value: the factor's effect averaged over every order of adding the "
    "factors. The parts add up to the total shift, interactions included; `residual` is what "
    "rounding leaves. Each part: mean over cases, percentile bootstrap CI of the mean, "
    "Wilcoxon signed-rank p. A share of the total is given only when both the part and the "
    "total are distinguishable from zero (CI excludes zero, p < 0.05)."
)
"""How the attribution is made, for the report's decomposition section."""

VIEWS_TEXT = (
    "MAE against the true bone age and AUC of the sex prediction on each view, and their "
    "change against the originals. These are not additive and are not split into parts: a "
    "view with `delta_mae` close to that of `total` reproduces most of the damage. Views: "
    "`geometry`, `out-of-mask` (redraw), `in-mask` (content), `edit` (redraw + content), "
    "`geometry+out-of-mask`, `geometry+in-mask`, `total` (all three)."
)
"""What the per-view table shows."""


def summary_paragraph(result: EvaluationResult) -> str:
    """The plain-English paragraph the report opens with (without an attribution: only the
    warning about a phantom-trained predictor on real data, if any, else empty)."""
    if attribution_rows(result).empty:
        from ..predictors.provenance import report_warning

        return report_warning(result.manifest) or ""
    return result.summary_paragraph()


def run_facts(result: EvaluationResult) -> list[tuple[str, Any]]:
    """Key facts of the run for the header."""
    m = result.manifest
    ev = m.get("evaluation", {})
    counts = m.get("counts", {})
    times = m.get("timings_s", {})
    inps = [b["label"] for b in m.get("backends", {}).get("inpainters", [])]
    preds = [b["label"] for b in m.get("backends", {}).get("predictors", [])]
    return [
        ("dataset", f"{ev.get('dataset')} ({ev.get('n_cases')} cases)"),
        ("inpainters", ", ".join(inps)),
        ("predictors", ", ".join(preds)),
        ("variants per case", ev.get("variants")),
        ("mask provider", ev.get("mask_provider", {}).get("label")),
        ("preset", f"{result.preset.name}: {result.preset.description}"),
        ("seed", ev.get("seed")),
        (
            "inpainting outputs",
            f"{int(counts.get('inpaint_computed', 0))} computed, "
            f"{int(counts.get('inpaint_cached', 0))} from cache, "
            f"{int(counts.get('inpaint_replicated', 0))} replicated (deterministic), "
            f"{int(counts.get('inpaint_failed', 0))} failed",
        ),
        (
            "predictions",
            f"{int(counts.get('predict_computed', 0))} computed, "
            f"{int(counts.get('predict_cached', 0))} from cache",
        ),
        (
            "cost (USD)",
            f"{counts.get('cost_usd_spent', 0):.2f} spent this run "
            f"({int(counts.get('images_paid', 0))} images paid, "
            f"{counts.get('cost_usd_billed_failures', 0):.2f} of it for billed failures such "
            "as timed-out calls), "
            f"{counts.get('cost_usd_total', 0):.2f} for all outputs",
        ),
        ("time (s)", f"{times.get('total_s', float('nan')):.1f}"),
        ("rows with an error", f"{counts.get('rows_with_error', 0)} of {counts.get('rows', 0)}"),
    ]


def markdown_table(table: ReportTable, result: EvaluationResult) -> list[str]:
    """A :class:`~.tables.ReportTable` as Markdown lines: title and text, rows, footnotes."""
    lines = []
    if table.title or table.text:
        title = f"**{table.title}.**" if table.title else ""
        lines += [" ".join(x for x in (title, table.text) if x), ""]
    lines.append(to_markdown(for_display(table.frame, result), digits=table.digits))
    if table.notes:
        lines += ["  \n".join(table.notes), ""]
    return lines


def dose_tables(result: EvaluationResult) -> list[ReportTable]:
    """The diffusion redraw's dose-response table (empty unless >= 2 strengths ran)."""
    from .dose import dose_tables as tables

    return tables(result)


def render_markdown(
    result: EvaluationResult, figures: dict[str, tuple[str, bytes | None, str]], fig_dir: str
) -> str:
    """The whole report; figures are linked from ``fig_dir`` (relative to the report)."""
    lines = ["# radinpaint evaluation report", ""]
    summary = summary_paragraph(result)
    if summary:
        lines += [summary, ""]
    lines += [f"- **{k}**: {v}" for k, v in run_facts(result)]
    lines += ["", "## Headline (total effect, per inpainter)", ""]
    lines.append(
        "MAE against the true bone age and AUC of the sex prediction, on the originals "
        "(`orig_*`) and on the outputs; `mean_abs_shift` is the mean |after - before| bone-age "
        "prediction, `flip_rate` the share of cases whose predicted sex flips."
        + (" Variants are averaged per case first." if result.preset.aggregate_variants else "")
    )
    lines += ["", to_markdown(for_display(headline_view(result), result))]
    intervals = interval_tables(result)
    if intervals:
        lines += ["### With intervals and tests", ""]
        for table in intervals:
            lines += markdown_table(table, result)
    for table in dose_tables(result):
        lines += markdown_table(table, result)
    lines += ["## Effect decomposition", "", DECOMPOSITION_TEXT, ""]
    lines += [to_markdown(for_display(decomposition_view(result), result))]
    lines += ["### MAE and AUC per view", "", VIEWS_TEXT, ""]
    lines += [to_markdown(for_display(views_view(result), result))]
    lines += ["## Metrics", ""]
    for label, tables in metric_sections(result):
        lines += [f"### {label}", ""]
        for table in tables:
            lines += markdown_table(table, result)
    for label, err in result.metric_errors.items():
        lines += [f"### {label}", "", f"Not computed: {err}", ""]
    lines += ["## Pixels", ""]
    for table in pixel_tables(result):
        lines += markdown_table(table, result)
    lines += ["## Figures", ""]
    for name, (title, png, err) in figures.items():
        if png is not None:
            lines += [f"### {title}", "", f"![{title}]({fig_dir}/{name}.png)", ""]
        elif err:
            lines += [f"### {title}", "", f"Could not draw: {err}", ""]
    lines += ["## Time", "", to_markdown(timing_view(result), digits=1)]
    lines += ["## Failures", ""]
    failures = result.failures
    if failures is None or failures.empty:
        lines += ["None.", ""]
    else:
        lines += [f"{len(failures)} item(s) failed; the rest of the run went on.", ""]
        lines.append(to_markdown(failures))
    lines += [
        "",
        "Full rows: `results.csv`; everything as JSON: `results.json`; versions, options, "
        "seeds, prompts, input hashes, timings and cost: `manifest.json`.",
        "",
    ]
    return "\n".join(lines)

"""The Markdown report (``report.md``) and the sections the HTML report shares."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from .tables import (
    decomposition_view,
    headline_view,
    interval_view,
    metric_tables,
    timing_view,
    to_markdown,
)

if TYPE_CHECKING:
    from ..evaluation import EvaluationResult

__all__ = ["decomposition_sentences", "render_markdown", "run_facts"]


def _pct(value: float) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{100 * value:.0f}%"


def decomposition_sentences(result: EvaluationResult) -> list[str]:
    """One sentence per predictor x inpainter: how much of the change each part explains."""
    d = result.decomposition
    if d is None or d.empty:
        return []
    out = []
    for (pred, inp), g in d.groupby(["predictor", "inpainter"], sort=False):
        parts = {str(r["part"]): r for _, r in g.iterrows()}
        total = parts.get("total")
        if total is None:
            continue
        dm, shift = float(total["delta_mae"]), float(total["mean_abs_shift"])
        if (math.isnan(dm) or abs(dm) < 1e-9) and (math.isnan(shift) or shift < 1e-9):
            out.append(f"- **{inp}** ({pred}): no change in any prediction.")
            continue
        bits = []
        for part, name in (
            ("in-mask", "new content inside the mask"),
            ("out-of-mask", "drift outside the mask"),
            ("interaction", "their interaction"),
            ("geometry", "geometry alone (resample control)"),
        ):
            if part in parts:
                r = parts[part]
                bits.append(
                    f"{name} {_pct(float(r['share_mae']))} of the MAE change"
                    f" / {_pct(float(r['share_shift']))} of the shift"
                )
        dauc = float(total["delta_auc"])
        auc_txt = "" if math.isnan(dauc) else f", AUC change {dauc:+.3f}"
        out.append(
            f"- **{inp}** ({pred}): MAE change {dm:+.2f} months, mean |shift| "
            f"{shift:.2f} months{auc_txt}; " + "; ".join(bits) + "."
        )
    return out


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


def render_markdown(
    result: EvaluationResult, figures: dict[str, tuple[str, bytes | None, str]], fig_dir: str
) -> str:
    """The whole report; figures are linked from ``fig_dir`` (relative to the report)."""
    lines = ["# radinpaint evaluation report", ""]
    lines += [f"- **{k}**: {v}" for k, v in run_facts(result)]
    lines += ["", "## Headline (total effect, per inpainter)", ""]
    lines.append(
        "MAE against the true bone age and AUC of the sex prediction, on the originals "
        "(`orig_*`) and on the outputs; `mean_abs_shift` is the mean |after - before| bone-age "
        "prediction, `flip_rate` the share of cases whose predicted sex flips."
        + (" Variants are averaged per case first." if result.preset.aggregate_variants else "")
    )
    lines += ["", to_markdown(headline_view(result))]
    intervals = interval_view(result)
    if not intervals.empty:
        lines += ["### With intervals and tests", "", to_markdown(intervals, digits=4)]
    lines += ["## Effect decomposition", ""]
    lines.append(
        "Each output O of original X with mask M is also scored as X outside M + O inside M "
        "(in-mask content only) and O outside M + X inside M (out-of-mask drift only); the "
        "`resample` control gives the geometry part. Shares are each part's change divided by "
        "the total change."
    )
    lines += ["", *decomposition_sentences(result), "", to_markdown(decomposition_view(result))]
    lines += ["## Metrics", ""]
    for label, table in metric_tables(result):
        lines += [f"### {label}", "", to_markdown(table)]
    for label, err in result.metric_errors.items():
        lines += [f"### {label}", "", f"Not computed: {err}", ""]
    lines += ["## Pixels", ""]
    lines.append(
        "Mean absolute change inside the mask, outside it (leakage) and over the hand, per "
        "inpainter (variants pooled)."
    )
    lines += ["", to_markdown(result.pixels.summary(), digits=5)]
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

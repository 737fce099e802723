"""The report's tables, built from an evaluation result, and Markdown/HTML renderings.

pandas renders HTML itself; Markdown tables are formatted here because pandas needs the
optional ``tabulate`` package for that, which radinpaint does not depend on.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from ..evaluation.result import EvaluationResult

__all__ = [
    "decomposition_view",
    "failures_view",
    "format_value",
    "headline_view",
    "metric_tables",
    "to_markdown",
]


def format_value(value: Any, digits: int = 3) -> str:
    """A cell as text: floats rounded, NaN and None as an empty cell."""
    if value is None:
        return ""
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return ""
        return f"{float(value):.{digits}f}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def to_markdown(df: pd.DataFrame, *, digits: int = 3, max_rows: int = 200) -> str:
    """A GitHub-flavoured Markdown table (at most ``max_rows`` rows, then a note)."""
    if df is None or df.empty:
        return "_(none)_\n"
    shown = df.head(max_rows)
    cols = [str(c) for c in shown.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in shown.itertuples(index=False):
        lines.append("| " + " | ".join(format_value(v, digits) for v in row) + " |")
    if len(df) > max_rows:
        lines.append(f"\n_{len(df) - max_rows} more rows in results.csv_")
    return "\n".join(lines) + "\n"


def headline_view(result: EvaluationResult) -> pd.DataFrame:
    """Per predictor and inpainter: MAE and AUC before and after, shift, flips."""
    head = result.headline()
    if head.empty:
        return head
    cols = [
        "predictor",
        "inpainter",
        "n",
        "orig_mae",
        "mae",
        "delta_mae",
        "orig_auc",
        "auc",
        "delta_auc",
        "mean_abs_shift",
        "flip_rate",
    ]
    return head[[c for c in cols if c in head.columns]]


def decomposition_view(result: EvaluationResult) -> pd.DataFrame:
    """The decomposition table with the columns a reader needs."""
    d = result.decomposition
    if d is None or d.empty:
        return pd.DataFrame()
    cols = [
        "predictor",
        "inpainter",
        "part",
        "delta_mae",
        "share_mae",
        "delta_auc",
        "share_auc",
        "mean_abs_shift",
        "share_shift",
        "flip_rate",
    ]
    return d[[c for c in cols if c in d.columns]]


def failures_view(result: EvaluationResult) -> pd.DataFrame:
    """Every failure, with its reason."""
    return result.failures


def metric_tables(result: EvaluationResult) -> list[tuple[str, pd.DataFrame]]:
    """For each metric: its headline values (one table) and its detailed table, if any."""
    out: list[tuple[str, pd.DataFrame]] = []
    for label, res in result.metrics.items():
        table = getattr(res, "table", None)
        if isinstance(table, pd.DataFrame) and not table.empty:
            out.append((label, table))
        elif res.values:
            values = pd.DataFrame([{"value": k, "": v} for k, v in res.values.items()])
            out.append((label, values))
    return out

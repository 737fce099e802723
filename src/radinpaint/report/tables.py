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
    from ..evaluation import EvaluationResult

__all__ = [
    "attribution_rows",
    "decomposition_view",
    "failures_view",
    "format_value",
    "headline_view",
    "interval_view",
    "metric_tables",
    "timing_view",
    "to_markdown",
    "views_view",
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


def _metric_total(result: EvaluationResult, label: str) -> pd.DataFrame | None:
    res = result.metrics.get(label)
    table = getattr(res, "table", None)
    if not isinstance(table, pd.DataFrame) or table.empty or "view" not in table.columns:
        return None
    rows = table[table["view"].isin(["total", "original"]) | (table["inpainter"] == "original")]
    return rows.set_index(["predictor", "inpainter"])


def _ci(row: pd.Series, name: str, digits: int = 2, sign: bool = False) -> str:
    value = row.get(name)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    fmt = f"{{:{'+' if sign else ''}.{digits}f}}"
    text = fmt.format(float(value))
    lo, hi = row.get(f"{name}_ci_low"), row.get(f"{name}_ci_high")
    if lo is not None and hi is not None and not (math.isnan(lo) or math.isnan(hi)):
        text += f" [{fmt.format(float(lo))}, {fmt.format(float(hi))}]"
    return text


def interval_view(result: EvaluationResult) -> pd.DataFrame:
    """The headline with the metric plugins' intervals and tests (total view).

    MAE and AUC with their CIs (``regression``/``classification``, else ``study``), the
    paired changes with CIs and p-values (``paired``: Wilcoxon on the errors and on the
    signed shift of the predictions, DeLong, McNemar), and the
    spread across variants (``consistency``). Columns whose metric did not run are left out.
    """
    reg = _metric_total(result, "regression")
    cls = _metric_total(result, "classification")
    study = _metric_total(result, "study")
    # the study's own intervals when its metric ran (the study preset): one CI per number
    reg = study if study is not None else reg
    cls = study if study is not None else cls
    paired = _metric_total(result, "paired")
    cons = _metric_total(result, "consistency")
    keys: list[tuple[str, str]] = []
    for table in (reg, cls, paired):
        if table is not None:
            keys += [k for k in table.index if k not in keys]
    keys.sort(key=lambda k: (k[0], k[1] != "original"))  # originals first, stable otherwise
    rows = []
    for key in keys:
        row: dict[str, Any] = {"predictor": key[0], "inpainter": key[1]}
        if reg is not None and key in reg.index:
            row["MAE [95% CI]"] = _ci(reg.loc[key], "mae")
        if cls is not None and key in cls.index:
            row["AUC [95% CI]"] = _ci(cls.loc[key], "auc", 3)
        if paired is not None and key in paired.index:
            p = paired.loc[key]
            row["delta MAE [95% CI]"] = _ci(p, "delta_mae", sign=True)
            row["Wilcoxon p"] = p.get("wilcoxon_p", math.nan)
            row["shift (months) [95% CI]"] = _ci(p, "shift", sign=True)
            row["shift p"] = p.get("shift_wilcoxon_p", math.nan)
            row["P(male) shift [95% CI]"] = _ci(p, "p_male_shift", 3, sign=True)
            row["P(male) shift p"] = p.get("p_male_shift_wilcoxon_p", math.nan)
            row["delta AUC [95% CI]"] = _ci(p, "delta_auc", 3, sign=True)
            row["DeLong p"] = p.get("delong_p", math.nan)
            row["McNemar p"] = p.get("mcnemar_p", math.nan)
        if cons is not None and key in cons.index:
            row["variant SD (months)"] = cons.loc[key].get("mean_sd", math.nan)
            row["variant sex flips"] = cons.loc[key].get("flip_rate", math.nan)
        rows.append(row)
    return pd.DataFrame(rows)


_ATTRIBUTION_COLUMNS = ("part", "shift", "shift_lo", "shift_hi", "shift_p", "share_shift")


def attribution_rows(result: EvaluationResult) -> pd.DataFrame:
    """The result's attribution table (``result.decomposition``), or an empty one when it
    has none or not the attribution's columns (a result built before it existed)."""
    d = result.decomposition
    if d is None or d.empty or not set(_ATTRIBUTION_COLUMNS) <= set(d.columns):
        return pd.DataFrame()
    return d


def _signed_ci(row: pd.Series, name: str, digits: int) -> str:
    """``+1.23 [+0.50, +2.00]``; empty when the value is missing."""
    value = row.get(name)
    if value is None or math.isnan(float(value)):
        return ""
    text = f"{float(value):+.{digits}f}"
    lo, hi = row.get(f"{name}_lo"), row.get(f"{name}_hi")
    if lo is not None and hi is not None and not (math.isnan(lo) or math.isnan(hi)):
        text += f" [{float(lo):+.{digits}f}, {float(hi):+.{digits}f}]"
    return text


def _share(row: pd.Series, name: str) -> str:
    """The part's share of the total, as a percentage; empty where it is not given (the part
    or the total is not distinguishable from zero)."""
    value = row.get(f"share_{name}")
    if value is None or math.isnan(float(value)):
        return ""
    return f"{100 * float(value):.0f}%"


def _p_text(value: Any) -> str:
    """A p-value as text: ``< 0.001``, three decimals, or ``1``; empty when missing."""
    if value is None or math.isnan(float(value)):
        return ""
    p = float(value)
    return "< 0.001" if p < 0.001 else ("1" if p >= 1.0 else f"{p:.3f}")


def _is_zero(row: pd.Series, name: str) -> bool:
    value = row.get(name)
    return value is None or math.isnan(float(value)) or float(value) == 0.0


def decomposition_view(result: EvaluationResult) -> pd.DataFrame:
    """The attribution of the signed shifts, as a reader needs it.

    One row per predictor x inpainter x part: the mean bone-age and P(male) shift with its
    interval, the Wilcoxon p-value and the share of the total (only where both the part and
    the total are distinguishable from zero). The residual part is left out where it is
    zero (it is zero up to rounding by construction); P(male) columns are left out when no
    predictor gives a P(male).
    """
    d = attribution_rows(result)
    if d.empty:
        return pd.DataFrame()
    level = f"{100 * float(d['confidence'].iloc[0]):g}%" if "confidence" in d.columns else "CI"
    sex = "p_male_shift" in d.columns and d["p_male_shift"].notna().any()
    rows = []
    for _, r in d.iterrows():
        if r["part"] == "residual" and _is_zero(r, "shift") and _is_zero(r, "p_male_shift"):
            continue
        row: dict[str, Any] = {
            "predictor": r["predictor"],
            "inpainter": r["inpainter"],
            "part": r["part"],
            "n": int(r["n"]),
            f"shift (months) [{level} CI]": _signed_ci(r, "shift", 2),
            "shift p": _p_text(r.get("shift_p")),
            "share of shift": _share(r, "shift"),
        }
        if sex:
            row[f"P(male) shift [{level} CI]"] = _signed_ci(r, "p_male_shift", 3)
            row["P(male) shift p"] = _p_text(r.get("p_male_shift_p"))
            row["share of P(male) shift"] = _share(r, "p_male_shift")
        rows.append(row)
    return pd.DataFrame(rows)


def views_view(result: EvaluationResult) -> pd.DataFrame:
    """MAE, AUC and prediction shifts of every view against the originals (not additive)."""
    v = result.views
    if v is None or v.empty:
        return pd.DataFrame()
    cols = [
        "predictor",
        "inpainter",
        "view",
        "n",
        "mae",
        "delta_mae",
        "auc",
        "delta_auc",
        "mean_shift",
        "mean_abs_shift",
        "mean_p_male_shift",
        "flip_rate",
    ]
    return v[[c for c in cols if c in v.columns]]


def timing_view(result: EvaluationResult) -> pd.DataFrame:
    """Wall seconds per phase and per backend, from the manifest."""
    timings = result.manifest.get("timings_s", {})
    return pd.DataFrame([{"phase": k.removesuffix("_s"), "seconds": v} for k, v in timings.items()])


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

"""The report's tables, built from an evaluation result, and Markdown/HTML renderings.

Every table lists the predictors and inpainters in the run's order (the headline's), the
originals first where they appear, and the decomposition views in their fixed order. The
metric tables are reshaped for reading (:func:`metric_sections`): the total view only (every
view is in ``results.json``), a value and its interval in one cell, notes as footnotes, one
row for a deterministic backend's identical variants, wide metrics split in two.

pandas renders HTML itself; Markdown tables are formatted here because pandas needs the
optional ``tabulate`` package for that, which radinpaint does not depend on.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..evaluation import VIEWS

if TYPE_CHECKING:
    from ..evaluation import EvaluationResult

__all__ = [
    "DETERMINISTIC",
    "ReportTable",
    "attribution_rows",
    "decomposition_view",
    "deterministic_inpainters",
    "failures_view",
    "for_display",
    "format_value",
    "generative_view",
    "headline_view",
    "in_run_order",
    "inpainter_order",
    "interval_tables",
    "interval_view",
    "metric_sections",
    "metric_tables",
    "pixel_tables",
    "predictor_order",
    "run_order",
    "timing_view",
    "to_markdown",
    "views_view",
]

ORIGINAL = "original"
"""``inpainter`` (and ``view``) of the rows that score the originals."""

DETERMINISTIC = "deterministic: one output"
"""What a per-variant or consistency table says for a backend scored once (its other
variants replicate variant 0)."""


@dataclass
class ReportTable:
    """A table as the report shows it.

    Attributes:
        title: its heading ("" for none).
        frame: the rows, ready to print.
        text: one line above it saying what it shows.
        notes: footnotes below it (their markers are in the rows).
        digits: decimals of plain float cells.
    """

    title: str
    frame: pd.DataFrame
    text: str = ""
    notes: list[str] = field(default_factory=list)
    digits: int = 3


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


# -- order ---------------------------------------------------------------------------------


def run_order(result: EvaluationResult, column: str) -> list[str]:
    """The labels of ``column`` (``"inpainter"`` or ``"predictor"``) in the run's order:
    as the evaluation listed its backends (the manifest), then any other label in the order
    the table first shows it. Inpainters start with ``"original"``."""
    kind = {"inpainter": "inpainters", "predictor": "predictors"}[column]
    backends = result.manifest.get("backends", {}) if isinstance(result.manifest, dict) else {}
    labels = [str(b.get("label")) for b in backends.get(kind, []) if b.get("label")]
    frame = result.table  # the headline's order: first seen in the table
    if isinstance(frame, pd.DataFrame) and not frame.empty and column in frame.columns:
        labels += [str(v) for v in frame[column].dropna().unique()]
    if column == "inpainter":
        labels.insert(0, ORIGINAL)
    return list(dict.fromkeys(labels))


def inpainter_order(result: EvaluationResult) -> list[str]:
    """Inpainter labels in the run's (the headline's) order, ``"original"`` first."""
    return run_order(result, "inpainter")


def predictor_order(result: EvaluationResult) -> list[str]:
    """Predictor labels in the run's order."""
    return run_order(result, "predictor")


def _ranks(values: pd.Series, order: Iterable[Any] | None) -> pd.Series:
    """Each value's place in ``order``; values not in it after those that are, in the order
    they first appear (numbers: in their own order)."""
    known: dict[Any, int] = {}
    if order is not None:
        known = {v: i for i, v in enumerate(dict.fromkeys(order))}
    else:
        numeric = pd.to_numeric(values, errors="coerce")
        if numeric.notna().sum() == values.notna().sum():  # numbers (and gaps) only
            return numeric.astype(float).fillna(-math.inf)
    extra = {v: len(known) + i for i, v in enumerate(values.unique()) if v not in known}
    return values.map(lambda v: known.get(v, extra.get(v, len(known))))


def in_run_order(df: pd.DataFrame, result: EvaluationResult) -> pd.DataFrame:
    """``df``'s rows by predictor, inpainter (originals first), view and variant, each in
    the run's order; rows equal on those keep their order (e.g. a decomposition's parts)."""
    if df is None or df.empty:
        return df
    orders: list[tuple[str, list[Any] | None]] = [
        ("predictor", predictor_order(result)),
        ("inpainter", inpainter_order(result)),
        ("view", [ORIGINAL, *VIEWS]),
        ("variant", None),
    ]
    keys = pd.DataFrame(
        {col: _ranks(df[col], order).to_numpy() for col, order in orders if col in df.columns}
    )
    if keys.empty:
        return df
    positions = keys.sort_values(list(keys.columns), kind="mergesort").index
    return df.iloc[positions].reset_index(drop=True)


def deterministic_inpainters(result: EvaluationResult) -> set[str]:
    """Inpainters scored once: declared deterministic, their other variants replicate
    variant 0 (``replicated`` rows), so their variants are identical by construction."""
    t = result.table
    if not isinstance(t, pd.DataFrame) or t.empty or "replicated" not in t.columns:
        return set()
    return {str(v) for v in t.loc[t["replicated"].eq(True), "inpainter"].unique()}


def for_display(df: pd.DataFrame | None, result: EvaluationResult) -> pd.DataFrame | None:
    """``df`` as a table shows it: without the ``predictor`` column when the run had one
    predictor (the run facts name it)."""
    if df is None or df.empty or "predictor" not in df.columns:
        return df
    if df["predictor"].nunique(dropna=False) == 1 and len(predictor_order(result)) <= 1:
        return df.drop(columns="predictor")
    return df


# -- cells ---------------------------------------------------------------------------------


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return math.isnan(float(value))
    except (TypeError, ValueError):
        return False


def _num(value: Any, digits: int, sign: bool = False) -> str:
    if _missing(value):
        return ""
    return f"{float(value):{'+' if sign else ''}.{digits}f}"


def _ci(row: pd.Series, name: str, digits: int = 2, sign: bool = False) -> str:
    """``value [low, high]`` from ``name``, ``name_ci_low`` and ``name_ci_high``."""
    text = _num(row.get(name), digits, sign)
    if not text:
        return ""
    lo, hi = row.get(f"{name}_ci_low"), row.get(f"{name}_ci_high")
    if not (_missing(lo) or _missing(hi)):
        text += f" [{_num(lo, digits, sign)}, {_num(hi, digits, sign)}]"
    return text


def _interval(row: pd.Series, low: str, high: str, digits: int, sign: bool = False) -> str:
    """``[low, high]`` from two columns; empty when either is missing."""
    lo, hi = row.get(low), row.get(high)
    if _missing(lo) or _missing(hi):
        return ""
    return f"[{_num(lo, digits, sign)}, {_num(hi, digits, sign)}]"


def _before_after(row: pd.Series, before: str, after: str, digits: int) -> str:
    """``before → after``; empty when either is missing."""
    a, b = row.get(before), row.get(after)
    if _missing(a) or _missing(b):
        return ""
    return f"{_num(a, digits)} → {_num(b, digits)}"


def _int(value: Any) -> str:
    return "" if _missing(value) else str(int(float(value)))


def _percent(value: Any, digits: int = 0) -> str:
    return "" if _missing(value) else f"{100 * float(value):.{digits}f}%"


def _p_text(value: Any) -> str:
    """A p-value as text: ``< 0.001``, three decimals, or ``1``; empty when missing."""
    if _missing(value):
        return ""
    p = float(value)
    return "< 0.001" if p < 0.001 else ("1" if p >= 1.0 else f"{p:.3f}")


def _line(slope: Any, intercept: Any) -> str:
    """A recalibration line as ``0.99 × pred − 3.4`` (slope 2 decimals, intercept in months
    to 1 decimal)."""
    if _missing(slope) or _missing(intercept):
        return ""
    b = float(intercept)
    return f"{float(slope):.2f} × pred {'−' if b < 0 else '+'} {abs(b):.1f}"


_SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


class _Footnotes:
    """Numbered footnotes, one per distinct text; :meth:`mark` gives a cell's marker."""

    def __init__(self, start: int = 1) -> None:
        self.start = start
        self.texts: list[str] = []

    def mark(self, text: Any) -> str:
        text = "" if _missing(text) else str(text).strip()
        if not text:
            return ""
        if text not in self.texts:
            self.texts.append(text)
        return str(self.start + self.texts.index(text)).translate(_SUPERSCRIPT)

    def lines(self) -> list[str]:
        return [
            f"{str(self.start + i).translate(_SUPERSCRIPT)} {t}" for i, t in enumerate(self.texts)
        ]


def _label(row: pd.Series, notes: _Footnotes | None, *texts: Any) -> str:
    """The row's inpainter, with the markers of its footnotes."""
    marks = [notes.mark(t) for t in texts] if notes is not None else []
    marks = list(dict.fromkeys(m for m in marks if m))
    return str(row.get("inpainter", "")) + (" " + " ".join(marks) if marks else "")


# -- headline and intervals ----------------------------------------------------------------


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
    return in_run_order(head[[c for c in cols if c in head.columns]], result)


def _metric_total(result: EvaluationResult, label: str) -> pd.DataFrame | None:
    res = result.metrics.get(label)
    table = getattr(res, "table", None)
    if not isinstance(table, pd.DataFrame) or table.empty or "view" not in table.columns:
        return None
    rows = table[table["view"].isin(["total", ORIGINAL]) | (table["inpainter"] == ORIGINAL)]
    return in_run_order(rows, result).set_index(["predictor", "inpainter"])


def _interval_parts(result: EvaluationResult) -> dict[str, pd.DataFrame | None]:
    reg = _metric_total(result, "regression")
    cls = _metric_total(result, "classification")
    study = _metric_total(result, "study")
    # the study's own intervals when its metric ran (the study preset): one CI per number
    return {
        "reg": study if study is not None else reg,
        "cls": study if study is not None else cls,
        "paired": _metric_total(result, "paired"),
        "cons": _metric_total(result, "consistency"),
    }


def _interval_keys(result: EvaluationResult, parts: dict[str, pd.DataFrame | None]) -> list:
    keys: list[tuple[str, str]] = []
    for name in ("reg", "cls", "paired"):
        table = parts[name]
        if table is not None:
            keys += [k for k in table.index if k not in keys]
    frame = pd.DataFrame(keys, columns=["predictor", "inpainter"])
    if frame.empty:
        return []
    return list(in_run_order(frame, result).itertuples(index=False, name=None))


def interval_view(result: EvaluationResult) -> pd.DataFrame:
    """The headline with the metric plugins' intervals and tests (total view), one wide
    table (:func:`interval_tables` splits it for the report).

    MAE and AUC with their CIs (``regression``/``classification``, else ``study``), the
    paired changes with CIs and p-values (``paired``: Wilcoxon on the errors and on the
    signed shift of the predictions, DeLong, McNemar), and the
    spread across variants (``consistency``). Columns whose metric did not run are left out.
    Rows in the run's order, the originals first.
    """
    parts = _interval_parts(result)
    reg, cls, paired, cons = parts["reg"], parts["cls"], parts["paired"], parts["cons"]
    rows = []
    for key in _interval_keys(result, parts):
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


def interval_tables(result: EvaluationResult) -> list[ReportTable]:
    """:func:`interval_view` as the report shows it: a bone-age table and a sex table, each
    value with its interval in one cell, p-values as text, and ``deterministic: one
    output`` for the spread across the variants of a backend scored once."""
    parts = _interval_parts(result)
    reg, cls, paired, cons = parts["reg"], parts["cls"], parts["paired"], parts["cons"]
    once = deterministic_inpainters(result)
    bone: list[dict[str, Any]] = []
    sex: list[dict[str, Any]] = []

    def spread(key: tuple[str, str], column: str, digits: int) -> str:
        if cons is None or key not in cons.index:
            return ""
        if key[1] in once:
            return DETERMINISTIC
        return _num(cons.loc[key].get(column), digits)

    for key in _interval_keys(result, parts):
        b: dict[str, Any] = {"predictor": key[0], "inpainter": key[1]}
        s: dict[str, Any] = dict(b)
        if reg is not None and key in reg.index:
            b["MAE [95% CI]"] = _ci(reg.loc[key], "mae")
        if cls is not None and key in cls.index:
            s["AUC [95% CI]"] = _ci(cls.loc[key], "auc", 3)
        if paired is not None:
            p = paired.loc[key] if key in paired.index else pd.Series(dtype=object)
            b["ΔMAE [95% CI]"] = _ci(p, "delta_mae", sign=True)
            b["ΔMAE p (Wilcoxon)"] = _p_text(p.get("wilcoxon_p"))
            b["shift (months) [95% CI]"] = _ci(p, "shift", sign=True)
            b["shift p"] = _p_text(p.get("shift_wilcoxon_p"))
            s["ΔAUC [95% CI]"] = _ci(p, "delta_auc", 3, sign=True)
            s["ΔAUC p (DeLong)"] = _p_text(p.get("delong_p"))
            s["P(male) shift [95% CI]"] = _ci(p, "p_male_shift", 3, sign=True)
            s["P(male) shift p"] = _p_text(p.get("p_male_shift_wilcoxon_p"))
            s["sex flips p (McNemar)"] = _p_text(p.get("mcnemar_p"))
        if cons is not None:
            b["variant SD (months)"] = spread(key, "mean_sd", 2)
            s["sex flips across variants"] = spread(key, "flip_rate", 3)
        bone.append(b)
        sex.append(s)
    out = []
    bone_frame, sex_frame = pd.DataFrame(bone), pd.DataFrame(sex)
    if len(bone_frame.columns) > 2:
        out.append(
            ReportTable(
                "Bone age",
                bone_frame,
                "MAE against the true bone age with its 95% CI, its change against the "
                "originals (Wilcoxon on the absolute errors) and the mean signed shift of "
                "the prediction (Wilcoxon signed-rank); variant SD: mean per-case SD across "
                "variants.",
            )
        )
    if len(sex_frame.columns) > 2:
        out.append(
            ReportTable(
                "Sex",
                sex_frame,
                "AUC of the sex prediction with its 95% CI, its change (DeLong), the mean "
                "shift of P(male) (Wilcoxon signed-rank) and whether the predicted sex flips "
                "(McNemar); across variants: share of cases whose variants disagree.",
            )
        )
    return out


# -- attribution ---------------------------------------------------------------------------

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
    text = _num(row.get(name), digits, sign=True)
    if not text:
        return ""
    interval = _interval(row, f"{name}_lo", f"{name}_hi", digits, sign=True)
    return f"{text} {interval}" if interval else text


def _share(row: pd.Series, name: str) -> str:
    """The part's share of the total, as a percentage; empty where it is not given (the part
    or the total is not distinguishable from zero)."""
    return _percent(row.get(f"share_{name}"))


def _is_zero(row: pd.Series, name: str) -> bool:
    value = row.get(name)
    return _missing(value) or float(value) == 0.0


def decomposition_view(result: EvaluationResult) -> pd.DataFrame:
    """The attribution of the signed shifts, as a reader needs it.

    One row per predictor x inpainter x part (in the run's order): the mean bone-age and
    P(male) shift with its interval, the Wilcoxon p-value and the share of the total (only
    where both the part and the total are distinguishable from zero). The residual part is
    left out where it is zero (it is zero up to rounding by construction); P(male) columns
    are left out when no predictor gives a P(male).
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
    return in_run_order(pd.DataFrame(rows), result)


def views_view(result: EvaluationResult) -> pd.DataFrame:
    """MAE, AUC and prediction shifts of every view against the originals (not additive),
    in the run's order and the views' order."""
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
    return in_run_order(v[[c for c in cols if c in v.columns]], result)


def timing_view(result: EvaluationResult) -> pd.DataFrame:
    """Wall seconds per phase and per backend, from the manifest."""
    timings = result.manifest.get("timings_s", {})
    return pd.DataFrame([{"phase": k.removesuffix("_s"), "seconds": v} for k, v in timings.items()])


def failures_view(result: EvaluationResult) -> pd.DataFrame:
    """Every failure, with its reason."""
    return result.failures


# -- metrics -------------------------------------------------------------------------------


def metric_tables(result: EvaluationResult) -> list[tuple[str, pd.DataFrame]]:
    """For each metric: its headline values (one table) or its detailed table, as computed
    (every view; :func:`metric_sections` gives the report's reading of them)."""
    out: list[tuple[str, pd.DataFrame]] = []
    for label, res in result.metrics.items():
        table = getattr(res, "table", None)
        if isinstance(table, pd.DataFrame) and not table.empty:
            out.append((label, table))
        elif res.values:
            values = pd.DataFrame([{"value": k, "": v} for k, v in res.values.items()])
            out.append((label, values))
    return out


_Column = tuple[str, Callable[[pd.Series], Any]]

_CALIBRATION_TEXT = (
    "Line: true bone age ≈ slope × prediction + intercept (months; 1.00 × pred + 0.0 changes "
    "nothing). An in-sample line is fitted and scored on the same rows, so it flatters "
    "itself; a cross-validated one scores each case with a line fitted on other cases. "
    "Recovered: share of the MAE rise undone, (after − calibrated) / (after − original)."
)

_STUDY_TEXT = (
    "The study's scoring: variants averaged per case, percentile bootstrap CIs. In-sample "
    "line: original image's prediction ≈ slope × output's prediction + intercept (months; "
    "1.00 × pred + 0.0: the output reads like the original; a slope far from 1: its "
    "predictions barely follow the original's), fitted and scored on the same rows, so it "
    "flatters itself. Calibrated MAE: the line's values against the original image's "
    "prediction, not the true age. Variant SD and flips: spread across each case's variants."
)

_METRIC_TEXT = {
    "regression": "Bone-age MAE, RMSE and bias (mean of prediction − truth, months) "
    "against the true bone age, with 95% CIs.",
    "classification": "Sex: accuracy at P(male) ≥ 0.5 and AUC with DeLong's 95% CI and a "
    "stratified bootstrap CI.",
    "consistency": "Spread of the bone-age prediction across each case's variants (months) "
    "and the share of cases whose variants disagree on the sex.",
}


def _cells(
    rows: pd.DataFrame, columns: list[_Column], notes: _Footnotes, note_cols: list[str]
) -> pd.DataFrame:
    out = []
    for _, r in rows.iterrows():
        row: dict[str, Any] = {
            "predictor": r.get("predictor"),
            "inpainter": _label(r, notes, *(r.get(c) for c in note_cols)),
        }
        row.update({name: fn(r) for name, fn in columns})
        out.append(row)
    frame = pd.DataFrame(out)
    if "predictor" in frame.columns and frame["predictor"].isna().all():
        frame = frame.drop(columns="predictor")
    return frame


def _pick(fn: Callable[[pd.Series, str], Any], name: str) -> Callable[[pd.Series], Any]:
    """``fn(row, name)`` as a function of the row."""

    def cell(row: pd.Series) -> Any:
        return fn(row, name)

    return cell


def _regression_columns(r: pd.Series) -> dict[str, str]:
    return {
        "MAE [95% CI]": _ci(r, "mae"),
        "RMSE [95% CI]": _ci(r, "rmse"),
        "bias [95% CI]": _ci(r, "bias", sign=True),
    }


def _regression(rows: pd.DataFrame, result: EvaluationResult, notes: _Footnotes) -> list:
    per_variant = "variant" in rows.columns
    once = deterministic_inpainters(result) if per_variant else set()
    if per_variant:
        # a backend scored once: its variants are identical rows, shown as one
        first = rows.groupby(["predictor", "inpainter", "view"], sort=False)["variant"]
        keep = ~rows["inpainter"].isin(once) | rows["variant"].eq(first.transform("min"))
        rows = rows[keep]
    columns: list[_Column] = []
    if per_variant:
        columns.append(
            ("variant", lambda r: DETERMINISTIC if r["inpainter"] in once else _int(r["variant"]))
        )
    columns.append(("n", lambda r: _int(r.get("n"))))
    columns += [(name, _pick(lambda r, n: _regression_columns(r)[n], name))
                for name in ("MAE [95% CI]", "RMSE [95% CI]", "bias [95% CI]")]  # fmt: skip
    return [(_cells(rows, columns, notes, ["note"]), _METRIC_TEXT["regression"])]


def _classification(rows: pd.DataFrame, result: EvaluationResult, notes: _Footnotes) -> list:
    def n(r: pd.Series) -> str:
        if _missing(r.get("n_male")) or _missing(r.get("n_female")):
            return _int(r.get("n"))
        return f"{_int(r.get('n'))} ({_int(r['n_male'])} M, {_int(r['n_female'])} F)"

    columns: list[_Column] = [
        ("n", n),
        ("accuracy", lambda r: _num(r.get("accuracy"), 3)),
        ("AUC [95% CI, DeLong]", lambda r: _ci(r, "auc", 3)),
        ("bootstrap CI", lambda r: _interval(r, "auc_boot_ci_low", "auc_boot_ci_high", 3)),
    ]
    return [(_cells(rows, columns, notes, ["note"]), _METRIC_TEXT["classification"])]


def _paired(rows: pd.DataFrame, result: EvaluationResult, notes: _Footnotes) -> list:
    bone: list[_Column] = [
        ("n", lambda r: _int(r.get("n_bone_age"))),
        ("MAE before → after", lambda r: _before_after(r, "mae_original", "mae_after", 2)),
        ("ΔMAE [95% CI]", lambda r: _ci(r, "delta_mae", sign=True)),
        ("Wilcoxon p", lambda r: _p_text(r.get("wilcoxon_p"))),
        ("ΔRMSE [95% CI]", lambda r: _ci(r, "delta_rmse", sign=True)),
        ("shift [95% CI]", lambda r: _ci(r, "shift", sign=True)),
        ("shift p", lambda r: _p_text(r.get("shift_wilcoxon_p"))),
        ("age bands p (Stuart-Maxwell)", lambda r: _p_text(r.get("stuart_maxwell_p"))),
    ]

    def flips(r: pd.Series) -> str:
        f, m = r.get("flips_to_female"), r.get("flips_to_male")
        if _missing(f) or _missing(m):
            return ""
        p = _p_text(r.get("mcnemar_p"))
        return f"{_int(f)} / {_int(m)}" + (
            f" (p {p})" if p.startswith("<") else f" (p = {p})" if p else ""
        )

    sex: list[_Column] = [
        ("n", lambda r: _int(r.get("n_sex"))),
        ("accuracy before → after",
         lambda r: _before_after(r, "accuracy_original", "accuracy_after", 3)),
        ("AUC before → after", lambda r: _before_after(r, "auc_original", "auc_after", 3)),
        ("ΔAUC [95% CI, DeLong]", lambda r: _ci(r, "delta_auc", 3, sign=True)),
        ("DeLong p", lambda r: _p_text(r.get("delong_p"))),
        ("bootstrap CI",
         lambda r: _interval(r, "delta_auc_boot_ci_low", "delta_auc_boot_ci_high", 3, True)),
        ("P(male) shift [95% CI]", lambda r: _ci(r, "p_male_shift", 3, sign=True)),
        ("P(male) p", lambda r: _p_text(r.get("p_male_shift_wilcoxon_p"))),
        ("sex flips to F / M (McNemar p)", flips),
    ]  # fmt: skip
    out = []
    if "delta_mae" in rows.columns:
        text = ("MAE before and after, its change with the Wilcoxon test on the "
                "absolute errors, the mean signed shift of the prediction (months) with the "
                "Wilcoxon signed-rank test, and whether the predictions move between age "
                "bands (Stuart-Maxwell).")  # fmt: skip
        out.append((_cells(rows, bone, notes, ["note"]), text, "Bone age"))
    if "delta_auc" in rows.columns:
        text = ("Accuracy and AUC before and after, the change in AUC (DeLong, and a "
                "paired bootstrap CI), the mean shift of P(male) (Wilcoxon signed-rank), and "
                "the cases whose predicted sex flips to female / to male (McNemar).")  # fmt: skip
        out.append((_cells(rows, sex, notes, ["note"]), text, "Sex"))
    return out


def _consistency(rows: pd.DataFrame, result: EvaluationResult, notes: _Footnotes) -> list:
    once = deterministic_inpainters(result)

    def cell(fn: Callable[[pd.Series], str]) -> Callable[[pd.Series], str]:
        return lambda r: "" if r["inpainter"] in once else fn(r)

    def flips(r: pd.Series) -> str:
        rate = _num(r.get("flip_rate"), 3)
        return f"{rate} ({_int(r.get('n_flipped'))})" if rate and "n_flipped" in r else rate

    columns: list[_Column] = [
        ("cases", lambda r: _int(r.get("n_cases"))),
        ("variants",
         lambda r: DETERMINISTIC if r["inpainter"] in once else _int(r.get("max_variants"))),
        ("mean SD", cell(lambda r: _num(r.get("mean_sd"), 2))),
        ("median SD", cell(lambda r: _num(r.get("median_sd"), 2))),
        ("mean range", cell(lambda r: _num(r.get("mean_range"), 2))),
        ("sex flips (cases)", cell(flips)),
    ]  # fmt: skip
    rows = rows.assign(note=[("" if r["inpainter"] in once else r.get("note", ""))
                             for _, r in rows.iterrows()])  # fmt: skip
    return [(_cells(rows, columns, notes, ["note"]), _METRIC_TEXT["consistency"])]


def _calibration(rows: pd.DataFrame, result: EvaluationResult, notes: _Footnotes) -> list:
    paired = _metric_total(result, "paired")
    hidden = "the MAE did not rise distinguishably from zero (paired ΔMAE CI): nothing to recover"

    def rose(r: pd.Series) -> bool:
        key = (r.get("predictor"), r.get("inpainter"))
        if paired is not None and key in paired.index:
            low = paired.loc[key].get("delta_mae_ci_low")
            return not _missing(low) and float(low) > 0
        after, before = r.get("mae_after"), r.get("mae_original")
        return not (_missing(after) or _missing(before)) and float(after) > float(before)

    def recovered(name: str) -> Callable[[pd.Series], str]:
        return lambda r: _percent(r.get(f"recovered_{name}")) if rose(r) else ""

    columns: list[_Column] = [
        ("cases", lambda r: _int(r.get("n_cases"))),
        ("MAE before → after", lambda r: _before_after(r, "mae_original", "mae_after", 2)),
    ]
    if "slope" in rows.columns:
        columns += [
            ("in-sample line", lambda r: _line(r.get("slope"), r.get("intercept"))),
            ("in-sample MAE", lambda r: _num(r.get("mae_in_sample"), 2)),
            ("in-sample recovered", recovered("in_sample")),
        ]
    if "cv_slope" in rows.columns:
        columns += [
            ("cross-validated line", lambda r: _line(r.get("cv_slope"), r.get("cv_intercept"))),
            ("cross-validated MAE", lambda r: _num(r.get("mae_cross_validated"), 2)),
            ("cross-validated recovered", recovered("cross_validated")),
        ]
    why = ["" if rose(r) or (not _missing(r.get("note")) and r.get("note")) else hidden
           for _, r in rows.iterrows()]  # fmt: skip
    rows = rows.assign(why=why)
    return [(_cells(rows, columns, notes, ["note", "why"]), _CALIBRATION_TEXT)]


def _study(rows: pd.DataFrame, result: EvaluationResult, notes: _Footnotes) -> list:
    once = deterministic_inpainters(result)
    columns: list[_Column] = [
        ("cases", lambda r: _int(r.get("n_cases"))),
        ("MAE [95% CI]", lambda r: _ci(r, "mae")),
        ("RMSE [95% CI]", lambda r: _ci(r, "rmse")),
        ("AUC [95% CI]", lambda r: _ci(r, "auc", 3)),
        ("accuracy", lambda r: _num(r.get("accuracy"), 3)),
        ("calibrated MAE", lambda r: _num(r.get("calibrated_mae"), 2)),
        ("in-sample line", lambda r: _line(r.get("slope"), r.get("intercept"))),
        ("variant SD",
         lambda r: DETERMINISTIC if r["inpainter"] in once else _num(r.get("mean_sd"), 2)),
        ("variant flips",
         lambda r: "" if r["inpainter"] in once else _num(r.get("flip_rate"), 3)),
    ]  # fmt: skip
    return [(_cells(rows, columns, notes, ["note"]), _STUDY_TEXT)]


_MAX_GENERIC_COLUMNS = 6
"""Value columns per table for a metric the report has no layout for (then split)."""


def _generic(rows: pd.DataFrame, result: EvaluationResult, notes: _Footnotes) -> list:
    """A plugin metric's table: each value with its interval in one cell (``x``,
    ``x_ci_low``, ``x_ci_high``), standard errors left out, notes as footnotes, and split
    into tables of at most :data:`_MAX_GENERIC_COLUMNS` value columns."""
    skip = {"inpainter", "predictor", "view", "note"}
    names = [str(c) for c in rows.columns if c not in skip]
    folded = {f"{n}_ci_low" for n in names} | {f"{n}_ci_high" for n in names}
    folded |= {f"{n}_se" for n in names}
    columns: list[_Column] = []
    for name in names:
        if name in folded and name.rsplit("_", 2)[0] in names:
            continue
        if f"{name}_ci_low" in rows.columns and f"{name}_ci_high" in rows.columns:
            columns.append((f"{name} [CI]", _pick(lambda r, n: _ci(r, n, 3), name)))
        elif name == "variant":
            columns.append((name, lambda r: _int(r.get("variant"))))
        else:
            columns.append((name, _pick(lambda r, n: r.get(n), name)))
    size = _MAX_GENERIC_COLUMNS
    groups = [columns[i : i + size] for i in range(0, len(columns), size)] or [[]]
    return [(_cells(rows, group, notes, ["note"]), "") for group in groups]


def _saliency_shift(rows: pd.DataFrame, result: EvaluationResult, notes: _Footnotes) -> list:
    """The ``saliency-shift`` metric: :func:`radinpaint.report.saliency.shift_table`."""
    from .saliency import shift_table

    table = shift_table(rows)
    return [(table.frame, table.text)]


def _sig(value: Any, digits: int = 3) -> str:
    return "" if _missing(value) else f"{float(value):.{digits}g}"


def generative_view(rows: pd.DataFrame) -> pd.DataFrame:
    """The ``generative`` metric's tidy rows, one row per inpainter x variant: each
    statistic's value, ``<stat>_ci_low``, ``<stat>_ci_high``, with ``n_cases``,
    ``n_outputs`` and the notes of FID and KID (``note_distances``) and of the others
    (``note_prdc``); notes about a single-point interval are left out: the interval shows
    it."""
    out: list[dict[str, Any]] = []
    for (label, variant), group in rows.groupby(["inpainter", "variant"], sort=False):
        row: dict[str, Any] = {"inpainter": label, "variant": variant}
        notes: dict[str, list[str]] = {"note_distances": [], "note_prdc": []}
        for _, r in group.iterrows():
            stat = str(r["metric"])
            row[stat], row[f"{stat}_ci_low"], row[f"{stat}_ci_high"] = (
                r["value"], r["ci_low"], r["ci_high"])  # fmt: skip
            row["n_cases"], row["n_outputs"] = r["n_cases"], r["n_outputs"]
            kept = notes["note_distances" if stat in ("fid", "kid") else "note_prdc"]
            for part in str(r.get("note") or "").split("; "):
                if part and "single point" not in part and part not in kept:
                    kept.append(part)
        row.update({key: "; ".join(parts) for key, parts in notes.items()})
        out.append(row)
    return pd.DataFrame(out)


def _generative(rows: pd.DataFrame, result: EvaluationResult, notes: _Footnotes) -> list:
    """The ``generative`` metric: distances (FID, KID) and precision, recall, density and
    coverage, per inpainter and variant (``pooled``: every variant together)."""
    wide = generative_view(rows)
    if wide.empty:
        return []
    features = str(rows["features"].iloc[0]) if "features" in rows.columns else ""

    def ci(stat: str) -> Callable[[pd.Series], str]:
        def cell(r: pd.Series) -> str:
            if _missing(r.get(stat)):
                return ""
            low, high = r.get(f"{stat}_ci_low"), r.get(f"{stat}_ci_high")
            if _missing(low) or _missing(high):
                return _sig(r[stat])
            return f"{_sig(r[stat])} [{_sig(low)}, {_sig(high)}]"

        return cell

    head: list[_Column] = [
        ("variant", lambda r: str(r.get("variant"))),
        ("cases", lambda r: _int(r.get("n_cases"))),
        ("outputs", lambda r: _int(r.get("n_outputs"))),
    ]
    distances = [*head, ("FID [95% CI]", ci("fid")), ("KID [95% CI]", ci("kid"))]
    prdc = [*head[:2]] + [(f"{s} [95% CI]", ci(s))
                          for s in ("precision", "recall", "density", "coverage")]  # fmt: skip
    text = (
        f"Originals against each inpainter's outputs, in the features of {features}: "
        "Fréchet distance (FID) and kernel distance (KID, cubic polynomial kernel, "
        "U-statistic over pairs of different cases); 0 means the same distribution. FID is "
        "biased upwards with few cases: compare values at the same number of cases. "
        "Intervals: basic bootstrap over cases."
    )
    text2 = (
        "Precision (outputs that look like some original), recall (originals some output "
        "resembles), density and coverage (Naeem et al. 2020, k-nearest-neighbour balls); "
        "identical sets give 1, 1, 1, 1."
    )
    return [
        (_cells(wide, distances, notes, ["note_distances"]), text, "Distances"),
        (_cells(wide, prdc, notes, ["note_prdc"]), text2, "Fidelity and diversity"),
    ]


_LAYOUTS: dict[str, Callable[[pd.DataFrame, EvaluationResult, _Footnotes], list]] = {
    "regression": _regression,
    "classification": _classification,
    "paired": _paired,
    "consistency": _consistency,
    "calibration": _calibration,
    "study": _study,
    "generative": _generative,
    "saliency-shift": _saliency_shift,
}


def metric_sections(result: EvaluationResult) -> list[tuple[str, list[ReportTable]]]:
    """Each metric as the report shows it: its label and one or more tables.

    The total view and the originals' rows only (every view of every metric is in
    ``results.json``), in the run's order; the built-in metrics get a layout each (a value
    and its CI in one cell, p-values as text, a calibration line with its explanation,
    ``paired`` split into a bone-age and a sex table); any other metric's table is folded
    the same way and split when wide. Notes become footnotes. A metric that gave values
    only shows them as a two-column table.
    """
    out: list[tuple[str, list[ReportTable]]] = []
    for label, res in result.metrics.items():
        table = getattr(res, "table", None)
        if not isinstance(table, pd.DataFrame) or table.empty:
            if res.values:
                values = pd.DataFrame([{"value": k, "": v} for k, v in res.values.items()])
                out.append((label, [ReportTable("", values)]))
            continue
        rows = table
        other_views = False
        if "view" in rows.columns:
            total = rows["view"].isin(["total", ORIGINAL])
            if "inpainter" in rows.columns:
                total |= rows["inpainter"].eq(ORIGINAL)
            other_views = bool((~total).any())
            rows = rows[total]
        if "inpainter" not in rows.columns:
            rows = rows.assign(inpainter="")
        rows = in_run_order(rows, result)
        notes = _Footnotes()
        layout = _LAYOUTS.get(str(getattr(res, "name", label)), _generic)
        tables = []
        for frame, text, *title in layout(rows, result, notes):
            tables.append(ReportTable(title[0] if title else "", frame, text))
        if tables:
            tables[-1].notes = notes.lines()
            if other_views:
                tables[-1].notes.append(
                    f"Total view only; every view: results.json (metrics → {label} → table)."
                )
        out.append((label, tables))
    return out


# -- pixels --------------------------------------------------------------------------------

_PIXEL_TEXT = (
    "Mean absolute change of the intensities (0 to 1) inside the mask, outside it (leakage) "
    "and over the hand, per inpainter (every output computed; a deterministic backend's "
    "replicated variants are not counted again)."
)


def pixel_tables(result: EvaluationResult) -> list[ReportTable]:
    """The pixel summary in three tables that fit a page: change per region; leakage outside
    the mask (outputs with detail); distances between intensity distributions (KS /
    Wasserstein), per output and pooled."""
    px = result.pixels.summary()
    if px is None or px.empty:
        return []
    px = in_run_order(px, result)
    cols = set(px.columns)

    def num(name: str, digits: int) -> Callable[[pd.Series], str]:
        return lambda r: _num(r.get(name), digits)

    def pair(ks: str, w: str) -> Callable[[pd.Series], str]:
        def cell(r: pd.Series) -> str:
            if _missing(r.get(ks)) or _missing(r.get(w)):
                return ""
            return f"{float(r[ks]):.3f} / {float(r[w]):.4f}"

        return cell

    def psnr(r: pd.Series) -> str:
        value = r.get("leak_psnr")
        if _missing(value):
            return ""
        return "∞ (no change)" if math.isinf(float(value)) else f"{float(value):.1f}"

    change: list[tuple[str, str, Callable[[pd.Series], str]]] = [
        ("n_outputs", "outputs", lambda r: _int(r.get("n_outputs"))),
        ("mask_fraction", "mask area", lambda r: _percent(r.get("mask_fraction"), 1)),
        ("change_in_mask", "in mask", num("change_in_mask", 4)),
        ("change_out_of_mask", "out of mask", num("change_out_of_mask", 4)),
        ("max_change_out_of_mask", "max out of mask", num("max_change_out_of_mask", 3)),
        ("changed_fraction_out_of_mask", "changed out of mask",
         lambda r: _percent(r.get("changed_fraction_out_of_mask"), 1)),
        ("change_hand", "hand", num("change_hand", 4)),
        ("mean_output", "mean before → after",
         lambda r: _before_after(r, "mean_original", "mean_output", 4)),
        ("sd_output", "SD before → after",
         lambda r: _before_after(r, "sd_original", "sd_output", 4)),
    ]  # fmt: skip
    leak: list[tuple[str, str, Callable[[pd.Series], str]]] = [
        ("leak_changed_fraction", "changed pixels",
         lambda r: _percent(r.get("leak_changed_fraction"), 1)),
        ("leak_ssim", "SSIM", num("leak_ssim", 4)),
        ("leak_psnr", "PSNR (dB)", psnr),
    ]  # fmt: skip
    regions = ("image", "in-mask", "out-of-mask", "anatomy")
    dist: list[tuple[str, str, Callable[[pd.Series], str]]] = [
        (f"ks_{g}", g, pair(f"ks_{g}", f"wasserstein_{g}")) for g in regions
    ]
    dist += [
        (f"pooled_ks_{g}", f"pooled: {g}", pair(f"pooled_ks_{g}", f"pooled_wasserstein_{g}"))
        for g in ("image", "hand")
    ]
    specs = [
        ("Change per region", change, _PIXEL_TEXT),
        ("Leakage outside the mask", leak,
         "Outside the mask: share of pixels changed, SSIM and PSNR against the original "
         "(outputs with detail: the first cases)."),
        ("Intensity distributions", dist,
         "Distance between the output's and the original's intensity distributions, "
         "Kolmogorov-Smirnov / Wasserstein, per region (outputs with detail, averaged), and "
         "between the pooled histograms of every output."),
    ]  # fmt: skip
    out = []
    for title, columns, text in specs:
        present = [(name, fn) for key, name, fn in columns if key in cols]
        if not present:
            continue
        rows = [{"inpainter": r["inpainter"], **{n: fn(r) for n, fn in present}}
                for _, r in px.iterrows()]  # fmt: skip
        out.append(ReportTable(title, pd.DataFrame(rows), text))
    return out

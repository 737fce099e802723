"""Where an inpainter's effect on the predictions comes from.

Three factors turn an original ``X`` into the scored output ``O``:

- **geometry**: the backend's own placement round trip (resize or squash, 8-bit); absent
  for backends that never resample;
- **redraw**: changes outside the artifact mask;
- **content**: new content inside the mask.

Each view of an output is the original with a subset of the factors applied
(:data:`VIEW_FACTORS`); the original itself (no factor) is the ``orig_pred_*`` columns of
every row. With all seven views scored, the signed shift of a prediction,
``pred(O) - pred(X)``, is split per case into one part per factor by the Shapley value:
the factor's marginal effect ``pred(T + f) - pred(T)`` averaged over every order in which
the factors can be added (:func:`decomposition_table`). The parts add up to the total
shift, interactions included, whatever the effects are. MAE and AUC are not additive; they
are reported per view (:func:`views_table`), never split.

:func:`summary_paragraph` says in plain words which effects are distinguishable from zero
and where they come from.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from ..metrics import stats
from ..metrics.bootstrap import bootstrap_ci
from ..metrics.paired import signed_shift_test

__all__ = [
    "DECOMPOSITION_COLUMNS",
    "FACTORS",
    "PARTS",
    "VIEW_COLUMNS",
    "VIEW_FACTORS",
    "average_variants",
    "decomposition_table",
    "effect_summary",
    "summary_paragraph",
    "views_table",
]

FACTORS: tuple[str, ...] = ("geometry", "redraw", "content")
"""The factors an output's effect is attributed to (see the module docs)."""

VIEW_FACTORS: dict[str, frozenset[str]] = {
    "geometry": frozenset({"geometry"}),
    "out-of-mask": frozenset({"redraw"}),
    "in-mask": frozenset({"content"}),
    "edit": frozenset({"redraw", "content"}),
    "geometry+out-of-mask": frozenset({"geometry", "redraw"}),
    "geometry+in-mask": frozenset({"geometry", "content"}),
    "total": frozenset(FACTORS),
}
"""View -> the factors applied to the original to make it; the original has none."""

PARTS: tuple[str, ...] = ("total", *FACTORS, "residual")
"""The parts of :func:`decomposition_table`, in its row order."""

_QUANTITIES: tuple[tuple[str, str, str], ...] = (
    ("shift", "pred_bone_age", "orig_pred_bone_age"),
    ("p_male_shift", "pred_p_male", "orig_pred_p_male"),
)
"""(column prefix, prediction on the view, prediction on the original)."""

DECOMPOSITION_COLUMNS: tuple[str, ...] = (
    "predictor",
    "inpainter",
    "part",
    "n",
    "n_incomplete",
    "confidence",
    *(
        col
        for q, _, _ in _QUANTITIES
        for col in (q, f"{q}_lo", f"{q}_hi", f"{q}_p", f"{q}_nonzero", f"share_{q}")
    ),
)
"""The columns of :func:`decomposition_table`."""

VIEW_COLUMNS: tuple[str, ...] = (
    "predictor",
    "inpainter",
    "view",
    "n",
    "mae",
    "orig_mae",
    "delta_mae",
    "auc",
    "orig_auc",
    "delta_auc",
    "mean_shift",
    "mean_abs_shift",
    "mean_p_male_shift",
    "flip_rate",
)
"""The columns of :func:`views_table`."""

_RESIDUE = 1e-9
"""A residual below this (months, or probability) is floating-point rounding: set to 0."""

_PART_NAMES: dict[str, str] = {
    "geometry": "the geometry round trip",
    "redraw": "redrawing outside the mask",
    "content": "the new content inside the mask",
}


# -- shared per-view statistics ------------------------------------------------------------


def _ok_rows(table: pd.DataFrame) -> pd.DataFrame:
    """Rows without an error (an empty ``error`` text counts as none)."""
    if "error" not in table.columns:
        return table
    return table[table["error"].isna() | (table["error"] == "")]


def average_variants(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per predictor x inpainter x view x case: the mean over its variants.

    :func:`radinpaint.metrics.stats.case_means`, as the metric plugins average variants; a
    case's truth and original predictions, equal in every variant, come out unchanged.
    """
    cols = ["true_bone_age", "true_male", "pred_bone_age", "pred_p_male"]
    cols += ["orig_pred_bone_age", "orig_pred_p_male"]
    return stats.case_means(rows, ["predictor", "inpainter", "view", "case_id"], cols, sort=False)


def _auc(truth: np.ndarray, score: np.ndarray) -> float:
    truth, score = stats.complete(truth, score)
    return float(stats.auc(truth >= 0.5, score))


def _mae(truth: np.ndarray, pred: np.ndarray) -> float:
    truth, pred = stats.complete(truth, pred)
    return float(stats.mae(truth, pred))


def effect_summary(rows: pd.DataFrame) -> dict[str, float]:
    """Effect of one group of rows (one predictor x inpainter x view) on the predictions.

    Returns MAE and AUC on the view and on the originals, their differences, the mean
    signed and absolute bone-age shift against the original's prediction, the mean signed
    shift of P(male) and the rate of sex flips (threshold 0.5). Cases are scored in
    ``case_id`` order, as the metric plugins score them, with the statistics of
    :mod:`radinpaint.metrics.stats`, so the same rows give the same numbers here and in
    the metrics.
    """
    if "case_id" in rows.columns:
        rows = rows.sort_values("case_id", kind="stable")
    truth_ba = rows["true_bone_age"].to_numpy(float)
    truth_m = rows["true_male"].to_numpy(float)
    ba, oba = rows["pred_bone_age"].to_numpy(float), rows["orig_pred_bone_age"].to_numpy(float)
    pm, opm = rows["pred_p_male"].to_numpy(float), rows["orig_pred_p_male"].to_numpy(float)
    mae, omae = _mae(truth_ba, ba), _mae(truth_ba, oba)
    auc, oauc = _auc(truth_m, pm), _auc(truth_m, opm)
    flips = (pm >= 0.5) != (opm >= 0.5)
    flips = np.where(np.isnan(pm) | np.isnan(opm), np.nan, flips.astype(float))
    return {
        "n": len(rows),
        "mae": mae,
        "orig_mae": omae,
        "delta_mae": mae - omae,
        "auc": auc,
        "orig_auc": oauc,
        "delta_auc": auc - oauc,
        "mean_shift": stats.finite_mean(ba - oba),
        "mean_abs_shift": stats.finite_mean(np.abs(ba - oba)),
        "mean_p_male_shift": stats.finite_mean(pm - opm),
        "flip_rate": stats.finite_mean(flips),
    }


def views_table(table: pd.DataFrame, *, aggregate_variants: bool = True) -> pd.DataFrame:
    """MAE, AUC and prediction shifts of every view, against the originals.

    One row per predictor x inpainter x view, views in the order of :data:`VIEW_FACTORS`
    (any other view of the table after them), with the columns of :data:`VIEW_COLUMNS`
    (see :func:`effect_summary`). Each view is scored on every case it has a row for.
    These numbers are not additive and are not split into parts: compare them across
    views (e.g. ``delta_mae`` of ``in-mask`` against that of ``total``).

    Args:
        table: the evaluation's tidy table (rows with an ``error`` are ignored).
        aggregate_variants: average the variants of a case first (the study's protocol)
            instead of scoring each variant as its own row.
    """
    ok = _ok_rows(table)
    if ok.empty:
        return pd.DataFrame(columns=list(VIEW_COLUMNS))
    if aggregate_variants:
        ok = average_variants(ok)
    out: list[dict[str, Any]] = []
    for (pred, inp), group in ok.groupby(["predictor", "inpainter"], sort=False):
        present = list(dict.fromkeys(group["view"]))
        order = [v for v in VIEW_FACTORS if v in present]
        order += [v for v in present if v not in VIEW_FACTORS and v != "original"]
        for view in order:
            summary = effect_summary(group[group["view"] == view])
            out.append({"predictor": pred, "inpainter": inp, "view": view} | summary)
    return pd.DataFrame(out, columns=list(VIEW_COLUMNS))


# -- the Shapley attribution ---------------------------------------------------------------


def _shapley(preds: Mapping[frozenset[str], np.ndarray]) -> dict[str, np.ndarray]:
    """Per-unit parts of ``pred(all factors) - pred(none)``, one per factor, and residual.

    ``preds`` maps every subset of :data:`FACTORS` to the predictions on that view. The
    part of factor ``f`` is ``sum_T w(|T|) (pred(T + f) - pred(T))`` over the subsets ``T``
    of the other factors, ``w(k) = k! (n - k - 1)! / n!``. The weights are applied as
    integers over the common denominator ``n!``, so a factor whose views predict exactly
    what the views without it predict gets exactly 0.
    """
    n = len(FACTORS)
    everything = frozenset(FACTORS)
    out: dict[str, np.ndarray] = {"total": preds[everything] - preds[frozenset()]}
    summed = np.zeros_like(out["total"])
    for f in FACTORS:
        others = [g for g in FACTORS if g != f]
        acc = np.zeros_like(out["total"])
        for k in range(len(others) + 1):
            weight = math.factorial(k) * math.factorial(n - k - 1)
            for subset in combinations(others, k):
                before = frozenset(subset)
                acc = acc + weight * (preds[before | {f}] - preds[before])
        out[f] = acc / math.factorial(n)
        summed = summed + out[f]
    residual = out["total"] - summed
    out["residual"] = np.where(np.abs(residual) < _RESIDUE, 0.0, residual)
    return out


def _estimate(
    values: np.ndarray, *, n_resamples: int, confidence: float, seed: int
) -> tuple[float, float, float, float]:
    """Mean, percentile-bootstrap CI of the mean and Wilcoxon signed-rank p of ``values``.

    Missing values are skipped. All zero: ``(0, 0, 0, 1)`` exactly; none: all nan.
    """
    v = values[np.isfinite(values)]
    if v.size == 0:
        return math.nan, math.nan, math.nan, math.nan
    if not np.any(v):
        return 0.0, 0.0, 0.0, 1.0
    mean = stats.finite_mean(v)
    ci = bootstrap_ci(
        v,
        statistic=_mean,
        n_resamples=n_resamples,
        confidence=confidence,
        method="percentile",
        seed=seed,
    )
    p = signed_shift_test(np.zeros_like(v), v).p_value
    return mean, ci.ci_low, ci.ci_high, float(p)


def _mean(values: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.asarray(np.mean(values, axis=axis))


def _nonzero(mean: float, low: float, high: float, p: float, alpha: float) -> bool:
    """Distinguishable from zero: the interval excludes 0 and ``p < alpha``."""
    if any(math.isnan(x) for x in (mean, low, high, p)):
        return False
    return (low > 0 or high < 0) and p < alpha


def _units(
    group: pd.DataFrame, needed: tuple[str, ...], keys: list[str]
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, int]:
    """Per view, the predictions of the units (cases) that have every needed view.

    Returns (view -> predictions indexed by unit, the originals' predictions, the count of
    units left out for a missing view).
    """
    have = group.groupby([*keys, "view"]).size().unstack("view", fill_value=0) > 0
    for view in needed:
        if view not in have.columns:
            have[view] = False
    complete = have[list(needed)].all(axis=1)
    units = have.index[complete].sort_values()
    cols = [c for _, c, _ in _QUANTITIES]
    wide = {
        view: rows.set_index(keys).loc[units, cols]
        for view, rows in group.groupby("view", sort=False)
        if view in needed
    }
    origs = group.groupby(keys)[[o for _, _, o in _QUANTITIES]].first().loc[units]
    return wide, origs, int((~complete).sum())


def decomposition_table(
    table: pd.DataFrame,
    *,
    aggregate_variants: bool = True,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Shapley attribution of the signed prediction shift to geometry, redraw and content.

    Per predictor x inpainter and per case (see the module docs), the shift of the
    bone-age prediction (``pred - orig_pred``, months) and of P(male) on the output is
    split into one part per factor of :data:`FACTORS`; the parts add up to the total, the
    ``residual`` part holds what floating-point rounding leaves (per case, set to exactly 0
    below 1e-9). A factor whose views predict exactly what the views without it predict
    (geometry of a backend that never resamples, every factor of the identity) gets
    exactly 0 on every case.

    One row per predictor x inpainter x part, parts in the order of :data:`PARTS`, with the
    columns of :data:`DECOMPOSITION_COLUMNS`: ``n`` the cases used, ``n_incomplete`` the
    cases left out because a view they need has no row (or only an error row), and for the
    bone-age shift (``shift``) and the P(male) shift (``p_male_shift``): the mean over
    cases, ``*_lo``/``*_hi`` a percentile bootstrap interval of the mean (cases resampled,
    ``seed`` fixed), ``*_p`` the two-sided Wilcoxon signed-rank p of the per-case part
    (all zero: ``p = 1``), ``*_nonzero`` whether the part is distinguishable from zero
    (interval excludes 0 and ``p < 1 - confidence``) and ``share_*`` the part's mean over
    the total's mean, only where both are distinguishable from zero (else NaN). Missing
    predictions (a predictor without a sex head) give NaN for that quantity.

    When the table does not hold every view of :data:`VIEW_FACTORS` (an evaluation run
    with fewer views), only the ``total`` part is reported.

    Args:
        table: the evaluation's tidy table (rows with an ``error`` are ignored).
        aggregate_variants: average the variants of a case first (the study's protocol);
            otherwise each case x variant is a unit of its own.
        n_resamples: bootstrap resamples for the intervals.
        confidence: the intervals' level; ``1 - confidence`` is the tests' threshold.
        seed: the bootstrap's seed (the same for every part, so every part is resampled
            on the same cases).
    """
    empty = pd.DataFrame(columns=list(DECOMPOSITION_COLUMNS))
    if table.empty or "view" not in table.columns:
        return empty
    decomposed = set(VIEW_FACTORS) <= set(table["view"].dropna())
    needed = tuple(VIEW_FACTORS) if decomposed else ("total",)
    ok = _ok_rows(table)
    ok = ok[ok["view"].isin(needed)]
    if ok.empty:
        return empty
    keys = ["case_id"]
    if aggregate_variants:
        ok = average_variants(ok)
    else:
        keys.append("variant")
    alpha = 1.0 - confidence
    out: list[dict[str, Any]] = []
    for (pred, inp), group in ok.groupby(["predictor", "inpainter"], sort=False):
        wide, origs, n_incomplete = _units(group, needed, keys)
        rows: dict[str, dict[str, Any]] = {
            part: {
                "predictor": pred,
                "inpainter": inp,
                "part": part,
                "n": len(origs),
                "n_incomplete": n_incomplete,
                "confidence": confidence,
            }
            for part in (PARTS if decomposed else ("total",))
        }
        for q, col, orig_col in _QUANTITIES:
            orig = origs[orig_col].to_numpy(float)
            if decomposed:
                preds = {VIEW_FACTORS[v]: wide[v][col].to_numpy(float) for v in needed}
                preds[frozenset()] = orig
                parts = _shapley(preds)
            else:
                parts = {"total": wide["total"][col].to_numpy(float) - orig}
            for part, values in parts.items():
                mean, low, high, p = _estimate(
                    values, n_resamples=n_resamples, confidence=confidence, seed=seed
                )
                rows[part] |= {
                    q: mean,
                    f"{q}_lo": low,
                    f"{q}_hi": high,
                    f"{q}_p": p,
                    f"{q}_nonzero": _nonzero(mean, low, high, p, alpha),
                }
            total = rows["total"]
            for row in rows.values():
                both = bool(row[f"{q}_nonzero"] and total[f"{q}_nonzero"])
                row[f"share_{q}"] = row[q] / total[q] if both else math.nan
        out += rows.values()
    return pd.DataFrame(out, columns=list(DECOMPOSITION_COLUMNS))


# -- the plain-English summary -------------------------------------------------------------


def _p_text(p: float) -> str:
    if math.isnan(p):
        return "no test"
    if p < 0.001:
        return "p < 0.001"
    return "p = 1" if p >= 1.0 else f"p = {p:.3f}"


def _number(value: float, digits: int) -> str:
    """Signed, ``digits`` decimals; a non-zero value that would print as 0 gets two
    significant figures instead (``-0.00031``, not ``-0.000``)."""
    if value != 0 and not math.isnan(value) and abs(value) < 0.5 * 10.0**-digits:
        return f"{value:+.2g}"
    return f"{value:+.{digits}f}"


def _value_text(row: Mapping[str, Any], q: str, digits: int, unit: str, extra: str = "") -> str:
    """``+1.23 months (95% CI +0.50 to +2.00, p = 0.004{extra})``."""
    level = f"{100 * float(row['confidence']):g}%"
    lo, hi = float(row[f"{q}_lo"]), float(row[f"{q}_hi"])
    ci = (
        f"{level} CI {_number(lo, digits)} to {_number(hi, digits)}"
        if not math.isnan(lo)
        else "no CI"
    )
    value = _number(float(row[q]), digits)
    return f"{value}{unit} ({ci}, {_p_text(float(row[f'{q}_p']))}{extra})"


def _quantity_text(parts: Mapping[str, Mapping[str, Any]], q: str) -> str:
    """One clause on one quantity's total shift and, if distinguishable, its origin."""
    name, digits, unit = (
        ("the bone-age prediction", 2, " months") if q == "shift" else ("P(male)", 3, "")
    )
    total = parts["total"]
    if not bool(total[f"{q}_nonzero"]):
        return (
            f"{name} did not shift distinguishably from zero: {_value_text(total, q, digits, unit)}"
        )
    text = f"{name} shifted by {_value_text(total, q, digits, unit)}"
    factors = [f for f in FACTORS if f in parts]
    if not factors:
        return text
    found = [f for f in factors if bool(parts[f][f"{q}_nonzero"])]
    if not found:
        return text + ", but no single factor is distinguishable from zero on its own"
    bits = []
    for f in found:
        share = float(parts[f][f"share_{q}"])
        extra = f", {100 * share:.0f}% of the shift" if not math.isnan(share) else ""
        bits.append(f"{_PART_NAMES[f]} {_value_text(parts[f], q, digits, unit, extra)}")
    listed = bits[0] if len(bits) == 1 else ", ".join(bits[:-1]) + " and " + bits[-1]
    return text + ", attributed to " + listed


def _headline_text(headline: pd.DataFrame | None, pred: object, inp: object) -> str:
    if headline is None or headline.empty:
        return ""
    row = headline[(headline["predictor"] == pred) & (headline["inpainter"] == inp)]
    if row.empty:
        return ""
    h = row.iloc[0]
    bits = []
    if not (math.isnan(h.get("orig_mae", math.nan)) or math.isnan(h.get("mae", math.nan))):
        bits.append(f"bone-age MAE {h['orig_mae']:.2f} to {h['mae']:.2f} months")
    if not (math.isnan(h.get("orig_auc", math.nan)) or math.isnan(h.get("auc", math.nan))):
        bits.append(f"sex AUC {h['orig_auc']:.3f} to {h['auc']:.3f}")
    return "; " + ", ".join(bits) if bits else ""


def _unchanged(total: Mapping[str, Any]) -> bool:
    """Every available quantity's total is exactly 0 on every case."""
    seen = False
    for q, _, _ in _QUANTITIES:
        if math.isnan(float(total[q])):
            continue
        seen = True
        if not (total[q] == 0.0 and total[f"{q}_lo"] == 0.0 and total[f"{q}_hi"] == 0.0):
            return False
    return seen


def summary_paragraph(decomposition: pd.DataFrame, headline: pd.DataFrame | None = None) -> str:
    """One plain-English paragraph: which effects are real and where they come from.

    For each predictor x inpainter of :func:`decomposition_table`'s table: whether the
    total shift of the bone-age prediction and of P(male) is distinguishable from zero
    (with its interval and p-value) and, for a distinguishable one, which factors are
    distinguishable from zero, with their means, intervals and shares (shares only of
    effects distinguishable from zero). ``headline`` (see
    :meth:`~radinpaint.evaluation.EvaluationResult.headline`) adds each inpainter's MAE
    and AUC before and after. The text depends only on the tables.
    """
    if decomposition is None or decomposition.empty:
        return "No successful predictions to summarise."
    has_parts = bool(decomposition["part"].isin(FACTORS).any())
    level = f"{100 * float(decomposition['confidence'].iloc[0]):g}%"
    alpha = 1.0 - float(decomposition["confidence"].iloc[0])
    sentences = [
        "A shift is the prediction on the output minus the prediction on the original, "
        f"averaged over cases; it counts as distinguishable from zero when its {level} "
        f"bootstrap confidence interval (CI) excludes zero and its Wilcoxon signed-rank "
        f"p < {alpha:.2g}."
    ]
    if has_parts:
        sentences.append(
            "Each shift is split exactly between the geometry round trip, redrawing outside "
            "the mask and the new content inside it (Shapley attribution)."
        )
    else:
        sentences.append("Only the total view was scored, so the shifts are not split.")
    for (pred, inp), group in decomposition.groupby(["predictor", "inpainter"], sort=False):
        parts = {str(r["part"]): r.to_dict() for _, r in group.iterrows()}
        total = parts.get("total")
        n = int(total["n"]) if total is not None else 0
        label = f"{inp} ({pred}, {n} cases"
        if total is None or n == 0:
            sentences.append(f"{label}): no case has every view needed.")
            continue
        if _unchanged(total):
            sentences.append(f"{label}): no prediction changed on any case.")
            continue
        label += _headline_text(headline, pred, inp) + ")"
        clauses = [
            _quantity_text(parts, q) for q, _, _ in _QUANTITIES if not math.isnan(float(total[q]))
        ]
        sentences.append(f"{label}: " + "; ".join(clauses) + ".")
    return " ".join(sentences)

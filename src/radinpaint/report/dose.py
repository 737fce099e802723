"""Dose-response of the ``diffusion`` redraw: effect on the predictions against strength.

When an evaluation runs the ``diffusion`` backend in redraw mode at two or more strengths
(e.g. labels ``redraw-0.2``, ``redraw-0.4``... with ``strength=0.2``, ``0.4``...), the
report adds a table and a figure: per predictor and strength, the mean |bone-age shift|
against the original's prediction, the change in MAE and in AUC (with the ``paired``
metric's 95% CIs and p-values when it ran), the mean per-case SD of the bone age across
variants and the share of cases whose sex call differs across variants.

Which inpainter rows belong to which strength comes from the manifest: each inpainter's
backend name and options (``result.manifest["backends"]["inpainters"]``); a redraw run
without an explicit strength gets its checkpoint's default. The |shift|, variant-SD and
flip intervals are percentile bootstraps over cases (1000 resamples, seed 0), computed here
from the result's table (total view, rows without an error).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from ..evaluation import EvaluationResult
    from .tables import ReportTable

__all__ = ["BACKEND", "dose_figure", "dose_rows", "dose_tables", "redraw_strengths"]

BACKEND = "diffusion"
"""The backend whose redraw strengths are grouped."""

_RESAMPLES = 1000


def _default_strength(options: dict[str, Any]) -> float | None:
    try:
        from ..inpainters.diffusion.inference import DiffusionInpainter

        weights = options.get("weights")
        return DiffusionInpainter(weights=weights).resolved_strength
    except Exception:  # no readable weights: the row cannot be placed on the axis
        return None


def redraw_strengths(result: EvaluationResult) -> dict[str, float]:
    """Inpainter label -> SDEdit strength, for every ``diffusion`` redraw in the run."""
    records = result.manifest.get("backends", {}).get("inpainters", [])
    out: dict[str, float] = {}
    for rec in records:
        if not isinstance(rec, dict) or rec.get("name") != BACKEND or rec.get("error"):
            continue
        options = rec.get("options")
        options = options if isinstance(options, dict) else {}
        if str(options.get("mode", "redraw")) != "redraw":
            continue
        raw = options.get("strength")
        strength = _default_strength(options) if raw is None else float(raw)
        if strength is not None:
            out[str(rec.get("label") or rec.get("name"))] = float(strength)
    return out


def _boot_mean(values: np.ndarray, seed: int = 0) -> tuple[float, float, float]:
    """Mean of the finite values and its percentile-bootstrap 95% CI."""
    v = values[np.isfinite(values)]
    if v.size == 0:
        return math.nan, math.nan, math.nan
    if v.size == 1:
        return float(v[0]), math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, v.size, size=(_RESAMPLES, v.size))].mean(axis=1)
    return float(v.mean()), float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def _per_case(rows: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per case: mean |shift| over variants, SD across variants, sex call disagreement."""
    rows = rows.assign(abs_shift=(rows["pred_bone_age"] - rows["orig_pred_bone_age"]).abs())
    rows = rows.assign(male=(rows["pred_p_male"] >= 0.5).astype(float))
    g = rows.groupby("case_id", sort=True)
    n = g["pred_bone_age"].count().to_numpy()
    sd = g["pred_bone_age"].std(ddof=0).to_numpy(float)
    male = g["male"].agg(lambda s: float(s.nunique() > 1)).to_numpy(float)
    return {
        "abs_shift": g["abs_shift"].mean().to_numpy(float),
        "variant_sd": np.where(n >= 2, sd, np.nan),
        "variant_flips": np.where(n >= 2, male, np.nan),
    }


def _paired(result: EvaluationResult) -> pd.DataFrame | None:
    res = result.metrics.get("paired")
    table = getattr(res, "table", None)
    if not isinstance(table, pd.DataFrame) or table.empty or "view" not in table.columns:
        return None
    return table[table["view"] == "total"].set_index(["predictor", "inpainter"])


def dose_rows(result: EvaluationResult) -> pd.DataFrame:
    """One row per predictor x diffusion redraw strength, strengths ascending.

    Columns: ``predictor``, ``inpainter``, ``strength``, ``n_cases``; ``mean_abs_shift``,
    ``variant_sd`` and ``variant_flip_rate`` with ``_ci_low`` / ``_ci_high``;
    ``delta_mae``, ``delta_auc`` and ``flip_rate`` (against the originals; the headline's);
    ``delta_mae_ci_low/high``, ``wilcoxon_p``, ``delta_auc_ci_low/high``, ``delong_p`` when
    the ``paired`` metric ran. Empty when the run has no diffusion redraw.
    """
    strengths = redraw_strengths(result)
    table = result.table
    if not strengths or table.empty:
        return pd.DataFrame()
    ok = table[table["view"] == "total"]
    if "error" in ok.columns:
        ok = ok[ok["error"].isna()]
    ok = ok[ok["inpainter"].isin(list(strengths))]
    head = result.headline()
    head = head.set_index(["predictor", "inpainter"]) if not head.empty else head
    paired = _paired(result)
    out = []
    for (pred, label), rows in ok.groupby(["predictor", "inpainter"], sort=False):
        per_case = _per_case(rows)
        row: dict[str, Any] = {
            "predictor": pred,
            "inpainter": label,
            "strength": strengths[str(label)],
            "n_cases": int(rows["case_id"].nunique()),
        }
        for name, key in (
            ("mean_abs_shift", "abs_shift"),
            ("variant_sd", "variant_sd"),
            ("variant_flip_rate", "variant_flips"),
        ):
            mean, lo, hi = _boot_mean(per_case[key])
            row |= {name: mean, f"{name}_ci_low": lo, f"{name}_ci_high": hi}
        if not head.empty and (pred, label) in head.index:
            h = head.loc[(pred, label)]
            row |= {k: float(h[k]) for k in ("delta_mae", "delta_auc", "flip_rate") if k in h}
        if paired is not None and (pred, label) in paired.index:
            p = paired.loc[(pred, label)]
            for k in (
                "delta_mae",
                "delta_mae_ci_low",
                "delta_mae_ci_high",
                "wilcoxon_p",
                "delta_auc",
                "delta_auc_ci_low",
                "delta_auc_ci_high",
                "delong_p",
            ):
                if k in p.index:
                    row[k] = float(p[k])
        out.append(row)
    frame = pd.DataFrame(out)
    return frame.sort_values(["predictor", "strength"], kind="stable").reset_index(drop=True)


def _has_dose(frame: pd.DataFrame) -> bool:
    return not frame.empty and frame.groupby("predictor")["strength"].nunique().max() >= 2


def _cell(row: pd.Series, name: str, digits: int, sign: bool = False) -> str:
    value = row.get(name)
    if value is None or not np.isfinite(value):
        return ""
    fmt = f"{{:{'+' if sign else ''}.{digits}f}}"
    text = fmt.format(value)
    lo, hi = row.get(f"{name}_ci_low"), row.get(f"{name}_ci_high")
    if lo is not None and hi is not None and np.isfinite(lo) and np.isfinite(hi):
        text += f" [{fmt.format(lo)}, {fmt.format(hi)}]"
    return text


def _p(value: Any) -> str:
    if value is None or not np.isfinite(value):
        return ""
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def dose_tables(result: EvaluationResult) -> list[ReportTable]:
    """The dose-response table for the report; empty unless a predictor has >= 2 strengths."""
    from .tables import ReportTable

    frame = dose_rows(result)
    if not _has_dose(frame):
        return []
    rows = []
    for _, r in frame.iterrows():
        rows.append(
            {
                "predictor": r["predictor"],
                "inpainter": r["inpainter"],
                "strength": f"{r['strength']:.2f}",
                "mean |shift| (months) [95% CI]": _cell(r, "mean_abs_shift", 2),
                "ΔMAE [95% CI]": _cell(r, "delta_mae", 2, sign=True),
                "ΔMAE p": _p(r.get("wilcoxon_p")),
                "ΔAUC [95% CI]": _cell(r, "delta_auc", 3, sign=True),
                "ΔAUC p": _p(r.get("delong_p")),
                "variant SD (months) [95% CI]": _cell(r, "variant_sd", 2),
                "sex flips across variants [95% CI]": _cell(r, "variant_flip_rate", 3),
            }
        )
    return [
        ReportTable(
            "Dose-response of the diffusion redraw",
            pd.DataFrame(rows),
            "Effect against SDEdit strength (0: no change, 1: a new image from noise). "
            "|shift|: mean absolute change of the bone-age prediction against the original's; "
            "ΔMAE (Wilcoxon) and ΔAUC (DeLong) against the originals; variant SD and sex flips "
            "across the variants of a case. Intervals: bootstrap over cases, 95%.",
        )
    ]


def dose_figure(result: EvaluationResult) -> bytes | None:
    """Four panels against strength: mean |shift|, ΔMAE, ΔAUC, variant SD and sex flips
    across variants, with 95% CIs; None unless a predictor has >= 2 strengths."""
    frame = dose_rows(result)
    if not _has_dose(frame):
        return None
    from .figures import _png, _pyplot

    plt = _pyplot()
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.6))
    panels = [
        ("mean_abs_shift", "mean |bone-age shift| (months)"),
        ("delta_mae", "ΔMAE (months)"),
        ("delta_auc", "ΔAUC (sex)"),
        ("variant_sd", "variant SD (months) / sex flips"),
    ]
    for ax, (name, title) in zip(axes, panels, strict=True):
        for pred, rows in frame.groupby("predictor", sort=False):
            columns = [(name, str(pred))]
            if name == "variant_sd":
                columns.append(("variant_flip_rate", f"{pred}: sex flips (right axis)"))
            for i, (col, lab) in enumerate(columns):
                target = ax if i == 0 else ax.twinx()
                if col not in rows.columns:
                    continue
                y = rows[col].to_numpy(float)
                lo = rows.get(f"{col}_ci_low", pd.Series(np.nan, index=rows.index))
                hi = rows.get(f"{col}_ci_high", pd.Series(np.nan, index=rows.index))
                err = np.vstack([y - lo.to_numpy(float), hi.to_numpy(float) - y])
                err = np.where(np.isfinite(err), err, 0.0)
                target.errorbar(
                    rows["strength"], y, yerr=err, marker="o" if i == 0 else "s",
                    linestyle="-" if i == 0 else "--", capsize=3, label=lab,
                )  # fmt: skip
                if i:
                    target.set_ylabel("share of cases")
        ax.axhline(0.0, color="grey", linewidth=0.6)
        ax.set_xlabel("SDEdit strength")
        ax.set_title(title, fontsize=9)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return _png(fig)

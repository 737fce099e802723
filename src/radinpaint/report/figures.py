"""The report's figures, drawn with matplotlib's Agg backend (no display needed).

Each function returns PNG bytes, or ``None`` when the result has nothing to draw (no sex
labels for a ROC curve, no bone ages for a Bland-Altman plot).
"""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING

import numpy as np

from .tables import attribution_rows

if TYPE_CHECKING:
    from ..evaluation import EvaluationResult

__all__ = [
    "FIGURES",
    "bland_altman",
    "decomposition_bars",
    "draw_all",
    "image_grid",
    "intensity_histograms",
    "roc_curves",
]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    plt = _pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _grid(n: int) -> tuple[int, int]:
    cols = min(4, max(1, n))
    return math.ceil(n / cols), cols


def roc_curves(result: EvaluationResult) -> bytes | None:
    """ROC curves of the sex prediction: originals and every inpainter (total view)."""
    from sklearn.metrics import roc_curve

    rows = result.scored_rows("total")
    if rows.empty or rows["true_male"].nunique(dropna=True) < 2:
        return None
    predictors = list(dict.fromkeys(rows["predictor"]))
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(predictors), figsize=(5 * len(predictors), 4.5), squeeze=False)
    for ax, pred in zip(axes[0], predictors, strict=True):
        sub = rows[rows["predictor"] == pred]
        first = sub[sub["inpainter"] == sub["inpainter"].iloc[0]]
        curves = [("original", first["true_male"], first["orig_pred_p_male"])]
        curves += [
            (inp, g["true_male"], g["pred_p_male"])
            for inp, g in sub.groupby("inpainter", sort=False)
        ]
        drawn = 0
        for label, truth, score in curves:
            ok = truth.notna() & score.notna()
            if ok.sum() < 2 or truth[ok].nunique() < 2:
                continue
            fpr, tpr, _ = roc_curve(truth[ok].astype(int), score[ok])
            style = {"color": "black", "lw": 2.2} if label == "original" else {"lw": 1.2}
            ax.plot(fpr, tpr, label=label, **style)
            drawn += 1
        if not drawn:
            plt.close(fig)
            return None
        ax.plot([0, 1], [0, 1], ls=":", color="grey")
        ax.set(xlabel="false positive rate", ylabel="true positive rate", title=f"sex: {pred}")
        ax.legend(fontsize=7, loc="lower right")
    return _png(fig)


def bland_altman(result: EvaluationResult) -> bytes | None:
    """Bone-age prediction after inpainting minus before, against their mean, per inpainter."""
    rows = result.scored_rows("total")
    if rows.empty or rows["pred_bone_age"].notna().sum() == 0:
        return None
    groups = list(rows.groupby(["predictor", "inpainter"], sort=False))
    plt = _pyplot()
    nr, nc = _grid(len(groups))
    fig, axes = plt.subplots(nr, nc, figsize=(3.6 * nc, 3.0 * nr), squeeze=False)
    for ax in axes.ravel()[len(groups) :]:
        ax.axis("off")
    for ax, ((pred, inp), g) in zip(axes.ravel(), groups, strict=False):
        a, b = g["pred_bone_age"].to_numpy(float), g["orig_pred_bone_age"].to_numpy(float)
        ok = ~(np.isnan(a) | np.isnan(b))
        diff, mean = a[ok] - b[ok], (a[ok] + b[ok]) / 2
        ax.scatter(mean, diff, s=6, alpha=0.6)
        if diff.size:
            md, sd = float(diff.mean()), float(diff.std(ddof=1)) if diff.size > 1 else 0.0
            ax.axhline(md, color="red", lw=1)
            for s in (-1.96, 1.96):
                ax.axhline(md + s * sd, color="red", ls="--", lw=0.8)
        ax.axhline(0, color="grey", lw=0.6)
        ax.set_title(f"{inp} ({pred})", fontsize=8)
        ax.set_xlabel("mean of before/after (months)", fontsize=7)
        ax.set_ylabel("after - before (months)", fontsize=7)
        ax.tick_params(labelsize=6)
    fig.tight_layout()
    return _png(fig)


def intensity_histograms(result: EvaluationResult) -> bytes | None:
    """Pooled intensity histograms (smoothed as the preset says), whole image and in-mask."""
    hists = result.pixels.histograms
    if not hists:
        return None
    sigma = float(result.preset.histogram_sigma)
    labels = list(dict.fromkeys(label for label, _ in hists))
    plt = _pyplot()
    regions = [r for r in ("image", "in-mask", "hand") if any((lb, r) in hists for lb in labels)]
    fig, axes = plt.subplots(1, len(regions), figsize=(5 * len(regions), 3.8), squeeze=False)
    for ax, region in zip(axes[0], regions, strict=True):
        for label in labels:
            counts = hists.get((label, region))
            if counts is None or counts.sum() == 0:
                continue
            density = counts / counts.sum()
            if sigma > 0:
                from scipy.ndimage import gaussian_filter1d

                density = gaussian_filter1d(density.astype(float), sigma)
            x = (np.arange(density.size) + 0.5) / density.size
            style = {"color": "black", "lw": 2.0} if label == "original" else {"lw": 1.0}
            ax.plot(x, density, label=label, **style)
        ax.set(xlabel="intensity", ylabel="fraction of pixels", title=f"pooled: {region}")
        ax.legend(fontsize=7)
    return _png(fig)


def image_grid(result: EvaluationResult, sample: int = 0) -> bytes | None:
    """One case: original (mask outlined), then output and difference for every backend."""
    if not result.samples or sample >= len(result.samples):
        return None
    s = result.samples[sample]
    outputs = s["outputs"]
    if not outputs:
        return None
    plt = _pyplot()
    n = len(outputs)
    fig, axes = plt.subplots(n, 3, figsize=(7.5, 2.5 * n), squeeze=False)
    x = s["original"]
    for row, (label, o) in zip(axes, outputs.items(), strict=True):
        row[0].imshow(x, cmap="gray", vmin=0, vmax=1)
        row[0].contour(s["mask"], levels=[0.5], colors="red", linewidths=0.6)
        row[1].imshow(o, cmap="gray", vmin=0, vmax=1)
        diff = np.abs(o.astype(np.float32) - x)
        top = float(diff.max())
        row[2].imshow(diff, cmap="magma", vmin=0, vmax=top if top > 0 else 1)
        row[0].set_ylabel(label, fontsize=8)
        for ax, title in zip(
            row, ("original + mask", "output", f"|diff| (max {top:.3f})"), strict=True
        ):
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(title, fontsize=7)
    fig.suptitle(f"case {s['case_id']} (variant 0)", fontsize=9)
    fig.tight_layout()
    return _png(fig)


_FIGURE_PARTS = ("total", "geometry", "redraw", "content")


def decomposition_bars(result: EvaluationResult) -> bytes | None:
    """Signed shift of each part (bone age; P(male) where predicted), per inpainter, with
    its confidence interval as an error bar; parts not distinguishable from zero are faded.
    """
    from matplotlib.colors import to_rgba
    from matplotlib.patches import Patch

    d = attribution_rows(result)
    if d.empty:
        return None
    d = d[d["part"].isin(_FIGURE_PARTS)]
    parts = [p for p in _FIGURE_PARTS if p in set(d["part"])]
    quantities = [("shift", "bone-age shift (months)")]
    if "p_male_shift" in d.columns and d["p_male_shift"].notna().any():
        quantities.append(("p_male_shift", "P(male) shift"))
    predictors = list(dict.fromkeys(d["predictor"]))
    plt = _pyplot()
    fig, axes = plt.subplots(
        len(predictors),
        len(quantities),
        figsize=(6 * len(quantities), 3.8 * len(predictors)),
        squeeze=False,
    )
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    legend = [Patch(color=colors[j % len(colors)], label=p) for j, p in enumerate(parts)]
    for axrow, pred in zip(axes, predictors, strict=True):
        sub = d[d["predictor"] == pred]
        inps = list(dict.fromkeys(sub["inpainter"]))
        width = 0.8 / max(1, len(parts))
        for ax, (col, title) in zip(axrow, quantities, strict=True):
            for j, part in enumerate(parts):
                rows = sub[sub["part"] == part].set_index("inpainter").reindex(inps)
                value = rows[col].to_numpy(float)
                low = value - rows[f"{col}_lo"].to_numpy(float)
                high = rows[f"{col}_hi"].to_numpy(float) - value
                real = rows[f"{col}_nonzero"].isin([True]).to_numpy()
                x = np.arange(len(inps)) + j * width
                shade = [to_rgba(colors[j % len(colors)], 1.0 if r else 0.3) for r in real]
                ax.bar(x, value, width, color=shade)
                # a point interval can sit a rounding error off the mean
                yerr = np.clip(np.vstack([np.nan_to_num(low), np.nan_to_num(high)]), 0, None)
                ax.errorbar(x, value, yerr=yerr, fmt="none", ecolor="black", lw=0.8, capsize=2)
            ax.set_xticks(np.arange(len(inps)) + width * (len(parts) - 1) / 2)
            ax.set_xticklabels(inps, rotation=30, ha="right", fontsize=7)
            ax.axhline(0, color="grey", lw=0.6)
            ax.set_title(f"{title}: {pred}", fontsize=9)
            ax.legend(handles=legend, fontsize=7)
    fig.suptitle(
        "Shapley parts of the mean shift, with confidence intervals "
        "(faded: not distinguishable from zero)",
        fontsize=9,
    )
    fig.tight_layout()
    return _png(fig)


FIGURES = {
    "decomposition": ("Effect decomposition", decomposition_bars),
    "roc": ("ROC curves (sex)", roc_curves),
    "bland_altman": ("Bland-Altman: bone age after vs before", bland_altman),
    "histograms": ("Pooled intensity histograms", intensity_histograms),
    "images": ("Original, output and difference per backend", image_grid),
}
"""Figure name -> (title, function)."""


def draw_all(result: EvaluationResult) -> dict[str, tuple[str, bytes | None, str]]:
    """Every figure: name -> (title, PNG bytes or None, error text or "")."""
    out: dict[str, tuple[str, bytes | None, str]] = {}
    for name, (title, fn) in FIGURES.items():
        try:
            out[name] = (title, fn(result), "")
        except Exception as exc:  # a figure must not take the report down
            out[name] = (title, None, f"{type(exc).__name__}: {exc}")
    return out

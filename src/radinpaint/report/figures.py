"""The report's figures, drawn with matplotlib's Agg backend (no display needed).

Each function returns PNG bytes, or ``None`` when the result has nothing to draw (no sex
labels for a ROC curve, no bone ages for a Bland-Altman plot).
"""

from __future__ import annotations

import io
import math
import textwrap
from typing import TYPE_CHECKING

import numpy as np

from .tables import attribution_rows, in_run_order, inpainter_order

if TYPE_CHECKING:
    import pandas as pd

    from ..evaluation import EvaluationResult

__all__ = [
    "CONTROLS",
    "FIGURES",
    "GRID_CASES",
    "bland_altman",
    "decomposition_bars",
    "draw_all",
    "grid_cases",
    "image_grid",
    "inpainter_colors",
    "intensity_histograms",
    "roc_curves",
    "saliency_overlays",
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


CONTROLS: frozenset[str] = frozenset({"identity", "blur", "resample"})
"""Registered names of the control backends (the image grid picks its cases by the others)."""


def inpainter_colors(result: EvaluationResult) -> dict[str, str]:
    """One colour per inpainter, the same in every figure: the originals black, the
    inpainters in the run's order through matplotlib's tab10 (tab20 beyond ten)."""
    from matplotlib import colormaps

    labels = [lb for lb in inpainter_order(result) if lb != "original"]
    cmap = colormaps["tab10" if len(labels) <= 10 else "tab20"]
    colors = {"original": "#000000"}
    for i, label in enumerate(labels):
        r, g, b, _ = cmap(i % cmap.N)
        colors[label] = f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}"
    return colors


def _legend_below(fig, handles: list, labels: list[str], ncol: int | None = None) -> None:
    """A figure legend under the panels (never over the data)."""
    if not handles:
        return
    ncol = ncol or min(len(labels), 5)
    fig.legend(
        handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=ncol,
        fontsize=8, frameon=False,
    )  # fmt: skip


def roc_curves(result: EvaluationResult) -> bytes | None:
    """ROC curves of the sex prediction: originals and every inpainter (total view)."""
    from sklearn.metrics import roc_curve

    rows = result.scored_rows("total")
    if rows.empty or rows["true_male"].nunique(dropna=True) < 2:
        return None
    rows = in_run_order(rows, result)
    colors = inpainter_colors(result)
    predictors = list(dict.fromkeys(rows["predictor"]))
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(predictors), figsize=(4.6 * len(predictors), 4.2),
                             squeeze=False)  # fmt: skip
    legend: dict[str, object] = {}
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
            style = {"lw": 2.2} if label == "original" else {"lw": 1.2}
            (line,) = ax.plot(fpr, tpr, color=colors.get(str(label)), **style)
            legend.setdefault(str(label), line)
            drawn += 1
        if not drawn:
            plt.close(fig)
            return None
        ax.plot([0, 1], [0, 1], ls=":", color="grey")
        ax.set(xlabel="false positive rate", ylabel="true positive rate", title=f"sex: {pred}")
    fig.tight_layout()
    _legend_below(fig, list(legend.values()), list(legend), ncol=3 if len(predictors) < 2 else 5)
    return _png(fig)


def bland_altman(result: EvaluationResult) -> bytes | None:
    """Bone-age prediction after inpainting minus before, against their mean, per inpainter;
    every panel on the same axes, so that the spreads compare at a glance."""
    rows = result.scored_rows("total")
    if rows.empty or rows["pred_bone_age"].notna().sum() == 0:
        return None
    rows = in_run_order(rows, result)
    colors = inpainter_colors(result)
    groups = list(rows.groupby(["predictor", "inpainter"], sort=False))
    one_predictor = rows["predictor"].nunique() == 1
    plt = _pyplot()
    nr, nc = _grid(len(groups))
    fig, axes = plt.subplots(
        nr, nc, figsize=(2.9 * nc, 2.5 * nr), squeeze=False, sharex=True, sharey=True
    )
    for ax in axes.ravel()[len(groups) :]:
        ax.axis("off")
    for i, (ax, ((pred, inp), g)) in enumerate(zip(axes.ravel(), groups, strict=False)):
        a, b = g["pred_bone_age"].to_numpy(float), g["orig_pred_bone_age"].to_numpy(float)
        ok = ~(np.isnan(a) | np.isnan(b))
        diff, mean = a[ok] - b[ok], (a[ok] + b[ok]) / 2
        ax.scatter(mean, diff, s=7, alpha=0.7, color=colors.get(str(inp)))
        ax.axhline(0, color="grey", lw=0.6)
        if diff.size:
            md, sd = float(diff.mean()), float(diff.std(ddof=1)) if diff.size > 1 else 0.0
            ax.axhline(md, color="black", lw=1)
            for s in (-1.96, 1.96):
                ax.axhline(md + s * sd, color="black", ls="--", lw=0.7)
        title = str(inp) if one_predictor else f"{inp} ({pred})"
        ax.set_title(title, fontsize=8, color=colors.get(str(inp), "black"))
        if i % nc == 0:
            ax.set_ylabel("after − before (months)", fontsize=7)
        if i >= len(groups) - nc:
            ax.set_xlabel("mean of before/after (months)", fontsize=7)
            ax.xaxis.set_tick_params(labelbottom=True)
        ax.tick_params(labelsize=6)
    fig.suptitle(
        "mean shift (solid) and 95% limits of agreement (dashed); same axes in every panel",
        fontsize=8,
    )
    fig.tight_layout()
    return _png(fig)


def intensity_histograms(result: EvaluationResult) -> bytes | None:
    """Pooled intensity histograms (smoothed as the preset says), whole image and in-mask."""
    hists = result.pixels.histograms
    if not hists:
        return None
    sigma = float(result.preset.histogram_sigma)
    colors = inpainter_colors(result)
    present = list(dict.fromkeys(label for label, _ in hists))
    order = inpainter_order(result)
    labels = [lb for lb in order if lb in present] + [lb for lb in present if lb not in order]
    plt = _pyplot()
    regions = [r for r in ("image", "in-mask", "hand") if any((lb, r) in hists for lb in labels)]
    fig, axes = plt.subplots(1, len(regions), figsize=(3.9 * len(regions), 3.4), squeeze=False)
    legend: dict[str, object] = {}
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
            style = {"lw": 2.0} if label == "original" else {"lw": 1.0}
            (line,) = ax.plot(x, density, color=colors.get(label), **style)
            legend.setdefault(label, line)
        ax.set(xlabel="intensity", ylabel="fraction of pixels", title=f"pooled: {region}")
    fig.tight_layout()
    _legend_below(fig, list(legend.values()), list(legend), ncol=min(len(legend), 6))
    return _png(fig)


GRID_CASES = 4
"""Cases the image grid shows."""


def _case_shifts(result: EvaluationResult) -> pd.DataFrame:
    """Variant-0 bone-age shift per case (rows) and inpainter (columns), total view, mean
    over predictors: the outputs the image grid shows."""
    import pandas as pd

    t = result.ok_rows()
    if t.empty:
        return pd.DataFrame()
    t = t[(t["view"] == "total") & (t["variant"] == 0)]
    t = t.assign(shift=t["pred_bone_age"] - t["orig_pred_bone_age"]).dropna(subset=["shift"])
    if t.empty:
        return pd.DataFrame()
    return t.pivot_table(index="case_id", columns="inpainter", values="shift", aggfunc="mean")


def grid_cases(result: EvaluationResult, n: int = GRID_CASES) -> list[tuple[int, str]]:
    """The kept samples the image grid shows, as ``(index in result.samples, why)``.

    For the edits (the inpainters that are not controls; all of them if every one is), the
    one with the largest mean |shift| first: the sample with its largest |bone-age shift|,
    then the one closest to its median shift over every case; then the next edit; then any
    other sample. Without shifts, the first samples.
    """
    samples = result.samples or []
    if not samples:
        return []
    shifts = _case_shifts(result)
    index = {str(s["case_id"]): i for i, s in enumerate(samples)}
    picked: list[tuple[int, str]] = []

    def take(i: int, why: str) -> None:
        if len(picked) < n and i not in [p for p, _ in picked]:
            picked.append((i, why))

    if not shifts.empty:
        names = {
            str(b.get("label")): str(b.get("name"))
            for b in result.manifest.get("backends", {}).get("inpainters", [])
            if isinstance(b, dict)
        }
        labels = [str(c) for c in shifts.columns]
        edits = [lb for lb in labels if names.get(lb, lb) not in CONTROLS]
        if not edits:
            edits = [lb for lb in labels if names.get(lb, lb) != "identity"] or labels
        edits.sort(key=lambda lb: -float(shifts[lb].abs().mean()))
        for label in edits:
            col = shifts[label].dropna()
            kept = col[[c for c in col.index if str(c) in index]]
            if kept.empty:
                continue
            top = kept.abs().idxmax()
            rank = int((col.abs() > abs(kept[top])).sum()) + 1
            why = f"largest |shift| of {label}: {kept[top]:+.1f} months (rank {rank} of {col.size})"
            if index[str(top)] in [p for p, _ in picked]:  # another edit's pick too: say so
                at = [p for p, _ in picked].index(index[str(top)])
                if "largest" in picked[at][1]:
                    picked[at] = (picked[at][0], f"{picked[at][1]}; also of {label}")
            take(index[str(top)], why)
            median = float(col.median())
            near = (kept - median).abs().sort_values(kind="mergesort")
            for cid in near.index:
                if index[str(cid)] not in [p for p, _ in picked]:
                    take(index[str(cid)], f"median shift of {label}: {kept[cid]:+.1f} months "
                                          f"(median of all cases {median:+.1f})")  # fmt: skip
                    break
            if len(picked) >= n:
                break
    for i in range(len(samples)):
        take(i, "")
    return picked


def image_grid(result: EvaluationResult, cases: int = GRID_CASES) -> bytes | None:
    """Several cases side by side (the largest and the median bone-age shifts of the
    edits, see :func:`grid_cases`): the original with its mask outlined, then per backend
    the output (titled with its bone-age shift) and |output − original|."""
    chosen = grid_cases(result, cases)
    samples = [(result.samples[i], why) for i, why in chosen if result.samples[i]["outputs"]]
    if not samples:
        return None
    order = inpainter_order(result)
    present = list(dict.fromkeys(lb for s, _ in samples for lb in s["outputs"]))
    labels = [lb for lb in order if lb in present] + [lb for lb in present if lb not in order]
    colors = inpainter_colors(result)
    shifts = _case_shifts(result)
    plt = _pyplot()
    nr, nc = 1 + len(labels), 2 * len(samples)
    aspect = max(s["original"].shape[0] / max(1, s["original"].shape[1]) for s, _ in samples)
    w = min(1.35, 11.0 / nc)
    fig, axes = plt.subplots(nr, nc, figsize=(w * nc + 0.6, w * min(aspect, 1.6) * nr + 0.4),
                             squeeze=False)  # fmt: skip
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
        for side in ax.spines.values():
            side.set_visible(False)
    for c, (s, why) in enumerate(samples):
        x = np.asarray(s["original"], dtype=np.float32)
        top = axes[0][2 * c]
        top.imshow(x, cmap="gray", vmin=0, vmax=1)
        top.contour(s["mask"], levels=[0.5], colors="red", linewidths=0.6)
        top.set_title("original + mask", fontsize=6)
        info = axes[0][2 * c + 1]
        info.axis("off")
        text = "\n".join(textwrap.wrap(f"case {s['case_id']}", 22))
        if why:
            text += "\n\n" + "\n".join(textwrap.wrap(why, 24))
        info.text(0.0, 1.0, text, fontsize=6, va="top", ha="left", transform=info.transAxes)
        for r, label in enumerate(labels, start=1):
            out_ax, diff_ax = axes[r][2 * c], axes[r][2 * c + 1]
            o = s["outputs"].get(label)
            if o is None:
                out_ax.text(0.5, 0.5, "no output", fontsize=6, ha="center", va="center")
                continue
            o = np.asarray(o, dtype=np.float32)
            out_ax.imshow(o, cmap="gray", vmin=0, vmax=1)
            shift = np.nan
            if label in shifts.columns and s["case_id"] in shifts.index:
                shift = float(shifts.loc[s["case_id"], label])
            out_ax.set_title("" if np.isnan(shift) else f"shift {shift:+.1f} mo", fontsize=6)
            if o.shape == x.shape:
                diff = np.abs(o - x)
                peak = float(diff.max())
                diff_ax.imshow(diff, cmap="magma", vmin=0, vmax=peak if peak > 0 else 1)
                diff_ax.set_title(f"|diff| max {peak:.3f}", fontsize=6)
            if c == 0:
                out_ax.set_ylabel(label, fontsize=7, color=colors.get(label, "black"))
    axes[0][0].set_ylabel("original", fontsize=7)
    height = fig.get_figheight()
    fig.suptitle("variant 0 of each backend; shift: bone-age prediction, output − original",
                 fontsize=8, y=1 - 0.02 / height)  # fmt: skip
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.18 / height))
    return _png(fig)


_FIGURE_PARTS = ("total", "geometry", "redraw", "content")
_PART_COLORS = {
    "total": "#444444",
    "geometry": "#1b9e77",
    "redraw": "#d95f02",
    "content": "#7570b3",
}


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
    # the parts' own colours (Dark2), apart from the inpainters' (tab10) of other figures
    colors = [_PART_COLORS.get(p, "#999999") for p in parts]
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
    fig.suptitle(
        "Shapley parts of the mean shift, with confidence intervals "
        "(faded: not distinguishable from zero)",
        fontsize=9,
    )
    fig.tight_layout()
    _legend_below(fig, legend, [str(p) for p in parts], ncol=len(parts))
    return _png(fig)


FIGURES = {
    "decomposition": ("Effect decomposition", decomposition_bars),
    "roc": ("ROC curves (sex)", roc_curves),
    "bland_altman": ("Bland-Altman: bone age after vs before", bland_altman),
    "histograms": ("Pooled intensity histograms", intensity_histograms),
    "images": ("Cases with the largest and the median bone-age shifts", image_grid),
    "dose": ("Dose-response of the diffusion redraw", lambda r: _dose_figure(r)),
    "saliency": ("Where the models look: saliency on originals and outputs",
                 lambda r: saliency_overlays(r)),
}  # fmt: skip
"""Figure name -> (title, function)."""


def saliency_overlays(result: EvaluationResult) -> bytes | None:
    """The ``saliency-shift`` metric's kept cases (original, output, the map on each, their
    difference; :func:`radinpaint.report.saliency.saliency_grid`), or ``None`` when the
    metric did not run or kept none."""
    from .saliency import SaliencyPanel, saliency_grid

    for res in result.metrics.values():
        if res.name != "saliency-shift":
            continue
        panels = [p for p in res.samples if isinstance(p, SaliencyPanel)]
        if panels:
            head = ", ".join(str(v) for v in (res.details.get("panel_map") or {}).values())
            return saliency_grid(panels, title=head)
    return None


def _dose_figure(result: EvaluationResult) -> bytes | None:
    """The diffusion redraw's dose-response (None unless >= 2 strengths ran)."""
    from .dose import dose_figure

    return dose_figure(result)


def draw_all(result: EvaluationResult) -> dict[str, tuple[str, bytes | None, str]]:
    """Every figure: name -> (title, PNG bytes or None, error text or "")."""
    out: dict[str, tuple[str, bytes | None, str]] = {}
    for name, (title, fn) in FIGURES.items():
        try:
            out[name] = (title, fn(result), "")
        except Exception as exc:  # a figure must not take the report down
            out[name] = (title, None, f"{type(exc).__name__}: {exc}")
    return out

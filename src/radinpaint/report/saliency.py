"""The saliency report: where the models look on originals and outputs, and how far it moved.

- :func:`saliency_panels` explains a few cases (original and each backend's output) with
  one ensemble, target and method; :func:`saliency_grid` draws them, one row per case and
  backend: the original, the output, each image with its map over it, and the difference
  of the two maps (output − original, both normalised to sum 1, on one colour scale for all
  rows; red: the output draws more saliency there, blue: less), the artifact mask outlined.
- :func:`shift_table` is the ``saliency-shift`` metric's result as a report table (each
  mean with its bootstrap CI in one cell); the main report uses it when that metric is
  among an evaluation result's metrics.
- :func:`write_saliency_report` writes ``saliency.md`` (with ``figures/saliency_grid.png``),
  a self-contained ``saliency.html`` and ``saliency_shift.csv`` into a folder.

Figures drawn from images whose terms forbid redistribution (RSNA) must stay local: write
them outside any repository.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from .tables import ReportTable, _ci, _int, _missing, to_markdown

if TYPE_CHECKING:
    import pandas as pd

    from ..predictors.ensemble import EnsemblePredictor
    from ..protocols import MetricResult
    from ..records import Case, InpaintResult, Radiograph

__all__ = [
    "SHIFT_TEXT",
    "SaliencyPanel",
    "saliency_grid",
    "saliency_panels",
    "shift_table",
    "write_saliency_report",
]

SHIFT_TEXT = (
    "How far each model's saliency moved from the original to the output, per case, then "
    "averaged over cases with 95% bootstrap CIs. Rank shift: 1 − Spearman's rho of the two "
    "maps (0: the same pixel ranking). EMD: sliced earth mover's distance between the maps "
    "normalised to sum 1, in image lengths (longest side). TV: share of saliency that moved "
    "(half the L1 distance). Δ share: change of the share of saliency inside the artifact "
    "mask, over the hand, on the growth plates and on the carpals (phantoms only). The "
    "identity control gives exactly 0."
)
"""What the shift table shows."""

_SHIFT_COLUMNS: tuple[tuple[str, str, bool], ...] = (
    ("rank shift [95% CI]", "rank_shift", False),
    ("EMD [95% CI]", "emd", False),
    ("TV [95% CI]", "tv", False),
    ("Δ share artifact", "delta_share_artifact", True),
    ("Δ share hand", "delta_share_hand", True),
    ("Δ share growth plates", "delta_share_growth_plates", True),
    ("Δ share carpals", "delta_share_carpals", True),
)


def shift_table(result: MetricResult | pd.DataFrame, *, members: bool = False) -> ReportTable:
    """The ``saliency-shift`` metric's rows as a :class:`~.tables.ReportTable`.

    Args:
        result: the metric's result (or its ``table``).
        members: keep the per-member rows (default: the ensembles' only).
    """
    import pandas as pd

    rows = result if isinstance(result, pd.DataFrame) else result.table
    if rows is None or rows.empty:
        return ReportTable("Saliency shift", pd.DataFrame(), SHIFT_TEXT)
    if not members and "member" in rows.columns:
        rows = rows[rows["member"] == "ensemble"]
    out = []
    for _, r in rows.iterrows():
        row: dict[str, Any] = {
            "predictor": r.get("predictor"),
            "inpainter": r.get("inpainter"),
            "target": r.get("target"),
            "method": r.get("saliency"),
        }
        if members:
            row["member"] = r.get("member")
        row["n"] = _int(r.get("n"))
        for title, name, sign in _SHIFT_COLUMNS:
            row[title] = _ci(r, name, 3, sign=sign)
        out.append(row)
    frame = pd.DataFrame(out)
    empty = [c for c, *_ in _SHIFT_COLUMNS if c in frame and (frame[c] == "").all()]
    return ReportTable("Saliency shift", frame.drop(columns=empty), SHIFT_TEXT)


@attrs.frozen
class SaliencyPanel:
    """One row of the saliency grid.

    Attributes:
        case_id: the case.
        inpainter: the backend that made the output.
        original: the original's pixels.
        output: the output's pixels (any shape; its map is in its own frame).
        map_original: the original's map (its frame).
        map_output: the output's map (the output's frame).
        mask: the artifact mask (original's frame), or ``None``.
        shift: the case's shift numbers (:func:`~radinpaint.saliency.map_shift`).
    """

    case_id: str
    inpainter: str
    original: np.ndarray
    output: np.ndarray
    map_original: np.ndarray
    map_output: np.ndarray
    mask: np.ndarray | None = None
    shift: Mapping[str, float] = attrs.field(factory=dict)


def saliency_panels(
    predictor: EnsemblePredictor,
    cases: Sequence[Case],
    outputs: Mapping[str, Sequence[Radiograph | InpaintResult]],
    *,
    target: str = "bone_age",
    method: str = "grad-cam",
) -> list[SaliencyPanel]:
    """Explain ``cases`` and each backend's outputs (one per case, in order): one
    :class:`SaliencyPanel` per case and backend."""
    from ..errors import InvalidInputError
    from ..records import InpaintResult
    from ..saliency.maps import explain
    from ..saliency.regions import phantom_regions
    from ..saliency.shift import map_shift

    for name, outs in outputs.items():
        if len(outs) != len(cases):
            raise InvalidInputError(
                f"inpainter {name!r} has {len(outs)} outputs for {len(cases)} cases",
                input=name,
                fix="give one output per case, in the order of the cases",
            )
    male = [c.male for c in cases]
    orig = explain(predictor, cases, target=target, method=method, male=male)
    panels = []
    for name, outs in outputs.items():
        images = [o.image if isinstance(o, InpaintResult) else o for o in outs]
        new = explain(predictor, images, target=target, method=method, male=male)
        for i, case in enumerate(cases):
            mask = None if case.artifact_mask is None else case.artifact_mask.array
            hand = None if case.anatomy_mask is None else case.anatomy_mask.array
            shift = map_shift(orig.ensemble[i], new.ensemble[i], artifact_mask=mask,
                              anatomy_mask=hand, regions=phantom_regions(case))  # fmt: skip
            panels.append(
                SaliencyPanel(
                    case.id,
                    name,
                    case.image.pixels,
                    images[i].pixels,
                    orig.ensemble[i],
                    new.ensemble[i],
                    mask,
                    shift,
                )
            )
    return panels


def _overlay(ax: Any, pixels: np.ndarray, saliency: np.ndarray) -> None:
    peak = float(saliency.max())
    ax.imshow(pixels, cmap="gray", vmin=0, vmax=1)
    ax.imshow(saliency, cmap="inferno", alpha=0.55, vmin=0, vmax=peak if peak > 0 else 1)


def saliency_grid(panels: Sequence[SaliencyPanel], *, title: str = "") -> bytes | None:
    """The grid described in the module docs, as PNG bytes (``None`` without panels)."""
    import cv2

    from ..saliency.maps import normalise
    from .figures import _png, _pyplot

    if not panels:
        return None
    plt = _pyplot()
    heads = ("original", "output", "map on original", "map on output", "difference")
    aspect = max(p.original.shape[0] / max(1, p.original.shape[1]) for p in panels)
    w = 1.6
    fig, axes = plt.subplots(
        len(panels), 5, figsize=(5 * w + 0.6, w * min(aspect, 1.6) * len(panels) + 0.5),
        squeeze=False,
    )  # fmt: skip
    diffs = []
    for p in panels:
        a = normalise(p.map_original)
        b = normalise(p.map_output)
        if b.shape != a.shape:
            b = normalise(cv2.resize(b, (a.shape[1], a.shape[0]), interpolation=cv2.INTER_AREA))
        diffs.append(b - a)
    # one colour scale for every difference, so that rows compare
    lim = max(float(np.abs(d).max()) for d in diffs) or 1.0
    for r, (p, diff) in enumerate(zip(panels, diffs, strict=True)):
        row = axes[r]
        row[0].imshow(p.original, cmap="gray", vmin=0, vmax=1)
        if p.mask is not None and p.mask.any():
            row[0].contour(p.mask, levels=[0.5], colors="red", linewidths=0.6)
        row[1].imshow(p.output, cmap="gray", vmin=0, vmax=1)
        _overlay(row[2], p.original, p.map_original)
        _overlay(row[3], p.output, p.map_output)
        row[4].imshow(diff, cmap="RdBu_r", vmin=-lim, vmax=lim)
        if p.mask is not None and p.mask.any():
            row[4].contour(p.mask, levels=[0.5], colors="black", linewidths=0.4)
        emd, tv = p.shift.get("emd"), p.shift.get("tv")
        if not (_missing(emd) or _missing(tv)):
            row[4].set_title(f"EMD {emd:.4f}  TV {tv:.3f}", fontsize=6)
        row[0].set_ylabel(f"{p.case_id}\n{p.inpainter}", fontsize=7)
        for c, ax in enumerate(row):
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(heads[c] + ("\n" + ax.get_title() if ax.get_title() else ""),
                             fontsize=7)  # fmt: skip
    if title:
        fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    return _png(fig)


def write_saliency_report(
    out_dir: str | Path,
    result: MetricResult,
    *,
    panels: Sequence[SaliencyPanel] = (),
    per_case: pd.DataFrame | None = None,
    title: str = "radinpaint saliency report",
    facts: Mapping[str, Any] | None = None,
) -> dict[str, Path]:
    """Write ``saliency.md``, ``saliency.html``, the grid figure and the CSVs.

    Args:
        out_dir: the folder (created).
        result: the ``saliency-shift`` metric's result.
        panels: the grid's rows (:func:`saliency_panels`); no figure without them.
        per_case: the per-case table (:func:`~radinpaint.saliency.saliency_shift_table`),
            written as ``saliency_shift_cases.csv``.
        title: the heading.
        facts: ``name: value`` lines listed under the heading (run settings).

    Returns:
        name -> path of every file written.
    """
    from .html import _CSS, _table

    out = Path(out_dir)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    table = shift_table(result)
    if result.table is not None:
        paths["saliency_shift.csv"] = out / "saliency_shift.csv"
        result.table.to_csv(paths["saliency_shift.csv"], index=False)
    if per_case is not None:
        paths["saliency_shift_cases.csv"] = out / "saliency_shift_cases.csv"
        per_case.to_csv(paths["saliency_shift_cases.csv"], index=False)
    png = saliency_grid(
        panels, title="ensemble maps; difference: output − original (one colour scale)"
    )
    if png is not None:
        paths["saliency_grid.png"] = out / "figures" / "saliency_grid.png"
        paths["saliency_grid.png"].write_bytes(png)
    lines = [f"# {title}", ""]
    lines += [f"- **{k}**: {v}" for k, v in (facts or {}).items()]
    lines += ["", "## Saliency shift", "", SHIFT_TEXT, "", to_markdown(table.frame)]
    if png is not None:
        lines += ["## Where the models look", "", "![saliency grid](figures/saliency_grid.png)"]
    paths["saliency.md"] = out / "saliency.md"
    paths["saliency.md"].write_text("\n".join(lines) + "\n", "utf-8")
    e = html.escape
    body = [f"<h1>{e(title)}</h1>"]
    if facts:
        body.append("<dl>" + "".join(f"<dt>{e(str(k))}</dt><dd>{e(str(v))}</dd>"
                                     for k, v in facts.items()) + "</dl>")  # fmt: skip
    body += ["<h2>Saliency shift</h2>", f"<p class='text'>{e(SHIFT_TEXT)}</p>",
             _table(table.frame)]  # fmt: skip
    if png is not None:
        data = base64.b64encode(png).decode("ascii")
        body += ["<h2>Where the models look</h2>",
                 f"<img alt='saliency grid' src='data:image/png;base64,{data}'>"]  # fmt: skip
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{e(title)}</title>"
            f"<style>{_CSS}</style></head><body>{''.join(body)}</body></html>")  # fmt: skip
    paths["saliency.html"] = out / "saliency.html"
    paths["saliency.html"].write_text(page, "utf-8")
    return paths

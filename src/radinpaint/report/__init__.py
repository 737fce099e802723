"""Reports: tables, figures, Markdown, HTML and JSON.

:func:`write_report` writes an evaluation result into a folder:

- ``results.csv``: the tidy table (one row per case x inpainter x variant x predictor x view);
- ``decomposition.csv``: the attribution of each inpainter's prediction shifts to geometry,
  redraw and content, with intervals and tests;
- ``views.csv``: MAE, AUC and prediction shifts of every view against the originals;
- ``pixels.csv``: per-output pixel facts;
- ``generative.csv`` (when the ``generative`` metric ran): FID, KID, precision, recall,
  density and coverage per inpainter and variant, with intervals (one file per such metric,
  named by its label);
- ``saliency-shift.csv`` (when the ``saliency-shift`` metric ran): the saliency shift per
  inpainter x predictor x target x method, with intervals (likewise named by its label);
- ``results.json``: summary, headline, decomposition, views, every metric, pixel summary,
  failures, manifest;
- ``manifest.json``: versions, options, seeds, prompts, input hashes, timings, cost;
- ``report.md`` with ``figures/*.png``; ``report.html``, self-contained (figures embedded);
  both open with a plain-English paragraph on which effects are distinguishable from zero
  and where they come from.

Figures use matplotlib's Agg backend, so no display is needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..evaluation import EvaluationResult

__all__ = ["FORMATS", "write_report"]

FORMATS: tuple[str, ...] = ("csv", "json", "md", "html")
"""What :func:`write_report` can write."""


def write_report(
    result: EvaluationResult, out_dir: str | Path, *, formats: tuple[str, ...] = FORMATS
) -> dict[str, Path]:
    """Write the report files for ``result`` into ``out_dir``; returns name -> path."""
    import re

    from ..errors import InvalidInputError
    from .figures import draw_all
    from .html import render_html
    from .jsonout import results_document, write_json
    from .markdown import render_markdown

    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise InvalidInputError(f"unknown report format(s) {unknown}", available=FORMATS)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    if "csv" in formats:
        paths["results.csv"] = out / "results.csv"
        result.table.to_csv(paths["results.csv"], index=False)
        paths["decomposition.csv"] = out / "decomposition.csv"
        result.decomposition.to_csv(paths["decomposition.csv"], index=False)
        paths["views.csv"] = out / "views.csv"
        result.views.to_csv(paths["views.csv"], index=False)
        paths["pixels.csv"] = out / "pixels.csv"
        result.pixels.table().to_csv(paths["pixels.csv"], index=False)
        for label, res in result.metrics.items():
            if res.name in ("generative", "saliency-shift") and res.table is not None:
                name = re.sub(r"[^A-Za-z0-9._-]+", "_", label) + ".csv"
                paths[name] = out / name
                res.table.to_csv(paths[name], index=False)
    if "json" in formats:
        paths["results.json"] = write_json(out / "results.json", results_document(result))
        paths["manifest.json"] = write_json(out / "manifest.json", result.manifest)
    if "md" in formats or "html" in formats:
        figures = draw_all(result)
        if "md" in formats:
            fig_dir = out / "figures"
            fig_dir.mkdir(exist_ok=True)
            for name, (_, png, _) in figures.items():
                if png is not None:
                    (fig_dir / f"{name}.png").write_bytes(png)
            paths["report.md"] = out / "report.md"
            paths["report.md"].write_text(render_markdown(result, figures, "figures"), "utf-8")
        if "html" in formats:
            paths["report.html"] = out / "report.html"
            paths["report.html"].write_text(render_html(result, figures), "utf-8")
    return paths

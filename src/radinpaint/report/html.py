"""The HTML report (``report.html``): one self-contained file, figures embedded as PNG."""

from __future__ import annotations

import base64
import html
from typing import TYPE_CHECKING

import pandas as pd

from .markdown import DECOMPOSITION_TEXT, VIEWS_TEXT, run_facts, summary_paragraph
from .tables import (
    decomposition_view,
    format_value,
    headline_view,
    interval_view,
    metric_tables,
    timing_view,
    views_view,
)

if TYPE_CHECKING:
    from ..evaluation import EvaluationResult

__all__ = ["render_html"]

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#222}
table{border-collapse:collapse;font-size:12px;margin:.5em 0 1.5em}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:right}
th{background:#f3f3f3} td:first-child,td:nth-child(2){text-align:left}
.summary{font-size:15px;line-height:1.5;max-width:900px}
img{max-width:100%;border:1px solid #ddd} .err{color:#a00} dt{font-weight:600}
"""


def _table(df: pd.DataFrame | None, digits: int = 3) -> str:
    if df is None or df.empty:
        return "<p><em>(none)</em></p>"
    return df.to_html(
        index=False, na_rep="", float_format=lambda v: format_value(v, digits), border=0
    )


def render_html(result: EvaluationResult, figures: dict[str, tuple[str, bytes | None, str]]) -> str:
    """The whole report as one HTML document."""
    e = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        "<title>radinpaint evaluation report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>radinpaint evaluation report</h1>",
    ]
    summary = summary_paragraph(result)
    if summary:
        parts.append(f"<p class='summary'>{e(summary)}</p>")
    parts.append("<dl>")
    parts += [f"<dt>{e(str(k))}</dt><dd>{e(str(v))}</dd>" for k, v in run_facts(result)]
    parts += ["</dl><h2>Headline (total effect, per inpainter)</h2>", _table(headline_view(result))]
    intervals = interval_view(result)
    if not intervals.empty:
        parts += ["<h3>With intervals and tests</h3>", _table(intervals, digits=4)]
    parts += [
        "<h2>Effect decomposition</h2>",
        f"<p>{_code(DECOMPOSITION_TEXT)}</p>",
        _table(decomposition_view(result)),
    ]
    fig = figures.get("decomposition")
    if fig and fig[1]:
        parts.append(_img(fig[0], fig[1]))
    parts += [
        "<h3>MAE and AUC per view</h3>",
        f"<p>{_code(VIEWS_TEXT)}</p>",
        _table(views_view(result)),
    ]
    parts.append("<h2>Metrics</h2>")
    for label, table in metric_tables(result):
        parts += [f"<h3>{e(label)}</h3>", _table(table)]
    for label, err in result.metric_errors.items():
        parts += [f"<h3>{e(label)}</h3><p class='err'>Not computed: {e(err)}</p>"]
    parts += ["<h2>Pixels</h2>", _table(result.pixels.summary(), digits=5), "<h2>Figures</h2>"]
    for name, (title, png, err) in figures.items():
        if name == "decomposition":
            continue
        if png is not None:
            parts += [f"<h3>{e(title)}</h3>", _img(title, png)]
        elif err:
            parts += [f"<h3>{e(title)}</h3><p class='err'>Could not draw: {e(err)}</p>"]
    parts += ["<h2>Time</h2>", _table(timing_view(result), digits=1)]
    parts.append("<h2>Failures</h2>")
    if result.failures is None or result.failures.empty:
        parts.append("<p>None.</p>")
    else:
        parts += [
            f"<p>{len(result.failures)} item(s) failed; the rest went on.</p>",
            _table(result.failures),
        ]
    parts.append("</body></html>")
    return "\n".join(parts)


def _code(text: str) -> str:
    """Escaped text with Markdown `code` spans as <code> elements."""
    pieces = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(pieces))


def _img(title: str, png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f"<p><img alt='{html.escape(title)}' src='data:image/png;base64,{data}'></p>"

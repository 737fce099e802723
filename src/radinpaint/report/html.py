"""The HTML report (``report.html``): one self-contained file, figures embedded as PNG."""

from __future__ import annotations

import base64
import html
import itertools
from typing import TYPE_CHECKING

import pandas as pd

from .markdown import DECOMPOSITION_TEXT, VIEWS_TEXT, run_facts, summary_paragraph
from .tables import (
    ReportTable,
    attribution_rows,
    decomposition_view,
    for_display,
    format_value,
    headline_view,
    interval_tables,
    metric_sections,
    pixel_tables,
    timing_view,
    views_view,
)

if TYPE_CHECKING:
    from ..evaluation import EvaluationResult

__all__ = ["render_html"]

PAGE_WIDTH = 1200
"""The width (CSS pixels) the report is laid out for: every table and figure fits it."""

_CSS = f"""
*{{box-sizing:border-box}}
body{{font-family:system-ui,sans-serif;margin:2em auto;max-width:{PAGE_WIDTH}px;padding:0 16px;
color:#222}}
.tw{{max-width:100%;overflow-x:auto;margin:.3em 0 1.4em}}
table{{border-collapse:collapse;font-size:12px}}
th,td{{border:1px solid #ccc;padding:3px 6px;text-align:right;vertical-align:top}}
td{{white-space:nowrap}} th{{background:#f3f3f3;font-weight:600;max-width:11em}}
td:first-child,th:first-child{{text-align:left}}
.k2 td:nth-child(-n+2),.k2 th:nth-child(-n+2),.k3 td:nth-child(-n+3),.k3 th:nth-child(-n+3)
{{text-align:left}}
.k1 td:nth-child(-n+1),.k2 td:nth-child(-n+2),.k3 td:nth-child(-n+3)
{{white-space:normal;overflow-wrap:anywhere;min-width:5em}}
table.failures td{{white-space:normal;max-width:40em;text-align:left;overflow-wrap:anywhere}}
p.text{{font-size:13px;max-width:62em;margin:.3em 0}}
p.notes{{font-size:12px;color:#555;max-width:62em;margin:-.8em 0 1.4em;overflow-wrap:anywhere}}
.summary{{font-size:15px;line-height:1.45;max-width:62em}}
ul.summary{{padding-left:1.2em}} ul.summary li{{margin:.25em 0}}
dl{{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;font-size:14px}}
dt{{font-weight:600}} dd{{margin:0;overflow-wrap:anywhere}}
img{{max-width:100%;height:auto;border:1px solid #ddd}} .err{{color:#a00}}
"""


_LABEL_COLUMNS = ("predictor", "inpainter", "view", "part", "phase", "stage", "value")


def _table(df: pd.DataFrame | None, digits: int = 3, css_class: str = "") -> str:
    """A table in a box as wide as the page; its leading label columns (predictor,
    inpainter, view...) are left-aligned and may wrap, the numbers never do."""
    if df is None or df.empty:
        return "<p><em>(none)</em></p>"
    labels = 0
    while labels < min(3, len(df.columns)) and str(df.columns[labels]) in _LABEL_COLUMNS:
        labels += 1
    css_class = " ".join(c for c in (css_class, f"k{labels}" if labels else "") if c)
    rendered = df.to_html(
        index=False,
        na_rep="",
        float_format=lambda v: format_value(v, digits),
        border=0,
        classes=css_class or None,
    )
    return f"<div class='tw'>{rendered}</div>"


def _report_table(table: ReportTable, result: EvaluationResult) -> str:
    """A :class:`~.tables.ReportTable`: heading, its line of text, rows, footnotes."""
    e = html.escape
    parts = []
    if table.title:
        parts.append(f"<h4>{e(table.title)}</h4>")
    if table.text:
        parts.append(f"<p class='text'>{_code(table.text)}</p>")
    parts.append(_table(for_display(table.frame, result), table.digits))
    if table.notes:
        parts.append("<p class='notes'>" + "<br>".join(e(n) for n in table.notes) + "</p>")
    return "\n".join(parts)


def _summary(result: EvaluationResult, summary: str) -> list[str]:
    """The summary paragraph: its opening sentences, then one list item per inpainter (the
    sentences that start with the inpainter's label, as the attribution writes them)."""
    e = html.escape
    d = attribution_rows(result)
    starts: list[int] = []
    if not d.empty and "n" in d.columns:
        at = 0
        for _, r in d[d["part"] == "total"].iterrows():
            found = summary.find(f"{r['inpainter']} ({r['predictor']}, ", at)
            if found > 0 and summary[found - 1] == " ":
                starts.append(found)
                at = found + 1
    if not starts:
        return [f"<p class='summary'>{e(summary)}</p>"]
    bounds = [*starts, len(summary)]
    items = []
    for a, b in itertools.pairwise(bounds):
        text = summary[a:b].strip()
        head, _, rest = text.partition(" (")
        items.append(f"<li><b>{e(head)}</b> ({e(rest)}</li>")
    return [
        f"<p class='summary'>{e(summary[: starts[0]].strip())}</p>",
        "<ul class='summary'>",
        *items,
        "</ul>",
    ]


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
        parts += _summary(result, summary)
    parts.append("<dl>")
    parts += [f"<dt>{e(str(k))}</dt><dd>{e(str(v))}</dd>" for k, v in run_facts(result)]
    parts += [
        "</dl><h2>Headline (total effect, per inpainter)</h2>",
        _table(for_display(headline_view(result), result)),
    ]
    intervals = interval_tables(result)
    if intervals:
        parts.append("<h3>With intervals and tests</h3>")
        parts += [_report_table(t, result) for t in intervals]
    from .dose import dose_tables

    parts += [_report_table(t, result) for t in dose_tables(result)]
    parts += [
        "<h2>Effect decomposition</h2>",
        f"<p class='text'>{_code(DECOMPOSITION_TEXT)}</p>",
        _table(for_display(decomposition_view(result), result)),
    ]
    fig = figures.get("decomposition")
    if fig and fig[1]:
        parts.append(_img(fig[0], fig[1]))
    parts += [
        "<h3>MAE and AUC per view</h3>",
        f"<p class='text'>{_code(VIEWS_TEXT)}</p>",
        _table(for_display(views_view(result), result)),
    ]
    parts.append("<h2>Metrics</h2>")
    for label, tables in metric_sections(result):
        parts.append(f"<h3>{e(label)}</h3>")
        parts += [_report_table(t, result) for t in tables]
    for label, err in result.metric_errors.items():
        parts += [f"<h3>{e(label)}</h3><p class='err'>Not computed: {e(err)}</p>"]
    parts.append("<h2>Pixels</h2>")
    parts += [_report_table(t, result) for t in pixel_tables(result)]
    parts.append("<h2>Figures</h2>")
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
            _table(result.failures, css_class="failures"),
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

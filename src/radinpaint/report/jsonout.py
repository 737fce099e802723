"""``results.json`` and ``manifest.json``: everything the report shows, machine-readable."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .markdown import summary_paragraph

if TYPE_CHECKING:
    from ..evaluation import EvaluationResult

__all__ = ["jsonable", "results_document", "write_json"]


def jsonable(value: Any) -> Any:
    """``value`` with numpy scalars/arrays, DataFrames and NaN made JSON-ready (NaN -> null)."""
    if isinstance(value, pd.DataFrame):
        return [jsonable(r) for r in value.to_dict(orient="records")]
    if isinstance(value, pd.Series):
        return jsonable(value.to_dict())
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return None if math.isnan(f) or math.isinf(f) else f
    if value is None or isinstance(value, str):
        return value
    if hasattr(value, "to_dict"):
        return jsonable(value.to_dict())
    return str(value)


def results_document(result: EvaluationResult) -> dict[str, Any]:
    """The content of ``results.json``."""
    metrics = {
        label: {
            "name": res.name,
            "values": jsonable(dict(res.values)),
            "details": jsonable(dict(res.details)),
            "table": jsonable(res.table) if isinstance(res.table, pd.DataFrame) else None,
        }
        for label, res in result.metrics.items()
    }
    return {
        "format": 2,
        "preset": result.preset.to_dict(),
        "headline": jsonable(result.headline()),
        "summary": summary_paragraph(result),
        "decomposition": jsonable(result.decomposition),
        "views": jsonable(result.views),
        "metrics": metrics,
        "metric_errors": dict(result.metric_errors),
        "pixels": jsonable(result.pixels.summary()),
        "failures": jsonable(result.failures),
        "manifest": jsonable(result.manifest),
    }


def write_json(path: Path, document: Any) -> Path:
    """Write ``document`` as indented JSON (NaN written as null)."""
    path.write_text(json.dumps(jsonable(document), indent=2, allow_nan=False) + "\n", "utf-8")
    return path

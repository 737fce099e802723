"""Evaluations: run every case through every inpainter and predictor, then score.

>>> from radinpaint.evaluation import Evaluation          # doctest: +SKIP
>>> ev = Evaluation(PhantomDataset(20, size=128), inpainters=["identity", "telea"],
...                 predictors=["phantom-ensemble"], cache_dir="runs/cache")  # doctest: +SKIP
>>> result = ev.run(); result.write("runs/report")         # doctest: +SKIP

See ``docs/evaluation.md``.
"""

from __future__ import annotations

from .attribution import (
    FACTORS,
    VIEW_FACTORS,
    decomposition_table,
    effect_summary,
    summary_paragraph,
    views_table,
)
from .backends import predictor_fingerprint
from .config import dataset_from_config, evaluation_from_config
from .core import TABLE_COLUMNS, Evaluation, case_seed
from .decomposition import FRAMES, VIEWS, Decomposed, decompose
from .executor import Executor, LocalExecutor, SerialExecutor
from .predcache import PredictionCache
from .presets import PRESETS, Preset, get_preset
from .ray_executor import RayExecutor
from .result import EvaluationResult
from .schema import TABLE_SCHEMA, TableColumn
from .specs import BackendSpec

__all__ = [
    "FACTORS",
    "FRAMES",
    "PRESETS",
    "TABLE_COLUMNS",
    "TABLE_SCHEMA",
    "VIEWS",
    "VIEW_FACTORS",
    "BackendSpec",
    "Decomposed",
    "Evaluation",
    "EvaluationResult",
    "Executor",
    "LocalExecutor",
    "PredictionCache",
    "Preset",
    "RayExecutor",
    "SerialExecutor",
    "TableColumn",
    "case_seed",
    "dataset_from_config",
    "decompose",
    "decomposition_table",
    "effect_summary",
    "evaluation_from_config",
    "get_preset",
    "predictor_fingerprint",
    "summary_paragraph",
    "views_table",
]

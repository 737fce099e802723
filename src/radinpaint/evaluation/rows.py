"""Stage 5 of a run: the tidy table's rows (schema in :mod:`.schema`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..records import Case
from .backends import InpainterSlot, PredictorSlot
from .chunk import Chunk, Output
from .predcache import PredictionCache, StoredPrediction

__all__ = ["base_row", "chunk_rows", "error_rows"]


def base_row(case: Case, label: str, variant: int, plabel: str, view: str) -> dict[str, Any]:
    """The columns every row of the tidy table starts with."""
    return {
        "case_id": case.id,
        "inpainter": label,
        "variant": variant,
        "predictor": plabel,
        "view": view,
        "true_bone_age": math.nan if case.bone_age_months is None else case.bone_age_months,
        "true_male": math.nan if case.male is None else float(case.male),
        "pred_bone_age": math.nan,
        "pred_p_male": math.nan,
        "orig_pred_bone_age": math.nan,
        "orig_pred_p_male": math.nan,
    }


def error_rows(
    case: Case, inpainters: Sequence[str], predictors: Sequence[str], error: str
) -> list[dict[str, Any]]:
    """Rows saying that nothing could be done for ``case`` (e.g. its mask failed)."""
    return [
        base_row(case, inp, 0, pred, "total") | {"error": error}
        for inp in inpainters
        for pred in predictors
    ]


def _lookup(
    pred: PredictorSlot, case: Case, h: str, chunk: Chunk
) -> tuple[StoredPrediction | None, str]:
    """The prediction for image ``h`` of ``case``, or why there is none."""
    err = chunk.prediction_errors.get((pred.label, h))
    if err:
        return None, err
    male = case.male if pred.capabilities.needs_sex else None
    got = pred.cache.get(PredictionCache.key(h, male))
    return got, ("" if got is not None else "prediction missing")


def chunk_rows(
    chunk: Chunk,
    inps: Sequence[InpainterSlot],
    preds: Sequence[PredictorSlot],
    views: Sequence[str],
    variants: int,
) -> list[dict[str, Any]]:
    """Every row of the chunk: case x predictor x inpainter x variant x view.

    A deterministic inpainter's variant 0 stands for every variant (``replicated`` rows).
    """
    rows: list[dict[str, Any]] = []
    for case in chunk.cases:
        for pred in preds:
            if pred.error:
                original: tuple[StoredPrediction | None, str] = (None, pred.error)
            else:
                original = _lookup(pred, case, chunk.original_hash[case.id], chunk)
            for inp in inps:
                for v in range(variants):
                    src = 0 if inp.deterministic else v
                    out = chunk.outputs.get((inp.label, case.id, src))
                    rows += _row_set(case, inp, v, src, pred, out, original, chunk, views)
    return rows


def _row_set(
    case: Case,
    inp: InpainterSlot,
    v: int,
    src: int,
    pred: PredictorSlot,
    out: Output | None,
    original: tuple[StoredPrediction | None, str],
    chunk: Chunk,
    views: Sequence[str],
) -> list[dict[str, Any]]:
    """One row per view for (case, inpainter, variant, predictor)."""
    orig, orig_err = original
    res = out.result if out is not None else None
    replicated = src != v
    rows = []
    for view in views:
        spread = (math.nan, math.nan)
        row = base_row(case, inp.label, v, pred.label, view)
        stopped = chunk.inpainter_errors.get(inp.label)
        error = (stopped or "not run") if out is None else (out.error or "")
        if orig is not None:
            row["orig_pred_bone_age"] = orig.bone_age
            row["orig_pred_p_male"] = orig.p_male
        elif not error:
            error = f"original: {orig_err}"
        if not error and out is not None:
            got, err = _lookup(pred, case, out.view_hashes[view], chunk)
            if got is None:
                error = err
            else:
                row["pred_bone_age"] = got.bone_age
                row["pred_p_male"] = got.p_male
                spread = got.spread()
        row.update(
            {
                "backend": inp.spec.name,
                "seed": res.seed if res else math.nan,
                "compositing": res.compositing if res else None,
                "collapse": out.collapse if out is not None else "",
                "frame": out.frame if out is not None else "",
                "cached": bool(out.cached) if out is not None else False,
                "replicated": replicated,
                "seconds": 0.0 if (res is None or replicated) else res.seconds,
                "cost_usd": 0.0 if (res is None or replicated) else res.cost_usd,
                "inpaint_flags": ",".join(res.flags) if res else "",
                "member_sd_bone_age": spread[0],
                "member_sd_p_male": spread[1],
                "error": error or None,
            }
        )
        rows.append(row)
    return rows

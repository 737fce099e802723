"""Stage 5 of a run: the tidy table's rows (schema in :mod:`.schema`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..records import Case
from .backends import InpainterSlot, PredictorSlot
from .chunk import Chunk, Output
from .predcache import PredictionCache, StoredPrediction
from .predict_stage import error_key
from .tally import Tally

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
    pred: PredictorSlot, case: Case, h: str, chunk: Chunk, tally: Tally | None
) -> tuple[StoredPrediction | None, str]:
    """The prediction for image ``h`` of ``case``, or why there is none.

    A prediction that is neither stored nor explained by a recorded failure is reported
    (once per image and sex) so that no row loses its prediction silently.
    """
    male = case.male if pred.capabilities.needs_sex else None
    where = error_key(pred.label, h, male)
    err = chunk.prediction_errors.get(where)
    if err:
        return None, err
    got = pred.cache.get(PredictionCache.key(h, male))
    if got is not None:
        return got, ""
    err = "prediction missing: the image was not predicted and no failure says why"
    chunk.prediction_errors[where] = err
    if tally is not None:
        tally.fail("predict", predictor=pred.label, case_id=case.id, image=h[:12], error=err)
    return None, err


def chunk_rows(
    chunk: Chunk,
    inps: Sequence[InpainterSlot],
    preds: Sequence[PredictorSlot],
    views: Sequence[str],
    variants: int,
    tally: Tally | None = None,
) -> list[dict[str, Any]]:
    """Every row of the chunk: case x predictor x inpainter x variant x view.

    A deterministic inpainter's variant 0 stands for every variant (``replicated`` rows).
    With ``tally``, a row left without a prediction for a reason no stage reported (a
    prediction missing, an output never made) is added to its failures.
    """
    rows: list[dict[str, Any]] = []
    for case in chunk.cases:
        for pred in preds:
            if pred.error:
                original: tuple[StoredPrediction | None, str] = (None, pred.error)
            else:
                original = _lookup(pred, case, chunk.original_hash[case.id], chunk, tally)
            for inp in inps:
                for v in range(variants):
                    src = 0 if inp.deterministic else v
                    out = chunk.outputs.get((inp.label, case.id, src))
                    if out is None and not chunk.inpainter_errors.get(inp.label):
                        out = _never_made(inp, case, src, chunk, tally)
                    rows += _row_set(case, inp, v, src, pred, out, original, chunk, views, tally)
    return rows


def _never_made(
    inp: InpainterSlot, case: Case, variant: int, chunk: Chunk, tally: Tally | None
) -> Output:
    """An output no stage made nor reported: reported now (once), so its rows say why."""
    error = "not run: no output and no failure was reported for it"
    out = Output(error=error)
    chunk.outputs[(inp.label, case.id, variant)] = out
    if tally is not None:
        tally.fail("inpaint", case_id=case.id, inpainter=inp.label, variant=variant, error=error)
    return out


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
    tally: Tally | None,
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
            got, err = _lookup(pred, case, out.view_hashes[view], chunk, tally)
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

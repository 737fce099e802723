"""Effect decomposition: which part of an output changes what a model reads.

For an output ``O`` of an original ``X`` with artifact mask ``M`` four images are scored:

- ``X`` (the reference, the ``orig_*`` columns of every row),
- ``O`` (view ``"total"``),
- ``X`` outside ``M`` + ``O`` inside ``M`` (view ``"in-mask"``: the new content only),
- ``O`` outside ``M`` + ``X`` inside ``M`` (view ``"out-of-mask"``: the drift elsewhere only),

and the ``resample`` control (its own inpainter rows) measures the geometry change alone.

Views often collapse, and then need no prediction of their own: a paste-back output equals
``X`` outside ``M``, so its in-mask view *is* the output and its out-of-mask view *is* the
original. :func:`decompose` detects this by exact pixel equality and returns aliases instead
of images; the evaluation then reuses the existing prediction.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import attrs
import numpy as np
import pandas as pd

from ..errors import InvalidInputError
from ..metrics import stats
from ..records import Mask, Radiograph

__all__ = ["VIEWS", "Decomposed", "decompose", "decomposition_table", "effect_summary"]

VIEWS: tuple[str, ...] = ("total", "in-mask", "out-of-mask")
"""The views of an output scored against the original (see the module docs)."""


@attrs.frozen(eq=False)
class Decomposed:
    """The views of one output.

    Attributes:
        images: view -> image, for views that need their own prediction.
        aliases: view -> ``"original"`` or ``"total"``, for views equal to one of those.
        collapse: why views collapsed: ``"unchanged"`` (output equals original),
            ``"paste-back"`` (equal outside the mask), ``"outside-only"`` (equal inside the
            mask) or ``"none"``.
    """

    images: dict[str, Radiograph]
    aliases: dict[str, str]
    collapse: str


def decompose(
    original: Radiograph, output: Radiograph, mask: Mask, *, views: Sequence[str] = VIEWS
) -> Decomposed:
    """Build the requested views of ``output`` (see the module docs), aliasing equal ones."""
    if "total" not in views or not set(views) <= set(VIEWS):
        raise InvalidInputError(
            f"views must include 'total' and come from {VIEWS}, got {tuple(views)}"
        )
    x, o, m = original.pixels, output.pixels, mask.array
    same_out = bool(np.array_equal(o[~m], x[~m]))
    same_in = bool(np.array_equal(o[m], x[m]))
    images: dict[str, Radiograph] = {}
    aliases: dict[str, str] = {}
    if same_out and same_in:
        collapse = "unchanged"
        aliases = dict.fromkeys(views, "original")
    elif same_out:
        collapse = "paste-back"
        table = {"total": "image", "in-mask": "total", "out-of-mask": "original"}
    elif same_in:
        collapse = "outside-only"
        table = {"total": "image", "in-mask": "original", "out-of-mask": "total"}
    else:
        collapse = "none"
        table = {"total": "image", "in-mask": "compose", "out-of-mask": "compose"}
    if collapse != "unchanged":
        for view in views:
            how = table[view]
            if how == "image":
                images[view] = output
            elif how == "compose":
                pixels = np.where(m, o, x) if view == "in-mask" else np.where(m, x, o)
                images[view] = output.with_pixels(pixels)
            else:
                aliases[view] = how
    return Decomposed(images, aliases, collapse)


def _auc(truth: np.ndarray, score: np.ndarray) -> float:
    truth, score = stats.complete(truth, score)
    return float(stats.auc(truth >= 0.5, score))


def _mae(truth: np.ndarray, pred: np.ndarray) -> float:
    truth, pred = stats.complete(truth, pred)
    return float(stats.mae(truth, pred))


def _aggregate_variants(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per predictor x inpainter x view x case: the mean over its variants.

    :func:`radinpaint.metrics.stats.case_means`, as the metric plugins average variants.
    """
    cols = ["true_bone_age", "true_male", "pred_bone_age", "pred_p_male"]
    cols += ["orig_pred_bone_age", "orig_pred_p_male"]
    return stats.case_means(rows, ["predictor", "inpainter", "view", "case_id"], cols, sort=False)


def effect_summary(rows: pd.DataFrame) -> dict[str, float]:
    """Headline effect of one group of rows (one predictor x inpainter x view).

    Returns MAE and AUC on the view and on the originals, their differences, the mean
    signed and absolute bone-age shift against the original's prediction, the mean signed
    shift of P(male) and the rate of sex flips (threshold 0.5). Cases are scored in
    ``case_id`` order, as the metric plugins score them, with the statistics of
    :mod:`radinpaint.metrics.stats`, so the same rows give the same numbers here and in
    the metrics.
    """
    if "case_id" in rows.columns:
        rows = rows.sort_values("case_id", kind="stable")
    truth_ba = rows["true_bone_age"].to_numpy(float)
    truth_m = rows["true_male"].to_numpy(float)
    ba, oba = rows["pred_bone_age"].to_numpy(float), rows["orig_pred_bone_age"].to_numpy(float)
    pm, opm = rows["pred_p_male"].to_numpy(float), rows["orig_pred_p_male"].to_numpy(float)
    mae, omae = _mae(truth_ba, ba), _mae(truth_ba, oba)
    auc, oauc = _auc(truth_m, pm), _auc(truth_m, opm)
    flips = (pm >= 0.5) != (opm >= 0.5)
    flips = np.where(np.isnan(pm) | np.isnan(opm), np.nan, flips.astype(float))
    return {
        "n": len(rows),
        "mae": mae,
        "orig_mae": omae,
        "delta_mae": mae - omae,
        "auc": auc,
        "orig_auc": oauc,
        "delta_auc": auc - oauc,
        "mean_shift": stats.finite_mean(ba - oba),
        "mean_abs_shift": stats.finite_mean(np.abs(ba - oba)),
        "mean_p_male_shift": stats.finite_mean(pm - opm),
        "flip_rate": stats.finite_mean(flips),
    }


def _clean(value: float) -> float:
    """Round floating-point residue (|x| < 1e-9) to exactly 0."""
    return 0.0 if not math.isnan(value) and abs(value) < 1e-9 else value


def _share(part: float, whole: float) -> float:
    if math.isnan(part) or math.isnan(whole) or abs(whole) < 1e-9:
        return math.nan
    return 0.0 if abs(part) < 1e-12 else part / whole


def decomposition_table(
    table: pd.DataFrame,
    *,
    aggregate_variants: bool = True,
    geometry_control: str | None = "resample",
) -> pd.DataFrame:
    """How much of each inpainter's effect each part explains.

    One row per predictor x inpainter x part, where part is a view (``total``, ``in-mask``,
    ``out-of-mask``), ``interaction`` (total minus the two parts) or ``geometry`` (the
    ``geometry_control`` inpainter's total effect, when it was run). ``share_mae`` and
    ``share_auc`` are the part's change divided by the total change (NaN when the total is
    zero), e.g. ``share_mae = delta_mae(view) / delta_mae(total)``; ``share_shift`` does the
    same for the mean absolute shift of the bone-age prediction.

    Args:
        table: the evaluation's tidy table (rows with an ``error`` are ignored).
        aggregate_variants: average the variants of a case before scoring (the study's
            protocol) instead of scoring each variant as its own row.
        geometry_control: the inpainter whose total effect is the geometry part.
    """
    ok = table
    if "error" in ok.columns:
        ok = ok[ok["error"].isna() | (ok["error"] == "")]
    if ok.empty:
        return pd.DataFrame()
    if aggregate_variants:
        ok = _aggregate_variants(ok)
    out: list[dict[str, object]] = []
    geometry: dict[str, dict[str, float]] = {}
    if geometry_control is not None:
        for pred, rows in ok[
            (ok["inpainter"] == geometry_control) & (ok["view"] == "total")
        ].groupby("predictor"):
            geometry[str(pred)] = effect_summary(rows)
    for (pred, inp), group in ok.groupby(["predictor", "inpainter"], sort=False):
        by_view = {v: effect_summary(r) for v, r in group.groupby("view")}
        total = by_view.get("total")
        if total is None:
            continue
        parts = dict(by_view)
        if "in-mask" in by_view and "out-of-mask" in by_view:
            parts["interaction"] = {
                k: _clean(total[k] - by_view["in-mask"][k] - by_view["out-of-mask"][k])
                for k in ("delta_mae", "delta_auc", "mean_abs_shift")
            }
        if str(pred) in geometry and inp != geometry_control:
            parts["geometry"] = geometry[str(pred)]
        for part, s in parts.items():
            out.append(
                {
                    "predictor": pred,
                    "inpainter": inp,
                    "part": part,
                    "n": s.get("n", math.nan),
                    "mae": s.get("mae", math.nan),
                    "delta_mae": s["delta_mae"],
                    "share_mae": _share(s["delta_mae"], total["delta_mae"]),
                    "auc": s.get("auc", math.nan),
                    "delta_auc": s["delta_auc"],
                    "share_auc": _share(s["delta_auc"], total["delta_auc"]),
                    "mean_abs_shift": s["mean_abs_shift"],
                    "share_shift": _share(s["mean_abs_shift"], total["mean_abs_shift"]),
                    "flip_rate": s.get("flip_rate", math.nan),
                }
            )
    order = {p: i for i, p in enumerate([*VIEWS, "interaction", "geometry"])}
    df = pd.DataFrame(out)
    df["_o"] = df["part"].map(order)
    return df.sort_values(["predictor", "inpainter", "_o"], kind="stable").drop(columns="_o")

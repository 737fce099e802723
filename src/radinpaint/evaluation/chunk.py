"""The typed records one chunk of cases carries from stage to stage."""

from __future__ import annotations

import math
from typing import Any

import attrs
import numpy as np

from ..records import Case, InpaintResult, Mask, Predictions, Radiograph
from .predcache import StoredPrediction

__all__ = ["Chunk", "Output", "OutputKey", "PredictionKey", "stored_prediction"]

OutputKey = tuple[str, str, int]
"""(inpainter label, case id, variant) of one output."""

PredictionKey = tuple[str, "bool | None"]
"""(image content hash, sex passed to the model or None) of one prediction."""


@attrs.define(eq=False)
class Output:
    """One inpainter output, then the images of its decomposition views.

    Attributes:
        result: the backend's result, or None when it failed.
        error: why there is no usable output.
        cached: the result came from the cache.
        view_hashes: content hash of each view image (``total``, ``in_mask``, ...).
        collapse: which views coincide (see :mod:`.decomposition`).
        frame: where the views were scored: ``"restored"`` or ``"as-returned"``.
    """

    result: InpaintResult | None = None
    error: str | None = None
    cached: bool = False
    view_hashes: dict[str, str] = attrs.field(factory=dict)
    collapse: str = ""
    frame: str = ""


@attrs.define(eq=False)
class Chunk:
    """What the stages know about one chunk of cases.

    Attributes:
        cases: the cases loaded (with a mask) in this chunk, in dataset order.
        masks: each case's artifact mask.
        original_hash: each case's image content hash.
        outputs: every inpainter output by (label, case id, variant).
        images: every distinct image to predict, by content hash (originals and views).
        prediction_errors: (predictor label, prediction-cache key of the image and the sex
            passed: :func:`.predict_stage.error_key`) -> why it has no prediction.
        inpainter_errors: each inpainter's error (why it stopped) once this chunk was
            inpainted, or None.
        error_rows: rows of cases that could not be processed (their mask failed).
    """

    cases: list[Case] = attrs.field(factory=list)
    masks: dict[str, Mask] = attrs.field(factory=dict)
    original_hash: dict[str, str] = attrs.field(factory=dict)
    outputs: dict[OutputKey, Output] = attrs.field(factory=dict)
    images: dict[str, Radiograph] = attrs.field(factory=dict)
    prediction_errors: dict[tuple[str, str], str] = attrs.field(factory=dict)
    inpainter_errors: dict[str, str | None] = attrs.field(factory=dict)
    error_rows: list[dict[str, Any]] = attrs.field(factory=list)


def stored_prediction(preds: Predictions, i: int) -> StoredPrediction:
    """Image ``i`` of a batch of predictions, as the prediction cache stores it."""

    def at(arr: np.ndarray | None) -> float:
        return math.nan if arr is None else float(arr[i])

    def row(arr: np.ndarray | None) -> tuple[float, ...]:
        return () if arr is None else tuple(float(v) for v in arr[i])

    return StoredPrediction(
        at(preds.bone_age_months),
        at(preds.p_male),
        row(preds.member_bone_age),
        row(preds.member_p_male),
    )

"""The ``plausibility`` metric: a reward model's mean P(acceptable) per inpainter, with a CI.

Two ways to get the per-output scores:

- on the pixels (``plausibility:reward=FILE.safetensors``): the metric loads the reward
  model (from ``radinpaint train-reward``), declares ``reads_images``, and during an
  evaluation scores every output it observes beside its original and the case's artifact
  mask, exactly as the reward model was trained (an output in another frame than its
  original is resized to it first). The original itself is not given a row: the reward
  model reads an output *beside* its original, and the original beside itself is what the
  ``identity`` inpainter returns;
- from a table: a ``p_acceptable`` column (added with :func:`add_scores`) or a scores file
  (``plausibility:scores=FILE.csv``, columns ``case_id, inpainter, variant,
  p_acceptable``, as :func:`score_outputs` and ``radinpaint train-reward --score`` write
  it), joined on case, inpainter and variant.

Per inpainter, each output counts once (the table repeats it per predictor and view); the
variants of a case are averaged, and the percentile bootstrap over cases
(:func:`radinpaint.metrics.bootstrap_ci`) gives the interval.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
import pandas as pd

from ..capabilities import Capabilities
from ..errors import InvalidInputError
from ..protocols import MetricResult, ScoredImage
from .samples import RatedSample

if TYPE_CHECKING:
    from .model import RewardModel

__all__ = [
    "SCORE_COLUMNS",
    "PlausibilityMetric",
    "add_scores",
    "plausibility_table",
    "score_outputs",
]

SCORE_COLUMNS = ("case_id", "inpainter", "variant", "p_acceptable")
"""The columns of a scores table."""


def score_outputs(model: RewardModel, samples: Sequence[RatedSample]) -> pd.DataFrame:
    """A scores table (:data:`SCORE_COLUMNS`) of ``samples`` by ``model``."""
    p = model.predict(samples)
    return pd.DataFrame(
        {
            "case_id": [s.case_id for s in samples],
            "inpainter": [s.inpainter for s in samples],
            "variant": [int(s.variant) for s in samples],
            "p_acceptable": p.astype(float),
        }
    )


def add_scores(table: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """``table`` with a ``p_acceptable`` column joined from ``scores`` (case, inpainter,
    variant); rows without a score get NaN."""
    missing = [c for c in SCORE_COLUMNS if c not in scores.columns]
    if missing:
        raise InvalidInputError(
            f"the scores table lacks column(s) {missing}", available=list(scores.columns)
        )
    keys = ["case_id", "inpainter", "variant"]
    s = scores[list(SCORE_COLUMNS)].copy()
    s["case_id"] = s["case_id"].astype(str)
    s["variant"] = s["variant"].astype(int)
    if s.duplicated(keys).any():
        raise InvalidInputError(
            "the scores table has more than one score for an output", fix="score each once"
        )
    base = table.drop(columns=["p_acceptable"], errors="ignore").copy()
    base["case_id"] = base["case_id"].astype(str)
    return base.merge(s, on=keys, how="left")


def _mean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.asarray(np.mean(x, axis=axis))


def plausibility_table(
    table: pd.DataFrame,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Per inpainter: outputs, cases, mean P(acceptable) (variants averaged per case) and
    its percentile bootstrap interval over cases."""
    from ..metrics.bootstrap import bootstrap_ci

    if "p_acceptable" not in table.columns:
        raise InvalidInputError(
            "the table has no p_acceptable column",
            fix="pass plausibility:scores=FILE.csv (written by `radinpaint train-reward "
            "--score`) or add one with radinpaint.reward.add_scores",
        )
    rows = table.dropna(subset=["p_acceptable"])
    rows = rows.drop_duplicates(["case_id", "inpainter", "variant"])
    out = []
    for inpainter, group in rows.groupby("inpainter", sort=True):
        per_case = group.groupby("case_id")["p_acceptable"].mean().to_numpy(dtype=float)
        est = bootstrap_ci(
            per_case,
            statistic=_mean,
            n_resamples=n_resamples,
            confidence=confidence,
            seed=seed,
        )
        out.append(
            {
                "inpainter": inpainter,
                "outputs": len(group),
                "cases": len(per_case),
                "plausibility": float(per_case.mean()),
                "ci_low": est.ci_low,
                "ci_high": est.ci_high,
            }
        )
    return pd.DataFrame(
        out, columns=["inpainter", "outputs", "cases", "plausibility", "ci_low", "ci_high"]
    )


def _same_frame(image: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``image`` resized (area) to ``shape`` when it differs."""
    if image.shape == shape:
        return image
    import cv2

    return np.asarray(
        cv2.resize(image.astype(np.float32), (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
    )


@attrs.define
class PlausibilityMetric:
    """Mean P(acceptable) per inpainter with a bootstrap CI (see the module docs).

    Args:
        scores: a scores CSV (:data:`SCORE_COLUMNS`); None: the table's own
            ``p_acceptable`` column, or the observed images' scores with ``reward``.
        reward: a reward model (``.safetensors`` with its ``.json``): score the outputs an
            evaluation shows the metric (:meth:`observe`). Loaded when the metric is built.
        n_resamples: bootstrap resamples.
        confidence: the interval's level.
        seed: the bootstrap's seed.
        batch_size: outputs scored per forward pass of the reward model.

    Raises:
        InvalidInputError: both ``scores`` and ``reward``.
        CheckpointError: a missing or unreadable reward model.
    """

    scores: str | None = None
    reward: str | None = attrs.field(default=None, converter=attrs.converters.optional(str))
    n_resamples: int = attrs.field(default=1000, converter=int)
    confidence: float = attrs.field(default=0.95, converter=float)
    seed: int = attrs.field(default=0, converter=int)
    batch_size: int = attrs.field(default=32, converter=int)
    _model: Any = attrs.field(default=None, init=False, repr=False)
    _observed: list[dict[str, Any]] = attrs.field(factory=list, init=False, repr=False)

    name = "plausibility"

    def __attrs_post_init__(self) -> None:
        if self.scores is not None and self.reward is not None:
            raise InvalidInputError(
                "plausibility takes scores=FILE.csv or reward=FILE.safetensors, not both",
                fix="drop one: reward= scores the outputs' pixels, scores= reads saved scores",
            )
        if self.batch_size < 1:
            raise InvalidInputError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.reward is not None:
            from .model import load_reward

            self._model = load_reward(self.reward)

    def capabilities(self) -> Capabilities:
        """Deterministic; reads the images when it has a reward model."""
        return Capabilities(deterministic=True, reads_images=self.reward is not None)

    def observe(self, images: Sequence[ScoredImage]) -> None:
        """Score every output of a chunk beside its original and mask (with ``reward``).

        Outputs whose original is not in the chunk, or that have no mask, are skipped.

        Raises:
            InvalidInputError: the metric has no reward model.
        """
        if self._model is None:
            raise InvalidInputError(
                "plausibility reads images only with a reward model",
                fix="pass plausibility:reward=FILE.safetensors (from `radinpaint train-reward`)",
            )
        originals = {im.case_id: im for im in images if im.inpainter == "original"}
        samples = []
        for im in images:
            base = originals.get(im.case_id)
            if im.inpainter == "original" or base is None or im.mask is None:
                continue
            original = base.image.pixels
            samples.append(
                RatedSample(
                    output=_same_frame(im.image.pixels, original.shape),
                    original=original,
                    mask=im.mask.array,
                    case_id=str(im.case_id),
                    inpainter=im.inpainter,
                    variant=int(im.variant),
                )
            )
        for start in range(0, len(samples), self.batch_size):
            chunk = samples[start : start + self.batch_size]
            self._observed.extend(score_outputs(self._model, chunk).to_dict("records"))

    def observed_scores(self) -> pd.DataFrame:
        """The scores of the outputs observed so far (:data:`SCORE_COLUMNS`)."""
        return pd.DataFrame(self._observed, columns=list(SCORE_COLUMNS))

    def compute(self, table: pd.DataFrame) -> MetricResult:
        """The per-inpainter table, and ``<inpainter>`` / ``_ci_low`` / ``_ci_high`` values.

        With ``reward``, the observed outputs' scores are summarised (the table is not
        needed); a deterministic backend's outputs are observed once (variant 0).

        Raises:
            InvalidInputError: no scores: nothing observed with ``reward``, an unreadable
                scores file, or a table without ``p_acceptable``.
        """
        if self.reward is not None:
            if not self._observed:
                raise InvalidInputError(
                    "plausibility observed no outputs to score",
                    fix="run it inside an evaluation (it reads the outputs' pixels), or "
                    "call observe() with the outputs and their originals first",
                )
            table = self.observed_scores()
        elif self.scores is not None:
            path = os.fspath(self.scores)
            try:
                scores = pd.read_csv(path)
            except (OSError, ValueError) as exc:
                raise InvalidInputError(
                    f"cannot read the scores file: {exc}",
                    input=path,
                    fix="write it with `radinpaint train-reward --score`",
                ) from exc
            table = add_scores(table, scores)
        summary = plausibility_table(
            table, n_resamples=self.n_resamples, confidence=self.confidence, seed=self.seed
        )
        values: dict[str, float] = {}
        for row in summary.itertuples():
            values[f"{row.inpainter}"] = float(row.plausibility)
            values[f"{row.inpainter}_ci_low"] = float(row.ci_low)
            values[f"{row.inpainter}_ci_high"] = float(row.ci_high)
        details: dict[str, Any] = {
            "scores": self.scores,
            "reward": None if self.reward is None else os.path.basename(self.reward),
            "reward_sha256": None
            if self._model is None
            else self._model.config.get("weights_sha256"),
            "confidence": self.confidence,
        }
        return MetricResult(name=self.name, values=values, table=summary, details=details)

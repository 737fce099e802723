"""The ``plausibility`` metric: a reward model's mean P(acceptable) per inpainter, with a CI.

Metrics read the tidy table, which holds predictions, not pixels. The per-output scores
therefore come in with the table: either a ``p_acceptable`` column (added with
:func:`add_scores`) or a scores file (``plausibility:scores=FILE.csv``, columns
``case_id, inpainter, variant, p_acceptable``, as :func:`score_outputs` and
``radinpaint train-reward --score`` write it), joined on case, inpainter and variant.

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

from ..errors import InvalidInputError
from ..protocols import MetricResult
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


@attrs.define
class PlausibilityMetric:
    """Mean P(acceptable) per inpainter with a bootstrap CI (see the module docs).

    Args:
        scores: a scores CSV (:data:`SCORE_COLUMNS`); None: the table's own
            ``p_acceptable`` column.
        n_resamples: bootstrap resamples.
        confidence: the interval's level.
        seed: the bootstrap's seed.
    """

    scores: str | None = None
    n_resamples: int = attrs.field(default=1000, converter=int)
    confidence: float = attrs.field(default=0.95, converter=float)
    seed: int = attrs.field(default=0, converter=int)

    name = "plausibility"

    def compute(self, table: pd.DataFrame) -> MetricResult:
        """The per-inpainter table, and ``<inpainter>`` / ``_ci_low`` / ``_ci_high`` values."""
        if self.scores is not None:
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
        details: dict[str, Any] = {"scores": self.scores, "confidence": self.confidence}
        return MetricResult(name=self.name, values=values, table=summary, details=details)

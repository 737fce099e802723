"""The expert feedback loop: ratings -> reward model -> best-of-n selection and
reward-weighted fine-tuning.

- :mod:`~radinpaint.reward.samples`: rated outputs and the views the model reads;
- :mod:`~radinpaint.reward.model`: the reward model, its training, cross-validation by case,
  safetensors + JSON;
- :mod:`~radinpaint.reward.rater`: a simulated rater (a fixed rule) for tests and figures;
- :mod:`~radinpaint.reward.ratings`: the review page's ratings and a results folder to rated
  samples, and simulated ratings;
- :mod:`~radinpaint.reward.bestof`: the ``best-of`` inpainter;
- :mod:`~radinpaint.reward.plausibility`: the ``plausibility`` metric (on the outputs' pixels
  with a reward model, or from saved scores).

Importing this package imports neither torch nor any backend.
"""

from __future__ import annotations

from .bestof import BestOfInpainter
from .model import (
    CrossValidation,
    RewardModel,
    TrainOptions,
    cross_validate,
    load_reward,
    train_reward,
)
from .plausibility import PlausibilityMetric, add_scores, plausibility_table, score_outputs
from .rater import SimulatedRater, simulated_samples
from .ratings import samples_from_ratings, simulated_ratings
from .samples import RatedSample, sample_views

__all__ = [
    "BestOfInpainter",
    "CrossValidation",
    "PlausibilityMetric",
    "RatedSample",
    "RewardModel",
    "SimulatedRater",
    "TrainOptions",
    "add_scores",
    "cross_validate",
    "load_reward",
    "plausibility_table",
    "sample_views",
    "samples_from_ratings",
    "score_outputs",
    "simulated_ratings",
    "simulated_samples",
    "train_reward",
]

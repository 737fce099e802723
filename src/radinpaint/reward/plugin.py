"""Registers the ``best-of`` inpainter and the ``plausibility`` metric (torch is imported
only when a backend is built and used)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..hookspecs import Register, hookimpl

if TYPE_CHECKING:
    from .bestof import BestOfInpainter
    from .plausibility import PlausibilityMetric


def best_of(
    *, inner: str, reward: str, n: int = 4, inner_options: dict[str, Any] | None = None
) -> BestOfInpainter:
    """Build the :class:`~radinpaint.reward.bestof.BestOfInpainter` (see its docs)."""
    from .bestof import make_best_of

    return make_best_of(inner=inner, reward=reward, n=n, inner_options=inner_options)


def plausibility(
    *,
    scores: str | None = None,
    reward: str | None = None,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    batch_size: int = 32,
) -> PlausibilityMetric:
    """Build the :class:`~radinpaint.reward.plausibility.PlausibilityMetric` (see its docs)."""
    from .plausibility import PlausibilityMetric

    return PlausibilityMetric(
        scores=scores,
        reward=reward,
        n_resamples=n_resamples,
        confidence=confidence,
        seed=seed,
        batch_size=batch_size,
    )


@hookimpl
def radinpaint_register_inpainters(register: Register) -> None:
    """Register the best-of-n wrapper."""
    register(
        "best-of",
        best_of,
        summary="the best of n variants of an inner backend by a reward model trained on ratings",
        capabilities=lambda backend: backend.capabilities(),
    )


@hookimpl
def radinpaint_register_metrics(register: Register) -> None:
    """Register the plausibility metric."""
    register(
        "plausibility",
        plausibility,
        summary="a reward model's mean P(acceptable) per inpainter (from the pixels with "
        "reward=FILE, or saved scores), bootstrap CI over cases",
        capabilities=lambda metric: metric.capabilities(),
    )

"""Registers the built-in mask providers and what each declares.

Every provider is deterministic. The classical ones (``ground-truth``, ``markers``,
``hand``) are pure numpy/OpenCV functions of their input that write no state, so two
threads may share one object; ``ocr`` shares one detector engine per process and is called
one call at a time; ``union`` and ``intersection`` declare what all their providers
allow; ``learned`` declares its own (device, batch size, weights' fingerprint).
"""

from __future__ import annotations

from typing import Any

from ..capabilities import Capabilities
from ..hookspecs import Register, hookimpl

__all__ = ["CLASSICAL_MASK_CAPABILITIES", "OCR_CAPABILITIES"]

CLASSICAL_MASK_CAPABILITIES = Capabilities(deterministic=True, max_concurrency=2, device="cpu")
"""``ground-truth``, ``markers`` and ``hand``: deterministic, thread-safe, on the CPU."""

OCR_CAPABILITIES = Capabilities(deterministic=True, max_concurrency=1, device="cpu")
"""``ocr``: deterministic; one call at a time (the detector engine is shared)."""


def _learned(backend: Any) -> Capabilities:
    return backend.capabilities()


def _combined(backend: Any) -> Capabilities:
    from .combine import combined_capabilities

    return combined_capabilities(backend)


@hookimpl
def radinpaint_register_mask_providers(register: Register) -> None:
    """Register the built-in mask providers (their heavy imports happen on use)."""
    from .anatomy import HandMasks
    from .combine import IntersectionMasks, UnionMasks
    from .ground_truth import GroundTruthMasks
    from .learned import LearnedMasks
    from .markers import MarkerDetector
    from .ocr import OcrTextDetector

    register(
        "ground-truth",
        GroundTruthMasks,
        summary="The case's own artifact mask, or mask files beside the images",
        capabilities=CLASSICAL_MASK_CAPABILITIES,
    )
    register(
        "markers",
        MarkerDetector,
        summary="Lead plates with rim and halo, text lines, rulers (classical; for real data)",
        capabilities=CLASSICAL_MASK_CAPABILITIES,
    )
    register(
        "hand",
        HandMasks,
        summary="The hand and forearm (anatomy to keep), classical",
        capabilities=CLASSICAL_MASK_CAPABILITIES,
    )
    register(
        "ocr",
        OcrTextDetector,
        summary="Burned-in text found by RapidOCR's detector (extra: radinpaint[ocr])",
        capabilities=OCR_CAPABILITIES,
    )
    register(
        "learned",
        LearnedMasks,
        summary="Small U-Net, phantom-only (masks fingers on real images); retrain: train_mask_net",
        capabilities=_learned,
    )
    register(
        "union",
        UnionMasks,
        summary="Pixels any of several providers masks",
        capabilities=_combined,
    )
    register(
        "intersection",
        IntersectionMasks,
        summary="Pixels all of several providers mask",
        capabilities=_combined,
    )

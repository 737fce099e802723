"""Registers the built-in mask providers."""

from __future__ import annotations

from ..hookspecs import Register, hookimpl


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
    )
    register(
        "markers",
        MarkerDetector,
        summary="Lead marker plates, letters, rulers and burned-in text (classical detector)",
    )
    register("hand", HandMasks, summary="The hand and forearm (anatomy to keep), classical")
    register(
        "ocr",
        OcrTextDetector,
        summary="Burned-in text found by RapidOCR's detector (extra: radinpaint[ocr])",
    )
    register(
        "learned",
        LearnedMasks,
        summary="Small U-Net trained on phantoms (or your masks: train_mask_net)",
    )
    register("union", UnionMasks, summary="Pixels any of several providers masks")
    register("intersection", IntersectionMasks, summary="Pixels all of several providers mask")

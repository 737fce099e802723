"""Registers the built-in mask providers."""

from __future__ import annotations

from ..hookspecs import Register, hookimpl


@hookimpl
def radinpaint_register_mask_providers(register: Register) -> None:
    """Register the built-in mask providers."""
    from .ground_truth import GroundTruthMasks

    register(
        "ground-truth",
        GroundTruthMasks,
        summary="The case's own artifact mask, or mask files beside the images",
    )

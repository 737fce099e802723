"""Registers the ``diffusion`` inpainter (torch and diffusers are imported only when the
backend is built and used).

Its capabilities depend on the options (mode, device, batch size, the weights), so the
built backend declares them: ``DiffusionInpainter.capabilities()``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...hookspecs import Register, hookimpl

if TYPE_CHECKING:
    from .inference import DiffusionInpainter


def make_diffusion(
    *,
    mode: str = "redraw",
    strength: float | None = None,
    steps: int | None = None,
    resample: int | None = None,
    size: int | None = None,
    weights: str | None = None,
    device: str | None = None,
    batch_size: int = 8,
) -> DiffusionInpainter:
    """Build the :class:`~radinpaint.inpainters.diffusion.inference.DiffusionInpainter`
    (see its docs)."""
    from .inference import DiffusionInpainter

    return DiffusionInpainter(
        mode=mode,
        strength=strength,
        steps=steps,
        resample=resample,
        size=size,
        weights=weights,
        device=device,
        batch_size=batch_size,
    )


@hookimpl
def radinpaint_register_inpainters(register: Register) -> None:
    """Register the diffusion backend."""
    register(
        "diffusion",
        make_diffusion,
        summary="radinpaint's own small diffusion model: SDEdit redraw of the whole image "
        "(mode=redraw) or RePaint inpainting (mode=inpaint); phantom weights shipped",
        capabilities=lambda backend: backend.capabilities(),
    )

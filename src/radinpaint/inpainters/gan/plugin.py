"""Registers the ``gan`` inpainter (torch is imported only when the backend is built).

Its capabilities depend on the options (device, batch size, the weights loaded), so the
built backend declares them: ``GanInpainter.capabilities()``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...hookspecs import Register, hookimpl

if TYPE_CHECKING:
    from .inference import GanInpainter


def make_gan(
    *,
    weights: str | None = None,
    compositing: str = "paste-back",
    device: str | None = None,
    batch_size: int = 8,
    margin: int | None = None,
    max_tile: int | None = None,
    raw_size: int | None = None,
    feather: int = 4,
    grain: bool = True,
    edge_guard: bool = True,
) -> GanInpainter:
    """Build the :class:`~radinpaint.inpainters.gan.inference.GanInpainter` (see its docs)."""
    from .inference import GanInpainter

    return GanInpainter(
        weights=weights,
        compositing=compositing,
        device=device,
        batch_size=batch_size,
        margin=margin,
        max_tile=max_tile,
        raw_size=raw_size,
        feather=feather,
        grain=grain,
        edge_guard=edge_guard,
    )


@hookimpl
def radinpaint_register_inpainters(register: Register) -> None:
    """Register the GAN backend."""
    register(
        "gan",
        make_gan,
        summary="radinpaint's own gated-conv inpainting GAN (trainable; phantom weights shipped)",
        capabilities=lambda backend: backend.capabilities(),
    )

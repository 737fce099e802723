"""Plugin module of the ``diffusers`` inpainter (local or hub inpainting pipelines).

Importing this module is cheap: torch and diffusers are imported only when a backend runs
(see :mod:`radinpaint.inpainters.diffusers.backend`). The built backend declares its
capabilities (device, batch size, the pipeline's fingerprint) with its ``capabilities()``.
"""

from __future__ import annotations

from ...hookspecs import Register, hookimpl
from .backend import DiffusersInpainter

__all__ = ["DiffusersInpainter"]


@hookimpl
def radinpaint_register_inpainters(register: Register) -> None:
    """Register the ``diffusers`` inpainter."""
    register(
        "diffusers",
        DiffusersInpainter,
        summary="Any diffusers inpainting pipeline (SD/SDXL inpaint, Flux Fill), offline",
        capabilities=lambda backend: backend.capabilities(),
    )

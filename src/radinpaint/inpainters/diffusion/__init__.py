"""radinpaint's own small diffusion model: a UNet (diffusers blocks) trained on radiographs.

Importing this package is cheap; torch and diffusers are imported by the functions that
need them.

- :func:`train_diffusion`: train (or resume training) on your radiographs.
- :class:`~radinpaint.inpainters.diffusion.inference.DiffusionInpainter`: the ``diffusion``
  backend (``get_inpainter("diffusion", mode="redraw", strength=0.5)``).
"""

from __future__ import annotations

from typing import Any

__all__ = ["DiffusionInpainter", "load_unet", "train_diffusion"]

_LAZY = {
    "train_diffusion": ("radinpaint.inpainters.diffusion.train", "train_diffusion"),
    "DiffusionInpainter": ("radinpaint.inpainters.diffusion.inference", "DiffusionInpainter"),
    "load_unet": ("radinpaint.inpainters.diffusion.checkpoint", "load_unet"),
}


def __getattr__(name: str) -> Any:
    """Import the torch-based parts on first use."""
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

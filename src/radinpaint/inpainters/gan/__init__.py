"""radinpaint's own inpainting GAN: a gated-convolution generator trained on radiographs.

Importing this package is cheap; torch is imported by the functions that need it.

- :func:`train_gan`: train (or resume training) on your radiographs.
- :class:`~radinpaint.inpainters.gan.inference.GanInpainter`: the ``gan`` backend
  (``get_inpainter("gan", weights=..., compositing=...)``).
"""

from __future__ import annotations

from typing import Any

__all__ = ["GanInpainter", "load_generator", "train_gan"]

_LAZY = {
    "train_gan": ("radinpaint.inpainters.gan.train", "train_gan"),
    "GanInpainter": ("radinpaint.inpainters.gan.inference", "GanInpainter"),
    "load_generator": ("radinpaint.inpainters.gan.checkpoint", "load_generator"),
}


def __getattr__(name: str) -> Any:
    """Import the torch-based parts on first use."""
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

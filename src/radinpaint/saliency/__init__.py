"""Where the models look: saliency maps of ensemble members and how inpainting moves them.

- :func:`explain` (:mod:`.maps`): Grad-CAM, Integrated Gradients or gradient x input maps
  of every member of an :class:`~radinpaint.predictors.EnsemblePredictor` and of the
  ensemble, batched, in each radiograph's own frame.
- :func:`map_shift`, :func:`saliency_shift_table`, :class:`SaliencyShiftMetric`
  (:mod:`.shift`): per case, how far the map moved between an original and an output, and
  the ``saliency-shift`` metric plugin that summarises it with bootstrap CIs.
- :func:`phantom_regions` (:mod:`.regions`): growth plates and carpals of a phantom case.

Needs Captum (``pip install "radinpaint[saliency]"``). Everything is imported on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY: dict[str, str] = {
    "METHODS": "maps",
    "SaliencyMaps": "maps",
    "explain": "maps",
    "normalise": "maps",
    "InputFrame": "geometry",
    "input_frame": "geometry",
    "to_image_frame": "geometry",
    "phantom_regions": "regions",
    "SHIFT_COLUMNS": "shift",
    "SaliencyShiftMetric": "shift",
    "map_shift": "shift",
    "saliency_shift_table": "shift",
    "sliced_wasserstein": "shift",
    "spearman": "shift",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    """Import the public names on first use."""
    if name in _LAZY:
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""radinpaint: does generative inpainting change what AI models read from radiographs?

The public API. Importing this package is cheap: torch, diffusers and openai are imported
only by the backends that use them, when they are used.
"""

from __future__ import annotations

from typing import Any

from .capabilities import SAFE_DEFAULTS, Capabilities
from .errors import (
    BackendError,
    CheckpointError,
    ImageReadError,
    InvalidInputError,
    MissingDependencyError,
    MissingLabelError,
    RadinpaintError,
    ShapeMismatchError,
    UnknownPluginError,
)
from .hookspecs import hookimpl
from .plugins import plugin_errors
from .protocols import Inpainter, MaskProvider, Metric, MetricResult, Predictor
from .records import (
    Case,
    InpaintRequest,
    InpaintResult,
    Mask,
    MaskComponent,
    Predictions,
    Radiograph,
)
from .registry import (
    Built,
    build_backend,
    capabilities_of,
    get_inpainter,
    get_mask_provider,
    get_metric,
    get_predictor,
    list_inpainters,
    list_mask_providers,
    list_metrics,
    list_predictors,
)
from .seeds import derive_seed

__version__ = "0.1.0"

__all__ = [
    "SAFE_DEFAULTS",
    "BackendError",
    "Built",
    "Capabilities",
    "Case",
    "CheckpointError",
    "ImageReadError",
    "InpaintRequest",
    "InpaintResult",
    "Inpainter",
    "InvalidInputError",
    "Mask",
    "MaskComponent",
    "MaskProvider",
    "Metric",
    "MetricResult",
    "MissingDependencyError",
    "MissingLabelError",
    "Predictions",
    "Predictor",
    "RadinpaintError",
    "Radiograph",
    "ShapeMismatchError",
    "UnknownPluginError",
    "__version__",
    "build_backend",
    "capabilities_of",
    "derive_seed",
    "get_inpainter",
    "get_mask_provider",
    "get_metric",
    "get_predictor",
    "hookimpl",
    "list_inpainters",
    "list_mask_providers",
    "list_metrics",
    "list_predictors",
    "plugin_errors",
    "read_image",
    "write_image",
]

_LAZY = {
    "read_image": ("radinpaint.io", "read_image"),
    "write_image": ("radinpaint.io", "write_image"),
}


def __getattr__(name: str) -> Any:
    """Import the heavier parts of the API on first use."""
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'radinpaint' has no attribute {name!r}")

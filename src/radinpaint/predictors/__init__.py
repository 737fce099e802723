"""Bone-age and sex predictors: batched ensembles, training, shipped and study models, and
adapters for your own models (TorchScript, ONNX, timm, Python: :func:`from_module`...).

Importing this package is cheap: the names below are imported (with torch) on first use,
so the plugin module :mod:`radinpaint.predictors.plugin` loads without torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY: dict[str, str] = {
    "ARCHITECTURES": "architectures",
    "CompactCNN": "architectures",
    "ResNet50": "architectures",
    "build_model": "architectures",
    "ALLOW_TORCHSCRIPT_ENV": "checkpoint",
    "PathOutsideFolderError": "checkpoint",
    "TorchScriptNotAllowedError": "checkpoint",
    "load_ensemble": "checkpoint",
    "load_member": "checkpoint",
    "load_torchscript_member": "checkpoint",
    "read_pth_state_dict": "checkpoint",
    "save_ensemble": "checkpoint",
    "save_member": "checkpoint",
    "AGGREGATIONS": "ensemble",
    "EnsemblePredictor": "ensemble",
    "Member": "members",
    "MemberSpec": "members",
    "PHANTOM_128": "preprocessing",
    "PHANTOM_256": "preprocessing",
    "PRESETS": "preprocessing",
    "SQUARE_512": "preprocessing",
    "STUDY_320": "preprocessing",
    "Preprocessing": "preprocessing",
    "load_study_ensemble": "study",
    "TrainConfig": "training",
    "save_training_run": "training",
    "train_ensemble": "training",
    "train_ensemble_arrays": "training",
    "EngineOptions": "engine",
    "StudyRecipe": "study_training",
    "train_study_ensemble": "study_training",
    "load_phantom_ensemble": "plugin",
    "IMAGENET_224": "preprocessing",
    "declared_preprocessing": "adapters",
    "from_callable": "adapters",
    "from_models": "combined",
    "from_module": "adapters",
    "load_models": "combined",
    "load_module": "adapters",
    "load_onnx": "adapters",
    "load_timm": "adapters",
    "load_torchscript": "adapters",
    "training_data_warning": "provenance",
    "PHANTOM_WEIGHTS": "plugin",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    """Import the public names on first use."""
    if name in _LAZY:
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

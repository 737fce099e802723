"""Registers the built-in predictors (factories import torch only when called).

- ``phantom-ensemble``: compact CNNs trained on radinpaint's phantoms, shipped in the
  package (bone age and sex); works offline.
- ``study-resnet50``: the reference study's ResNet-50 ensembles from its weights folder
  (option ``weights_dir``).
- ``ensemble``: any ensemble directory written by ``radinpaint train-predictor`` or
  :func:`~radinpaint.predictors.save_ensemble` (option ``path``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import InvalidInputError
from ..hookspecs import Register, hookimpl

__all__ = ["PHANTOM_WEIGHTS", "load_phantom_ensemble", "radinpaint_register_predictors"]

PHANTOM_WEIGHTS = Path(__file__).resolve().parent / "weights" / "phantom-ensemble"
"""Where the shipped phantom ensemble lives (safetensors + JSON)."""


def load_phantom_ensemble(**options: Any) -> Any:
    """The shipped phantom-trained ensemble (bone age and sex); options as EnsemblePredictor."""
    from ..errors import ModelUnavailableError
    from .checkpoint import load_ensemble

    if not (PHANTOM_WEIGHTS / "ensemble.json").exists():
        raise ModelUnavailableError(
            "the shipped phantom-ensemble weights are missing from this installation",
            input=PHANTOM_WEIGHTS,
            fix="reinstall radinpaint, or rebuild them with "
            "python benchmarks/train_phantom_ensemble.py",
        )
    options.setdefault("name", "phantom-ensemble")
    return load_ensemble(PHANTOM_WEIGHTS, **options)


def load_study(weights_dir: str | Path | None = None, **options: Any) -> Any:
    """The study's models from ``weights_dir`` (see load_study_ensemble for the options)."""
    if weights_dir is None:
        raise InvalidInputError(
            "the study-resnet50 predictor needs its weights folder",
            fix="get_predictor('study-resnet50', weights_dir='<folder with the .pth files>') "
            "(CLI: --option weights_dir=...)",
        )
    from .study import load_study_ensemble

    return load_study_ensemble(weights_dir, **options)


def load_saved(path: str | Path | None = None, **options: Any) -> Any:
    """An ensemble directory written by save_ensemble / radinpaint train-predictor."""
    if path is None:
        raise InvalidInputError(
            "the ensemble predictor needs the folder it was saved to",
            fix="get_predictor('ensemble', path='<folder with ensemble.json>')",
        )
    from .checkpoint import load_ensemble

    return load_ensemble(path, **options)


@hookimpl
def radinpaint_register_predictors(register: Register) -> None:
    """Register the built-in predictors."""
    register(
        "phantom-ensemble",
        load_phantom_ensemble,
        summary="Compact CNN ensemble trained on phantoms (bone age + sex), shipped, offline",
    )
    register(
        "study-resnet50",
        load_study,
        summary="The reference study's ResNet-50 ensembles from weights_dir (.pth layout)",
    )
    register(
        "ensemble",
        load_saved,
        summary="An ensemble folder saved by radinpaint train-predictor (option path)",
    )

"""Registers the built-in predictors (factories import torch only when called).

- ``phantom-ensemble``: compact CNNs trained on radinpaint's phantoms, shipped in the
  package (bone age and sex); works offline.
- ``study-resnet50``: the reference study's ResNet-50 ensembles from its weights folder
  (option ``weights_dir``).
- ``torchscript``, ``onnx``, ``timm``, ``module``, ``models``: a model of your own (a file,
  a timm checkpoint, your Python code, or several in a JSON file); see
  :mod:`radinpaint.predictors.adapters`.
- ``ensemble``: any ensemble directory written by ``radinpaint train-predictor`` or
  :func:`~radinpaint.predictors.save_ensemble` (option ``path``). Its TorchScript members
  load only with ``allow_torchscript=true`` (or ``RADINPAINT_ALLOW_TORCHSCRIPT=1``):
  loading TorchScript is code execution, so only opt in for files you trust.

Each factory declares its options as keyword parameters, so a misspelt option is refused
before any weights load. The built ensemble declares its capabilities (device, batch size,
whether it needs the sex, the weights' fingerprint) with its ``capabilities()``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..capabilities import Capabilities
from ..errors import InvalidInputError
from ..hookspecs import Register, hookimpl

if TYPE_CHECKING:
    from .ensemble import EnsemblePredictor

__all__ = [
    "DEFAULT",
    "ENSEMBLE_OPTIONS",
    "PHANTOM_WEIGHTS",
    "load_phantom_ensemble",
    "radinpaint_register_predictors",
]

PHANTOM_WEIGHTS = Path(__file__).resolve().parent / "weights" / "phantom-ensemble"
"""Where the shipped phantom ensemble lives (safetensors + JSON)."""


class _Default:
    """The default of an option left unset: the saved setting, or the loader's own default."""

    def __repr__(self) -> str:
        return "<default>"


DEFAULT: Any = _Default()
"""The value of a predictor option the user did not give (the saved setting, or the loader's
default): only options given explicitly are passed on."""

ENSEMBLE_OPTIONS = (
    "name",
    "aggregation",
    "device",
    "batch_size",
    "amp",
    "channels_last",
    "stack",
    "prefetch",
    "sex_from_prediction",
    "progress",
)
"""The :class:`~radinpaint.predictors.EnsemblePredictor` settings every built-in predictor
takes as options (a saved ensemble's own settings apply where one is not given)."""


def _given(arguments: dict[str, Any], *, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """The options a factory was called with explicitly (its ``locals()``, less ``skip``)."""
    return {k: v for k, v in arguments.items() if v is not DEFAULT and k not in skip}


def load_phantom_ensemble(
    *,
    name: str = "phantom-ensemble",
    aggregation: str = DEFAULT,
    device: str = DEFAULT,
    batch_size: int = DEFAULT,
    amp: str = DEFAULT,
    channels_last: bool | str = DEFAULT,
    stack: str = DEFAULT,
    prefetch: bool = DEFAULT,
    sex_from_prediction: bool = DEFAULT,
    progress: bool = DEFAULT,
) -> EnsemblePredictor:
    """The shipped phantom-trained ensemble (bone age and sex).

    The options are :class:`~radinpaint.predictors.EnsemblePredictor` settings (see there);
    one not given keeps the saved setting.
    """
    options = _given(locals())  # first: locals() = parameters
    from ..errors import ModelUnavailableError

    if not (PHANTOM_WEIGHTS / "ensemble.json").exists():
        raise ModelUnavailableError(
            "the shipped phantom-ensemble weights are missing from this installation",
            input=PHANTOM_WEIGHTS,
            fix="reinstall radinpaint, or rebuild them with "
            "python benchmarks/train_phantom_ensemble.py",
        )
    from .checkpoint import load_ensemble

    ensemble = load_ensemble(PHANTOM_WEIGHTS, **options)
    ensemble.metadata["trained_on"] = "phantoms"  # radinpaint's synthetic hands only
    return ensemble


def load_study(
    weights_dir: str | Path | None = None,
    *,
    male_pattern: str = DEFAULT,
    female_pattern: str = DEFAULT,
    sex_pattern: str | None = DEFAULT,
    preprocessing: Any = DEFAULT,
    name: str = DEFAULT,
    aggregation: str = DEFAULT,
    device: str = DEFAULT,
    batch_size: int = DEFAULT,
    amp: str = DEFAULT,
    channels_last: bool | str = DEFAULT,
    stack: str = DEFAULT,
    prefetch: bool = DEFAULT,
    sex_from_prediction: bool = DEFAULT,
    progress: bool = DEFAULT,
) -> EnsemblePredictor:
    """The study's models from ``weights_dir``.

    The patterns, ``preprocessing`` and ``name`` are those of
    :func:`~radinpaint.predictors.load_study_ensemble` (``sex_pattern=None`` skips the sex
    members); the other options are :class:`~radinpaint.predictors.EnsemblePredictor`
    settings.
    """
    options = _given(locals(), skip=("weights_dir",))  # first: locals() = parameters
    if weights_dir is None:
        raise InvalidInputError(
            "the study-resnet50 predictor needs its weights folder",
            fix="get_predictor('study-resnet50', weights_dir='<folder with the .pth files>') "
            "(CLI: --option weights_dir=...)",
        )
    from .study import load_study_ensemble

    return load_study_ensemble(weights_dir, **options)


def load_saved(
    path: str | Path | None = None,
    *,
    allow_torchscript: bool | None = None,
    name: str = DEFAULT,
    aggregation: str = DEFAULT,
    device: str = DEFAULT,
    batch_size: int = DEFAULT,
    amp: str = DEFAULT,
    channels_last: bool | str = DEFAULT,
    stack: str = DEFAULT,
    prefetch: bool = DEFAULT,
    sex_from_prediction: bool = DEFAULT,
    progress: bool = DEFAULT,
) -> EnsemblePredictor:
    """An ensemble directory written by save_ensemble / radinpaint train-predictor.

    ``allow_torchscript=True`` (CLI: ``-o allow_torchscript=true``, or
    ``ensemble:path=DIR,allow_torchscript=true`` in a run's predictor list) lets TorchScript
    members load. **That is code execution: only load TorchScript you trust** (an archive
    runs its own code while it loads). Left unset, the environment variable
    ``RADINPAINT_ALLOW_TORCHSCRIPT=1`` opts in; otherwise a folder with a TorchScript member
    is refused before its archive is read. The other options are
    :class:`~radinpaint.predictors.EnsemblePredictor` settings; one not given keeps the
    saved setting.
    """
    options = _given(locals(), skip=("path", "allow_torchscript"))  # first: locals()
    if path is None:
        raise InvalidInputError(
            "the ensemble predictor needs the folder it was saved to",
            fix="get_predictor('ensemble', path='<folder with ensemble.json>')",
        )
    from .checkpoint import load_ensemble, torchscript_allowed

    opt_in = None if allow_torchscript is None else torchscript_allowed(allow_torchscript)
    return load_ensemble(path, allow_torchscript=opt_in, **options)


def _declared(backend: EnsemblePredictor) -> Capabilities:
    """What a built predictor declares: its own ``capabilities()`` (device, batch, sex)."""
    return backend.capabilities()


@hookimpl
def radinpaint_register_predictors(register: Register) -> None:
    """Register the built-in predictors."""
    register(
        "phantom-ensemble",
        load_phantom_ensemble,
        summary="Compact CNN ensemble trained on phantoms (bone age + sex), shipped, offline",
        capabilities=_declared,
    )
    register(
        "study-resnet50",
        load_study,
        summary="The reference study's ResNet-50 ensembles from weights_dir (.pth layout)",
        capabilities=_declared,
    )
    register(
        "ensemble",
        load_saved,
        summary="An ensemble folder saved by radinpaint train-predictor (option path)",
        capabilities=_declared,
    )
    from . import adapters, combined

    register(
        "torchscript",
        adapters.load_torchscript,
        summary="Your TorchScript model file (path, targets, preprocessing; allow_torchscript)",
        capabilities=_declared,
    )
    register(
        "onnx",
        adapters.load_onnx,
        summary="Your ONNX model file, run by onnxruntime (path, targets, preprocessing)",
        capabilities=_declared,
    )
    register(
        "timm",
        adapters.load_timm,
        summary="A timm architecture with your checkpoint (model, path, targets, ...)",
        capabilities=_declared,
    )
    register(
        "module",
        adapters.load_module,
        summary="Your Python model: factory=package.module:function (targets, ...)",
        capabilities=_declared,
    )
    register(
        "models",
        combined.load_models,
        summary="Several of your models as one ensemble, from a JSON file (config)",
        capabilities=_declared,
    )

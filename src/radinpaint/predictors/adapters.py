"""Your own bone-age / sex models as predictors: TorchScript, ONNX, timm, any Python model.

One call (or one ``--predictor`` spec) turns a model file or object into an
:class:`~radinpaint.predictors.EnsemblePredictor` with one member, so batching, devices,
the sex handling, the fingerprint and the reports are the same as for the built-in
predictors:

- :func:`load_torchscript` (predictor ``torchscript``): a ``torch.jit.save`` archive.
  Loading TorchScript runs code stored in the file, so it needs ``allow_torchscript=True``
  (or ``RADINPAINT_ALLOW_TORCHSCRIPT=1``), as for saved ensembles.
- :func:`load_onnx` (predictor ``onnx``): an ONNX file run by onnxruntime
  (``pip install 'radinpaint[onnx]'``).
- :func:`load_timm` (predictor ``timm``): a timm architecture name and a checkpoint of it
  (safetensors, or a ``.pth`` state dict read with ``weights_only=True``); needs timm.
- :func:`load_module` (predictor ``module``): ``factory="package.module:function"`` (or a
  class) that returns a torch module or a callable, optionally with ``weights``.
- :func:`from_module` / :func:`from_callable`: the same from Python objects.
- :func:`~radinpaint.predictors.combined.from_models` (predictor ``models``,
  ``config=FILE.json``): several such models as one ensemble.

Every model declares what it needs and what it returns: ``targets`` (``bone_age``,
``male`` or ``bone_age+male``, in output order), the preprocessing (a preset such as
``study-320`` or ``imagenet-224``, adjusted with ``size``, ``channels``, ``fit``, ``crop``,
``normalize``, ``mean``, ``std``), the output scaling (``age_scale``, ``age_offset``,
``age_unit=months|years``), ``sex_output=logit|probability``, ``sex_input`` and
``sex_subset``, and ``trained_on`` (what its weights were trained on; ``"unknown"`` unless
stated).
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Unpack

from ..errors import InvalidInputError, ModelUnavailableError
from .declarations import (
    AGE_UNITS,
    SEX_OUTPUTS,
    DeclarationOptions,
    ModelOptions,
    declared_preprocessing,
    ensemble_settings,
    member_spec,
    takes_options,
)
from .members import Member, MemberSpec

if TYPE_CHECKING:
    from .ensemble import EnsemblePredictor

__all__ = [
    "ADAPTER_KINDS",
    "AGE_UNITS",
    "SEX_OUTPUTS",
    "declared_preprocessing",
    "from_callable",
    "from_module",
    "load_module",
    "load_onnx",
    "load_timm",
    "load_torchscript",
]

ADAPTER_KINDS: tuple[str, ...] = ("torchscript", "onnx", "timm", "module")
"""The kinds of model an adapter wraps (each is also a registered predictor name)."""


def _wrap(spec: MemberSpec, model: Any, label: str, source: str | None) -> Member:
    from .wrapped import OutputAdapter

    module = OutputAdapter(
        model,
        label=label,
        targets=spec.targets,
        sex_input=spec.sex_input,
        sex_output=str(spec.arch_options["sex_output"]),
    )
    module.eval()
    return Member(spec, module, source)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _existing(path: str | Path | None, option: str, what: str) -> Path:
    if path is None or str(path) == "":
        raise InvalidInputError(
            f"the {what} needs its file: {option}=...",
            input=option,
            fix=f"give {option}=<path to the {what} file>",
        )
    p = Path(path).expanduser()
    if not p.is_file():
        raise ModelUnavailableError(
            f"{what} file not found: {p}",
            input=str(p),
            fix=f"check the path given as {option}=",
        )
    return p


def _ensemble(
    name: str,
    members: Sequence[Member],
    *,
    trained_on: str | None,
    files: Sequence[Path] = (),
    settings: Mapping[str, Any],
    metadata: Mapping[str, Any] | None = None,
) -> EnsemblePredictor:
    from .ensemble import EnsemblePredictor

    meta: dict[str, Any] = {"trained_on": str(trained_on or "unknown"), **dict(metadata or {})}
    if files:
        meta["weights_sha256"] = {str(f): _sha256(f) for f in files}
    given = {k: v for k, v in settings.items() if v is not None}
    given.setdefault("amp", "none")  # your model's own precision unless you ask for autocast
    return EnsemblePredictor(
        name=name, members=list(members), metadata=meta, source_files=list(files), **given
    )


def _load_state(path: Path) -> dict[str, Any]:
    """A state dict from safetensors, or from a ``.pth`` read with ``weights_only=True``."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        from ..errors import CheckpointError

        try:
            return dict(load_file(str(path)))
        except Exception as exc:
            raise CheckpointError(f"cannot read safetensors weights: {exc}", input=path) from exc
    from .checkpoint import read_pth_state_dict

    return read_pth_state_dict(path)


# -- the adapters -------------------------------------------------------------------------
def _single(
    spec: MemberSpec,
    model: Any,
    label: str,
    files: Sequence[Path],
    options: Mapping[str, Any],
    **settings: Any,
) -> EnsemblePredictor:
    """The one-member ensemble of an adapter: ``model`` wrapped as ``spec`` declares."""
    member = _wrap(spec, model, label, str(files[0]) if files else None)
    return _ensemble(
        spec.name,
        [member],
        trained_on=options.get("trained_on"),
        files=files,
        settings=ensemble_settings(options) | settings,
    )


@takes_options(ModelOptions)
def load_torchscript(
    path: str | Path | None = None,
    *,
    allow_torchscript: bool | str | None = None,
    **options: Unpack[ModelOptions],
) -> EnsemblePredictor:
    """A TorchScript archive (``torch.jit.save``) as a predictor: ``forward(x[, sex])``.

    **Loading TorchScript runs code stored in the file**: it loads only with
    ``allow_torchscript=True`` (CLI: ``torchscript:path=m.pt,allow_torchscript=true,...``)
    or ``RADINPAINT_ALLOW_TORCHSCRIPT=1``; otherwise
    :class:`~radinpaint.predictors.TorchScriptNotAllowedError` is raised before the file is
    read. The declaration options are described in the module docs.
    """
    from .checkpoint import ALLOW_TORCHSCRIPT_ENV, TorchScriptNotAllowedError, torchscript_allowed

    file = Path(path).expanduser() if path is not None else None
    if not torchscript_allowed(allow_torchscript):
        raise TorchScriptNotAllowedError(
            f"{file or 'the TorchScript model'} is a TorchScript archive; loading it runs code "
            "stored in the file (torch.jit.load executes it), so it was not loaded and nothing "
            "of it was read",
            input=str(file),
            fix="only if you trust the file, opt in: allow_torchscript=True (CLI: "
            "--predictor torchscript:path=...,allow_torchscript=true,...; or set "
            f"{ALLOW_TORCHSCRIPT_ENV}=1); otherwise export the model to ONNX and use the "
            "onnx predictor",
        )
    file = _existing(file, "path", "TorchScript model")
    spec = member_spec("torchscript", options.get("name") or file.stem, options)
    import torch

    from ..errors import CheckpointError

    try:
        module = torch.jit.load(str(file), map_location="cpu")
    except Exception as exc:
        raise CheckpointError(
            f"not a TorchScript archive: {exc}",
            input=file,
            fix="save the model with torch.jit.save(torch.jit.script(model), path)",
        ) from exc
    module.eval()
    return _single(spec, module, str(file), [file], options)


@takes_options(ModelOptions)
def load_onnx(path: str | Path | None = None, **options: Unpack[ModelOptions]) -> EnsemblePredictor:
    """An ONNX file as a predictor, run by onnxruntime (``pip install 'radinpaint[onnx]'``).

    Input 0 is the image batch, input 1 (with ``sex_input``) the sex; several outputs are
    taken as columns in order. ``device``: ``cpu`` (default), or ``cuda`` with
    onnxruntime's CUDA provider (``auto`` picks it when both CUDA and the provider exist).
    The declaration options are described in the module docs.
    """
    file = _existing(path, "path", "ONNX model")
    spec = member_spec("onnx", options.get("name") or file.stem, options)
    from .wrapped import OnnxRunner

    where = _onnx_device(options.get("device"))
    runner = OnnxRunner(
        file, device=where, sex_input=spec.sex_input, input_shape=spec.preprocessing.input_shape()
    )
    # ONNX runs outside torch: no autocast, the session's own device
    amp = options.get("amp") or "none"
    return _single(spec, runner, str(file), [file], options, device=where, amp=amp)


def _onnx_device(device: str | None) -> str:
    if device in (None, "auto"):
        import torch

        if not torch.cuda.is_available():
            return "cpu"
        try:
            import onnxruntime as ort
        except ImportError:
            return "cpu"
        return "cuda" if "CUDAExecutionProvider" in ort.get_available_providers() else "cpu"
    return str(device)


@takes_options(DeclarationOptions)
def load_timm(
    model: str | None = None,
    path: str | Path | None = None,
    **options: Unpack[DeclarationOptions],
) -> EnsemblePredictor:
    """A timm model (``model="resnet50"``) with its checkpoint (``path``) as a predictor.

    The network is ``timm.create_model(model, pretrained=False, num_classes=<outputs>,
    in_chans=<channels>)``; the checkpoint (safetensors, or a ``.pth`` state dict read with
    ``torch.load(weights_only=True)``, nested under ``model``/``state_dict`` and with a
    ``module.`` prefix accepted) must fit it key for key. Nothing is downloaded. Needs timm
    (``pip install 'radinpaint[timm]'``, which needs a torchvision matching torch). The
    declaration options are described in the module docs.
    """
    if not model:
        raise InvalidInputError(
            "the timm predictor needs the timm architecture name: model=<name>",
            input="model",
            fix="e.g. timm:model=resnet50,path=fold0.pth,targets=bone_age,...",
        )
    file = _existing(path, "path", "timm checkpoint")
    spec = member_spec("timm", options.get("name") or file.stem, options, {"model": str(model)})
    from ..errors import MissingDependencyError
    from .architectures import _check_timm_source
    from .checkpoint import load_state_dict_checked

    _check_timm_source(str(model), {})
    try:
        timm = importlib.import_module("timm")
    except Exception as exc:  # ImportError, or a torchvision that does not match torch
        raise MissingDependencyError(
            f"the timm predictor needs the package 'timm', which cannot be imported "
            f"({type(exc).__name__}: {exc})",
            input="timm",
            fix="pip install 'radinpaint[timm]' with a torchvision that matches your torch; "
            "or export the model to ONNX or TorchScript and use the onnx or torchscript "
            "predictor, which need no timm",
        ) from exc
    try:
        net = timm.create_model(
            str(model),
            pretrained=False,
            num_classes=len(spec.targets),
            in_chans=spec.preprocessing.channels,
        )
    except Exception as exc:
        raise InvalidInputError(
            f"timm cannot build {model!r}: {exc}",
            input=str(model),
            fix="give a timm architecture name (timm.list_models() lists them)",
        ) from exc
    load_state_dict_checked(net, _load_state(file), source=str(file))
    net.eval()
    return _single(spec, net, f"timm:{model} ({file})", [file], options)


def _import_factory(text: str) -> Any:
    """``"package.module:attr"`` (or ``"package.module.attr"``) -> the object."""
    module_name, sep, attr = text.partition(":")
    if not sep:
        module_name, _, attr = text.rpartition(".")
    if not module_name or not attr:
        raise InvalidInputError(
            f"factory {text!r} is not 'package.module:function'",
            input="factory",
            fix="write factory=mypackage.models:build_model (a function or class that returns "
            "the model)",
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InvalidInputError(
            f"cannot import {module_name!r} for factory {text!r}: {exc}",
            input="factory",
            fix="install the package that holds your model, or put its folder on PYTHONPATH",
        ) from exc
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise InvalidInputError(
                f"{module_name!r} has no attribute {attr!r} (factory {text!r})",
                input="factory",
                available=sorted(n for n in dir(module) if not n.startswith("_"))[:30],
            )
        obj = getattr(obj, part)
    return obj


@takes_options(ModelOptions)
def load_module(
    factory: str | None = None,
    *,
    weights: str | Path | None = None,
    fingerprint: str | None = None,
    **options: Unpack[ModelOptions],
) -> EnsemblePredictor:
    """A model made by your own Python code: ``factory="package.module:build"``.

    ``factory`` names a function (called with no arguments) or a class (instantiated with
    none) that returns a torch module or any callable ``model(x[, sex])``; an object that
    already is a torch module is used as it is. ``weights`` (safetensors, or a ``.pth``
    state dict read with ``weights_only=True``) are loaded into the module strictly.
    ``fingerprint``: a version string of your code, for a callable whose results change
    without its weights changing (caches key on it). The declaration options are described
    in the module docs.
    """
    if not factory:
        raise InvalidInputError(
            "the module predictor needs factory=package.module:function",
            input="factory",
            fix="e.g. --predictor module:factory=mylab.models:bone_age_net,targets=bone_age,...",
        )
    obj = _import_factory(str(factory))
    options.setdefault("name", str(factory).replace(":", ".").rsplit(".", 1)[-1])
    return from_module(obj, weights=weights, fingerprint=fingerprint, label=str(factory), **options)


@takes_options(ModelOptions)
def from_module(
    module_or_factory: Any,
    *,
    weights: str | Path | None = None,
    fingerprint: str | None = None,
    label: str | None = None,
    **options: Unpack[ModelOptions],
) -> EnsemblePredictor:
    """A torch module (or a function/class that returns one) as a predictor, in one call.

    Example::

        from radinpaint.predictors import from_module

        predictor = from_module(my_net, targets="bone_age", preprocessing="study-320",
                                age_scale=200, trained_on="RSNA training set")
        predictions = predictor.predict(images, male=sexes)

    ``module_or_factory``: an ``nn.Module`` (used as it is), a class or a function called
    with no arguments that returns a module or a callable. A module's outputs must be
    ``(batch, outputs)`` (or ``(batch,)`` for one target, or a tuple/dict of them).
    The module's weights are fingerprinted from its state dict; ``weights`` loads a file
    into it first (and is fingerprinted as that file). For a callable with no weights,
    ``fingerprint`` names its version. The other options are described in the module docs.
    """
    from torch import nn

    obj = module_or_factory
    if not isinstance(obj, nn.Module):
        if not callable(obj):
            raise InvalidInputError(
                f"{type(obj).__name__} is neither a torch module nor a function or class that "
                "returns one",
                input=label or repr(obj),
                fix="pass the model, or from_callable(fn) for a plain function",
            )
        obj = obj()
    kind_label = label or getattr(module_or_factory, "__qualname__", type(obj).__name__)
    files: list[Path] = []
    if weights is not None:
        if not isinstance(obj, nn.Module):
            raise InvalidInputError(
                f"weights= was given but the factory {kind_label!r} returned a "
                f"{type(obj).__name__}, not a torch module",
                input="weights",
                fix="load the weights inside your factory, or return an nn.Module",
            )
        from .checkpoint import load_state_dict_checked

        file = _existing(weights, "weights", "weights")
        load_state_dict_checked(obj, _load_state(file), source=str(file))
        files.append(file)
    if isinstance(obj, nn.Module):
        obj.eval()
    elif not callable(obj):
        raise InvalidInputError(
            f"factory {kind_label!r} returned a {type(obj).__name__}, not a model",
            input=kind_label,
            fix="return a torch module or a callable taking the image batch",
        )
    extra: dict[str, Any] = {"code": str(kind_label)}
    if fingerprint is not None:
        extra["fingerprint"] = str(fingerprint)
    name = options.get("name") or str(kind_label).rsplit(".", 1)[-1]
    return _single(
        member_spec("module", name, options, extra), obj, str(kind_label), files, options
    )


@takes_options(ModelOptions)
def from_callable(
    fn: Callable[..., Any],
    *,
    fingerprint: str | None = None,
    label: str | None = None,
    **options: Unpack[ModelOptions],
) -> EnsemblePredictor:
    """Any function ``fn(x[, sex])`` of a torch batch ``(batch, channels, size, size)`` as a
    predictor; it returns ``(batch, outputs)`` (a tensor, an array, a tuple or a dict keyed
    by target). ``fingerprint`` names its version (the function has no weights to hash).
    The other options are those of :func:`from_module`.
    """
    if not callable(fn):
        raise InvalidInputError(f"{type(fn).__name__} is not callable", input="fn")

    def factory() -> Callable[..., Any]:
        return fn

    label = label or getattr(fn, "__qualname__", type(fn).__name__)
    return from_module(factory, fingerprint=fingerprint, label=label, **options)

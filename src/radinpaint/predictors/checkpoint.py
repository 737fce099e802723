"""Saving and loading members and ensembles: safetensors weights plus JSON configs.

Loading never unpickles arbitrary objects: weights come from safetensors files, ``.pth``
files are read with ``torch.load(..., weights_only=True)``, and TorchScript archives with
``torch.jit.load``. A state dict that does not fit its declared architecture raises
:class:`~radinpaint.errors.CheckpointError` naming the missing and unexpected keys.

A saved ensemble is a directory::

    ensemble.json            {"format": "radinpaint-ensemble", "name", "aggregation",
                              "members", optional "settings" (EnsemblePredictor defaults)}
    <member>.json            the member's MemberSpec (+ training facts)
    <member>.safetensors     its weights (or <member>.pt for a TorchScript member)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import CheckpointError, InvalidInputError, ModelUnavailableError
from .members import Member, MemberSpec

if TYPE_CHECKING:
    from .ensemble import EnsemblePredictor

M = TypeVar("M")

__all__ = [
    "ENSEMBLE_FORMAT",
    "load_ensemble",
    "load_member",
    "load_state_dict_checked",
    "load_torchscript_member",
    "read_pth_state_dict",
    "save_ensemble",
    "save_member",
]

ENSEMBLE_FORMAT = "radinpaint-ensemble"
"""The ``format`` field of ``ensemble.json``."""

_LIST_LIMIT = 12


def _listed(keys: list[str]) -> str:
    head = ", ".join(keys[:_LIST_LIMIT])
    return head + (f", ... ({len(keys)} in all)" if len(keys) > _LIST_LIMIT else "")


def load_state_dict_checked(
    module: Any, state: Mapping[str, Any], *, source: str, assign: bool = False
) -> None:
    """Load ``state`` into ``module`` strictly, or raise :class:`CheckpointError`.

    The error names the missing keys, the unexpected keys and any shape mismatches.
    ``assign=True`` adopts the checkpoint's tensors (for modules built on the meta device).
    """
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = sorted(
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in set(expected) & set(state)
        if tuple(state[k].shape) != tuple(expected[k].shape)
    )
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing keys: {_listed(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {_listed(unexpected)}")
        if shapes:
            parts.append(f"shape mismatches: {_listed(shapes)}")
        raise CheckpointError(
            f"checkpoint does not match architecture {type(module).__name__} ("
            + "; ".join(parts)
            + ")",
            input=source,
            fix="check the member's architecture, outputs, channels and sex_input in its JSON "
            "config, or that the file belongs to this model",
        )
    module.load_state_dict(dict(state), strict=True, assign=assign)


def build_empty(factory: Callable[[], M]) -> M:
    """Build a module on the meta device (no weight initialisation: loading replaces it)."""
    import torch

    with torch.device("meta"):
        return factory()


def save_member(
    member: Member, directory: str | Path, *, extra: Mapping[str, Any] | None = None
) -> tuple[Path, Path]:
    """Write ``<name>.safetensors`` and ``<name>.json`` for a built-in member; returns paths."""
    from safetensors.torch import save_file

    if member.is_script:
        raise InvalidInputError(
            f"member {member.name!r} is TorchScript; save_ensemble copies its archive"
        )
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in member.module.state_dict().items()}
    weights = directory / f"{member.name}.safetensors"
    config = directory / f"{member.name}.json"
    save_file(state, str(weights), metadata={"radinpaint_member": member.name})
    payload = {"spec": member.spec.to_dict(), "weights": weights.name, **dict(extra or {})}
    config.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    return weights, config


def load_member(config_path: str | Path) -> Member:
    """Load a member from its JSON config (and the weights file it names)."""
    config_path = Path(config_path)
    try:
        payload = json.loads(config_path.read_text())
        spec = MemberSpec.from_dict(payload["spec"])
        weights = config_path.parent / payload["weights"]
    except FileNotFoundError as exc:
        raise ModelUnavailableError(f"member config not found: {exc}", input=config_path) from exc
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise CheckpointError(
            f"member config is not valid ({type(exc).__name__}: {exc})", input=config_path
        ) from exc
    if spec.architecture == "torchscript":
        return load_torchscript_member(
            weights,
            targets=spec.targets,
            preprocessing=spec.preprocessing,
            name=spec.name,
            sex_input=spec.sex_input,
            sex_subset=spec.sex_subset,
            age_scale=spec.age_scale,
            age_offset=spec.age_offset,
        )
    if not weights.exists():
        raise ModelUnavailableError("member weights not found", input=weights)
    from safetensors.torch import load_file

    module = build_empty(spec.build_module)
    try:
        state = load_file(str(weights))
    except Exception as exc:
        raise CheckpointError(f"cannot read safetensors weights: {exc}", input=weights) from exc
    load_state_dict_checked(module, state, source=str(weights), assign=True)
    module.eval()
    return Member(spec, module, str(weights))


def load_torchscript_member(
    path: str | Path,
    *,
    targets: Any,
    preprocessing: Any,
    name: str | None = None,
    sex_input: bool = False,
    sex_subset: str | None = None,
    age_scale: float = 1.0,
    age_offset: float = 0.0,
) -> Member:
    """A member from a TorchScript archive (``torch.jit.save``): ``forward(x[, sex])``.

    Args:
        path: the ``.pt`` archive.
        targets: what its outputs are (``"bone_age"``, ``"male"`` or both, in order).
        preprocessing: a preset name, a :class:`Preprocessing` or its dict.
        name: the member name (default: the file stem).
        sex_input, sex_subset, age_scale, age_offset: as in :class:`MemberSpec`.
    """
    import torch

    path = Path(path)
    if not path.exists():
        raise ModelUnavailableError("TorchScript file not found", input=path)
    try:
        module = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:
        raise CheckpointError(f"not a TorchScript archive: {exc}", input=path) from exc
    module.eval()
    spec = MemberSpec(
        name=name or path.stem,
        architecture="torchscript",
        targets=targets,
        preprocessing=preprocessing,
        sex_input=sex_input,
        sex_subset=sex_subset,
        age_scale=age_scale,
        age_offset=age_offset,
    )
    return Member(spec, module, str(path))


def save_ensemble(
    ensemble: Any, directory: str | Path, *, extra: Mapping[str, Any] | None = None
) -> Path:
    """Write an :class:`EnsemblePredictor` as a directory (see module docs); returns it."""
    import shutil

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    names = []
    for m in ensemble.members:
        if m.is_script:
            target = directory / f"{m.name}.pt"
            if m.source and Path(m.source).resolve() != target.resolve():
                shutil.copyfile(m.source, target)
            elif not m.source:
                m.module.save(str(target))
            payload = {"spec": m.spec.to_dict(), "weights": target.name}
            (directory / f"{m.name}.json").write_text(json.dumps(payload, indent=2) + "\n")
        else:
            save_member(m, directory)
        names.append(m.name)
    manifest = {
        "format": ENSEMBLE_FORMAT,
        "version": 1,
        "name": ensemble.name,
        "aggregation": ensemble.aggregation,
        "members": names,
        "settings": {"sex_from_prediction": bool(ensemble.sex_from_prediction)},
        **dict(extra or {}),
    }
    (directory / "ensemble.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return directory


def load_ensemble(directory: str | Path, **options: Any) -> EnsemblePredictor:
    """Load a saved ensemble directory into an :class:`EnsemblePredictor`.

    Args:
        directory: the folder holding ``ensemble.json``.
        **options: :class:`EnsemblePredictor` settings (``device``, ``batch_size``,
            ``aggregation``, ``name``...), overriding the saved ones.

    The ensemble keeps the list of files it was read from (``source_files``: the manifest,
    each member's config and weights); its ``capabilities()`` fingerprints their bytes.
    """
    from .ensemble import EnsemblePredictor

    directory = Path(directory)
    manifest_path = directory / "ensemble.json"
    if not manifest_path.exists():
        raise ModelUnavailableError(
            "no ensemble.json in the ensemble directory",
            input=directory,
            fix="point to a folder written by save_ensemble or radinpaint train-predictor",
        )
    try:
        manifest = json.loads(manifest_path.read_text())
        found = manifest.get("format")
        if found != ENSEMBLE_FORMAT:
            raise CheckpointError(
                f"the ensemble manifest's format is {found!r}, not {ENSEMBLE_FORMAT!r}",
                input=manifest_path,
                fix="point to a folder written by save_ensemble or radinpaint train-predictor",
            )
        names = list(manifest["members"])
    except (AttributeError, KeyError, TypeError, json.JSONDecodeError) as exc:
        raise CheckpointError(
            f"not a radinpaint ensemble manifest ({type(exc).__name__}: {exc})",
            input=manifest_path,
            fix="point to a folder written by save_ensemble or radinpaint train-predictor",
        ) from exc
    members = [load_member(directory / f"{n}.json") for n in names]
    settings: dict[str, Any] = {"name": manifest.get("name", directory.name)}
    settings["aggregation"] = manifest.get("aggregation", "mean")
    saved = manifest.get("settings", {})
    allowed = {"sex_from_prediction", "batch_size", "amp", "stack", "channels_last", "prefetch"}
    settings.update({k: v for k, v in saved.items() if k in allowed})
    settings.update(options)
    # what capabilities() fingerprints: the manifest, each member's config and weights
    files: list[str | Path] = [manifest_path, *(directory / f"{n}.json" for n in names)]
    files += [m.source for m in members if m.source]
    settings["source_files"] = files
    return EnsemblePredictor(members=members, **settings)


def read_pth_state_dict(path: str | Path) -> dict[str, Any]:
    """Read a ``.pth`` state dict with ``torch.load(weights_only=True)``, never unpickling.

    Accepts a bare state dict or one nested under ``"model"``/``"state_dict"``; strips
    ``module.`` (DataParallel) and a wrapper's ``model.`` prefix. numpy scalars and arrays
    saved beside the weights (scores, epochs) are allowed through torch's allow-list.
    """
    import numpy as np
    import torch

    path = Path(path)
    allowed: list[Any] = [np.ndarray, np.dtype]
    try:
        allowed.append(np._core.multiarray._reconstruct)  # type: ignore[attr-defined]
        allowed.append(np._core.multiarray.scalar)  # type: ignore[attr-defined]
    except AttributeError:  # numpy < 2
        allowed.append(np.core.multiarray._reconstruct)  # type: ignore[attr-defined]
        allowed.append(np.core.multiarray.scalar)  # type: ignore[attr-defined]
    allowed += [type(np.dtype(t)) for t in ("float32", "float64", "int64", "int32", "bool")]
    try:
        with torch.serialization.safe_globals(allowed):
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise ModelUnavailableError("checkpoint file not found", input=path) from exc
    except Exception as exc:
        raise CheckpointError(
            f"cannot read the checkpoint with weights_only=True ({type(exc).__name__}: {exc})",
            input=path,
            fix="re-save the state dict with torch.save(model.state_dict(), path)",
        ) from exc
    if isinstance(obj, Mapping):
        for key in ("model", "state_dict", "model_state_dict"):
            if key in obj and isinstance(obj[key], Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not all(isinstance(k, str) for k in obj):
        raise CheckpointError("checkpoint holds no state dict", input=path)
    state = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    for prefix in ("module.", "model."):
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items()}
    return state

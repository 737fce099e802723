"""Saving and loading members and ensembles: safetensors weights plus JSON configs.

Loading never unpickles arbitrary objects: weights come from safetensors files, and ``.pth``
files are read with ``torch.load(..., weights_only=True)``. A state dict that does not fit
its declared architecture raises :class:`~radinpaint.errors.CheckpointError` naming the
missing and unexpected keys.

TorchScript archives are different: **loading TorchScript is code execution** (an archive
carries compiled code, and ``torch.jit.load`` runs some of it, such as a module's
``__setstate__``, while loading). So a TorchScript member loads only when the user opts in,
with ``allow_torchscript=True`` (predictor option ``allow_torchscript=true``) or the
environment variable ``RADINPAINT_ALLOW_TORCHSCRIPT=1``: only load TorchScript you trust.
Without the opt-in, :class:`TorchScriptNotAllowedError` is raised before anything of the
archive is read.

A saved ensemble is a directory::

    ensemble.json            {"format": "radinpaint-ensemble", "name", "aggregation",
                              "members", optional "settings" (EnsemblePredictor defaults)}
    <member>.json            the member's MemberSpec (+ training facts)
    <member>.safetensors     its weights (or <member>.pt for a TorchScript member)

Every file an ensemble is loaded from must lie inside its directory: a member name or a
``"weights"`` entry that is absolute, climbs out with ``..``, or resolves outside through a
symbolic link raises :class:`PathOutsideFolderError` before that file is read.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from ..errors import CheckpointError, InvalidInputError, ModelUnavailableError
from .members import Member, MemberSpec

if TYPE_CHECKING:
    from .ensemble import EnsemblePredictor

M = TypeVar("M")

__all__ = [
    "ALLOW_TORCHSCRIPT_ENV",
    "ENSEMBLE_FORMAT",
    "PathOutsideFolderError",
    "TorchScriptNotAllowedError",
    "inside_folder",
    "load_ensemble",
    "load_member",
    "load_state_dict_checked",
    "load_torchscript_member",
    "read_pth_state_dict",
    "save_ensemble",
    "save_member",
    "torchscript_allowed",
]

ENSEMBLE_FORMAT = "radinpaint-ensemble"
"""The ``format`` field of ``ensemble.json``."""

ALLOW_TORCHSCRIPT_ENV = "RADINPAINT_ALLOW_TORCHSCRIPT"
"""Set to ``1`` to allow loading TorchScript members (code execution: only archives you
trust); ``allow_torchscript=False`` still refuses them."""

_LIST_LIMIT = 12

_TRUTHY = ("1", "true", "yes", "on")
_FALSY = ("0", "false", "no", "off", "")


class TorchScriptNotAllowedError(CheckpointError):
    """A TorchScript archive would be loaded (which runs its code) without an opt-in."""


class PathOutsideFolderError(CheckpointError):
    """A file named by a weights folder's own contents lies outside that folder."""


def torchscript_allowed(option: object = None) -> bool:
    """Whether loading TorchScript (code execution) is allowed.

    ``option`` is the caller's ``allow_torchscript``: ``True``/``False`` decide (also given as
    ``"true"``/``"false"``, ``1``/``0``, as from a CLI option); ``None`` defers to the
    environment variable :data:`ALLOW_TORCHSCRIPT_ENV` (``1``, ``true``, ``yes``, ``on``).

    Raises:
        InvalidInputError: ``option`` is not a yes/no value.
    """
    if option is None:
        env = os.environ.get(ALLOW_TORCHSCRIPT_ENV, "").strip().lower()
        return env in _TRUTHY
    if isinstance(option, bool):
        return option
    if isinstance(option, int) and option in (0, 1):
        return bool(option)
    if isinstance(option, str) and option.strip().lower() in _TRUTHY + _FALSY:
        return option.strip().lower() in _TRUTHY
    raise InvalidInputError(
        f"allow_torchscript must be true or false, got {option!r}",
        input="allow_torchscript",
        fix="pass allow_torchscript=True only for TorchScript files you trust, else leave it unset",
    )


def _refuse_torchscript(path: Path, *, member: str, config: Path | None = None) -> NoReturn:
    where = f" (config {config})" if config is not None else ""
    raise TorchScriptNotAllowedError(
        f"member {member!r}{where} is a TorchScript archive, {path.name}; loading TorchScript "
        "runs code stored in the file (torch.jit.load executes it, e.g. a module's "
        "__setstate__), so it was not loaded and nothing of it was read",
        input=path,
        fix="only if you trust where the file came from, opt in: allow_torchscript=True "
        "(get_predictor('ensemble', path=..., allow_torchscript=True); CLI: "
        "-o allow_torchscript=true or 'ensemble:path=...,allow_torchscript=true'; or set "
        f"{ALLOW_TORCHSCRIPT_ENV}=1); otherwise ask for the member as safetensors weights "
        "of a built-in architecture (save_member writes them), which load without running code",
    )


def inside_folder(folder: str | Path, name: object, *, referrer: str | Path, what: str) -> Path:
    """``folder / name``, after checking that it stays inside ``folder``.

    ``name`` comes from a file inside the folder (a member config, a manifest), so it must
    be a relative path without ``..`` that, with symbolic links resolved, still lies inside
    ``folder`` (itself resolved, so a linked folder is fine). Nothing is opened.

    Args:
        folder: the weights folder.
        name: the relative path the folder's file gives.
        referrer: the file that names it (reported in the error).
        what: what it is, for the message (``"weights"``, ``"member config"``).

    Raises:
        PathOutsideFolderError: ``name`` is absolute, climbs out with ``..``, or resolves
            outside the folder through a symbolic link.
        CheckpointError: ``name`` is not a non-empty string.
    """
    folder = Path(folder)
    if not isinstance(name, str) or not name.strip():
        raise CheckpointError(
            f"the {what} entry must be a file name relative to the folder, got {name!r}",
            input=referrer,
            fix=f'name the {what} file relative to {folder} (e.g. "member.safetensors")',
        )
    fix = (
        f"keep the {what} file inside {folder} and name it relative to that folder "
        '(e.g. "weights": "member.safetensors"); copy a file into the folder rather than '
        "pointing or linking to it elsewhere"
    )
    candidate = Path(name)
    if candidate.is_absolute() or candidate.drive or ".." in candidate.parts:
        raise PathOutsideFolderError(
            f"the {what} file {name!r} named in {referrer} lies outside the folder {folder} "
            "(absolute paths and '..' are refused); nothing was read from it",
            input=referrer,
            fix=fix,
        )
    path = folder / candidate
    root = folder.resolve()
    real = path.resolve()
    if not real.is_relative_to(root):
        raise PathOutsideFolderError(
            f"the {what} file {name!r} named in {referrer} resolves to {real} through a "
            f"symbolic link, outside the folder {root}; nothing was read from it",
            input=referrer,
            fix=fix,
        )
    return path


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

    _refuse_adapter(member)
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


def _read_member_config(config_path: Path) -> tuple[MemberSpec, Path]:
    """The member's spec and its weights path (checked to lie in the config's folder)."""
    try:
        payload = json.loads(config_path.read_text())
        spec = MemberSpec.from_dict(payload["spec"])
        weights_name = payload["weights"]
    except FileNotFoundError as exc:
        raise ModelUnavailableError(f"member config not found: {exc}", input=config_path) from exc
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise CheckpointError(
            f"member config is not valid ({type(exc).__name__}: {exc})", input=config_path
        ) from exc
    weights = inside_folder(config_path.parent, weights_name, referrer=config_path, what="weights")
    return spec, weights


def load_member(config_path: str | Path, *, allow_torchscript: bool | None = None) -> Member:
    """Load a member from its JSON config (and the weights file it names).

    Args:
        config_path: the member's ``<name>.json``.
        allow_torchscript: load a TorchScript member (**code execution: only load
            TorchScript you trust**); ``None`` follows ``RADINPAINT_ALLOW_TORCHSCRIPT``.

    Raises:
        PathOutsideFolderError: the config's ``"weights"`` is absolute, uses ``..`` or
            resolves outside the config's folder through a symbolic link (nothing is read
            from it).
        TorchScriptNotAllowedError: a TorchScript member without the opt-in (nothing is
            read from its archive).
    """
    config_path = Path(config_path)
    spec, weights = _read_member_config(config_path)
    if spec.architecture == "torchscript":
        if not torchscript_allowed(allow_torchscript):
            _refuse_torchscript(weights, member=spec.name, config=config_path)
        return load_torchscript_member(
            weights,
            targets=spec.targets,
            preprocessing=spec.preprocessing,
            name=spec.name,
            sex_input=spec.sex_input,
            sex_subset=spec.sex_subset,
            age_scale=spec.age_scale,
            age_offset=spec.age_offset,
            allow_torchscript=True,
        )
    if not weights.exists():
        raise ModelUnavailableError("member weights not found", input=weights)
    from safetensors.torch import load_file

    module = build_empty(spec.build_module)
    try:
        state = load_file(str(weights))
    except Exception as exc:
        raise CheckpointError(
            f"cannot read safetensors weights: {exc}",
            input=weights,
            fix="member weights are read as safetensors only (never unpickled); convert a "
            ".pth state dict with safetensors.torch.save_file",
        ) from exc
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
    allow_torchscript: bool | None = None,
) -> Member:
    """A member from a TorchScript archive (``torch.jit.save``): ``forward(x[, sex])``.

    **Code execution: only load TorchScript you trust.** ``torch.jit.load`` runs code stored
    in the archive (a module's ``__setstate__``, for one) while loading, so this refuses
    unless ``allow_torchscript=True`` (or, with ``None``, ``RADINPAINT_ALLOW_TORCHSCRIPT=1``).

    Args:
        path: the ``.pt`` archive.
        targets: what its outputs are (``"bone_age"``, ``"male"`` or both, in order).
        preprocessing: a preset name, a :class:`Preprocessing` or its dict.
        name: the member name (default: the file stem).
        sex_input, sex_subset, age_scale, age_offset: as in :class:`MemberSpec`.
        allow_torchscript: the opt-in (see above).

    Raises:
        TorchScriptNotAllowedError: no opt-in; nothing of the archive was read.
    """
    path = Path(path)
    if not torchscript_allowed(allow_torchscript):
        _refuse_torchscript(path, member=name or path.stem)
    import torch

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


def _refuse_adapter(member: Member) -> None:
    if member.is_adapter:
        raise InvalidInputError(
            f"member {member.name!r} wraps your own model ({member.spec.architecture}); it is "
            "loaded from your file or code each time and is not saved into an ensemble folder",
            input=member.source or member.name,
            fix="keep your model file and rebuild the predictor from it (a 'models' config "
            "file lists several; see docs/your-own-models.md)",
        )


def save_ensemble(
    ensemble: Any, directory: str | Path, *, extra: Mapping[str, Any] | None = None
) -> Path:
    """Write an :class:`EnsemblePredictor` as a directory (see module docs); returns it.

    ``ensemble.metadata["trained_on"]`` (what the weights were trained on: ``"phantoms"``,
    ``"real"``...) is written to ``ensemble.json`` as ``"trained_on"`` and read back by
    :func:`load_ensemble`. Adapter members (a user's own model file) are refused.
    """
    import shutil

    for m in ensemble.members:  # before anything is written
        _refuse_adapter(m)
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
    trained_on = getattr(ensemble, "metadata", {}).get("trained_on")
    if trained_on and "trained_on" not in manifest:
        manifest["trained_on"] = str(trained_on)
    (directory / "ensemble.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return directory


def load_ensemble(
    directory: str | Path, *, allow_torchscript: bool | None = None, **options: Any
) -> EnsemblePredictor:
    """Load a saved ensemble directory into an :class:`EnsemblePredictor`.

    Args:
        directory: the folder holding ``ensemble.json``.
        allow_torchscript: load TorchScript members. **Code execution: only load TorchScript
            you trust** (an archive runs its own code while it loads). ``None`` (default)
            follows the environment variable ``RADINPAINT_ALLOW_TORCHSCRIPT``; without an
            opt-in, a folder with a TorchScript member raises
            :class:`TorchScriptNotAllowedError` before any member's weights are read.
        **options: :class:`EnsemblePredictor` settings (``device``, ``batch_size``,
            ``aggregation``, ``name``...), overriding the saved ones.

    Every file read must lie inside ``directory``: member names and ``"weights"`` entries
    that are absolute, use ``..`` or resolve outside through a symbolic link raise
    :class:`PathOutsideFolderError` before anything is loaded.

    The ensemble keeps the list of files it was read from (``source_files``: the manifest,
    each member's config and weights); its ``capabilities()`` fingerprints their bytes.
    """
    from .ensemble import EnsemblePredictor

    directory = Path(directory)
    allowed_script = torchscript_allowed(allow_torchscript)
    manifest_path = directory / "ensemble.json"
    if not manifest_path.exists():
        raise ModelUnavailableError(
            "no ensemble.json in the ensemble directory",
            input=directory,
            fix="point to a folder written by save_ensemble or radinpaint train-predictor",
        )
    inside_folder(directory, "ensemble.json", referrer=directory, what="manifest")
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
    configs = []
    for n in names:
        if not isinstance(n, str):
            raise CheckpointError(
                f"member names in the manifest must be strings, got {n!r}", input=manifest_path
            )
        configs.append(
            inside_folder(directory, f"{n}.json", referrer=manifest_path, what="member config")
        )
    # every path and the TorchScript opt-in are checked before any weights are read
    for config in configs:
        spec, weights = _read_member_config(config)
        if spec.architecture == "torchscript" and not allowed_script:
            _refuse_torchscript(weights, member=spec.name, config=config)
    members = [load_member(c, allow_torchscript=allowed_script) for c in configs]
    settings: dict[str, Any] = {"name": manifest.get("name", directory.name)}
    settings["aggregation"] = manifest.get("aggregation", "mean")
    saved = manifest.get("settings", {})
    allowed = {"sex_from_prediction", "batch_size", "amp", "stack", "channels_last", "prefetch"}
    settings.update({k: v for k, v in saved.items() if k in allowed})
    settings.update(options)
    # what capabilities() fingerprints: the manifest, each member's config and weights
    files: list[str | Path] = [manifest_path, *configs]
    files += [m.source for m in members if m.source]
    settings["source_files"] = files
    trained_on = manifest.get("trained_on")
    metadata = {"trained_on": str(trained_on)} if trained_on else {}
    return EnsemblePredictor(members=members, metadata=metadata, **settings)


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

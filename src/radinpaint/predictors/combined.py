"""Several models of your own as one ensemble: :func:`from_models` and the ``models``
predictor (:func:`load_models`, a small JSON file listing the models).

Each model is declared as for the single-model adapters of
:mod:`radinpaint.predictors.adapters`; their members are put into one
:class:`~radinpaint.predictors.EnsemblePredictor` (aggregated by ``mean`` or ``median``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Unpack

import attrs

from ..errors import InvalidInputError
from .adapters import (
    ADAPTER_KINDS,
    _ensemble,
    _existing,
    load_module,
    load_onnx,
    load_timm,
    load_torchscript,
)
from .declarations import EnsembleSettings, ensemble_settings, takes_options
from .members import Member

if TYPE_CHECKING:
    from .ensemble import EnsemblePredictor

__all__ = ["MODELS_FORMAT", "from_models", "load_models"]

MODELS_FORMAT = "radinpaint-models"
"""The ``format`` field of a models config file (optional)."""

_LOADERS: dict[str, Callable[..., EnsemblePredictor]] = {
    "torchscript": load_torchscript,
    "onnx": load_onnx,
    "timm": load_timm,
    "module": load_module,
}


def _from_entry(entry: Mapping[str, Any], base: Path | None, defaults: Mapping[str, Any]) -> Any:
    entry = dict(entry)
    kind = entry.pop("kind", None)
    if kind not in _LOADERS:
        raise InvalidInputError(
            f"model entry {entry} has kind {kind!r}",
            input="kind",
            available=ADAPTER_KINDS,
            fix='give each entry "kind": "onnx" | "torchscript" | "timm" | "module"',
        )
    options = {**dict(defaults), **entry}
    for key in ("path", "weights"):
        if base is not None and options.get(key) and not Path(options[key]).is_absolute():
            options[key] = str(base / options[key])
    from ..registry import check_spec

    check_spec("predictor", str(kind), options)
    return _LOADERS[str(kind)](**options)


@takes_options(EnsembleSettings)
def from_models(
    models: Sequence[EnsemblePredictor | Mapping[str, Any]],
    *,
    name: str = "models",
    aggregation: str = "mean",
    trained_on: str | None = None,
    base_dir: str | Path | None = None,
    defaults: Mapping[str, Any] | None = None,
    **settings: Unpack[EnsembleSettings],
) -> EnsemblePredictor:
    """Several models as one ensemble (e.g. five folds, or a bone-age and a sex model).

    Args:
        models: predictors built by the functions of this module (or any
            :class:`EnsemblePredictor`), or dicts ``{"kind": "onnx", "path": ..., <options>}``.
        name: the ensemble's name.
        aggregation: ``mean`` or ``median`` over the members predicting a target.
        trained_on: what the members were trained on; by default theirs when they agree,
            else ``"unknown"``.
        base_dir: the folder relative ``path``/``weights`` of dict entries are read from.
        defaults: options every dict entry gets unless it gives its own (``targets``,
            ``preprocessing``...).
        device, batch_size, amp, channels_last, stack, prefetch, sex_from_prediction,
            progress: :class:`~radinpaint.predictors.EnsemblePredictor` settings.
    """
    if not models:
        raise InvalidInputError(
            "a models ensemble needs at least one model", fix='give "models": [{...}, ...]'
        )
    base = Path(base_dir) if base_dir is not None else None
    built = [
        m if not isinstance(m, Mapping) else _from_entry(m, base, defaults or {}) for m in models
    ]
    members: list[Member] = []
    files: list[Path] = []
    sha: dict[str, str] = {}
    seen: dict[str, int] = {}
    for predictor in built:
        for member in predictor.members:
            count = seen.get(member.name, 0)
            seen[member.name] = count + 1
            if count:
                member = Member(
                    attrs.evolve(member.spec, name=f"{member.name}_{count + 1}"),
                    member.module,
                    member.source,
                )
            members.append(member)
        files += [Path(f) for f in predictor.source_files]
        sha.update(predictor.metadata.get("weights_sha256", {}))
    found = {str(p.metadata.get("trained_on") or "unknown") for p in built}
    if trained_on is None:
        trained_on = found.pop() if len(found) == 1 else "unknown"
    given = ensemble_settings({**settings, "aggregation": aggregation})
    devices = {p.device for p in built}
    if "device" not in given and len(devices) == 1:
        given["device"] = devices.pop()
    ens = _ensemble(name, members, trained_on=trained_on, files=[], settings=given)
    ens.source_files = tuple(str(f) for f in dict.fromkeys(files))
    ens.metadata["weights_sha256"] = sha
    return ens


@takes_options(EnsembleSettings)
def load_models(
    config: str | Path | None = None,
    *,
    allow_torchscript: bool | str | None = None,
    name: str | None = None,
    aggregation: str | None = None,
    trained_on: str | None = None,
    **settings: Unpack[EnsembleSettings],
) -> EnsemblePredictor:
    """Several models from a small JSON file (predictor ``models:config=FILE.json``)::

        {
          "name": "my-folds",
          "trained_on": "RSNA training set",
          "defaults": {"targets": "bone_age", "preprocessing": "study-320", "age_scale": 200},
          "models": [
            {"kind": "onnx", "path": "fold0.onnx"},
            {"kind": "onnx", "path": "fold1.onnx"},
            {"kind": "onnx", "path": "sex.onnx", "targets": "male"}
          ]
        }

    Relative paths are read from the config's folder. ``allow_torchscript`` (here, never in
    the file) opts in to the file's TorchScript models. Options given here override the
    file's ``name``, ``aggregation`` and ``trained_on``.
    """
    file = _existing(config, "config", "models config")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise InvalidInputError(f"the models config is not JSON: {exc}", input=str(file)) from exc
    known = {"format", "name", "aggregation", "trained_on", "defaults", "models"}
    if not isinstance(data, dict) or not isinstance(data.get("models"), list):
        raise InvalidInputError(
            'a models config is a JSON object with a "models" list',
            input=str(file),
            fix='write {"models": [{"kind": "onnx", "path": "m.onnx", "targets": "bone_age", '
            '"preprocessing": "study-320"}]}',
        )
    unknown = sorted(set(data) - known)
    if unknown:
        raise InvalidInputError(
            f"unknown key(s) {unknown} in the models config", input=str(file),
            available=sorted(known),
        )  # fmt: skip
    entries = []
    for entry in data["models"]:
        if not isinstance(entry, dict):
            raise InvalidInputError(
                f"a models entry must be an object, got {entry!r}", input=str(file)
            )
        if "allow_torchscript" in entry:
            raise InvalidInputError(
                "allow_torchscript cannot be set inside a models config file",
                input=str(file),
                fix="opt in where you run it: models:config=...,allow_torchscript=true (or "
                "RADINPAINT_ALLOW_TORCHSCRIPT=1), only for TorchScript files you trust",
            )
        if entry.get("kind") == "torchscript" and allow_torchscript is not None:
            entry = {**entry, "allow_torchscript": allow_torchscript}
        entries.append(entry)
    defaults = data.get("defaults") or {}
    if "allow_torchscript" in defaults:
        raise InvalidInputError(
            "allow_torchscript cannot be set inside a models config file", input=str(file)
        )
    ens = from_models(
        entries,
        name=name or str(data.get("name") or file.stem),
        aggregation=aggregation or str(data.get("aggregation") or "mean"),
        trained_on=trained_on or data.get("trained_on"),
        base_dir=file.parent,
        defaults=defaults,
        **settings,
    )
    ens.source_files = (str(file), *ens.source_files)
    return ens

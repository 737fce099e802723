"""Saving and loading GAN weights and training state: safetensors plus a JSON config.

Two kinds of file pair, both written atomically (temporary file, then rename):

Weights (what inference loads): ``NAME.safetensors`` holds the generator's tensors, and
``NAME.json`` beside it holds::

    {"format": "radinpaint-gan-weights", "format_version": 1,
     "generator": {...architecture...}, "inference": {...defaults...},
     "tensors": {"head.conv.weight": [32, 2, 5, 5], ...}, "training": {...how it was made...}}

Training state (what resuming loads): ``NAME.state.safetensors`` holds the generator
(``G.*``), the critic (``D.*``) and both Adam optimisers' moments (``optG.*``, ``optD.*``);
``NAME.state.json`` holds the step, the full training configuration, the optimisers'
hyper-parameters, the loss history and how randomness is derived.

Nothing is ever unpickled. On load, the network is built from the JSON config and its
expected tensor names and shapes are compared with the file's: any missing or unexpected
key, or any shape mismatch, raises :class:`~radinpaint.errors.CheckpointError` listing them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ...errors import CheckpointError
from .model import GatedUNet, build_generator

__all__ = [
    "STATE_FORMAT",
    "WEIGHTS_FORMAT",
    "check_tensors",
    "config_path",
    "file_sha256",
    "load_generator",
    "load_weights_config",
    "optimizer_from_tensors",
    "optimizer_to_tensors",
    "read_json",
    "read_tensors",
    "save_generator",
    "state_paths",
    "write_json",
    "write_tensors",
]

WEIGHTS_FORMAT = "radinpaint-gan-weights"
"""The ``format`` field of a weights JSON config."""

STATE_FORMAT = "radinpaint-gan-training-state"
"""The ``format`` field of a training-state JSON config."""

FORMAT_VERSION = 1


def config_path(weights: str | os.PathLike[str]) -> Path:
    """The JSON config beside a ``.safetensors`` file (same stem, ``.json``)."""
    return Path(weights).with_suffix(".json")


def state_paths(weights: str | os.PathLike[str]) -> tuple[Path, Path]:
    """``(tensors, json)`` of the training state kept beside a weights file."""
    p = Path(weights)
    stem = p.with_suffix("")
    return Path(f"{stem}.state.safetensors"), Path(f"{stem}.state.json")


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 hex digest of a file's bytes (remembered per process while the file is
    unchanged; see :func:`radinpaint.fingerprint.file_sha256`)."""
    from ...fingerprint import file_sha256 as remembered_sha256

    return remembered_sha256(path)


def _atomic(path: Path, write: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    from ...cache import _create_temp  # the umask's permissions, not mkstemp's 0600

    fd, tmp = _create_temp(path.parent, path.name)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: str | os.PathLike[str], data: Mapping[str, Any]) -> None:
    """Write ``data`` as indented JSON, atomically."""

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, sort_keys=False)
            fh.write("\n")

    _atomic(Path(path), write)


def read_json(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a JSON config; a missing or malformed file raises CheckpointError."""
    p = Path(path)
    if not p.exists():
        raise CheckpointError(
            f"checkpoint config {p.name} not found",
            input=str(p),
            fix="keep the .json config beside its .safetensors file (same stem)",
        )
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"checkpoint config is not valid JSON ({exc})", input=str(p)) from exc
    if not isinstance(data, dict):
        raise CheckpointError("checkpoint config must be a JSON object", input=str(p))
    return data


def write_tensors(path: str | os.PathLike[str], tensors: Mapping[str, torch.Tensor]) -> None:
    """Write tensors (moved to CPU, made contiguous) as safetensors, atomically."""
    cpu = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    _atomic(Path(path), lambda tmp: save_file(cpu, tmp, metadata={"format": "pt"}))


def read_tensors(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Read a safetensors file (never unpickles); unreadable -> CheckpointError."""
    p = Path(path)
    if not p.exists():
        raise CheckpointError(
            f"checkpoint tensors {p.name} not found",
            input=str(p),
            fix="pass the path of an existing .safetensors file",
        )
    try:
        return load_file(str(p), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(
            f"cannot read safetensors file ({exc})",
            input=str(p),
            fix="give the .safetensors written by radinpaint train-gan; .pth pickles and "
            "TorchScript archives are never loaded (they can run code)",
        ) from exc


def check_tensors(
    expected: Mapping[str, torch.Size | tuple[int, ...]],
    found: Mapping[str, torch.Tensor],
    *,
    what: str,
) -> None:
    """Raise CheckpointError unless ``found`` has exactly the ``expected`` names and shapes.

    The message names every missing key, unexpected key and shape mismatch (up to 10 each).
    """
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    mismatched = sorted(
        f"{k}: config {list(expected[k])} vs file {list(found[k].shape)}"
        for k in set(expected) & set(found)
        if tuple(expected[k]) != tuple(found[k].shape)
    )
    if not (missing or unexpected or mismatched):
        return
    parts = []
    for label, items in (
        ("missing keys", missing),
        ("unexpected keys", unexpected),
        ("shape mismatches", mismatched),
    ):
        if items:
            more = f" (+{len(items) - 10} more)" if len(items) > 10 else ""
            parts.append(f"{label}: {', '.join(items[:10])}{more}")
    raise CheckpointError(
        f"checkpoint tensors do not match the JSON config; {'; '.join(parts)}",
        input=what,
        fix="use the .json written together with this .safetensors file (same training run)",
    )


def save_generator(
    path: str | os.PathLike[str],
    generator: GatedUNet,
    generator_config: Mapping[str, Any],
    *,
    inference: Mapping[str, Any],
    training: Mapping[str, Any],
) -> Path:
    """Write the generator's weights and their JSON config; returns the weights path."""
    p = Path(path)
    state = {k: v.detach().float() for k, v in generator.state_dict().items()}
    write_tensors(p, state)
    write_json(
        config_path(p),
        {
            "format": WEIGHTS_FORMAT,
            "format_version": FORMAT_VERSION,
            "generator": dict(generator_config),
            "inference": dict(inference),
            "tensors": {k: list(v.shape) for k, v in state.items()},
            "training": dict(training),
        },
    )
    return p


def load_weights_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON config of a weights file, checked for its format."""
    cfg_path = config_path(path)
    cfg = read_json(cfg_path)
    if cfg.get("format") != WEIGHTS_FORMAT:
        raise CheckpointError(
            f"{cfg_path.name} is not a radinpaint GAN weights config "
            f"(format {cfg.get('format')!r}, expected {WEIGHTS_FORMAT!r})",
            input=str(cfg_path),
            fix="pass weights written by radinpaint train-gan",
        )
    if "generator" not in cfg:
        raise CheckpointError("weights config has no 'generator' section", input=str(cfg_path))
    return cfg


def load_generator(path: str | os.PathLike[str]) -> tuple[GatedUNet, dict[str, Any]]:
    """Build the generator from ``NAME.json`` and load ``NAME.safetensors`` into it.

    Returns ``(generator in eval mode on the CPU, config)``.

    Raises:
        CheckpointError: a file is missing or unreadable, or the tensors do not match the
            architecture the config declares (names every key and shape that differs).
    """
    cfg = load_weights_config(path)
    try:
        generator = build_generator(cfg["generator"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(
            f"invalid generator config in {config_path(path).name}: {exc!r}", input=str(path)
        ) from exc
    tensors = read_tensors(path)
    expected = {k: v.shape for k, v in generator.state_dict().items()}
    check_tensors(expected, tensors, what=str(path))
    declared = cfg.get("tensors")
    if isinstance(declared, dict):
        check_tensors({k: tuple(v) for k, v in declared.items()}, tensors, what=str(path))
    generator.load_state_dict({k: v.float() for k, v in tensors.items()})
    generator.eval()
    return generator, cfg


def optimizer_to_tensors(
    optimizer: torch.optim.Optimizer, prefix: str
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """An optimiser's state as flat tensors ``{prefix}.{index}.{name}`` plus JSON hyper-params."""
    sd = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    for index, entry in sd["state"].items():
        for name, value in entry.items():
            t = value if isinstance(value, torch.Tensor) else torch.tensor(value)
            tensors[f"{prefix}.{index}.{name}"] = t
    return tensors, {"param_groups": sd["param_groups"]}


def optimizer_from_tensors(
    optimizer: torch.optim.Optimizer,
    tensors: Mapping[str, torch.Tensor],
    meta: Mapping[str, Any],
    prefix: str,
) -> None:
    """Load the state written by :func:`optimizer_to_tensors` into ``optimizer``."""
    state: dict[int, dict[str, torch.Tensor]] = {}
    head = prefix + "."
    for key, value in tensors.items():
        if not key.startswith(head):
            continue
        index, name = key[len(head) :].split(".", 1)
        state.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})

"""Saving and loading the diffusion model: safetensors plus a JSON config, never a pickle.

Weights (what inference loads): ``NAME.safetensors`` holds the denoiser's tensors (the
exponential moving average of the trained weights), and ``NAME.json`` beside it::

    {"format": "radinpaint-diffusion-weights", "format_version": 1,
     "unet": {...architecture...}, "schedule": {...betas...},
     "placement": {"size": 64, "mode": "letterbox", "pad": "edge"},
     "inference": {...defaults...}, "tensors": {"conv_in.weight": [16, 1, 3, 3], ...},
     "training": {...how it was made...}}

Training state (what resuming loads): ``NAME.state.safetensors`` holds the raw weights
(``U.*``), their moving average (``E.*``) and the AdamW moments (``opt.*``);
``NAME.state.json`` holds the step, the training configuration and the loss history.

The file helpers (atomic writes, safetensors reading, the name-and-shape check) are the
GAN's (:mod:`radinpaint.inpainters.gan.checkpoint`). A config of another kind (a GAN
checkpoint, another architecture) or tensors that do not match it raise
:class:`~radinpaint.errors.CheckpointError` naming the file and the fix.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ...errors import CheckpointError
from ..gan.checkpoint import (
    check_tensors,
    config_path,
    read_json,
    read_tensors,
    state_paths,
    write_json,
    write_tensors,
)
from .model import build_unet

__all__ = [
    "FORMAT_VERSION",
    "STATE_FORMAT",
    "WEIGHTS_FORMAT",
    "config_path",
    "load_unet",
    "load_weights_config",
    "save_unet",
    "state_paths",
]

WEIGHTS_FORMAT = "radinpaint-diffusion-weights"
"""The ``format`` field of a weights JSON config."""

STATE_FORMAT = "radinpaint-diffusion-training-state"
"""The ``format`` field of a training-state JSON config."""

FORMAT_VERSION = 1
"""The version of both formats."""

_FIX = (
    "pass weights written by `radinpaint train-diffusion` (a .safetensors file with its "
    ".json config beside it), or weights=None for the shipped phantom model"
)


def save_unet(
    path: str | os.PathLike[str],
    state: Mapping[str, torch.Tensor],
    *,
    unet: Mapping[str, Any],
    schedule: Mapping[str, Any],
    placement: Mapping[str, Any],
    inference: Mapping[str, Any],
    training: Mapping[str, Any],
) -> Path:
    """Write denoiser tensors (``state``) and their JSON config; returns the weights path."""
    p = Path(path)
    tensors = {k: v.detach().float() for k, v in state.items()}
    write_tensors(p, tensors)
    write_json(
        config_path(p),
        {
            "format": WEIGHTS_FORMAT,
            "format_version": FORMAT_VERSION,
            "unet": dict(unet),
            "schedule": dict(schedule),
            "placement": dict(placement),
            "inference": dict(inference),
            "tensors": {k: list(v.shape) for k, v in tensors.items()},
            "training": dict(training),
        },
    )
    return p


def load_weights_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON config beside a weights file, checked for its format.

    Raises:
        CheckpointError: missing, unreadable, or not a diffusion weights config.
    """
    cfg_path = config_path(path)
    cfg = read_json(cfg_path)
    if cfg.get("format") != WEIGHTS_FORMAT:
        raise CheckpointError(
            f"{cfg_path.name} is not a radinpaint diffusion weights config "
            f"(format {cfg.get('format')!r}, expected {WEIGHTS_FORMAT!r})",
            input=str(cfg_path),
            fix=_FIX,
        )
    for key in ("unet", "schedule", "placement"):
        if not isinstance(cfg.get(key), dict):
            raise CheckpointError(
                f"diffusion weights config has no {key!r} section", input=str(cfg_path), fix=_FIX
            )
    return cfg


def load_unet(path: str | os.PathLike[str]) -> tuple[Any, dict[str, Any]]:
    """Build the denoiser from ``NAME.json`` and load ``NAME.safetensors`` into it.

    Returns ``(UNet2DModel in eval mode on the CPU, config)``.

    Raises:
        CheckpointError: a file is missing or unreadable, the config is not a diffusion
            config, or the tensors do not match the architecture it declares.
    """
    cfg = load_weights_config(path)
    try:
        unet = build_unet(cfg["unet"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(
            f"invalid model config in {config_path(path).name}: {exc}", input=str(path), fix=_FIX
        ) from exc
    tensors = read_tensors(path)
    check_tensors({k: v.shape for k, v in unet.state_dict().items()}, tensors, what=str(path))
    declared = cfg.get("tensors")
    if isinstance(declared, dict):
        check_tensors({k: tuple(v) for k, v in declared.items()}, tensors, what=str(path))
    unet.load_state_dict({k: v.float() for k, v in tensors.items()})
    unet.eval()
    return unet, cfg

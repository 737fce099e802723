"""What the backends with trained weights share: finding the weights, their JSON config,
and the torch device to run on (the GAN and the diffusion model)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import CheckpointError, InvalidInputError, ModelUnavailableError

__all__ = ["existing_weights", "read_weights_config", "resolve_device"]


def existing_weights(path: Path, *, shipped: bool, what: str, train_command: str) -> Path:
    """``path`` when the weights file exists, else a clear error: train your own (for
    weights the user named) or reinstall (for the shipped ones)."""
    if not path.exists():
        raise ModelUnavailableError(
            f"{what} weights not found",
            input=str(path),
            fix="reinstall radinpaint (the shipped weights are missing)"
            if shipped
            else f"train weights with `{train_command}` and pass weights=PATH",
        )
    return path


def read_weights_config(path: Path) -> dict[str, Any]:
    """The JSON object in ``path`` (the config beside a ``.safetensors`` file), read
    without torch; a missing, unreadable or non-object file is a :class:`CheckpointError`."""
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(
            f"checkpoint config {path.name} not found",
            input=str(path),
            fix="keep the .json config beside its .safetensors file (same stem)",
        ) from None
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(
            f"checkpoint config is not valid JSON ({exc})", input=str(path)
        ) from exc
    if not isinstance(config, dict):
        raise CheckpointError("checkpoint config must be a JSON object", input=str(path))
    return config


def resolve_device(requested: str | None) -> str:
    """``requested``, or CUDA when available and the CPU otherwise; a CUDA device asked
    for on a machine without one is an error, not a silent fallback."""
    import torch

    device = requested or ("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InvalidInputError(
            f"device {device!r} requested but CUDA is not available",
            fix="use device='cpu' or device=None",
        )
    return device

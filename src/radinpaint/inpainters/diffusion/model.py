"""The network and the noise schedules of the ``diffusion`` backend, from diffusers blocks.

- The denoiser is a :class:`diffusers.UNet2DModel` on one grey channel at a small square
  working size (64x64 for the shipped weights), predicting the noise (epsilon). Its
  architecture is described by a JSON-ready dict (:data:`DEFAULT_UNET_CONFIG`) written into
  every checkpoint config, so a checkpoint is rebuilt from its config, never unpickled.
- Training adds noise with a :class:`diffusers.DDPMScheduler`; sampling uses a
  :class:`diffusers.DDIMScheduler` with the same betas (:func:`build_schedulers`).
- Pixels in ``[0, 1]`` are mapped to ``[-1, 1]`` for the model (:func:`to_model`,
  :func:`from_model`).

diffusers and torch are imported by the functions that need them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ...errors import InvalidInputError, MissingDependencyError

if TYPE_CHECKING:
    import torch

__all__ = [
    "DEFAULT_SCHEDULE_CONFIG",
    "DEFAULT_UNET_CONFIG",
    "build_schedulers",
    "build_unet",
    "from_model",
    "multiple_of",
    "to_model",
    "unet_kwargs",
]

DEFAULT_UNET_CONFIG: dict[str, Any] = {
    "arch": "diffusers-unet2d",
    "sample_size": 64,
    "block_out_channels": [16, 32, 64, 64],
    "layers_per_block": 1,
    "attention": "lowest",
    "norm_num_groups": 8,
    "attention_head_dim": 32,
}
"""The shipped model's architecture: ~1 M parameters, ~10 ms per 64x64 image and step on one
CPU core. ``attention``: ``"none"``, or ``"lowest"`` (self-attention at the lowest
resolution and in the middle block)."""

DEFAULT_SCHEDULE_CONFIG: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_schedule": "squaredcos_cap_v2",
    "prediction_type": "epsilon",
}
"""The noise schedule (shared by the DDPM training and the DDIM sampling schedulers)."""

_KEYS = frozenset(DEFAULT_UNET_CONFIG)


def _diffusers() -> Any:
    try:
        import diffusers
    except ImportError as exc:  # pragma: no cover - diffusers is a dependency of the extra
        raise MissingDependencyError(
            "the diffusion backend needs diffusers",
            fix="pip install 'radinpaint[diffusers]'",
        ) from exc
    return diffusers


def unet_kwargs(config: Mapping[str, Any]) -> dict[str, Any]:
    """The :class:`diffusers.UNet2DModel` keyword arguments a config describes.

    Raises:
        InvalidInputError: an unknown architecture, key or attention setting.
    """
    cfg = {**DEFAULT_UNET_CONFIG, **dict(config)}
    unknown = sorted(set(cfg) - _KEYS)
    if unknown:
        raise InvalidInputError(
            f"unknown diffusion model config key(s) {', '.join(unknown)}",
            available=sorted(_KEYS),
        )
    if cfg["arch"] != "diffusers-unet2d":
        raise InvalidInputError(
            f"unknown diffusion architecture {cfg['arch']!r}", available=["diffusers-unet2d"]
        )
    if cfg["attention"] not in ("none", "lowest"):
        raise InvalidInputError(
            f"unknown attention setting {cfg['attention']!r}", available=["none", "lowest"]
        )
    channels = [int(c) for c in cfg["block_out_channels"]]
    if not channels or any(c % int(cfg["norm_num_groups"]) for c in channels):
        raise InvalidInputError(
            f"block_out_channels {channels} must be non-empty multiples of norm_num_groups "
            f"{cfg['norm_num_groups']}"
        )
    n = len(channels)
    attn = cfg["attention"] == "lowest"
    down = ["DownBlock2D"] * (n - 1) + ["AttnDownBlock2D" if attn else "DownBlock2D"]
    up = ["AttnUpBlock2D" if attn else "UpBlock2D"] + ["UpBlock2D"] * (n - 1)
    return {
        "sample_size": int(cfg["sample_size"]),
        "in_channels": 1,
        "out_channels": 1,
        "layers_per_block": int(cfg["layers_per_block"]),
        "block_out_channels": tuple(channels),
        "down_block_types": tuple(down),
        "up_block_types": tuple(up),
        "norm_num_groups": int(cfg["norm_num_groups"]),
        "attention_head_dim": min(int(cfg["attention_head_dim"]), channels[-1]),
        "add_attention": attn,
    }


def multiple_of(config: Mapping[str, Any]) -> int:
    """Working sides must be multiples of this (``2 ** (levels - 1)``)."""
    channels = config.get("block_out_channels", DEFAULT_UNET_CONFIG["block_out_channels"])
    return int(2 ** (len(channels) - 1))


def build_unet(config: Mapping[str, Any]) -> Any:
    """A freshly initialised :class:`diffusers.UNet2DModel` for ``config`` (on the CPU)."""
    diffusers = _diffusers()
    return diffusers.UNet2DModel(**unet_kwargs(config))


def build_schedulers(schedule: Mapping[str, Any] | None = None) -> tuple[Any, Any]:
    """``(DDPMScheduler, DDIMScheduler)`` sharing the betas of ``schedule``."""
    diffusers = _diffusers()
    cfg = {**DEFAULT_SCHEDULE_CONFIG, **dict(schedule or {})}
    common = {
        "num_train_timesteps": int(cfg["num_train_timesteps"]),
        "beta_schedule": str(cfg["beta_schedule"]),
        "prediction_type": str(cfg["prediction_type"]),
        "clip_sample": False,
    }
    ddpm = diffusers.DDPMScheduler(**common)
    ddim = diffusers.DDIMScheduler(**common, set_alpha_to_one=True)
    return ddpm, ddim


def to_model(pixels: torch.Tensor) -> torch.Tensor:
    """``[0, 1]`` pixels -> the model's ``[-1, 1]``."""
    return pixels * 2.0 - 1.0


def from_model(values: torch.Tensor) -> torch.Tensor:
    """The model's ``[-1, 1]`` -> ``[0, 1]`` pixels (clamped)."""
    return ((values + 1.0) * 0.5).clamp(0.0, 1.0)

"""Sampling with the unconditional denoiser: SDEdit redraws and RePaint inpainting.

Both run a :class:`diffusers.DDIMScheduler` (deterministic steps, ``eta=0``) over a batch of
working-size images in model space (``[-1, 1]``, shape ``(B, 1, S, S)``). Every random
number of sample ``i`` comes from its own ``torch.Generator`` (seeded by the request's
variant seed), drawn in a fixed order, so a sample never depends on what else shares its
batch.

:func:`sdedit` (Meng et al., "SDEdit", ICLR 2022)
    Noise the whole image to the timestep at ``strength`` of the schedule and denoise it
    with the last ``round(strength * steps)`` of ``steps`` DDIM steps. ``strength=0``
    returns the input; ``strength=1`` starts from pure noise (a new phantom that ignores the
    input). In between, the coarse layout survives and the details are redrawn: each seed
    gives another redraw, as gpt-image-1 did in the reference study.
:func:`repaint` (Lugmayr et al., "RePaint", CVPR 2022)
    Start from pure noise; before every denoising step, replace the known region (outside
    the mask) with the original noised to the current timestep with fresh noise, so that the
    unknown region is denoised in agreement with it. ``resample`` extra "jumps" per step
    (denoise one step, re-noise it back, denoise again) let the two regions harmonise. The
    known region is replaced by the original at the end, so only the mask changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

__all__ = ["repaint", "sdedit", "start_index"]


def start_index(steps: int, strength: float) -> int:
    """Index of the first of ``steps`` DDIM timesteps that SDEdit at ``strength`` runs."""
    n = round(max(0.0, min(1.0, strength)) * steps)
    return steps - n


def _noise(shape: Sequence[int], generators: Sequence[torch.Generator]) -> torch.Tensor:
    """One ``(1, *shape[1:])`` normal draw per sample from its own generator."""
    return torch.cat([torch.randn((1, *shape[1:]), generator=g) for g in generators])


def _eps(unet: Any, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    steps = t.reshape(1).expand(x.shape[0]).to(x.device)
    return unet(x, steps).sample.float()


def sdedit(
    unet: Any,
    scheduler: Any,
    x0: torch.Tensor,
    *,
    strength: float,
    steps: int,
    generators: Sequence[torch.Generator],
) -> torch.Tensor:
    """SDEdit redraw of ``x0`` (model space, ``(B, 1, S, S)``); returns model space.

    Args:
        unet: the denoiser (epsilon prediction).
        scheduler: a DDIMScheduler (its timesteps are set here; not thread-safe).
        x0: the images to redraw.
        strength: how far into the noise schedule to go, 0 (nothing) to 1 (pure noise).
        steps: DDIM steps of the whole schedule; ``round(strength * steps)`` are run.
        generators: one per sample.
    """
    scheduler.set_timesteps(int(steps))
    timesteps = scheduler.timesteps[start_index(int(steps), strength) :]
    if len(timesteps) == 0:
        return x0.clone()
    noise = _noise(x0.shape, generators).to(x0.device)
    x = scheduler.add_noise(x0, noise, timesteps[:1].to(x0.device))
    for t in timesteps:
        x = scheduler.step(_eps(unet, x, t), t, x, eta=0.0).prev_sample
    return x


def _renoise(
    scheduler: Any, x: torch.Tensor, t_from: int, t_to: int, noise: torch.Tensor
) -> torch.Tensor:
    """Forward-noise ``x`` from timestep ``t_from`` (-1: clean) to ``t_to > t_from``."""
    acp = scheduler.alphas_cumprod
    a_from = acp[t_from] if t_from >= 0 else torch.tensor(1.0)
    ratio = (acp[t_to] / a_from).to(x.device)
    return ratio.sqrt() * x + (1.0 - ratio).sqrt() * noise


def repaint(
    unet: Any,
    scheduler: Any,
    x0: torch.Tensor,
    mask: torch.Tensor,
    *,
    steps: int,
    resample: int,
    generators: Sequence[torch.Generator],
) -> torch.Tensor:
    """RePaint inpainting of ``x0`` where ``mask`` is 1; returns model space, equal to
    ``x0`` wherever ``mask`` is 0.

    Args:
        unet: the denoiser (epsilon prediction).
        scheduler: a DDIMScheduler (its timesteps are set here; not thread-safe).
        x0: the images (model space, ``(B, 1, S, S)``).
        mask: float ``(B, 1, S, S)``, 1 = to fill.
        steps: DDIM steps over the whole schedule.
        resample: extra jumps (re-noise one step back and denoise again) per step.
        generators: one per sample.
    """
    scheduler.set_timesteps(int(steps))
    timesteps = [int(t) for t in scheduler.timesteps]
    device = x0.device
    known = 1.0 - mask
    x = _noise(x0.shape, generators).to(device)
    for i, t in enumerate(timesteps):
        t_prev = timesteps[i + 1] if i + 1 < len(timesteps) else -1
        t_tensor = torch.tensor(t)
        for r in range(int(resample) + 1):
            noised = scheduler.add_noise(
                x0, _noise(x0.shape, generators).to(device), t_tensor.reshape(1).to(device)
            )
            x = mask * x + known * noised
            prev = scheduler.step(_eps(unet, x, t_tensor), t, x, eta=0.0).prev_sample
            if r < int(resample) and t_prev >= 0:
                x = _renoise(scheduler, prev, t_prev, t, _noise(x0.shape, generators).to(device))
            else:
                x = prev
    return mask * x + known * x0

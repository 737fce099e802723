"""Reward-weighted fine-tuning of the inpainting GAN's generator.

Starting from trained weights (the shipped phantom weights by default), each step takes the
same self-supervised batch :func:`~radinpaint.inpainters.gan.train.train_gan` would (random
crops with random holes, :func:`~radinpaint.inpainters.gan.data.sample_batch`), runs the
generator, and scores each crop's fill with a reward model trained on ratings
(:mod:`radinpaint.reward`): ``p_i`` = P(acceptable) of the composite ``comp_i`` beside the
crop ``x_i`` and its hole ``m_i``. The generator's loss is

``sum_i w_i * L1_hole_i / |holes| * hole_weight + sum_i w_i * L1_valid_i / |valid|
* valid_weight + reward_weight * mean_i(-log p_i)``

where the L1 sums run over each sample's pixels and are pooled over the batch exactly as
``train_gan`` pools them, and the per-sample weights come from the reward (as Sun et al.,
NeurIPS 2023, weight the fine-tuning loss of generated samples by expert feedback):

- ``weighting="reward"``: ``w_i = 1 + strength * (1 - p_i)``, normalised to mean 1 over
  the batch: crops whose fill the reward model rejects weigh more;
- ``weighting="uniform"``: ``w_i = 1``.

With uniform weights and ``reward_weight=0`` a step is the plain training step without
the critic (``train_gan(..., adv_weight=0)``); with all weights 0 and ``reward_weight=0``
the generator does not move. The critic is not used: the shipped weights do not include
one, and a fresh critic's signal would be noise. Adam with ``train_gan``'s betas. The
written weights config records the base weights' hash, the reward model's hash and the
options, and the run is deterministic for a seed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ...errors import InvalidInputError
from ...records import Case, Radiograph

if TYPE_CHECKING:
    import torch

    from ...reward.model import RewardModel

__all__ = ["WEIGHTINGS", "finetune_gan", "reward_scores", "weighted_generator_loss"]

WEIGHTINGS = ("reward", "uniform")
"""How the per-sample weights are made."""


def reward_scores(
    model: RewardModel, comp: torch.Tensor, x: torch.Tensor, m: torch.Tensor
) -> torch.Tensor:
    """Logits of P(acceptable) of each composite ``comp`` (``(B, 1, H, W)``) beside its crop
    ``x`` and hole ``m``; differentiable in ``comp``."""
    import torch

    from ...reward.samples import views_tensor, windows_of

    views = []
    for i in range(comp.shape[0]):
        hole = m[i, 0].detach().cpu().numpy() > 0.5
        whole = (0, 0, min(hole.shape))
        window = windows_of(hole) if hole.any() else (whole, whole)
        views.append(views_tensor(comp[i, 0], x[i, 0], m[i, 0], window))
    return model.logits(torch.stack(views))


def weighted_generator_loss(
    gen: torch.Tensor,
    x: torch.Tensor,
    m: torch.Tensor,
    weights: torch.Tensor,
    *,
    hole_weight: float = 1.0,
    valid_weight: float = 0.5,
) -> torch.Tensor:
    """The reward-weighted L1 terms of the module docs (``weights``: one per sample)."""
    w = weights.reshape(-1, 1, 1, 1)
    err = (gen - x).abs()
    l1_hole = (w * err * m).sum() / m.sum().clamp_min(1.0)
    l1_valid = (w * err * (1.0 - m)).sum() / (1.0 - m).sum().clamp_min(1.0)
    return hole_weight * l1_hole + valid_weight * l1_valid


def finetune_gan(
    data: str | os.PathLike[str] | Iterable[Case | Radiograph | np.ndarray],
    *,
    reward: str | os.PathLike[str],
    out: str | os.PathLike[str],
    weights: str | os.PathLike[str] | None = None,
    steps: int = 200,
    batch_size: int = 8,
    crop: int = 96,
    lr: float = 5e-5,
    weighting: str = "reward",
    strength: float = 1.0,
    reward_weight: float = 0.05,
    hole_weight: float = 1.0,
    valid_weight: float = 0.5,
    seed: int = 0,
    device: str | None = "cpu",
    num_threads: int | None = None,
    progress: bool = True,
    sample_weights: Sequence[float] | None = None,
) -> Path:
    """Fine-tune the GAN's generator with reward-weighted losses; returns the weights path.

    Args:
        data: radiographs to draw crops from (a folder, a label table, cases, arrays).
        reward: the reward model's ``.safetensors`` (from ``radinpaint train-reward``).
        out: the fine-tuned weights to write (``.safetensors``, its ``.json`` beside it).
        weights: the weights to start from (default: the shipped phantom weights).
        steps: optimisation steps.
        batch_size: crops per step.
        crop: crop side in pixels (a multiple of the generator's ``2 ** depth``).
        lr: Adam's learning rate.
        weighting: ``"reward"`` or ``"uniform"`` (see the module docs).
        strength: how much a rejected fill's weight grows (``weighting="reward"``).
        reward_weight: weight of the ``-log P(acceptable)`` term (0: none).
        hole_weight: weight of the L1 term inside the holes.
        valid_weight: weight of the L1 term outside the holes.
        seed: seed of crops and holes: step ``t`` draws the batch ``train_gan`` draws at
            step ``t`` with this seed.
        device: ``"cpu"``, ``"cuda"`` or None (CUDA when available).
        num_threads: ``torch.set_num_threads`` for the run (None leaves it).
        progress: show a progress bar.
        sample_weights: fixed per-sample weights (``batch_size`` values) overriding
            ``weighting``, for experiments and tests.

    Raises:
        InvalidInputError: bad options or no data.
        CheckpointError: unreadable weights or reward model.
    """
    import attrs
    import torch
    from tqdm.auto import tqdm

    from ...fingerprint import file_sha256
    from ...reward.model import load_reward
    from .checkpoint import load_generator, save_generator
    from .data import load_training_images, sample_batch
    from .inference import SHIPPED_WEIGHTS
    from .model import multiple_of
    from .train import DEFAULT_INFERENCE, TrainConfig, _resolve_device

    if weighting not in WEIGHTINGS:
        raise InvalidInputError(f"unknown weighting {weighting!r}", available=WEIGHTINGS)
    if steps < 0 or batch_size < 1 or not lr > 0 or strength < 0 or reward_weight < 0:
        raise InvalidInputError(
            "fine-tuning needs steps >= 0, batch_size >= 1, lr > 0, strength >= 0 and "
            f"reward_weight >= 0 (got {steps}, {batch_size}, {lr}, {strength}, {reward_weight})"
        )
    if sample_weights is not None and len(sample_weights) != batch_size:
        raise InvalidInputError(
            f"sample_weights has {len(sample_weights)} values for batches of {batch_size}"
        )
    out_path = Path(out)
    if out_path.suffix != ".safetensors":
        raise InvalidInputError(
            f"weights file must end in .safetensors, got {out_path.name}", input=str(out_path)
        )
    base = Path(weights) if weights is not None else SHIPPED_WEIGHTS
    if num_threads is not None:
        torch.set_num_threads(int(num_threads))
    device = _resolve_device(device)
    G, cfg = load_generator(base)
    multiple = multiple_of(cfg["generator"])
    if crop < 2 * multiple or crop % multiple:
        raise InvalidInputError(
            f"crop {crop} must be a multiple of {multiple} and at least {2 * multiple}"
        )
    model = load_reward(reward)
    for p in model.net.parameters():
        p.requires_grad_(False)
    G = G.to(device)
    model.net.to(device)
    defaults = TrainConfig()
    opt = torch.optim.Adam(G.parameters(), lr=lr, betas=defaults.betas)
    images = load_training_images(data, progress=progress) if steps else []
    fixed = None
    if sample_weights is not None:
        fixed = torch.tensor([float(w) for w in sample_weights], dtype=torch.float32)
    history: list[dict[str, float]] = []
    G.train()
    t0 = time.perf_counter()
    bar = tqdm(total=steps, desc="finetune-gan", disable=not progress)
    for step in range(steps):
        x_np, m_np = sample_batch(
            images,
            seed=seed,
            step=step,
            batch_size=batch_size,
            crop=crop,
            scale_range=defaults.scale_range,
            centre_bias=defaults.centre_bias,
            hole_kinds=defaults.hole_kinds,
        )
        x = torch.from_numpy(x_np).unsqueeze(1).to(device)
        m = torch.from_numpy(m_np.astype(np.float32)).unsqueeze(1).to(device)
        gen = G(x, m)
        comp = gen * m + x * (1.0 - m)
        scored = reward_weight > 0 or (fixed is None and weighting == "reward")
        logits = reward_scores(model, comp, x, m) if scored else None
        if fixed is not None:
            w = fixed.to(device)
        elif weighting == "reward" and logits is not None:
            raw = 1.0 + strength * (1.0 - torch.sigmoid(logits.detach()))
            w = raw / raw.mean()
        else:
            w = torch.ones(batch_size, device=device)
        loss = weighted_generator_loss(
            gen, x, m, w, hole_weight=hole_weight, valid_weight=valid_weight
        )
        if reward_weight > 0 and logits is not None:
            loss = loss + reward_weight * torch.nn.functional.softplus(-logits).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        p_mean = (
            float(torch.sigmoid(logits.detach()).mean()) if logits is not None else float("nan")
        )
        history.append({"step": step + 1, "loss": float(loss.detach()), "p_acceptable": p_mean})
        bar.update(1)
    bar.close()
    G.eval()
    training = {
        "finetune": {
            "method": "reward-weighted",
            "base_weights": base.name,
            "base_sha256": file_sha256(base),
            "reward": Path(reward).name,
            "reward_sha256": file_sha256(reward),
            "steps": steps,
            "batch_size": batch_size,
            "crop": crop,
            "lr": lr,
            "weighting": "fixed" if fixed is not None else weighting,
            "strength": strength,
            "reward_weight": reward_weight,
            "hole_weight": hole_weight,
            "valid_weight": valid_weight,
            "seed": seed,
            "images": len(images),
            "seconds": round(time.perf_counter() - t0, 2),
            "first": history[0] if history else None,
            "last": history[-1] if history else None,
        },
        "base": cfg.get("training", {}),
        "config": attrs.asdict(defaults) | {"generator": cfg["generator"]},
    }
    return save_generator(
        out_path,
        G.cpu(),
        cfg["generator"],
        inference=cfg.get("inference", DEFAULT_INFERENCE),
        training=training,
    )

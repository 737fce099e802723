"""Reward-weighted fine-tuning of the diffusion denoiser.

As Sun et al. (NeurIPS 2023) fine-tune a generative model on its own samples weighted by
expert feedback, each *round* of :func:`finetune_diffusion`:

1. generates samples with the current model: every training case (with its artifact
   mask) is inpainted ``variants`` times by the ``diffusion`` inpainter in the chosen
   ``mode`` (``"redraw"``: SDEdit of the whole image; ``"inpaint"``: RePaint of the mask),
   with the current weights;
2. scores each output with a reward model trained on ratings (:mod:`radinpaint.reward`):
   ``p_i`` = P(acceptable) of the output beside its original and mask, exactly as the
   reward model reads it;
3. turns the scores into per-sample weights:

   - ``weighting="rwr"`` (reward-weighted regression): ``w_i = exp(p_i / beta)``,
     normalised to mean 1 over the round's samples (small ``beta``: the best samples
     dominate; large ``beta``: nearly uniform);
   - ``weighting="uniform"``: ``w_i = 1`` (plain continued training on the model's own
     samples: the control);
   - ``sample_weights``: fixed weights (e.g. ratings), normalised to mean 1 unless all
     zero;

4. takes ``steps`` steps of the denoising loss on the samples placed in the working square
   (:func:`~radinpaint.inpainters.diffusion.train.denoising_loss`, the training loss of
   :func:`~radinpaint.inpainters.diffusion.train.train_diffusion`, each sample's squared
   error times its weight): step ``k`` draws ``batch_size`` samples with
   ``numpy.default_rng(derive_seed(seed, "finetune-batch", round, k))`` and the noise and
   timesteps with a torch generator seeded ``derive_seed(seed, "finetune-noise", round,
   k)``; AdamW without weight decay, the gradient norm clipped as in training.

The weights are fine-tuned directly (no moving average), so with all weights zero the
model does not move, and with uniform weights a step is the plain training step. The
written weights config keeps the base model's sections and records, under
``training.finetune``, the base weights' and the reward model's hashes, the options and the
mean P(acceptable) of each round's samples. The run is deterministic for a seed on the
CPU.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ...errors import InvalidInputError
from ...records import Case, InpaintRequest, InpaintResult, Mask
from ...seeds import derive_seed

if TYPE_CHECKING:
    import torch

    from ...reward.model import RewardModel

__all__ = ["WEIGHTINGS", "finetune_diffusion", "reward_weights", "weighted_step"]

WEIGHTINGS = ("rwr", "uniform")
"""How the per-sample weights are made from the reward (see the module docs)."""


def reward_weights(p: np.ndarray, *, weighting: str = "rwr", beta: float = 0.1) -> np.ndarray:
    """Per-sample weights (mean 1) from P(acceptable) ``p`` (see the module docs).

    Raises:
        InvalidInputError: an unknown weighting or ``beta <= 0``.
    """
    if weighting not in WEIGHTINGS:
        raise InvalidInputError(f"unknown weighting {weighting!r}", available=WEIGHTINGS)
    p = np.asarray(p, np.float64)
    if weighting == "uniform" or len(p) == 0:
        return np.ones(len(p))
    if not beta > 0:
        raise InvalidInputError(f"beta must be > 0, got {beta}")
    w = np.exp((p - p.max()) / beta)  # shifted: the same after normalising, never overflows
    return np.asarray(w / w.mean())


def _normalised(weights: np.ndarray) -> np.ndarray:
    w = np.asarray(weights, np.float64)
    if (w < 0).any() or not np.isfinite(w).all():
        raise InvalidInputError("sample weights must be finite and >= 0")
    mean = float(w.mean()) if len(w) else 0.0
    return w / mean if mean > 0 else w


def weighted_step(
    unet: Any,
    opt: torch.optim.Optimizer,
    ddpm: Any,
    x0: torch.Tensor,
    noise: torch.Tensor,
    t: torch.Tensor,
    weights: torch.Tensor,
    *,
    grad_clip: float = 1.0,
    amp: bool = False,
) -> float:
    """One optimisation step of the weighted denoising loss; returns the loss."""
    import torch

    from .train import denoising_loss

    loss = denoising_loss(unet, ddpm, x0, noise, t, weights=weights, amp=amp)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(unet.parameters(), grad_clip)
    opt.step()
    return float(loss.detach())


def _score(
    model: RewardModel,
    requests: Sequence[InpaintRequest],
    results: Sequence[InpaintResult],
) -> np.ndarray:
    from ...reward.samples import RatedSample

    samples = [
        RatedSample(output=r.image.pixels, original=q.image.pixels, mask=q.mask.array)
        for q, r in zip(requests, results, strict=True)
    ]
    p = [model.predict(samples[i : i + 64]) for i in range(0, len(samples), 64)]
    return np.concatenate(p) if p else np.zeros(0)


def finetune_diffusion(
    data: Sequence[Case],
    *,
    reward: str | os.PathLike[str],
    out: str | os.PathLike[str],
    masks: Sequence[Mask] | None = None,
    weights: str | os.PathLike[str] | None = None,
    mode: str = "redraw",
    strength: float | None = None,
    rounds: int = 2,
    variants: int = 4,
    steps: int = 100,
    batch_size: int = 16,
    lr: float = 5e-4,
    weighting: str = "rwr",
    beta: float = 0.1,
    grad_clip: float = 1.0,
    seed: int = 0,
    device: str | None = "cpu",
    num_threads: int | None = None,
    progress: bool = True,
    sample_weights: Sequence[float] | None = None,
) -> Path:
    """Fine-tune the diffusion denoiser on its own reward-weighted samples; returns the
    weights path (see the module docs).

    Args:
        data: the training cases.
        reward: the reward model's ``.safetensors`` (from ``radinpaint train-reward``).
        out: the weights to write (``.safetensors``, its ``.json`` beside it).
        masks: one mask per case (default: each case's ``artifact_mask``); cases with an
            empty or no mask are left out.
        weights: the weights to start from (default: the shipped phantom weights).
        mode: the inpainter mode that generates the samples (``"redraw"`` or
            ``"inpaint"``): the one the reward model rated.
        strength: redraw strength (None: the weights' default).
        rounds: generate-score-train rounds.
        variants: samples per case and round.
        steps: optimisation steps per round.
        batch_size: samples per step.
        lr: AdamW's learning rate (constant).
        weighting: ``"rwr"`` or ``"uniform"``.
        beta: the temperature of ``"rwr"``.
        grad_clip: gradient norm clip (0: none).
        seed: seed of the samples, the batches and the noise.
        device: ``"cpu"``, ``"cuda"`` or None (CUDA when available).
        num_threads: ``torch.set_num_threads`` for the run (None leaves it).
        progress: show a progress bar.
        sample_weights: fixed weights, one per sample of a round (cases x variants, case
            major), overriding ``weighting``; for experiments and tests.

    Raises:
        InvalidInputError: bad options, or no case with a mask.
        CheckpointError: unreadable weights or reward model.
    """
    import torch
    from tqdm.auto import tqdm

    from ...fingerprint import file_sha256
    from ...reward.model import load_reward
    from .checkpoint import load_unet, save_unet
    from .inference import MODES, SHIPPED_WEIGHTS, DiffusionInpainter
    from .model import build_schedulers, to_model
    from .train import _resolve_device, working_image

    if weighting not in WEIGHTINGS:
        raise InvalidInputError(f"unknown weighting {weighting!r}", available=WEIGHTINGS)
    if mode not in MODES:
        raise InvalidInputError(f"unknown mode {mode!r}", available=MODES)
    if min(rounds, steps) < 0 or min(variants, batch_size) < 1 or not lr > 0 or not beta > 0:
        raise InvalidInputError(
            "fine-tuning needs rounds >= 0, steps >= 0, variants >= 1, batch_size >= 1, "
            f"lr > 0 and beta > 0 (got {rounds}, {steps}, {variants}, {batch_size}, {lr}, "
            f"{beta})"
        )
    out_path = Path(out)
    if out_path.suffix != ".safetensors":
        raise InvalidInputError(
            f"weights file must end in .safetensors, got {out_path.name}", input=str(out_path)
        )
    cases = list(data)
    if masks is None:
        masks = [c.artifact_mask for c in cases]  # type: ignore[misc]
    if len(masks) != len(cases):
        raise InvalidInputError(f"{len(masks)} masks for {len(cases)} cases")
    pairs = [(c, m) for c, m in zip(cases, masks, strict=True) if m is not None and not m.is_empty]
    if not pairs:
        raise InvalidInputError(
            "no training case has an artifact mask", fix="pass cases with masks, or masks="
        )
    n_samples = len(pairs) * variants
    fixed = None
    if sample_weights is not None:
        if len(sample_weights) != n_samples:
            raise InvalidInputError(
                f"sample_weights has {len(sample_weights)} values for {n_samples} samples "
                f"per round ({len(pairs)} cases x {variants} variants)"
            )
        fixed = _normalised(np.asarray(sample_weights, np.float64))
    base = Path(weights) if weights is not None else SHIPPED_WEIGHTS
    if num_threads is not None:
        torch.set_num_threads(int(num_threads))
    device = _resolve_device(device)
    model = load_reward(reward)
    unet, cfg = load_unet(base)
    unet = unet.to(device)
    ddpm, _ = build_schedulers(cfg["schedule"])
    size = int(cfg["unet"]["sample_size"])
    placement = {k: v for k, v in cfg["placement"].items() if k != "size"}
    timesteps = int(cfg["schedule"].get("num_train_timesteps", 1000))
    opt = torch.optim.AdamW(unet.parameters(), lr=lr, weight_decay=0.0)
    amp = device.startswith("cuda")
    history: list[dict[str, Any]] = []
    t0 = time.perf_counter()

    def save(path: Path, extra: dict[str, Any] | None = None) -> Path:
        state = {k: v.detach().cpu() for k, v in unet.state_dict().items()}
        return save_unet(
            path,
            state,
            unet=cfg["unet"],
            schedule=cfg["schedule"],
            placement=cfg["placement"],
            inference=cfg.get("inference") or {},
            training={"base": cfg.get("training"), **(extra or {})},
        )

    bar = tqdm(total=rounds * steps, desc="finetune-diffusion", disable=not progress)
    with tempfile.TemporaryDirectory(prefix="radinpaint-finetune-") as tmp:
        for r in range(rounds):
            current = save(Path(tmp) / f"round{r}.safetensors")
            sampler = DiffusionInpainter(
                mode=mode, strength=strength, weights=str(current), device=device
            )
            requests = [
                InpaintRequest(
                    image=c.image,
                    mask=m,
                    seed=derive_seed(seed, "finetune-samples", r),
                    variant=j,
                    case_id=c.id,
                )
                for c, m in pairs
                for j in range(variants)
            ]
            results = sampler.inpaint(requests)
            p = _score(model, requests, results)
            w = fixed if fixed is not None else reward_weights(p, weighting=weighting, beta=beta)
            images = np.stack(
                [working_image(res.image.pixels, size, placement) for res in results]
            ).astype(np.float32)
            data_t = torch.from_numpy(images)
            w_t = torch.from_numpy(w.astype(np.float32))
            unet.train()
            losses = []
            for k in range(steps):
                rng = np.random.default_rng(derive_seed(seed, "finetune-batch", r, k))
                index = torch.from_numpy(rng.integers(0, len(images), size=batch_size))
                x0 = to_model(data_t[index].unsqueeze(1)).to(device)
                gen = torch.Generator().manual_seed(derive_seed(seed, "finetune-noise", r, k))
                noise = torch.randn(x0.shape, generator=gen).to(device)
                t = torch.randint(0, timesteps, (batch_size,), generator=gen).to(device)
                losses.append(
                    weighted_step(
                        unet,
                        opt,
                        ddpm,
                        x0,
                        noise,
                        t,
                        w_t[index].to(device),
                        grad_clip=grad_clip,
                        amp=amp,
                    )
                )
                bar.update(1)
            unet.eval()
            history.append(
                {
                    "round": r,
                    "samples": len(results),
                    "p_acceptable": round(float(p.mean()), 4),
                    "weight_max": round(float(w.max()), 4),
                    "loss": round(float(np.mean(losses)), 5) if losses else None,
                }
            )
            bar.set_postfix(p=f"{p.mean():.3f}")
    bar.close()
    finetune = {
        "method": "reward-weighted regression on the model's own samples",
        "base_weights": base.name,
        "base_sha256": file_sha256(base),
        "reward": Path(reward).name,
        "reward_sha256": file_sha256(reward),
        "mode": mode,
        "strength": strength,
        "rounds": rounds,
        "variants": variants,
        "steps": steps,
        "batch_size": batch_size,
        "lr": lr,
        "weighting": "fixed" if fixed is not None else weighting,
        "beta": beta,
        "grad_clip": grad_clip,
        "seed": seed,
        "cases": len(pairs),
        "device": device,
        "seconds": round(time.perf_counter() - t0, 2),
        "history": history,
    }
    return save(out_path, {"finetune": finetune})

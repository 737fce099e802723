"""Training the diffusion denoiser on radiographs (DDPM, epsilon prediction, resumable).

Every training image (a case's artifact-free ``clean_image`` when it has one) is placed in
the working square exactly as inference places it (:func:`working_image`: letterboxed,
aspect kept, padded by repeating the edge) and kept in memory (64x64 float32: 16 KB each).

Step ``t`` draws ``batch_size`` images with ``numpy.default_rng(derive_seed(seed, "batch",
t))``, the noise and the timesteps with a torch generator seeded ``derive_seed(seed,
"noise", t)``, noises the images with the :class:`diffusers.DDPMScheduler`, and minimises the
mean squared error of the predicted noise with AdamW (linear warm-up, then a constant rate;
gradient norm clipped to 1). An exponential moving average of the weights (decay
``min(ema_decay, (1 + t) / (10 + t))``) is what the weights file holds. Nothing else is
random, and everything that changes is in the training state, so a run resumed from its
state is bit-identical to an uninterrupted one on the CPU. On CUDA the forward pass runs
under bfloat16 autocast (AMP).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from ...errors import CheckpointError, InvalidInputError
from ...records import Case, Radiograph
from ...seeds import derive_seed

__all__ = [
    "DEFAULT_INFERENCE",
    "DEFAULT_PLACEMENT",
    "DiffusionTrainConfig",
    "denoising_loss",
    "load_working_images",
    "train_diffusion",
    "working_image",
]

DEFAULT_PLACEMENT: dict[str, Any] = {"mode": "letterbox", "pad": "edge"}
"""How an image is put into the working square (the size is the model's ``sample_size``)."""

DEFAULT_INFERENCE: dict[str, Any] = {
    "strength": 0.5,
    "steps": 10,
    "inpaint_steps": 10,
    "resample": 1,
}
"""Inference defaults written into every weights config (see DiffusionInpainter)."""


def _pair(value: Sequence[float]) -> tuple[float, float]:
    a, b = (float(v) for v in value)
    return a, b


@attrs.frozen
class DiffusionTrainConfig:
    """Everything that defines a training run except the number of steps.

    Resuming checks that the saved configuration equals the requested one.
    """

    seed: int = 0
    batch_size: int = 16
    lr: float = 1e-3
    warmup: int = 100
    weight_decay: float = 0.0
    betas: tuple[float, float] = attrs.field(default=(0.9, 0.999), converter=_pair)
    ema_decay: float = 0.995
    grad_clip: float = 1.0
    unet: dict[str, Any] = attrs.field(factory=dict)
    schedule: dict[str, Any] = attrs.field(factory=dict)
    placement: dict[str, Any] = attrs.field(factory=lambda: dict(DEFAULT_PLACEMENT))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (tuples become lists)."""
        d = attrs.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def working_image(pixels: np.ndarray, size: int, placement: dict[str, Any]) -> np.ndarray:
    """A full-size ``(H, W)`` image placed in the ``size`` x ``size`` working square."""
    from ..geometry import plan

    p = plan(
        pixels.shape,
        size=(size, size),
        mode=str(placement.get("mode", "letterbox")),
        pad=str(placement.get("pad", "edge")),
    )
    return p.to_backend(pixels)


def _pixels(item: Any, index: int) -> np.ndarray:
    if isinstance(item, Case):
        image = item.clean_image if item.clean_image is not None else item.image
        return image.pixels
    if isinstance(item, Radiograph):
        return item.pixels
    if isinstance(item, np.ndarray) and item.ndim == 2:
        arr = np.asarray(item)
        if np.issubdtype(arr.dtype, np.integer):
            return Radiograph.from_uint(arr).pixels
        return Radiograph.from_float(arr).pixels
    raise InvalidInputError(
        f"cannot train on item {index} of type {type(item).__name__}",
        fix="pass Cases, Radiographs, (H, W) arrays, or a folder path",
    )


def load_working_images(
    data: str | os.PathLike[str] | Iterable[Case | Radiograph | np.ndarray],
    *,
    size: int,
    placement: dict[str, Any] | None = None,
    progress: bool = False,
) -> np.ndarray:
    """Every training image in the working square: float32 ``(N, size, size)`` in [0, 1].

    Args:
        data: a folder or label table (opened with :func:`radinpaint.datasets.open_dataset`),
            or any iterable of cases (their ``clean_image`` when present), radiographs or
            ``(H, W)`` arrays.
        size: the working side.
        placement: ``{"mode": ..., "pad": ...}`` (default :data:`DEFAULT_PLACEMENT`).
        progress: show a progress bar while reading.

    Raises:
        InvalidInputError: nothing to train on, or an item of an unknown type.
    """
    from tqdm.auto import tqdm

    if isinstance(data, (str, os.PathLike)):
        from ...datasets import open_dataset

        data = open_dataset(Path(data))
    how = dict(placement or DEFAULT_PLACEMENT)
    items = tqdm(data, desc="reading training images", disable=not progress, leave=False)
    out = [working_image(_pixels(item, i), size, how) for i, item in enumerate(items)]
    if not out:
        raise InvalidInputError("no training images", fix="pass at least one radiograph")
    return np.stack(out).astype(np.float32)


def denoising_loss(
    unet: Any,
    ddpm: Any,
    x0: Any,
    noise: Any,
    t: Any,
    *,
    weights: Any = None,
    amp: bool = False,
) -> Any:
    """The training loss: mean squared error of the noise the denoiser predicts.

    Args:
        unet: the denoiser.
        ddpm: the :class:`diffusers.DDPMScheduler` that noises ``x0``.
        x0: clean images in the model's ``[-1, 1]``, ``(B, 1, S, S)``.
        noise: the noise added, same shape.
        t: the timesteps, ``(B,)``.
        weights: None (every image alike), or one weight per image: the loss is then the
            mean over the batch of ``weights[i]`` times image ``i``'s mean squared error
            (weights of 1 give the unweighted loss).
        amp: run the forward pass under bfloat16 autocast (CUDA).
    """
    import torch

    noisy = ddpm.add_noise(x0, noise, t)
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
        pred = unet(noisy, t).sample
    if weights is None:
        return torch.nn.functional.mse_loss(pred.float(), noise)
    per_image = ((pred.float() - noise) ** 2).mean(dim=(1, 2, 3))
    return (per_image * weights.to(per_image)).mean()


def _resolve_device(device: str | None) -> str:
    import torch

    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InvalidInputError(
            f"device {device!r} requested but CUDA is not available",
            fix="use device='cpu' or install a CUDA build of torch",
        )
    return device


def _check_state_config(meta: dict[str, Any], config: DiffusionTrainConfig, where: Path) -> None:
    from .checkpoint import STATE_FORMAT

    if meta.get("format") != STATE_FORMAT:
        raise CheckpointError(
            f"{where.name} is not a diffusion training state (format {meta.get('format')!r})",
            input=str(where),
            fix="pass another --out, or delete the state files to start afresh",
        )
    saved = meta.get("config", {})
    if saved != config.to_dict():
        wanted = config.to_dict()
        diff = sorted(k for k in set(saved) | set(wanted) if saved.get(k) != wanted.get(k))
        raise CheckpointError(
            f"saved training state has another configuration ({', '.join(diff)} differ)",
            input=str(where),
            fix="pass the same options as the saved run, --no-resume (resume=False) to start "
            "afresh, or another --out",
        )


def train_diffusion(
    data: str | os.PathLike[str] | Iterable[Case | Radiograph | np.ndarray] | np.ndarray,
    *,
    out: str | os.PathLike[str],
    steps: int = 3000,
    batch_size: int = 16,
    seed: int = 0,
    device: str | None = "cpu",
    resume: bool = True,
    progress: bool = True,
    checkpoint_every: int = 250,
    num_threads: int | None = None,
    **options: Any,
) -> Path:
    """Train the diffusion denoiser; returns the path of the weights file.

    Args:
        data: a folder (or label table) of radiographs, cases / radiographs / arrays, or an
            already placed ``(N, S, S)`` float array (S = the model's ``sample_size``).
        out: the weights file to write (``.safetensors``; its ``.json`` config goes beside
            it, the training state as ``.state.safetensors`` / ``.state.json``).
        steps: total number of steps (a resumed run stops at the same total).
        batch_size: images per step.
        seed: the seed of initialisation, batches and noise.
        device: ``"cpu"``, ``"cuda"`` or ``None`` (CUDA when available; bfloat16 AMP).
        resume: continue from the saved training state beside ``out`` when there is one.
        progress: show a tqdm progress bar.
        checkpoint_every: save weights and state every this many steps (and at the end).
        num_threads: ``torch.set_num_threads`` for this run (None leaves it).
        **options: any other :class:`DiffusionTrainConfig` field (``lr``, ``ema_decay``,
            ``unet`` (architecture, e.g. ``{"sample_size": 64}``), ``schedule``, ...).

    Raises:
        InvalidInputError: bad sizes or options, or no data.
        CheckpointError: the saved state does not match this configuration.
    """
    import torch
    from tqdm.auto import tqdm

    from ..gan.checkpoint import (
        check_tensors,
        optimizer_from_tensors,
        optimizer_to_tensors,
        read_json,
        read_tensors,
        write_json,
        write_tensors,
    )
    from .checkpoint import STATE_FORMAT, save_unet, state_paths
    from .model import (
        DEFAULT_SCHEDULE_CONFIG,
        DEFAULT_UNET_CONFIG,
        build_schedulers,
        build_unet,
        multiple_of,
        to_model,
    )

    fields = {f.name for f in attrs.fields(DiffusionTrainConfig)}
    unknown = sorted(set(options) - fields)
    if unknown:
        raise InvalidInputError(
            f"unknown training option(s) {', '.join(unknown)}", available=sorted(fields)
        )
    options["unet"] = {**DEFAULT_UNET_CONFIG, **dict(options.get("unet") or {})}
    options["schedule"] = {**DEFAULT_SCHEDULE_CONFIG, **dict(options.get("schedule") or {})}
    config = DiffusionTrainConfig(seed=seed, batch_size=batch_size, **options)
    if steps < 0:
        raise InvalidInputError(f"steps must be >= 0, got {steps}")
    if batch_size < 1:
        raise InvalidInputError(f"batch_size must be >= 1, got {batch_size}")
    size = int(config.unet["sample_size"])
    mult = multiple_of(config.unet)
    if size < 2 * mult or size % mult:
        raise InvalidInputError(
            f"sample_size {size} must be a multiple of {mult} and at least {2 * mult}"
        )
    device = _resolve_device(device)
    if num_threads is not None:
        torch.set_num_threads(int(num_threads))
    out_path = Path(out)
    if out_path.suffix != ".safetensors":
        raise InvalidInputError(
            f"weights file must end in .safetensors, got {out_path.name}", input=str(out_path)
        )
    state_tensors_path, state_json_path = state_paths(out_path)

    torch.manual_seed(derive_seed(seed, "init"))
    unet = build_unet(config.unet).to(device)
    ema = {k: v.detach().clone().float() for k, v in unet.state_dict().items()}
    opt = torch.optim.AdamW(
        unet.parameters(), lr=config.lr, betas=config.betas, weight_decay=config.weight_decay
    )
    ddpm, _ = build_schedulers(config.schedule)
    start, history = 0, []

    if resume and state_json_path.exists():
        meta = read_json(state_json_path)
        _check_state_config(meta, config, state_json_path)
        tensors = read_tensors(state_tensors_path)
        expected = {k: v.shape for k, v in unet.state_dict().items()}
        u_sd = {k[2:]: v for k, v in tensors.items() if k.startswith("U.")}
        e_sd = {k[2:]: v for k, v in tensors.items() if k.startswith("E.")}
        check_tensors(expected, u_sd, what=f"{state_tensors_path} (weights)")
        check_tensors(expected, e_sd, what=f"{state_tensors_path} (moving average)")
        unet.load_state_dict(u_sd)
        ema = {k: v.to(device).float() for k, v in e_sd.items()}
        optimizer_from_tensors(opt, tensors, meta["optimizer"], "opt")
        start = int(meta["step"])
        history = list(meta.get("history", []))

    images = np.zeros((0, size, size), np.float32)
    if start < steps:
        if isinstance(data, np.ndarray) and data.ndim == 3:
            images = np.ascontiguousarray(data, dtype=np.float32)
            if images.shape[1:] != (size, size):
                raise InvalidInputError(
                    f"placed training images are {images.shape[1:]}, the model works at "
                    f"{(size, size)}",
                    fix="pass images or a dataset instead (they are placed for you)",
                )
        else:
            images = load_working_images(
                data, size=size, placement=config.placement, progress=progress
            )
    data_t = torch.from_numpy(images)
    n_images = len(images)

    def save(step: int) -> None:
        tensors = {f"U.{k}": v for k, v in unet.state_dict().items()}
        tensors.update({f"E.{k}": v for k, v in ema.items()})
        t_opt, m_opt = optimizer_to_tensors(opt, "opt")
        tensors.update(t_opt)
        write_tensors(state_tensors_path, tensors)
        write_json(
            state_json_path,
            {
                "format": STATE_FORMAT,
                "format_version": 1,
                "step": step,
                "config": config.to_dict(),
                "optimizer": m_opt,
                "rng": {
                    "scheme": "init: torch.manual_seed(derive_seed(seed, 'init')); step t: "
                    "images numpy default_rng(derive_seed(seed, 'batch', t)), noise and "
                    "timesteps torch.Generator().manual_seed(derive_seed(seed, 'noise', t))",
                    "seed": config.seed,
                },
                "history": history,
            },
        )
        save_unet(
            out_path,
            ema,
            unet=config.unet,
            schedule=config.schedule,
            placement={"size": size, **config.placement},
            inference=DEFAULT_INFERENCE,
            training={
                "steps": step,
                "config": config.to_dict(),
                "images": n_images,
                "device": device,
                "last": history[-1] if history else None,
            },
        )

    unet.train()
    amp = device.startswith("cuda")
    bar = tqdm(total=steps, initial=start, desc="train-diffusion", disable=not progress)
    running: float | None = None
    t0 = time.perf_counter()
    timesteps = int(config.schedule["num_train_timesteps"])
    for step in range(start, steps):
        rng = np.random.default_rng(derive_seed(config.seed, "batch", step))
        index = torch.from_numpy(rng.integers(0, n_images, size=config.batch_size))
        x0 = to_model(data_t[index].unsqueeze(1)).to(device)
        gen = torch.Generator().manual_seed(derive_seed(config.seed, "noise", step))
        noise = torch.randn(x0.shape, generator=gen).to(device)
        t = torch.randint(0, timesteps, (config.batch_size,), generator=gen).to(device)
        for group in opt.param_groups:
            group["lr"] = config.lr * min(1.0, (step + 1) / max(1, config.warmup))
        loss = denoising_loss(unet, ddpm, x0, noise, t, amp=amp)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(unet.parameters(), config.grad_clip)
        opt.step()
        decay = min(config.ema_decay, (1.0 + step) / (10.0 + step))
        with torch.no_grad():
            for k, v in unet.state_dict().items():
                ema[k].mul_(decay).add_(v.detach().float(), alpha=1.0 - decay)
        value = float(loss.detach())
        running = value if running is None else 0.98 * running + 0.02 * value
        bar.update(1)
        bar.set_postfix(loss=f"{running:.4f}")
        done = step + 1
        if done % checkpoint_every == 0 or done == steps:
            history.append(
                {"step": done, "seconds": round(time.perf_counter() - t0, 2), "loss": running}
            )
            save(done)
    bar.close()
    if start >= steps and not out_path.exists():
        save(start)
    return out_path

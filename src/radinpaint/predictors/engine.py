"""A resumable training engine for ensemble members that reads images through a DataLoader.

Where :mod:`radinpaint.predictors.training` preprocesses every image once into memory, this
engine decodes and preprocesses images in DataLoader worker processes on every epoch, so a
dataset of any size trains in bounded memory and the GPU is fed while it computes:

- ``num_workers`` decode workers (persistent across epochs and members), pinned host memory
  and non-blocking copies on CUDA;
- mixed precision on the GPU (bf16, or fp16 with gradient scaling) and ``channels_last``;
- decode once: the preprocessed ``size x size`` image of each case is kept in a memory-mapped
  16-bit cache file beside the training state the first time it is read (``cache_geometry``),
  so later epochs and members skip the PNG decode (which costs far more than the network's
  share of a GPU step); images are rounded to 16 bits whether cached or not, so the cache
  never changes a result;
- resumable: the member's weights, optimiser, schedule, scaler, best weights and history are
  saved every epoch (and every ``checkpoint_every`` steps), and a rerun picks up where the
  last save left off. Augmentation draws each image's randomness from a seed derived from
  ``(seed, epoch, image index)`` and the batch order from ``(seed, epoch)``, so the result
  depends neither on the number of workers nor on where a run was interrupted: on a CPU, a
  resumed run equals an uninterrupted one bit for bit.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from ..errors import CheckpointError, InvalidInputError, RadinpaintError
from ..records import Case
from .feeding import Loaders, build_loaders
from .members import MemberSpec
from .preprocessing import Preprocessing
from .training import TrainConfig

__all__ = [
    "AMP_MODES",
    "EngineOptions",
    "FitSettings",
    "TrainingPaused",
    "fit_member",
    "make_loaders",
    "resolve_amp",
    "resolve_device",
]

AMP_MODES: tuple[str, ...] = ("auto", "bf16", "fp16", "none")
"""Mixed-precision choices: ``auto`` is bf16 on a GPU that has it (else fp16), none on CPU."""


class TrainingPaused(RadinpaintError):
    """Training stopped on purpose (``stop_after_steps``) after saving its state.

    Rerunning the same call resumes it.
    """


@attrs.frozen
class EngineOptions:
    """How training runs (none of these change what is learned on a CPU).

    Attributes:
        device: ``"auto"`` (CUDA when present, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:1"``.
        num_workers: DataLoader processes that decode and preprocess images (0 = in the
            main process). Workers persist across epochs and members.
        amp: mixed precision on the GPU: ``"auto"`` (bf16 where supported, else fp16),
            ``"bf16"``, ``"fp16"`` or ``"none"``. On a CPU, ``"auto"`` means none.
        channels_last: run the network in channels-last memory format (faster convolutions
            with tensor cores); ``None`` (default): on a GPU, not on a CPU.
        checkpoint_every: also save the training state every this many optimiser steps
            (0 = only at the end of each epoch).
        stop_after_steps: save the state and raise :class:`TrainingPaused` after this many
            optimiser steps in this call (for time-limited jobs; rerun to resume).
        prefetch_factor: batches each worker prepares ahead.
        cache_geometry: keep each preprocessed image in a memory-mapped cache file (16 bits
            per pixel, ``size * size * 2`` bytes per image) so it is decoded only once.
        progress: show progress bars.
    """

    device: str = "auto"
    num_workers: int = attrs.field(default=0, converter=int)
    amp: str = "auto"
    channels_last: bool | None = None
    checkpoint_every: int = attrs.field(default=0, converter=int)
    stop_after_steps: int | None = None
    prefetch_factor: int = 4
    cache_geometry: bool = True
    progress: bool = True

    def __attrs_post_init__(self) -> None:
        if self.amp not in AMP_MODES:
            raise InvalidInputError(
                f"unknown amp mode {self.amp!r}", input="amp", available=AMP_MODES
            )
        if self.num_workers < 0 or self.checkpoint_every < 0:
            raise InvalidInputError(
                "num_workers and checkpoint_every must be >= 0",
                input="num_workers/checkpoint_every",
                fix="pass 0 or a positive number",
            )
        if self.stop_after_steps is not None and self.stop_after_steps < 1:
            raise InvalidInputError(
                f"stop_after_steps must be >= 1, got {self.stop_after_steps}",
                input="stop_after_steps",
                fix="leave it unset to train to the end",
            )


@attrs.frozen
class FitSettings:
    """What one member learns with (saved in its state: a resume must use the same).

    Attributes:
        epochs: the most epochs.
        patience: stop after this many epochs without a lower validation loss (0 = never).
        min_epochs: never stop before this many epochs.
        batch_size: images per optimiser step.
        lr: peak learning rate (AdamW, one-cycle schedule).
        weight_decay: AdamW weight decay.
        augment: random flip, rotation, brightness/contrast/gamma per image.
        rotate_deg: largest rotation.
        flip: random horizontal flips.
    """

    epochs: int
    patience: int
    min_epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    augment: bool
    rotate_deg: float
    flip: bool


def resolve_device(device: str) -> str:
    """``"auto"`` becomes ``"cuda"`` when a GPU is present, else ``"cpu"``."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InvalidInputError(
            f"device {device!r} asked for, but torch sees no CUDA device",
            input="device",
            fix="pass device='cpu' (or 'auto'), or install a CUDA build of torch",
        )
    return device


def resolve_amp(amp: str, device: str) -> Any:
    """The autocast dtype for ``amp`` on ``device``, or ``None`` for full precision."""
    import torch

    if amp == "none" or (amp == "auto" and not device.startswith("cuda")):
        return None
    if amp == "fp16":
        return torch.float16
    if amp == "bf16":
        return torch.bfloat16
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def device_type_of(device: str) -> str:
    """``"cuda"`` for ``"cuda"``/``"cuda:N"``, else the device string's type (``"cpu"``)."""
    return device.split(":")[0]


def make_loaders(
    cases: Sequence[Case],
    preprocessing: Preprocessing,
    settings: FitSettings,
    options: EngineOptions,
    *,
    seed: int,
    device: str,
    cache_stem: Path | None = None,
) -> Loaders:
    """DataLoaders that decode and preprocess ``cases`` (workers, pinned memory on CUDA).

    ``cache_stem``: where the :class:`~radinpaint.predictors.feeding.GeometryCache` lives
    when ``options.cache_geometry``.
    """
    aug = (
        TrainConfig(rotate_deg=settings.rotate_deg, flip=settings.flip)
        if settings.augment
        else None
    )
    return build_loaders(
        cases,
        preprocessing,
        batch_size=settings.batch_size,
        augment=aug,
        seed=seed,
        num_workers=options.num_workers,
        pin_memory=device_type_of(device) == "cuda",
        prefetch_factor=options.prefetch_factor,
        cache_stem=cache_stem if options.cache_geometry else None,
    )


def _atomic_save(obj: dict[str, Any], path: Path) -> None:
    import torch

    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _load_state(path: Path, fingerprint: str) -> dict[str, Any] | None:
    import torch

    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(
            f"cannot read the saved training state ({type(exc).__name__}: {exc})",
            input=path,
            fix="delete the file to restart this member, or rerun with restart=True",
        ) from exc
    if state.get("fingerprint") != fingerprint:
        raise CheckpointError(
            "the saved training state belongs to a different recipe or data set",
            input=path,
            fix="rerun with the settings and data of the interrupted run, or restart "
            "(restart=True / --restart), or write to another output folder",
        )
    return dict(state)


def _cpu_state(module: Any) -> dict[str, Any]:
    return {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}


def fit_member(
    spec: MemberSpec,
    loaders: Loaders,
    targets: np.ndarray,
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    settings: FitSettings,
    options: EngineOptions,
    *,
    seed: int,
    device: str,
    state_path: Path,
    fingerprint: str,
    init_state: dict[str, Any] | None = None,
    steps_budget: list[int] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Train one single-target member; returns its module (best weights, CPU, eval) and facts.

    Args:
        spec: the member (one target: ``"bone_age"`` learns ``months / age_scale`` with L1,
            ``"male"`` learns the logit with binary cross-entropy).
        loaders: from :func:`make_loaders`.
        targets: per case (index into the loaders' cases): months, or 1/0 for male.
        train_idx: training cases.
        val_idx: validation cases (early stopping and the fold's figures).
        settings: what it learns with.
        options: how it runs.
        seed: the member's seed (weight initialisation, batch order, augmentation).
        device: a resolved device.
        state_path: where the resumable state is saved.
        fingerprint: identity of the run; a saved state with another one is refused.
        init_state: weights to start from (matching keys and shapes; ``fc`` is left new).
        steps_budget: a one-item list counting down the steps left in this call
            (``stop_after_steps``); shared by the members of one call.

    Raises:
        TrainingPaused: the step budget ran out; the state was saved.
    """
    import torch
    import torch.nn.functional as F
    from tqdm.auto import tqdm

    if len(spec.targets) != 1:
        raise InvalidInputError(f"member {spec.name!r}: the engine trains one target per member")
    target = spec.targets[0]
    scale = spec.age_scale if target == "bone_age" else 1.0
    offset = spec.age_offset if target == "bone_age" else 0.0
    y_all = torch.from_numpy(((targets - offset) / scale).astype(np.float32))

    torch.manual_seed(seed)
    module = spec.build_module()
    if init_state:
        own = module.state_dict()
        usable = {
            k: v for k, v in init_state.items() if k in own and tuple(v.shape) == own[k].shape
        }
        if not usable:
            raise CheckpointError(
                "no tensor of the initial weights fits the member's architecture",
                input=spec.architecture,
                fix="give weights of the same architecture (timm resnet50 keys for resnet50)",
            )
        module.load_state_dict(usable, strict=False)
    channels_last = (
        device_type_of(device) == "cuda"
        if options.channels_last is None
        else bool(options.channels_last)
    )
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    module = module.to(device)
    if channels_last:
        module.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    amp_dtype = resolve_amp(options.amp, device)
    device_type = "cuda" if device.startswith("cuda") else "cpu"
    scaler = torch.amp.GradScaler(device_type, enabled=amp_dtype == torch.float16)

    tb, eb = loaders.train_batches, loaders.eval_batches
    tb.indices, tb.key = np.asarray(train_idx, dtype=np.int64), spec.name
    eb.indices = np.asarray(val_idx, dtype=np.int64)
    tb.epoch, tb.start = 0, 0
    steps_per_epoch = max(1, len(tb.batches()))
    opt = torch.optim.AdamW(module.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=settings.lr, total_steps=steps_per_epoch * settings.epochs, pct_start=0.15
    )

    def loss_of(out: Any, y: Any) -> Any:
        if target == "bone_age":
            return F.l1_loss(out, y)
        return F.binary_cross_entropy_with_logits(out, y)

    def run(x: Any) -> Any:
        inp = spec.preprocessing.finish(x.to(device, non_blocking=True))
        inp = inp.contiguous(memory_format=memory_format)
        with torch.autocast(device_type, dtype=amp_dtype or torch.float32, enabled=bool(amp_dtype)):
            return module(inp)[:, 0].float()

    epoch, step = 0, 0
    best, best_epoch, best_state, best_pred = math.inf, -1, None, np.zeros(0)
    history: list[dict[str, float]] = []
    total = torch.zeros((), dtype=torch.float64)
    seen = 0
    seconds = 0.0
    saved = _load_state(state_path, fingerprint)
    if saved is not None:
        module.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        sched.load_state_dict(saved["scheduler"])
        scaler.load_state_dict(saved["scaler"])
        epoch, step = int(saved["epoch"]), int(saved["step"])
        best, best_epoch = float(saved["best"]), int(saved["best_epoch"])
        best_state = saved["best_state"]
        best_pred = saved["best_pred"].numpy()
        history = list(saved["history"])
        total, seen = saved["train_loss_sum"].double(), int(saved["seen"])
        seconds = float(saved["seconds"])

    def save() -> None:
        _atomic_save(
            {
                "fingerprint": fingerprint,
                "model": _cpu_state(module),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "scaler": scaler.state_dict(),
                "epoch": epoch,
                "step": step,
                "best": best,
                "best_epoch": best_epoch,
                "best_state": best_state,
                "best_pred": torch.from_numpy(np.asarray(best_pred, dtype=np.float32)),
                "history": history,
                "train_loss_sum": total.cpu(),
                "seen": seen,
                "seconds": seconds + time.perf_counter() - started,
            },
            state_path,
        )

    min_epochs = settings.min_epochs
    started = time.perf_counter()
    stopped = bool(history) and _should_stop(history, best_epoch, settings, min_epochs)
    bar = tqdm(
        total=settings.epochs, initial=epoch, desc=spec.name, unit="epoch",
        disable=not options.progress,
    )  # fmt: skip
    while epoch < settings.epochs and not stopped:
        module.train()
        tb.epoch, tb.start = epoch, step
        for x, idx in loaders.train:
            y = y_all[idx].to(device, non_blocking=True)
            loss = loss_of(run(x), y)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            sched.step()
            total = total.to(loss.device) + loss.detach().double() * len(idx)
            seen += len(idx)
            step += 1
            if steps_budget is not None:
                steps_budget[0] -= 1
                if steps_budget[0] <= 0 and step < steps_per_epoch:
                    save()
                    raise TrainingPaused(
                        f"stopped after the requested number of steps ({spec.name}, epoch "
                        f"{epoch}, step {step}); the state is saved",
                        input=state_path,
                        fix="rerun the same command to resume",
                    )
            if options.checkpoint_every and step % options.checkpoint_every == 0:
                save()
        val_loss, val_pred = _evaluate(module, loaders.evaluate, run, y_all, loss_of)
        history.append(
            {"epoch": epoch, "train_loss": float(total) / max(seen, 1), "val_loss": val_loss}
        )
        if val_loss < best - 1e-7:
            best, best_epoch, best_state = val_loss, epoch, _cpu_state(module)
            best_pred = val_pred
        epoch, step, seen = epoch + 1, 0, 0
        total = torch.zeros((), dtype=torch.float64)
        stopped = _should_stop(history, best_epoch, settings, min_epochs)
        save()
        bar.update(1)
        bar.set_postfix(train=f"{history[-1]['train_loss']:.4f}", val=f"{val_loss:.4f}")
        out_of_steps = steps_budget is not None and steps_budget[0] <= 0
        if out_of_steps and epoch < settings.epochs and not stopped:
            raise TrainingPaused(
                f"stopped after the requested number of steps ({spec.name}, after epoch "
                f"{epoch - 1}); the state is saved",
                input=state_path,
                fix="rerun the same command to resume",
            )
    bar.close()
    if best_state is not None:
        module.load_state_dict(best_state)
    module = module.to("cpu")
    if channels_last:
        module.to(memory_format=torch.contiguous_format)  # type: ignore[call-overload]
    module.eval()
    # the kept (best) weights' validation outputs, in months or as P(male)
    pred = np.asarray(best_pred, dtype=np.float64)
    pred = pred * scale + offset if target == "bone_age" else 1.0 / (1.0 + np.exp(-pred))
    facts: dict[str, Any] = {
        "seed": seed,
        "best_epoch": best_epoch,
        "best_val_loss": best,
        "epochs_run": len(history),
        "train_size": len(train_idx),
        "val_size": len(val_idx),
        "seconds": round(seconds + time.perf_counter() - started, 2),
        "history": history,
        "val_index": [int(i) for i in val_idx],
        "val_prediction": [float(v) for v in pred],
    }
    return module, facts


def _should_stop(
    history: list[dict[str, float]], best_epoch: int, settings: FitSettings, min_epochs: int
) -> bool:
    epoch = len(history) - 1
    return (
        settings.patience > 0
        and epoch - best_epoch >= settings.patience
        and epoch + 1 >= min_epochs
    )


def _evaluate(module: Any, loader: Any, run: Any, y_all: Any, loss_of: Any) -> tuple[float, Any]:
    """Loss over the validation cases and the raw outputs (months or P(male))."""
    import torch

    module.eval()
    outs, ys = [], []
    with torch.inference_mode():
        for x, idx in loader:
            outs.append(run(x).cpu())
            ys.append(y_all[idx])
    if not outs:
        return math.nan, np.zeros(0)
    out, y = torch.cat(outs), torch.cat(ys)
    return float(loss_of(out, y)), out.numpy()

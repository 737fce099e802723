"""Training the inpainting GAN on your own radiographs (self-supervised, resumable).

Each step takes a batch of random crops (:func:`~radinpaint.inpainters.gan.data.sample_batch`)
with random free-form and marker-shaped holes, and

1. runs the generator once: ``out = G(crop, hole)``; ``comp = out`` in the hole, the crop
   elsewhere;
2. updates the critic with the hinge loss ``relu(1 - D(crop)) + relu(1 + D(comp))``;
3. updates the generator with
   ``hole_weight * L1(out, crop | hole) + valid_weight * L1(out, crop | outside)
   + adv_weight * -D(comp)`` (L1 terms averaged over the pixels of their region).

Both use Adam with constant learning rates. Every ``checkpoint_every`` steps and at the end,
the generator's weights (``out``) and the full training state (``out`` with
``.state.safetensors`` / ``.state.json``) are written; with ``resume=True`` a later call
continues from the saved step. Because a batch depends only on ``(seed, step)`` and nothing
else is random after initialisation, a resumed run gives the same weights as an
uninterrupted one (bit for bit on the same machine and thread count).
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
from .appearance import APPEARANCES
from .holes import ALL_HOLE_KINDS, HOLE_KINDS

__all__ = ["DEFAULT_INFERENCE", "TrainConfig", "train_gan"]

DEFAULT_INFERENCE: dict[str, Any] = {"margin": 48, "max_tile": 512, "raw_size": 512}
"""Inference defaults written into every weights config (see GanInpainter)."""


def _pair(value: Sequence[float]) -> tuple[float, float]:
    a, b = (float(v) for v in value)
    return a, b


@attrs.frozen
class TrainConfig:
    """Everything that defines a training run except the number of steps.

    Two runs with equal configs and the same data produce the same weights at each step;
    resuming checks that the saved config equals the requested one.
    """

    seed: int = 0
    batch_size: int = 8
    crop: int = 96
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = attrs.field(default=(0.5, 0.999), converter=_pair)
    hole_weight: float = 1.0
    valid_weight: float = 0.5
    adv_weight: float = 0.01
    scale_range: tuple[float, float] = attrs.field(default=(0.8, 1.25), converter=_pair)
    centre_bias: float = 0.8
    hole_kinds: tuple[str, ...] = attrs.field(default=HOLE_KINDS, converter=tuple)
    appearance: str = "none"
    generator: dict[str, Any] = attrs.field(factory=dict)
    discriminator: dict[str, Any] = attrs.field(factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (tuples become lists)."""
        d = attrs.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def _validate(config: TrainConfig, steps: int, multiple: int) -> None:
    if steps < 0:
        raise InvalidInputError(f"steps must be >= 0, got {steps}")
    if config.batch_size < 1:
        raise InvalidInputError(f"batch_size must be >= 1, got {config.batch_size}")
    if config.crop < multiple * 2 or config.crop % multiple:
        raise InvalidInputError(
            f"crop {config.crop} must be a multiple of {multiple} and at least {2 * multiple}",
            fix=f"use e.g. crop={max(2 * multiple, 96 // multiple * multiple)}",
        )
    unknown = sorted(set(config.hole_kinds) - set(ALL_HOLE_KINDS))
    if unknown or not config.hole_kinds:
        raise InvalidInputError(f"unknown hole kinds {unknown}", available=ALL_HOLE_KINDS)
    if config.appearance not in APPEARANCES:
        raise InvalidInputError(
            f"unknown appearance {config.appearance!r}",
            input=f"appearance={config.appearance!r}",
            available=APPEARANCES,
            fix="use 'none' or 'real'",
        )


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


def train_gan(
    data: str | os.PathLike[str] | Iterable[Case | Radiograph | np.ndarray],
    *,
    out: str | os.PathLike[str],
    steps: int = 2000,
    batch_size: int = 8,
    crop: int = 96,
    seed: int = 0,
    device: str | None = "cpu",
    resume: bool = True,
    progress: bool = True,
    checkpoint_every: int = 100,
    num_threads: int | None = None,
    in_memory: bool | None = None,
    trained_on: str | None = None,
    init: str | os.PathLike[str] | None = None,
    **options: Any,
) -> Path:
    """Train the inpainting GAN on radiographs; returns the path of the weights file.

    Args:
        data: a folder (or label table) of radiographs, or cases / radiographs / arrays.
            A case's ``clean_image`` is used when it has one.
        out: the weights file to write (``.safetensors``; its ``.json`` config goes beside
            it, and the training state as ``.state.safetensors`` / ``.state.json``).
        steps: total number of steps (a resumed run stops at the same total).
        batch_size: crops per step.
        crop: crop side in pixels (a multiple of the generator's ``2 ** depth``).
        seed: the seed of initialisation, crops and holes.
        device: ``"cpu"``, ``"cuda"`` or ``None`` (CUDA when available).
        resume: continue from the saved training state beside ``out`` when there is one.
        progress: show a tqdm progress bar.
        checkpoint_every: save weights and state every this many steps (and at the end).
        num_threads: set ``torch.set_num_threads`` for this run (None leaves it).
        in_memory: read all images first, or on demand (see
            :func:`~radinpaint.inpainters.gan.data.load_training_images`); no effect on
            the result.
        trained_on: what the data is, recorded as ``training.trained_on`` in the weights'
            JSON config (None: the folder's path, or ``"in-memory images"``, with
            ``+real-appearance`` when ``appearance="real"``).
        init: generator weights to start from (a weights file written by this function
            with the same generator config; fine-tuning): loaded before the first step of
            a new run, ignored when a saved state is resumed (it already holds them). Its
            file name and SHA-256 are recorded as ``training.init`` in the weights' config.
        **options: any other :class:`TrainConfig` field (``lr_g``, ``adv_weight``,
            ``hole_kinds`` (see :data:`~radinpaint.inpainters.gan.holes.ALL_HOLE_KINDS`),
            ``appearance`` (``"none"`` or ``"real"``, see
            :mod:`~radinpaint.inpainters.gan.appearance`), ``generator``,
            ``discriminator``, ...).

    Raises:
        InvalidInputError: bad sizes or options, or no data.
        CheckpointError: the saved state does not match this configuration, or ``init``
            does not match the generator config.
    """
    import torch
    from tqdm.auto import tqdm

    from .checkpoint import (
        STATE_FORMAT,
        check_tensors,
        file_sha256,
        load_generator,
        optimizer_from_tensors,
        optimizer_to_tensors,
        read_json,
        read_tensors,
        save_generator,
        state_paths,
        write_json,
        write_tensors,
    )
    from .data import load_training_images, sample_batch
    from .model import (
        DEFAULT_DISCRIMINATOR_CONFIG,
        DEFAULT_GENERATOR_CONFIG,
        build_discriminator,
        build_generator,
        multiple_of,
    )

    fields = {f.name for f in attrs.fields(TrainConfig)}
    unknown = sorted(set(options) - fields)
    if unknown:
        raise InvalidInputError(
            f"unknown training option(s) {', '.join(unknown)}", available=sorted(fields)
        )
    options.setdefault("generator", dict(DEFAULT_GENERATOR_CONFIG))
    options.setdefault("discriminator", dict(DEFAULT_DISCRIMINATOR_CONFIG))
    config = TrainConfig(seed=seed, batch_size=batch_size, crop=crop, **options)
    _validate(config, steps, multiple_of(config.generator))
    device = _resolve_device(device)
    if num_threads is not None:
        torch.set_num_threads(int(num_threads))
    out_path = Path(out)
    if out_path.suffix != ".safetensors":
        raise InvalidInputError(
            f"weights file must end in .safetensors, got {out_path.name}", input=str(out_path)
        )
    state_tensors_path, state_json_path = state_paths(out_path)
    if trained_on is None:
        is_path = isinstance(data, (str, os.PathLike))
        trained_on = str(Path(data)) if is_path else "in-memory images"  # type: ignore[arg-type]
        if config.appearance != "none":
            trained_on += f"+{config.appearance}-appearance"

    torch.manual_seed(derive_seed(seed, "init"))
    G = build_generator(config.generator).to(device)
    D = build_discriminator(config.discriminator).to(device)
    opt_g = torch.optim.Adam(G.parameters(), lr=config.lr_g, betas=config.betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=config.lr_d, betas=config.betas)
    start, history = 0, []
    init_record = None
    if init is not None:
        init_g, init_cfg = load_generator(init)
        if dict(init_cfg["generator"]) != dict(config.generator):
            raise CheckpointError(
                "init weights have another generator config than this run",
                input=str(init),
                fix="pass generator= equal to the init weights' config, or no init",
            )
        G.load_state_dict(init_g.state_dict())
        init_record = {"file": Path(init).name, "sha256": file_sha256(init)}

    if resume and state_json_path.exists():
        meta = read_json(state_json_path)
        if meta.get("format") != STATE_FORMAT:
            raise CheckpointError("not a GAN training state", input=str(state_json_path))
        # states saved before the appearance option existed trained without it
        saved = {"appearance": "none", **meta.get("config", {})}
        if saved != config.to_dict():
            diff = sorted(
                k
                for k in set(saved) | set(config.to_dict())
                if saved.get(k) != config.to_dict().get(k)
            )
            raise CheckpointError(
                f"saved training state has a different configuration ({', '.join(diff)})",
                input=str(state_json_path),
                fix="pass the same options as the saved run, resume=False, or another out=",
            )
        tensors = read_tensors(state_tensors_path)
        g_sd = {k[2:]: v for k, v in tensors.items() if k.startswith("G.")}
        d_sd = {k[2:]: v for k, v in tensors.items() if k.startswith("D.")}
        check_tensors(
            {k: v.shape for k, v in G.state_dict().items()},
            g_sd,
            what=f"{state_tensors_path} (generator)",
        )
        check_tensors(
            {k: v.shape for k, v in D.state_dict().items()},
            d_sd,
            what=f"{state_tensors_path} (critic)",
        )
        G.load_state_dict(g_sd)
        D.load_state_dict(d_sd)
        optimizer_from_tensors(opt_g, tensors, meta["optimizers"]["G"], "optG")
        optimizer_from_tensors(opt_d, tensors, meta["optimizers"]["D"], "optD")
        start = int(meta["step"])
        history = list(meta.get("history", []))

    images: Sequence[Any] = []
    if start < steps:
        images = load_training_images(data, progress=progress, in_memory=in_memory)

    def save(step: int) -> None:
        tensors = {f"G.{k}": v for k, v in G.state_dict().items()}
        tensors.update({f"D.{k}": v for k, v in D.state_dict().items()})
        tg, mg = optimizer_to_tensors(opt_g, "optG")
        td, md = optimizer_to_tensors(opt_d, "optD")
        tensors.update(tg)
        tensors.update(td)
        write_tensors(state_tensors_path, tensors)
        write_json(
            state_json_path,
            {
                "format": STATE_FORMAT,
                "format_version": 1,
                "step": step,
                "config": config.to_dict(),
                "optimizers": {"G": mg, "D": md},
                "rng": {
                    "scheme": "init: torch.manual_seed(derive_seed(seed, 'init')); step t, "
                    "sample i: numpy default_rng(derive_seed(seed, 'crop'|'holes', t, i))",
                    "seed": config.seed,
                },
                "history": history,
            },
        )
        save_generator(
            out_path,
            G,
            config.generator,
            inference=DEFAULT_INFERENCE,
            training={
                "trained_on": trained_on,
                **({"init": init_record} if init_record else {}),
                "steps": step,
                "config": config.to_dict(),
                "images": len(images),
                "last": history[-1] if history else None,
            },
        )

    G.train()
    D.train()
    bar = tqdm(total=steps, initial=start, desc="train-gan", disable=not progress)
    running: dict[str, float] = {}
    t0 = time.perf_counter()
    for step in range(start, steps):
        x_np, m_np = sample_batch(
            images,
            seed=config.seed,
            step=step,
            batch_size=config.batch_size,
            crop=config.crop,
            scale_range=config.scale_range,
            centre_bias=config.centre_bias,
            hole_kinds=config.hole_kinds,
            appearance=config.appearance,
        )
        x = torch.from_numpy(x_np).unsqueeze(1).to(device)
        m = torch.from_numpy(m_np.astype(np.float32)).unsqueeze(1).to(device)
        gen = G(x, m)
        comp = gen * m + x * (1.0 - m)

        opt_d.zero_grad(set_to_none=True)
        loss_d = torch.relu(1.0 - D(x, m)).mean() + torch.relu(1.0 + D(comp.detach(), m)).mean()
        loss_d.backward()
        opt_d.step()

        opt_g.zero_grad(set_to_none=True)
        err = (gen - x).abs()
        l1_hole = (err * m).sum() / m.sum().clamp_min(1.0)
        l1_valid = (err * (1.0 - m)).sum() / (1.0 - m).sum().clamp_min(1.0)
        adv = -D(comp, m).mean() if config.adv_weight else torch.zeros((), device=device)
        loss_g = (
            config.hole_weight * l1_hole + config.valid_weight * l1_valid + config.adv_weight * adv
        )
        loss_g.backward()
        opt_g.step()

        values = {
            "l1_hole": float(l1_hole.detach()),
            "l1_valid": float(l1_valid.detach()),
            "adv_g": float(adv.detach()),
            "loss_d": float(loss_d.detach()),
        }
        for k, v in values.items():
            running[k] = v if k not in running else 0.95 * running[k] + 0.05 * v
        bar.update(1)
        bar.set_postfix(hole=f"{running['l1_hole']:.4f}", d=f"{running['loss_d']:.3f}")
        done = step + 1
        if done % checkpoint_every == 0 or done == steps:
            history.append({"step": done, "seconds": round(time.perf_counter() - t0, 2), **running})
            save(done)
    bar.close()
    if start >= steps and not out_path.exists():
        save(start)
    return out_path

"""Training ensembles: L1 regression for bone age, BCE for sex, k folds, early stopping.

:func:`train_ensemble` takes labelled cases (an RSNA training folder, phantoms, any
``Sequence[Case]``); :func:`train_ensemble_arrays` takes images already passed through the
members' geometric preprocessing (what the shipped-model script caches). Each member is
trained on all folds but one and early-stopped on the held-out fold (or on a random
validation split when ``folds=1``); its seed is ``derive_seed(seed, target, subset, fold)``.
Augmentation (random flip, rotation, brightness, contrast and gamma) is applied to each
batch before the member's normalisation.

Bone-age members learn the standardised target: the output times ``age_scale`` (the training
SD) plus ``age_offset`` (the training mean) is months; both are saved in the member config.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from ..errors import InvalidInputError, MissingLabelError
from ..records import Case
from ..seeds import derive_seed
from .ensemble import EnsemblePredictor
from .members import Member, MemberSpec
from .preprocessing import Preprocessing, get_preprocessing

__all__ = [
    "TrainConfig",
    "geometry_arrays",
    "save_training_run",
    "train_ensemble",
    "train_ensemble_arrays",
]


@attrs.frozen
class TrainConfig:
    """How members are trained (saved with each member).

    Attributes:
        architecture: member architecture (``"compact-cnn"``, ``"resnet50"``, ``"timm:..."``).
        arch_options: architecture options.
        preprocessing: preset name or :class:`Preprocessing`.
        targets: ``"bone_age"`` and/or ``"male"``.
        joint: one member predicts every target (two outputs) instead of one set per target.
        folds: k of the k-fold ensemble (members per target and subset); 1 = one member
            validated on a random ``val_fraction`` split.
        seeds_per_fold: members per fold with different seeds.
        sex_input: bone-age members take sex as an input.
        sex_specific: separate bone-age member sets for male and female cases.
        epochs: the most epochs per member.
        patience: stop after this many epochs without a better validation loss.
        min_epochs: never stop before this many epochs (default: half of ``epochs``; the
            validation loss is noisy while the learning rate is high).
        batch_size: training batch size.
        lr: peak learning rate (AdamW, one-cycle schedule).
        weight_decay: AdamW weight decay.
        val_fraction: validation share when ``folds=1``.
        augment: flip, rotation (``rotate_deg``), brightness/contrast/gamma.
        rotate_deg: largest random rotation.
        flip: random horizontal flips.
        seed: the base seed.
    """

    architecture: str = "compact-cnn"
    arch_options: dict[str, Any] = attrs.field(factory=dict)
    preprocessing: Preprocessing = attrs.field(
        default=attrs.Factory(lambda: get_preprocessing("phantom-128")), converter=get_preprocessing
    )
    targets: tuple[str, ...] = attrs.field(default=("bone_age", "male"), converter=tuple)
    joint: bool = False
    folds: int = 4
    seeds_per_fold: int = 1
    sex_input: bool = False
    sex_specific: bool = False
    epochs: int = 30
    patience: int = 5
    min_epochs: int | None = None
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-4
    val_fraction: float = 0.15
    augment: bool = True
    rotate_deg: float = 10.0
    flip: bool = True
    seed: int = 0

    def __attrs_post_init__(self) -> None:
        bad = [t for t in self.targets if t not in ("bone_age", "male")]
        if bad or not self.targets:
            raise InvalidInputError(
                f"unknown training target(s) {bad or '(none)'}", available=["bone_age", "male"]
            )
        if self.folds < 1 or self.epochs < 1 or self.seeds_per_fold < 1:
            raise InvalidInputError("folds, epochs and seeds_per_fold must be >= 1")
        if self.joint and (self.sex_input or self.sex_specific):
            raise InvalidInputError(
                "joint members predict sex, so they cannot take sex as input or be sex-specific"
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        d = attrs.asdict(self, recurse=False)
        d["preprocessing"] = self.preprocessing.to_dict()
        d["targets"] = list(self.targets)
        return d


def geometry_arrays(
    cases: Sequence[Case], preprocessing: Preprocessing, *, progress: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Geometric preprocessing of every case: ``(N, S, S)`` float16 images, ages, sexes.

    Missing labels become NaN (bone age) or -1 (sex).
    """
    from tqdm.auto import tqdm

    n = len(cases)
    size = preprocessing.size
    images = np.empty((n, size, size), dtype=np.float16)
    ages = np.full(n, np.nan)
    male = np.full(n, -1, dtype=np.int8)
    for i in tqdm(range(n), desc="preprocess", unit="img", disable=not progress):
        case = cases[i]
        images[i] = preprocessing.geometry(case.image)
        if case.bone_age_months is not None:
            ages[i] = case.bone_age_months
        if case.male is not None:
            male[i] = int(case.male)
    return images, ages, male


def _augment(x: Any, gen: Any, cfg: TrainConfig) -> Any:
    """Random flip, rotation, brightness/contrast/gamma on a ``(B, S, S)`` batch in [0, 1]."""
    import torch
    import torch.nn.functional as F

    b = x.shape[0]
    if cfg.flip:
        flip = torch.rand(b, generator=gen) < 0.5
        x = torch.where(flip[:, None, None], x.flip(-1), x)
    if cfg.rotate_deg > 0:
        ang = (torch.rand(b, generator=gen) * 2 - 1) * math.radians(cfg.rotate_deg)
        scale = 1 + (torch.rand(b, generator=gen) * 2 - 1) * 0.05
        shift = (torch.rand(b, 2, generator=gen) * 2 - 1) * 0.04
        cos, sin = torch.cos(ang) / scale, torch.sin(ang) / scale
        theta = torch.stack(
            [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
        )
        grid = F.affine_grid(theta, [b, 1, *x.shape[-2:]], align_corners=False)
        x = F.grid_sample(x[:, None], grid, align_corners=False, padding_mode="zeros")[:, 0]
    gamma = torch.exp((torch.rand(b, 1, 1, generator=gen) * 2 - 1) * 0.3)
    contrast = 1 + (torch.rand(b, 1, 1, generator=gen) * 2 - 1) * 0.2
    bright = (torch.rand(b, 1, 1, generator=gen) * 2 - 1) * 0.08
    x = x.clamp(0, 1) ** gamma * contrast + bright
    return x.clamp(0, 1)


def _folds(n: int, k: int, seed: int, val_fraction: float) -> list[tuple[np.ndarray, np.ndarray]]:
    order = np.random.default_rng(seed).permutation(n)
    if k == 1:
        n_val = max(1, round(n * val_fraction))
        return [(order[n_val:], order[:n_val])]
    parts = np.array_split(order, k)
    return [
        (np.concatenate([p for j, p in enumerate(parts) if j != i]), parts[i]) for i in range(k)
    ]


def _train_member(
    spec: MemberSpec,
    images: np.ndarray,
    ages: np.ndarray,
    male: np.ndarray,
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    cfg: TrainConfig,
    seed: int,
    progress: bool,
) -> tuple[Member, dict[str, Any]]:
    import torch
    import torch.nn.functional as F
    from tqdm.auto import tqdm

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    module = spec.build_module()
    prep = spec.preprocessing
    x_all = torch.from_numpy(images)
    age_t = torch.from_numpy(((ages - spec.age_offset) / spec.age_scale).astype(np.float32))
    male_t = torch.from_numpy(male.astype(np.float32))

    def loss_of(out: Any, idx: Any) -> Any:
        loss = out.new_zeros(())
        for j, t in enumerate(spec.targets):
            if t == "bone_age":
                loss = loss + F.l1_loss(out[:, j], age_t[idx])
            else:
                loss = loss + F.binary_cross_entropy_with_logits(out[:, j], male_t[idx])
        return loss

    def forward(xb: Any, idx: Any) -> Any:
        inp = prep.finish(xb)
        return module(inp, male_t[idx]) if spec.sex_input else module(inp)

    steps_per_epoch = max(1, math.ceil(len(train_idx) / cfg.batch_size))
    opt = torch.optim.AdamW(module.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg.lr, total_steps=steps_per_epoch * cfg.epochs, pct_start=0.15
    )
    best, best_state, best_epoch, history = math.inf, None, -1, []
    min_epochs = cfg.epochs // 2 if cfg.min_epochs is None else cfg.min_epochs
    bar = tqdm(range(cfg.epochs), desc=spec.name, unit="epoch", disable=not progress)
    start = time.perf_counter()
    for epoch in bar:
        module.train()
        perm = train_idx[torch.randperm(len(train_idx), generator=gen).numpy()]
        total = 0.0
        for s in range(0, len(perm), cfg.batch_size):
            idx = torch.from_numpy(perm[s : s + cfg.batch_size])
            if len(idx) < 2:
                continue
            xb = x_all[idx].float()
            if cfg.augment:
                xb = _augment(xb, gen, cfg)
            loss = loss_of(forward(xb, idx), idx)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        module.eval()
        with torch.inference_mode():
            vidx = torch.from_numpy(val_idx)
            outs = [
                forward(x_all[vidx[s : s + 256]].float(), vidx[s : s + 256])
                for s in range(0, len(vidx), 256)
            ]
            val = float(loss_of(torch.cat(outs), vidx))
        history.append({"epoch": epoch, "train_loss": total / len(perm), "val_loss": val})
        bar.set_postfix(train=f"{total / len(perm):.3f}", val=f"{val:.3f}")
        if val < best - 1e-5:
            best, best_epoch = val, epoch
            best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
        elif epoch - best_epoch >= cfg.patience and epoch + 1 >= min_epochs:
            break
    bar.close()
    if best_state is not None:
        module.load_state_dict(best_state)
    module.eval()
    facts = {
        "seed": seed,
        "best_epoch": best_epoch,
        "best_val_loss": best,
        "epochs_run": len(history),
        "train_size": len(train_idx),
        "val_size": len(val_idx),
        "seconds": round(time.perf_counter() - start, 1),
        "history": history,
    }
    if "bone_age" in spec.targets:
        facts["val_mae_months"] = _val_mae(module, spec, x_all, age_t, male_t, val_idx)
    return Member(spec, module, None), facts


def _val_mae(module: Any, spec: MemberSpec, x_all: Any, age_t: Any, male_t: Any, val_idx) -> float:
    import torch

    j = spec.targets.index("bone_age")
    with torch.inference_mode():
        idx = torch.from_numpy(val_idx)
        inp = spec.preprocessing.finish(x_all[idx].float())
        out = module(inp, male_t[idx]) if spec.sex_input else module(inp)
        return float((out[:, j] - age_t[idx]).abs().mean() * spec.age_scale)


def train_ensemble_arrays(
    images: np.ndarray,
    bone_age: np.ndarray | None,
    male: np.ndarray | None,
    config: TrainConfig | None = None,
    *,
    name: str = "ensemble",
    output_dir: str | Path | None = None,
    progress: bool = True,
    num_threads: int | None = None,
    workers: int = 1,
) -> EnsemblePredictor:
    """Train an ensemble from geometrically preprocessed images (see :func:`geometry_arrays`).

    Args:
        images: ``(N, S, S)`` images in [0, 1] after the members' geometric steps.
        bone_age: ``(N,)`` months (NaN = unknown), or ``None``.
        male: ``(N,)`` 1/0 (-1 = unknown), or ``None``.
        config: the :class:`TrainConfig`.
        name: the ensemble's name.
        output_dir: write the ensemble there (safetensors + JSON).
        progress: tqdm progress bars.
        num_threads: ``torch.set_num_threads`` for the run.
        workers: train this many members at once, each in its own process with one torch
            thread (results do not depend on it).
    """
    import torch

    cfg = config or TrainConfig()
    if num_threads:
        torch.set_num_threads(int(num_threads))
    n = images.shape[0]
    if images.shape[1:] != (cfg.preprocessing.size,) * 2:
        raise InvalidInputError(
            f"images have shape {images.shape[1:]}, preprocessing expects "
            f"{cfg.preprocessing.size}x{cfg.preprocessing.size}"
        )
    ages = np.full(n, np.nan) if bone_age is None else np.asarray(bone_age, dtype=np.float64)
    sexes = np.full(n, -1, np.int8) if male is None else np.asarray(male).astype(np.int8)
    jobs: list[tuple[tuple[str, ...], str | None, np.ndarray]] = []
    age_ok = ~np.isnan(ages)
    sex_ok = sexes >= 0
    if cfg.joint:
        jobs.append((tuple(cfg.targets), None, np.flatnonzero(age_ok & sex_ok)))
    else:
        if "bone_age" in cfg.targets:
            need = age_ok & (sex_ok if (cfg.sex_input or cfg.sex_specific) else True)
            if cfg.sex_specific:
                jobs.append((("bone_age",), "male", np.flatnonzero(need & (sexes == 1))))
                jobs.append((("bone_age",), "female", np.flatnonzero(need & (sexes == 0))))
            else:
                jobs.append((("bone_age",), None, np.flatnonzero(need)))
        if "male" in cfg.targets:
            jobs.append((("male",), None, np.flatnonzero(sex_ok)))
    plan: list[tuple[MemberSpec, np.ndarray, np.ndarray, int]] = []
    for targets, subset, usable in jobs:
        if len(usable) < max(4, cfg.folds):
            raise MissingLabelError(
                f"only {len(usable)} cases have the labels {targets} needs",
                fix="give more labelled cases or fewer folds",
            )
        offset = float(np.mean(ages[usable])) if "bone_age" in targets else 0.0
        scale = float(np.std(ages[usable]) or 1.0) if "bone_age" in targets else 1.0
        tag = "+".join("sex" if t == "male" else t for t in targets)
        tag += f"_{subset}" if subset else ""
        split_seed = derive_seed(cfg.seed, "split", tag)
        splits = _folds(len(usable), cfg.folds, split_seed, cfg.val_fraction)
        for fold, (tr, va) in enumerate(splits):
            for rep in range(cfg.seeds_per_fold):
                member_name = f"{tag}_fold{fold}"
                member_name += f"_seed{rep}" if cfg.seeds_per_fold > 1 else ""
                spec = MemberSpec(
                    name=member_name,
                    architecture=cfg.architecture,
                    targets=targets,
                    preprocessing=cfg.preprocessing,
                    arch_options=cfg.arch_options,
                    sex_input=cfg.sex_input and "male" not in targets,
                    sex_subset=subset,
                    age_scale=scale,
                    age_offset=offset,
                )
                plan.append((spec, usable[tr], usable[va], derive_seed(cfg.seed, tag, fold, rep)))
    members: list[Member] = []
    report: dict[str, Any] = {}
    if workers > 1 and len(plan) > 1:
        results = _train_parallel(plan, images, ages, sexes, cfg, workers)
    else:
        results = [
            _train_member(spec, images, ages, sexes, tr, va, cfg, seed, progress)
            for spec, tr, va, seed in plan
        ]
    for member, facts in results:
        members.append(member)
        report[member.name] = facts
    # sex-dependent bone-age members fall back on the ensemble's own sex members when the
    # caller gives no sex (a given sex always wins)
    auto_sex = any(m.spec.needs_sex for m in members) and any(
        "male" in m.spec.targets for m in members
    )
    ensemble = EnsemblePredictor(
        name=name, members=members, sex_from_prediction=auto_sex, metadata={"training": report}
    )
    if output_dir is not None:
        save_training_run(ensemble, output_dir, cfg)
    return ensemble


_SHARED: dict[str, Any] = {}


def _init_worker(images: np.ndarray, ages: np.ndarray, sexes: np.ndarray, cfg: TrainConfig):
    import torch

    torch.set_num_threads(1)
    _SHARED.update(images=images, ages=ages, sexes=sexes, cfg=cfg)


def _worker_job(job: tuple[MemberSpec, np.ndarray, np.ndarray, int]):
    spec, tr, va, seed = job
    sh = _SHARED
    member, facts = _train_member(
        spec, sh["images"], sh["ages"], sh["sexes"], tr, va, sh["cfg"], seed, False
    )
    state = {k: v.detach().cpu().numpy() for k, v in member.module.state_dict().items()}
    return state, facts


def _train_parallel(plan, images, ages, sexes, cfg, workers):
    """Train members in ``workers`` forked processes; same results as the serial loop."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    import torch

    ctx = mp.get_context("fork")
    with ProcessPoolExecutor(
        workers, mp_context=ctx, initializer=_init_worker, initargs=(images, ages, sexes, cfg)
    ) as pool:
        outputs = list(pool.map(_worker_job, plan))
    results = []
    for (spec, *_), (state, facts) in zip(plan, outputs, strict=True):
        module = spec.build_module()
        module.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
        module.eval()
        results.append((Member(spec, module, None), facts))
    return results


def save_training_run(
    ensemble: EnsemblePredictor,
    directory: str | Path,
    config: TrainConfig | Mapping[str, TrainConfig],
) -> Path:
    """Save a trained ensemble with its training configuration and per-member report.

    ``ensemble.metadata["training"]`` (what :func:`train_ensemble_arrays` records) goes to
    ``ensemble.json`` without the per-epoch history, and whole to ``training_history.json``.

    Args:
        ensemble: a trained ensemble, possibly members of several runs put together.
        directory: the output folder.
        config: the run's :class:`TrainConfig`, or one per run keyed by a label (e.g.
            ``{"bone_age": ..., "male": ...}`` when the targets were trained separately).
    """
    import json

    from .checkpoint import save_ensemble

    if isinstance(config, TrainConfig):
        training: dict[str, Any] = config.to_dict()
    else:
        training = {label: cfg.to_dict() for label, cfg in config.items()}
    report = ensemble.metadata.get("training", {})
    summary = {k: {kk: vv for kk, vv in v.items() if kk != "history"} for k, v in report.items()}
    directory = Path(directory)
    save_ensemble(ensemble, directory, extra={"training": training, "members_report": summary})
    (directory / "training_history.json").write_text(json.dumps(report, indent=1) + "\n")
    return directory


def train_ensemble(
    cases: Sequence[Case],
    config: TrainConfig | None = None,
    *,
    name: str = "ensemble",
    output_dir: str | Path | None = None,
    progress: bool = True,
    num_threads: int | None = None,
    workers: int = 1,
) -> EnsemblePredictor:
    """Train a k-fold ensemble on labelled cases (an RSNA training folder, phantoms...).

    Images are preprocessed once (the geometric steps of the config's preprocessing), then
    each member is trained with augmentation and early stopping. See :class:`TrainConfig`.

    Example::

        from radinpaint.datasets import make_phantoms
        from radinpaint.predictors import TrainConfig, train_ensemble
        ens = train_ensemble(make_phantoms(400), TrainConfig(folds=3, epochs=10))
    """
    cfg = config or TrainConfig()
    images, ages, male = geometry_arrays(cases, cfg.preprocessing, progress=progress)
    return train_ensemble_arrays(
        images,
        ages,
        male,
        cfg,
        name=name,
        output_dir=output_dir,
        progress=progress,
        num_threads=num_threads,
        workers=workers,
    )

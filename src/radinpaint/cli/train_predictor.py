"""``radinpaint train-predictor``: train a k-fold bone-age/sex ensemble.

``--recipe study`` trains the reference study's models (sex-specific ResNet-50 bone-age
folds and ResNet-50 sex members on the study's preprocessing) with the resumable DataLoader
engine; see :mod:`radinpaint.predictors.study_training`.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InvalidInputError
from ._args import at_least, existing_path, output_folder, parse_options

if TYPE_CHECKING:
    from ..records import Case


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train-predictor`` subcommand."""
    parser = subparsers.add_parser(
        "train-predictor",
        help="train a bone-age/sex ensemble on RSNA data or phantoms",
        description="Train a k-fold ensemble (L1 bone age, BCE sex, early stopping) and save "
        "it as safetensors + JSON; load it with get_predictor('ensemble', path=OUT). "
        "With --recipe study: the reference study's models (male and female ResNet-50 "
        "bone-age folds, output x 200 months, and ResNet-50 sex folds, study-320 "
        "preprocessing), trained with decode workers, AMP on a GPU, a k-fold report, and "
        "resumable: rerun the same command to continue an interrupted run.",
    )
    parser.add_argument(
        "--recipe",
        choices=("custom", "study"),
        default="custom",
        help="custom: the options below (default); study: the reference study's ensemble",
    )
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--data", type=Path, help="RSNA training layout: a folder with the CSV and <id>.png"
    )
    src.add_argument("--phantoms", type=int, metavar="N", help="train on N synthetic phantoms")
    parser.add_argument("--out", type=output_folder, required=True,
                        help="output folder (created if missing)")  # fmt: skip
    parser.add_argument("--name", default=None, help="ensemble name (default: the folder name)")
    parser.add_argument(
        "--targets", default="bone_age,male", help="bone_age, male or both (comma-separated)"
    )
    parser.add_argument(
        "--architecture",
        default=None,
        help="member architecture: resnet50, resnet, compact-cnn or timm:<model> "
        "(default: compact-cnn; resnet50 with --recipe study)",
    )
    parser.add_argument(
        "--arch-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="architecture option, repeatable (e.g. widths=[16,32,64,128] stem_pool=false)",
    )
    parser.add_argument(
        "--preprocessing",
        default=None,
        help="preset name (default: phantom-128; study-320 with --recipe study)",
    )
    parser.add_argument(
        "--folds",
        type=int,
        default=None,
        help="cross-validation folds (default: 4; with --recipe study: 5 bone-age folds per sex)",
    )
    parser.add_argument(
        "--seeds-per-fold",
        type=int,
        default=1,
        help="members trained per fold, with different seeds",
    )
    parser.add_argument(
        "--epochs", type=int, default=30, help="maximum epochs per member (default: 30)"
    )
    parser.add_argument(
        "--patience",
        type=int,
        default=5,
        help="epochs without improvement before stopping (0: never stop early)",
    )
    parser.add_argument(
        "--min-epochs", type=int, default=None, help="never stop earlier (default: epochs / 2)"
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="images per training step (default: 64; 32 with --recipe study)",
    )
    parser.add_argument(
        "--lr",
        type=float,
        default=None,
        help="learning rate (default: 3e-3; 1e-3 with --recipe study)",
    )
    parser.add_argument("--seed", type=int, default=0, help="training seed")
    parser.add_argument("--joint", action="store_true", help="one network predicts both targets")
    parser.add_argument("--sex-input", action="store_true", help="bone-age members take sex")
    parser.add_argument(
        "--sex-specific", action="store_true", help="separate male and female bone-age members"
    )
    parser.add_argument("--no-augment", action="store_true", help="train without augmentation")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument(
        "--phantom-seed",
        type=int,
        default=0,
        help="seed of the phantom dataset (with --data phantom:...)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    study = parser.add_argument_group("--recipe study")
    study.add_argument(
        "--sex-folds", type=int, default=5, help="sex members (k-fold; default: 5; 0: none)"
    )
    study.add_argument(
        "--image-size",
        type=int,
        default=None,
        help="run the preprocessing at this side length instead (e.g. 96 on a CPU; "
        "default: the preset's, 320)",
    )
    study.add_argument(
        "--num-workers",
        type=int,
        default=min(8, os.cpu_count() or 1),
        help="DataLoader processes decoding and preprocessing images (default: the CPU "
        "count, at most 8)",
    )
    study.add_argument(
        "--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N"
    )
    study.add_argument(
        "--amp",
        choices=("auto", "bf16", "fp16", "none"),
        default="auto",
        help="mixed precision on the GPU (default: auto = bf16 where supported)",
    )
    study.add_argument(
        "--channels-last",
        choices=("auto", "on", "off"),
        default="auto",
        help="channels-last memory format (default: auto, on for a GPU)",
    )
    study.add_argument(
        "--checkpoint-every",
        type=int,
        default=0,
        help="also save the resumable state every N steps (default: 0, every epoch only)",
    )
    study.add_argument(
        "--stop-after-steps",
        type=int,
        default=None,
        help="save and stop after N steps (time-limited jobs; rerun to resume; exit code 75)",
    )
    study.add_argument(
        "--restart", action="store_true", help="discard a saved training state in --out"
    )
    study.add_argument("--limit", type=int, default=None, help="train on the first N cases only")
    study.add_argument(
        "--init-weights",
        default=None,
        help="start every member from this state dict (.pth or .safetensors, e.g. timm "
        "resnet50 weights you have); fc starts new",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Train and save."""
    from ..predictors.training import TrainConfig, train_ensemble

    if args.recipe == "study":
        return run_study(args)
    args.architecture = args.architecture or "compact-cnn"
    args.preprocessing = args.preprocessing or "phantom-128"
    args.folds = 4 if args.folds is None else args.folds
    args.batch_size = args.batch_size or 64
    args.lr = 3e-3 if args.lr is None else args.lr
    at_least(args.phantoms, "--phantoms", 1)
    for flag in ("folds", "seeds_per_fold", "epochs", "batch_size", "threads"):
        at_least(getattr(args, flag), f"--{flag.replace('_', '-')}", 1)
    at_least(args.patience, "--patience", 0)
    at_least(args.min_epochs, "--min-epochs", 0)
    if args.lr <= 0:
        raise InvalidInputError(
            f"--lr must be > 0, got {args.lr}", input="--lr", fix="pass e.g. --lr 3e-3"
        )
    if args.data is not None:
        existing_path(args.data, "--data", "the RSNA training folder (train.csv and <id>.png)")
    cases: Sequence[Case]
    if args.phantoms is not None:
        from ..datasets.phantom import PhantomDataset

        cases = PhantomDataset(args.phantoms, seed=args.phantom_seed)
    else:
        from ..datasets import open_dataset

        if args.data.is_dir() and not [*args.data.glob("*.csv"), *args.data.glob("*.xlsx")]:
            raise InvalidInputError(
                "no label table (CSV) in the training folder",
                input=args.data,
                fix="point --data at the RSNA training folder (train.csv and <id>.png)",
            )
        cases = open_dataset(args.data)
    config = TrainConfig(
        architecture=args.architecture,
        arch_options=parse_options(args.arch_option, "--arch-option"),
        preprocessing=args.preprocessing,
        targets=tuple(t.strip() for t in args.targets.split(",") if t.strip()),
        joint=args.joint,
        folds=args.folds,
        seeds_per_fold=args.seeds_per_fold,
        sex_input=args.sex_input,
        sex_specific=args.sex_specific,
        epochs=args.epochs,
        patience=args.patience,
        min_epochs=args.min_epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        augment=not args.no_augment,
        seed=args.seed,
    )
    ensemble = train_ensemble(
        cases,
        config,
        name=args.name or args.out.name,
        output_dir=args.out,
        progress=not args.quiet,
        num_threads=args.threads,
    )
    for name, facts in ensemble.metadata["training"].items():
        mae = facts.get("val_mae_months")
        extra = f", validation MAE {mae:.2f} months" if mae is not None else ""
        print(
            f"{name}: best epoch {facts['best_epoch']}, "
            f"validation loss {facts['best_val_loss']:.4f}{extra}"
        )
    print(f"saved {len(ensemble.members)} members to {args.out}")
    return 0


def run_study(args: argparse.Namespace) -> int:
    """``--recipe study``: train the reference study's ensemble, print the k-fold report."""
    import attrs

    from ..predictors.engine import EngineOptions, TrainingPaused
    from ..predictors.preprocessing import get_preprocessing
    from ..predictors.study_training import (
        KFOLD_REPORT,
        StudyRecipe,
        format_kfold_table,
        train_study_ensemble,
    )

    if args.joint or args.sex_input or args.seeds_per_fold != 1:
        raise InvalidInputError(
            "--joint, --sex-input and --seeds-per-fold do not apply to --recipe study",
            input="--recipe study",
            fix="drop them: the study's members are sex-specific bone-age folds and sex folds",
        )
    for flag in ("folds", "epochs", "batch_size", "threads", "image_size", "limit"):
        at_least(getattr(args, flag), f"--{flag.replace('_', '-')}", 1)
    for flag in ("patience", "min_epochs", "sex_folds", "num_workers", "checkpoint_every"):
        at_least(getattr(args, flag), f"--{flag.replace('_', '-')}", 0)
    at_least(args.stop_after_steps, "--stop-after-steps", 1)
    at_least(args.phantoms, "--phantoms", 1)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    prep = get_preprocessing(args.preprocessing or "study-320")
    if args.image_size is not None and args.image_size != prep.size:
        prep = attrs.evolve(prep, size=args.image_size, name=f"{prep.name}-at-{args.image_size}")
    targets = tuple(t.strip() for t in args.targets.split(",") if t.strip())
    if args.sex_folds == 0:
        targets = tuple(t for t in targets if t != "male")
    recipe = StudyRecipe(
        architecture=args.architecture or "resnet50",
        arch_options=parse_options(args.arch_option, "--arch-option"),
        preprocessing=prep,
        folds=5 if args.folds is None else args.folds,
        sex_folds=max(args.sex_folds, 2),
        targets=targets,
        epochs=args.epochs,
        patience=args.patience,
        min_epochs=args.min_epochs,
        batch_size=args.batch_size or 32,
        lr=1e-3 if args.lr is None else args.lr,
        augment=not args.no_augment,
        init_weights=args.init_weights,
        seed=args.seed,
    )
    engine = EngineOptions(
        device=args.device,
        num_workers=args.num_workers,
        amp=args.amp,
        channels_last=None if args.channels_last == "auto" else args.channels_last == "on",
        checkpoint_every=args.checkpoint_every,
        stop_after_steps=args.stop_after_steps,
        progress=not args.quiet,
    )
    data: Path | Sequence[Case]
    if args.phantoms is not None:
        from ..datasets.phantom import PhantomDataset

        data = PhantomDataset(args.phantoms, seed=args.phantom_seed)
    else:
        data = existing_path(args.data, "--data", "the RSNA training folder or its CSV")
    try:
        ensemble = train_study_ensemble(
            data,
            args.out,
            recipe,
            engine,
            name=args.name,
            limit=args.limit,
            restart=args.restart,
        )
    except TrainingPaused as exc:
        print(f"paused: {exc}")
        return 75
    print(format_kfold_table(ensemble.metadata["kfold_report"]))
    print(
        f"saved {len(ensemble.members)} members to {args.out} "
        f"(k-fold report: {args.out / KFOLD_REPORT})"
    )
    return 0

"""``radinpaint train-predictor``: train a k-fold bone-age/sex ensemble."""

from __future__ import annotations

import argparse
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
        "it as safetensors + JSON; load it with get_predictor('ensemble', path=OUT).",
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
        default="compact-cnn",
        help="member architecture (a registered name or timm:<model>)",
    )
    parser.add_argument(
        "--arch-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="architecture option, repeatable (e.g. widths=[16,32,64,128] stem_pool=false)",
    )
    parser.add_argument("--preprocessing", default="phantom-128", help="preset name")
    parser.add_argument("--folds", type=int, default=4, help="cross-validation folds")
    parser.add_argument(
        "--seeds-per-fold",
        type=int,
        default=1,
        help="members trained per fold, with different seeds",
    )
    parser.add_argument("--epochs", type=int, default=30, help="maximum epochs per member")
    parser.add_argument(
        "--patience",
        type=int,
        default=5,
        help="epochs without improvement before stopping (0: never stop early)",
    )
    parser.add_argument(
        "--min-epochs", type=int, default=None, help="never stop earlier (default: epochs / 2)"
    )
    parser.add_argument("--batch-size", type=int, default=64, help="images per training step")
    parser.add_argument("--lr", type=float, default=3e-3, help="learning rate")
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
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Train and save."""
    from ..predictors.training import TrainConfig, train_ensemble

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

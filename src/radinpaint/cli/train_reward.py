"""``radinpaint train-reward``: a reward model from the review page's ratings."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train-reward`` subcommand."""
    parser = subparsers.add_parser(
        "train-reward",
        help="train a reward model (P(acceptable)) on raters' verdicts",
        description=(
            "Train a small CNN on the ratings given with radinpaint review: it reads each "
            "rated output with its original and mask (64x64 native pixels at the mask, a "
            "window around the mask and the whole image, each resized to 64x64) and learns "
            "P(acceptable). Reports cross-validated accuracy "
            "and AUC with folds by case, then trains on all ratings and writes FILE "
            "(.safetensors) with its .json config (training data, options, CV figures). "
            "Use it with the best-of inpainter, the plausibility metric and finetune-gan."
        ),
    )
    parser.add_argument(
        "--ratings",
        required=True,
        help="ratings.sqlite, its CSV export, or the results folder holding review/",
    )
    parser.add_argument("--results", required=True, help="the results folder that was rated")
    parser.add_argument("--out", required=True, help="weights file to write (.safetensors)")
    parser.add_argument(
        "--data",
        default=None,
        help="the dataset the run used (as run --data takes it); default: rebuilt from the "
        "manifest (phantom runs only)",
    )
    parser.add_argument(
        "--cache", default=None, help="the run's cache folder when it moved (default: none)"
    )
    parser.add_argument(
        "--combine",
        default="majority",
        choices=["majority", "each"],
        help="several raters on one output: majority vote (a tie is not acceptable) or each "
        "rating a sample (default: majority)",
    )
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds (5)")
    parser.add_argument("--epochs", type=int, default=12, help="training epochs (12)")
    parser.add_argument("--width", type=int, default=16, help="first layer's channels (16)")
    parser.add_argument("--seed", type=int, default=0, help="seed of split and training (0)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (all)")
    parser.add_argument(
        "--score",
        type=Path,
        default=None,
        help="also write every rated output's P(acceptable) to this CSV, for the "
        "plausibility metric (default: none)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Cross-validate, train, save, print the figures."""
    from ._args import at_least

    at_least(args.folds, "--folds", 2)
    at_least(args.epochs, "--epochs", 1)
    at_least(args.width, "--width", 1)
    at_least(args.threads, "--threads", 1)

    from ..reward import (
        TrainOptions,
        cross_validate,
        samples_from_ratings,
        score_outputs,
        train_reward,
    )

    samples = samples_from_ratings(
        args.ratings, args.results, data=args.data, cache=args.cache, combine=args.combine
    )
    options = TrainOptions(width=args.width, epochs=args.epochs, seed=args.seed)
    cv = cross_validate(samples, folds=args.folds, options=options, num_threads=args.threads)
    model = train_reward(
        samples,
        options=options,
        cv=cv,
        data={
            "ratings": str(args.ratings),
            "results": str(args.results),
            "combine": args.combine,
        },
        num_threads=args.threads,
    )
    path = model.save(args.out)
    accepted = sum(bool(s.accepted) for s in samples)
    print(
        f"train-reward: {len(samples)} rated outputs ({accepted} acceptable) of "
        f"{len({s.case_id for s in samples})} cases"
    )
    print(
        f"cross-validated ({cv.folds} folds by case): accuracy {cv.accuracy:.3f}, AUC {cv.auc:.3f}"
    )
    print(f"wrote {path} and {path.with_suffix('.json')}")
    if args.score is not None:
        table = score_outputs(model, samples)
        args.score.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.score, index=False)
        print(f"wrote {args.score}")
    print(json.dumps(cv.to_dict()))
    return 0

"""``radinpaint finetune-gan``: reward-weighted fine-tuning of the gan inpainter."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``finetune-gan`` subcommand."""
    parser = subparsers.add_parser(
        "finetune-gan",
        help="fine-tune the gan inpainter with a reward model's verdicts (reward-weighted)",
        description=(
            "Fine-tune the gan's generator from --weights (default: the shipped phantom "
            "weights) on crops of --data with random holes; each crop's loss is weighted by "
            "how the reward model (from train-reward) rates the generator's fill, plus a "
            "-log P(acceptable) term (--reward-weight). Writes FILE (.safetensors) and its "
            ".json. With --held-out, reports the reward model's plausibility (mean "
            "P(acceptable), bootstrap 95% CI) of the gan's outputs before and after."
        ),
    )
    parser.add_argument("--reward", required=True, help="reward model (.safetensors)")
    parser.add_argument(
        "--data",
        required=True,
        help="radiographs to train on: a folder, a label table, or phantom:N[:SIZE]",
    )
    parser.add_argument("--out", required=True, help="weights file to write (.safetensors)")
    parser.add_argument(
        "--weights", default=None, help="weights to start from (default: the shipped ones)"
    )
    parser.add_argument("--steps", type=int, default=200, help="optimisation steps (200)")
    parser.add_argument("--batch-size", type=int, default=8, help="crops per step (8)")
    parser.add_argument("--crop", type=int, default=96, help="crop side in pixels (96)")
    parser.add_argument("--lr", type=float, default=5e-5, help="Adam learning rate (5e-5)")
    parser.add_argument(
        "--weighting",
        default="reward",
        choices=["reward", "uniform"],
        help="per-crop loss weights: 1 + strength x P(unacceptable), normalised to mean 1, "
        "or all 1 (default: reward)",
    )
    parser.add_argument(
        "--strength", type=float, default=1.0, help="weight growth of rejected fills (1.0)"
    )
    parser.add_argument(
        "--reward-weight",
        type=float,
        default=0.05,
        help="weight of the -log P(acceptable) term, 0 for none (0.05)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of crops and holes (0)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (cpu)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (all)")
    parser.add_argument(
        "--held-out",
        default=None,
        help="cases to score before and after (a folder, a label table or phantom:N[:SIZE]; "
        "masks from --masks); default: none",
    )
    parser.add_argument(
        "--held-out-seed",
        type=int,
        default=1,
        help="seed of --held-out phantoms, other than the training phantoms' 0 (default 1)",
    )
    parser.add_argument(
        "--masks", default="ground-truth", help="mask provider for --held-out (ground-truth)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Fine-tune, and compare plausibility before and after on held-out cases."""
    from ..reward.before_after import print_tuned
    from ._args import at_least, check_device
    from .run import load_cases

    at_least(args.steps, "--steps", 0)
    at_least(args.batch_size, "--batch-size", 1)
    at_least(args.threads, "--threads", 1)
    check_device(args.device)

    from ..inpainters.gan.finetune import finetune_gan

    data = load_cases(args.data)
    path = finetune_gan(
        data,
        reward=args.reward,
        out=args.out,
        weights=args.weights,
        steps=args.steps,
        batch_size=args.batch_size,
        crop=args.crop,
        lr=args.lr,
        weighting=args.weighting,
        strength=args.strength,
        reward_weight=args.reward_weight,
        seed=args.seed,
        device=None if args.device == "auto" else args.device,
        num_threads=args.threads,
        progress=not args.no_progress,
    )
    print_tuned(path, None if args.held_out is None else before_after(args, str(path)))
    return 0


def before_after(args: argparse.Namespace, tuned: str) -> dict[str, dict[str, Any]]:
    """Plausibility of the gan's outputs on ``--held-out`` with the base and tuned weights."""
    from ..registry import get_inpainter, get_mask_provider
    from ..reward.before_after import plausibility_before_after
    from .run import load_cases

    cases = load_cases(args.held_out, seed=args.held_out_seed)
    masks = get_mask_provider(args.masks).masks(cases)
    base = get_inpainter("gan", weights=args.weights) if args.weights else get_inpainter("gan")
    tuned_gan = get_inpainter("gan", weights=tuned)
    return plausibility_before_after(
        args.reward, cases, masks, {"before": base, "after": tuned_gan}, seed=args.seed
    )

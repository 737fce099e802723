"""``radinpaint finetune-diffusion``: reward-weighted fine-tuning of the diffusion inpainter."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``finetune-diffusion`` subcommand."""
    parser = subparsers.add_parser(
        "finetune-diffusion",
        help="fine-tune the diffusion inpainter on its own samples weighted by a reward model",
        description=(
            "Fine-tune the diffusion denoiser from --weights (default: the shipped phantom "
            "weights). Each round inpaints every --data case --variants times in --mode with "
            "the current model, scores the outputs with the reward model (from "
            "train-reward), and trains the denoising loss on them weighted by exp(P/beta), "
            "normalised (reward-weighted regression; --weighting uniform for the control). "
            "Writes FILE (.safetensors) and its .json. With --held-out, reports the reward "
            "model's plausibility (mean P(acceptable), bootstrap 95% CI) of the outputs "
            "before and after."
        ),
    )
    parser.add_argument("--reward", required=True, help="reward model (.safetensors)")
    parser.add_argument(
        "--data",
        required=True,
        help="cases to generate from: a folder, a label table, or phantom:N[:SIZE]",
    )
    parser.add_argument("--out", required=True, help="weights file to write (.safetensors)")
    parser.add_argument(
        "--weights", default=None, help="weights to start from (default: the shipped ones)"
    )
    parser.add_argument(
        "--mode",
        default="redraw",
        choices=["redraw", "inpaint"],
        help="the mode whose outputs the reward model rated (redraw)",
    )
    parser.add_argument(
        "--strength", type=float, default=None, help="redraw strength (the weights' default)"
    )
    parser.add_argument("--rounds", type=int, default=2, help="generate-score-train rounds (2)")
    parser.add_argument("--variants", type=int, default=4, help="samples per case and round (4)")
    parser.add_argument("--steps", type=int, default=100, help="steps per round (100)")
    parser.add_argument("--batch-size", type=int, default=16, help="samples per step (16)")
    parser.add_argument("--lr", type=float, default=5e-4, help="AdamW learning rate (5e-4)")
    parser.add_argument(
        "--weighting",
        default="rwr",
        choices=["rwr", "uniform"],
        help="per-sample weights: exp(P(acceptable)/beta) normalised to mean 1, or all 1 "
        "(default: rwr)",
    )
    parser.add_argument("--beta", type=float, default=0.1, help="temperature of rwr (0.1)")
    parser.add_argument(
        "--masks", default="ground-truth", help="mask provider for the cases (ground-truth)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of samples and batches (0)")
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
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Fine-tune, and compare plausibility before and after on held-out cases."""
    from ..registry import get_mask_provider
    from ..reward.before_after import print_tuned
    from ._args import at_least, check_device
    from .run import load_cases

    for value, name in (
        (args.rounds, "--rounds"),
        (args.steps, "--steps"),
    ):
        at_least(value, name, 0)
    for value, name in ((args.variants, "--variants"), (args.batch_size, "--batch-size")):
        at_least(value, name, 1)
    at_least(args.threads, "--threads", 1)
    check_device(args.device)

    from ..inpainters.diffusion.finetune import finetune_diffusion

    cases = load_cases(args.data)
    path = finetune_diffusion(
        cases,
        reward=args.reward,
        out=args.out,
        masks=get_mask_provider(args.masks).masks(cases),
        weights=args.weights,
        mode=args.mode,
        strength=args.strength,
        rounds=args.rounds,
        variants=args.variants,
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        weighting=args.weighting,
        beta=args.beta,
        seed=args.seed,
        device=None if args.device == "auto" else args.device,
        num_threads=args.threads,
        progress=not args.no_progress,
    )
    print_tuned(path, None if args.held_out is None else before_after(args, str(path)))
    return 0


def before_after(args: argparse.Namespace, tuned: str) -> dict[str, dict[str, Any]]:
    """Plausibility of the diffusion outputs on ``--held-out`` with the base and tuned
    weights (one output per case, the same seeds)."""
    from ..registry import get_inpainter, get_mask_provider
    from ..reward.before_after import plausibility_before_after
    from .run import load_cases

    cases = load_cases(args.held_out, seed=args.held_out_seed)
    masks = get_mask_provider(args.masks).masks(cases)
    models = {}
    for label, weights in (("before", args.weights), ("after", tuned)):
        options: dict[str, Any] = {"mode": args.mode, "weights": weights}
        if args.strength is not None:
            options["strength"] = args.strength
        models[label] = get_inpainter("diffusion", **options)
    return plausibility_before_after(args.reward, cases, masks, models, seed=args.seed)

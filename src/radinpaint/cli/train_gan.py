"""``radinpaint train-gan``: train the ``gan`` inpainter on a folder of radiographs."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train-gan`` subcommand."""
    parser = subparsers.add_parser(
        "train-gan",
        help="train the gan inpainter on your radiographs (self-supervised, resumable)",
        description=(
            "Train radinpaint's inpainting GAN on the radiographs in DIR (a folder, or a "
            "label table; artifact-free versions in DIR/clean are used when present) with "
            "random free-form and marker-shaped holes (--holes), optionally giving every "
            "crop a real radiograph's grain, contrast and borders (--appearance real, for "
            "phantoms). Writes FILE (.safetensors) and its "
            ".json config; the training state is saved beside them every --checkpoint-every "
            "steps, and running the same command again resumes where it stopped. Use the "
            "result with get_inpainter('gan', weights=FILE)."
        ),
    )
    parser.add_argument("--data", required=True, help="folder or label table of radiographs")
    parser.add_argument("--out", required=True, help="weights file to write (.safetensors)")
    parser.add_argument("--steps", type=int, default=2000, help="total steps (default 2000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of init, crops and holes")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default cpu)")
    parser.add_argument("--batch-size", type=int, default=8, help="crops per step (8)")
    parser.add_argument("--crop", type=int, default=96, help="crop side in pixels (96)")
    parser.add_argument(
        "--checkpoint-every", type=int, default=100, help="save every N steps (100)"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument(
        "--holes",
        default="default",
        help=(
            "hole kinds: a preset (default: free-form strokes, plates, letters, text, "
            "rulers; markers: rounded lead plates with their halo, rotated and "
            "border-crossing plates, text bands, collimation edges, letters, strokes; all) "
            "or a comma-separated list of kinds (default: default)"
        ),
    )
    parser.add_argument(
        "--init",
        default=None,
        metavar="FILE",
        help=(
            "generator weights (.safetensors written by train-gan, same architecture) to "
            "start from instead of random ones: fine-tuning (default: none)"
        ),
    )
    parser.add_argument(
        "--appearance",
        default="none",
        choices=["none", "real"],
        help=(
            "none: crops as they are; real: real-radiograph grain, contrast curve, bias "
            "field, collimation and border frames added to each crop, for training on "
            "phantoms (default: none)"
        ),
    )
    parser.add_argument(
        "--resume",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="continue from the saved training state beside --out (default: yes)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Train and print where the weights went."""
    from ._args import at_least, check_device, existing_path

    at_least(args.steps, "--steps", 0)
    at_least(args.batch_size, "--batch-size", 1)
    at_least(args.crop, "--crop", 1)
    at_least(args.checkpoint_every, "--checkpoint-every", 1)
    at_least(args.threads, "--threads", 1)
    existing_path(args.data, "--data", "a folder of radiographs or a label table")
    if args.init is not None:
        existing_path(args.init, "--init", "a .safetensors file written by train-gan")
    check_device(args.device)

    from ..inpainters.gan.holes import resolve_hole_kinds
    from ..inpainters.gan.train import train_gan

    kinds = resolve_hole_kinds(args.holes)

    path = train_gan(
        args.data,
        out=args.out,
        steps=args.steps,
        batch_size=args.batch_size,
        crop=args.crop,
        seed=args.seed,
        device=None if args.device == "auto" else args.device,
        resume=args.resume,
        progress=not args.no_progress,
        checkpoint_every=args.checkpoint_every,
        num_threads=args.threads,
        hole_kinds=kinds,
        appearance=args.appearance,
        init=args.init,
    )
    print(f"weights: {path}")
    print(f"config:  {path.with_suffix('.json')}")
    return 0

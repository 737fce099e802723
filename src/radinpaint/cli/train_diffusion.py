"""``radinpaint train-diffusion``: train the ``diffusion`` backend's denoiser on radiographs."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train-diffusion`` subcommand."""
    parser = subparsers.add_parser(
        "train-diffusion",
        help="train the diffusion inpainter's denoiser on radiographs (resumable)",
        description=(
            "Train radinpaint's small diffusion model (a diffusers UNet2DModel, DDPM noise "
            "schedule) on the radiographs of --data (a folder, a label table, or "
            "phantom:N[:SIZE]; artifact-free versions are used when known), each "
            "letterboxed into the --size working square. Writes FILE (.safetensors) and its "
            ".json config; the training state is saved beside them every --checkpoint-every "
            "steps, and running the same command again resumes where it stopped (bit for "
            "bit on the CPU). Uses CUDA with bfloat16 autocast when --device cuda/auto finds "
            "a GPU. Use the result with get_inpainter('diffusion', weights=FILE)."
        ),
    )
    parser.add_argument(
        "--data", required=True, help="folder or label table of radiographs, or phantom:N[:SIZE]"
    )
    parser.add_argument("--out", required=True, help="weights file to write (.safetensors)")
    parser.add_argument("--steps", type=int, default=3000, help="total steps (default 3000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of init, batches and noise")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default)")
    parser.add_argument("--batch-size", type=int, default=16, help="images per step (16)")
    parser.add_argument("--size", type=int, default=64, help="working square side (64)")
    parser.add_argument("--lr", type=float, default=1e-3, help="AdamW learning rate (1e-3)")
    parser.add_argument(
        "--channels",
        default="16,32,64,64",
        help="UNet block channels, comma list (default 16,32,64,64)",
    )
    parser.add_argument(
        "--checkpoint-every", type=int, default=250, help="save every N steps (250)"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
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
    from ..errors import InvalidInputError
    from ._args import at_least, check_device
    from .run import data_spec

    at_least(args.steps, "--steps", 0)
    at_least(args.batch_size, "--batch-size", 1)
    at_least(args.size, "--size", 8)
    at_least(args.checkpoint_every, "--checkpoint-every", 1)
    at_least(args.threads, "--threads", 1)
    try:
        channels = [int(c) for c in str(args.channels).split(",") if c.strip()]
    except ValueError:
        channels = []
    if not channels or min(channels) < 1:
        raise InvalidInputError(
            f"--channels {args.channels!r} is not a comma list of whole numbers",
            input="--channels",
            fix="write e.g. --channels 16,32,64,64",
        )
    check_device(args.device)
    spec = data_spec(args.data)

    from ..evaluation.config import dataset_from_config
    from ..inpainters.diffusion.train import train_diffusion

    data = dataset_from_config(spec)
    path = train_diffusion(
        data,
        out=args.out,
        steps=args.steps,
        batch_size=args.batch_size,
        seed=args.seed,
        device=None if args.device == "auto" else args.device,
        resume=args.resume,
        progress=not args.no_progress,
        checkpoint_every=args.checkpoint_every,
        num_threads=args.threads,
        lr=args.lr,
        unet={"sample_size": args.size, "block_out_channels": channels},
    )
    print(f"weights: {path}")
    print(f"config:  {path.with_suffix('.json')}")
    return 0

"""Train the shipped ``diffusion`` checkpoint on phantoms, on the CPU, with a fixed seed.

Reproduces ``src/radinpaint/inpainters/diffusion/weights/phantom-diffusion.safetensors``
(+ ``.json``)::

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python benchmarks/train_diffusion_phantoms.py

Data: the artifact-free ``clean_image`` of ``--train-phantoms`` phantoms of the default
generator version (2: RSNA-like aspect ratios, as the bench draws them), 512 pixels high,
seed 100 (the bench uses seed 0), each letterboxed into the 64x64 working square.

Training writes to ``--workdir`` (default ``runs/train-diffusion-phantoms``; resumable: run
the command again after an interruption), then copies the weights and their JSON config into
the package (``--ship-to``); ``--no-ship`` leaves the package alone. Each batch, its noise,
the learning-rate warm-up and the moving average's decay depend only on the seed and the
step, so the weights after step N of a longer run are those of a run with ``--steps N``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
WEIGHTS = REPO / "src/radinpaint/inpainters/diffusion/weights/phantom-diffusion.safetensors"
WORKDIR = REPO / "runs/train-diffusion-phantoms"  # training state lives here (not shipped)
TRAIN_SEED = 100  # phantoms PhantomDataset(n, seed=TRAIN_SEED)
PHANTOM_VERSION = 2
SETTINGS = {
    "steps": 1600,
    "batch_size": 16,
    "seed": 0,
    "lr": 1e-3,
    "checkpoint_every": 200,
}


def main() -> None:
    """Train and ship the weights."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--workdir", type=Path, default=WORKDIR, help="where training writes (resumable)"
    )
    parser.add_argument("--ship-to", type=Path, default=WEIGHTS, help="copy the weights here")
    parser.add_argument("--no-ship", action="store_true", help="leave the package alone")
    parser.add_argument("--steps", type=int, default=SETTINGS["steps"])
    parser.add_argument("--train-phantoms", type=int, default=1500)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from radinpaint.datasets import PhantomDataset
    from radinpaint.inpainters.diffusion.checkpoint import config_path, state_paths
    from radinpaint.inpainters.diffusion.model import DEFAULT_UNET_CONFIG
    from radinpaint.inpainters.diffusion.train import (
        DEFAULT_PLACEMENT,
        load_working_images,
        train_diffusion,
    )

    trained = args.workdir / "phantom-diffusion.safetensors"
    state = state_paths(trained)[1]
    done = json.loads(state.read_text())["step"] if state.exists() else 0
    size = int(DEFAULT_UNET_CONFIG["sample_size"])
    images = np.zeros((0, size, size), np.float32)  # nothing to place when already trained
    if done < args.steps:
        start = time.perf_counter()
        cases = PhantomDataset(
            args.train_phantoms, seed=TRAIN_SEED, size=args.size, version=PHANTOM_VERSION
        )
        images = load_working_images(
            cases, size=size, placement=DEFAULT_PLACEMENT, progress=not args.no_progress
        )
        print(f"placed {len(images)} phantoms in {time.perf_counter() - start:.0f} s")
    start = time.perf_counter()
    train_diffusion(
        images,
        out=trained,
        steps=args.steps,
        batch_size=SETTINGS["batch_size"],
        seed=SETTINGS["seed"],
        lr=SETTINGS["lr"],
        device="cpu",
        resume=True,
        progress=not args.no_progress,
        checkpoint_every=SETTINGS["checkpoint_every"],
    )
    print(
        f"trained {args.steps} steps in {time.perf_counter() - start:.0f} s "
        f"({args.threads} threads); training state in {args.workdir}"
    )
    if not args.no_ship:
        args.ship_to.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(trained, args.ship_to)
        shutil.copyfile(config_path(trained), config_path(args.ship_to))
        print(f"shipped {args.ship_to}")


if __name__ == "__main__":
    main()

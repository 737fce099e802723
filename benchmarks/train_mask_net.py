"""Rebuild the packaged ``learned`` mask network from phantoms (fixed seed, CPU).

    OMP_NUM_THREADS=2 python benchmarks/train_mask_net.py

writes ``src/radinpaint/masks/weights/mask_unet.safetensors`` and ``mask_unet.json``.
Training phantoms use ``--phantom-seed`` (default 1000), disjoint from the benchmark's
(``bench_masks.py`` uses seed 7). Same arguments and torch build, same weights.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

DEFAULT_OUT = (
    Path(__file__).resolve().parents[1] / "src" / "radinpaint" / "masks" / "weights" / "mask_unet"
)


def main(argv: list[str] | None = None) -> int:
    """Train and save the network; prints the loss as it goes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="training phantoms")
    parser.add_argument("--size", type=int, default=512, help="phantom size (px)")
    parser.add_argument("--phantom-seed", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=700)
    parser.add_argument("--batch", type=int, default=6)
    parser.add_argument("--crop", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--threshold", type=float, default=0.95, help="probability cut stored in the config"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    import attrs
    import torch

    from radinpaint.datasets.phantom import make_phantoms
    from radinpaint.masks.learned import save_mask_net, train_mask_net

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    # version 1 (square) phantoms: the shipped weights were trained on them
    cases = make_phantoms(args.n, seed=args.phantom_seed, size=args.size, version=1)
    print(f"{len(cases)} phantoms in {time.perf_counter() - t0:.1f} s", flush=True)
    t1 = time.perf_counter()
    net = train_mask_net(
        cases,
        steps=args.steps,
        batch_size=args.batch,
        input_size=args.size,
        crop=args.crop,
        lr=args.lr,
        seed=args.seed,
        log=lambda step, loss: print(
            f"step {step:5d}  loss {loss:.4f}  {time.perf_counter() - t1:7.1f} s", flush=True
        ),
    )
    net.config.training.update(
        {
            "data": f"make_phantoms({args.n}, seed={args.phantom_seed}, size={args.size}, "
            "version=1)",
            "seconds": round(time.perf_counter() - t1, 1),
            "torch": torch.__version__,
            "threads": args.threads,
            "script": "benchmarks/train_mask_net.py",
        }
    )
    net.config = attrs.evolve(net.config, threshold=args.threshold)
    path = save_mask_net(net, args.out)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB) in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

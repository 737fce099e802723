"""GPU throughput of the diffusers inpainter: batched against one image at a time.

Builds a random-weight inpainting pipeline with the layer sizes of Stable Diffusion 1.5
inpainting (``save_random_inpaint_pipeline(size="sd15")``: UNet 320/640/1280/1280 with 9
input channels, the SD VAE, a 12-layer CLIP text encoder), saves it to a temporary folder,
loads it through the ``diffusers`` backend in float16 on CUDA and inpaints ``--images``
radiographs of 512x512 with ``--steps`` steps, first with ``batch_size=1`` and then with
``--batch`` images per pipeline call. Prints images per second for both, their ratio, and
the peak GPU memory. The weights are random, so only the speed means anything.

Refuses to run without CUDA (exit status 2): timing a 1-billion-parameter UNet on a CPU says
nothing about the GPU path.

Usage::

    python benchmarks/bench_diffusers_gpu.py                 # 32 images, 20 steps, batch 8
    python benchmarks/bench_diffusers_gpu.py --images 64 --batch 16 --steps 30
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return the process exit status."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=32)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--size", type=int, default=512)
    args = p.parse_args(argv)

    import torch

    if not torch.cuda.is_available():
        print(
            "bench_diffusers_gpu: no CUDA GPU is available here; this benchmark times the GPU "
            "path only and was not run.",
            file=sys.stderr,
        )
        return 2

    import numpy as np

    from radinpaint import InpaintRequest, get_inpainter
    from radinpaint.inpainters.diffusers.pipeline import clear_pipeline_cache
    from radinpaint.inpainters.diffusers.tiny import save_random_inpaint_pipeline
    from radinpaint.records import Mask, Radiograph

    rng = np.random.default_rng(0)
    side = args.size
    mask_arr = np.zeros((side, side), bool)
    mask_arr[side // 10 : side // 10 + side // 8, side // 2 : side // 2 + side // 6] = True
    mask = Mask(mask_arr, "bench")
    requests = [
        InpaintRequest(
            Radiograph.from_uint(rng.integers(0, 65536, (side, side), dtype=np.uint16), 16),
            mask,
            prompt="a clean hand radiograph",
            seed=i,
            case_id=f"img{i}",
        )
        for i in range(args.images)
    ]

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        folder = save_random_inpaint_pipeline(tmp, size="sd15", seed=0)
        print(
            f"built and saved an SD-1.5-inpainting-sized random pipeline in "
            f"{time.perf_counter() - t0:.1f} s"
        )

        def run(batch: int) -> float:
            backend = get_inpainter(
                "diffusers",
                model=str(folder),
                steps=args.steps,
                size=side,
                geometry="letterbox",
                batch_size=batch,
                device="cuda",
                dtype="float16",
            )
            backend.inpaint(requests[: min(batch, 2)])  # warm-up: load, allocate, autotune
            torch.cuda.synchronize()
            start = time.perf_counter()
            results = backend.inpaint(requests)
            torch.cuda.synchronize()
            seconds = time.perf_counter() - start
            assert len(results) == len(requests)
            return len(requests) / seconds

        torch.cuda.reset_peak_memory_stats()
        one = run(1)
        batched = run(args.batch)
        peak = torch.cuda.max_memory_allocated() / 2**30
        clear_pipeline_cache()

    name = torch.cuda.get_device_name(0)
    print(f"device: {name}; {args.images} images {side}x{side}, {args.steps} steps, float16")
    print(f"one at a time: {one:.2f} images/s")
    print(f"batch of {args.batch}: {batched:.2f} images/s ({batched / one:.2f}x)")
    print(f"peak GPU memory: {peak:.1f} GiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

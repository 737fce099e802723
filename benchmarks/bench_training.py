"""Training and ensemble-inference throughput of the study's models, against the GPU's roofline.

Three measurements:

1. CPU: training steps of a tiny ResNet (``resnet``, depths 1-1-1-1, base width 8) at the
   study's 320 x 320 input, as the training engine runs them (forward, L1 loss, backward,
   AdamW step) on synthetic batches. ``--cpu-arch resnet50`` times the study's ResNet-50
   itself on the CPU (a few steps: slow).
2. GPU: training steps of the study's ResNet-50 at 320 x 320 with AMP (bf16 by default)
   and channels-last; images/s and the share of the device's dense bf16 peak, counting
   3 x the forward FLOPs per image (forward + backward).
3. GPU: inference of a study-shaped ensemble (5 male + 5 female bone-age ResNet-50 folds and
   5 sex ResNet-50: 10 forward passes per image): the networks alone on device tensors, and
   end to end through ``EnsemblePredictor.predict`` (CPU preprocessing included).

Without a CUDA device, parts 2 and 3 print "no CUDA device: skipped". The peak comes from a
small table keyed by ``torch.cuda.get_device_name()`` (H100 SXM / H200 989, A100 312, L4 121
dense bf16 TFLOPS, from the vendors' data sheets); for another GPU pass ``--peak-tflops``.
Run with::

    python benchmarks/bench_training.py                       # CPU figures; GPU parts if any
    python benchmarks/bench_training.py --gpu-batch 256 --gpu-steps 50
    python benchmarks/bench_training.py --peak-tflops 362     # e.g. an L40S
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

PEAK_BF16_TFLOPS: dict[str, float] = {
    "H100 SXM": 989.0,
    "H100 80GB HBM3": 989.0,  # the SXM part's device name
    "H200": 989.0,
    "A100": 312.0,
    "L4": 121.0,
}
"""Dense bf16 tensor-core peaks (TFLOPS) by a part of the CUDA device name."""

TINY = {"depths": [1, 1, 1, 1], "base_width": 8}


def peak_tflops(device_name: str, given: float | None) -> float | None:
    """The bf16 peak for ``device_name`` (``given`` wins), matching whole words of the name."""
    if given:
        return given
    words = device_name.replace("-", " ").split()
    for key, value in PEAK_BF16_TFLOPS.items():
        k = key.split()
        if any(words[i : i + len(k)] == k for i in range(len(words))):
            return value
    return None


def build(arch: str, size: int):
    """A one-output member network and its forward FLOPs per image at ``size``."""
    from radinpaint.predictors.architectures import build_model, conv_flops

    model = build_model(arch, num_outputs=1, in_chans=3, options=TINY if arch == "resnet" else {})
    return model, conv_flops(model, (1, 3, size, size))


def time_training(
    model, size: int, batch: int, steps: int, device: str, amp
) -> tuple[float, float]:
    """Images/s of training steps (forward, L1, backward, AdamW) on a synthetic batch:
    by the wall clock, and by this process's CPU time (what free cores would give)."""
    import torch
    import torch.nn.functional as F

    model = model.to(device)
    if device.startswith("cuda"):
        model = model.to(memory_format=torch.channels_last)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 3, size, size, generator=gen).to(device)
    if device.startswith("cuda"):
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.rand(batch, generator=gen).to(device)

    def step() -> None:
        with torch.autocast(device.split(":")[0], dtype=amp or torch.float32, enabled=bool(amp)):
            out = model(x)[:, 0].float()
        loss = F.l1_loss(out, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    for _ in range(2 if device == "cpu" else 5):  # warm-up
        step()
    sync()
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        step()
    sync()
    images = batch * steps
    return images / (time.perf_counter() - start), images / (time.process_time() - cpu)


def cpu_part(args) -> None:
    import torch

    torch.set_num_threads(args.threads)
    model, fwd = build(args.cpu_arch, args.size)
    params = sum(p.numel() for p in model.parameters())
    load = os.getloadavg()[0]
    rate, per_cpu = time_training(model, args.size, args.cpu_batch, args.cpu_steps, "cpu", None)
    print(
        f"CPU training, {args.cpu_arch} ({params / 1e6:.3f} M parameters) at {args.size} px, "
        f"batch {args.cpu_batch}, {args.threads} torch thread(s): {rate:.1f} images/s wall, "
        f"{per_cpu:.1f} images/s per CPU-second ({3 * fwd / 1e9:.3f} GFLOP per image, "
        f"{per_cpu * 3 * fwd / 1e9:.1f} GFLOP per CPU-second; load average {load:.1f} on "
        f"{os.cpu_count()} cores)"
    )


def gpu_part(args) -> None:
    import torch

    if not torch.cuda.is_available():
        print("GPU training, resnet50 at 320 px: no CUDA device: skipped")
        print("GPU ensemble inference, 15 x resnet50: no CUDA device: skipped")
        return
    from radinpaint.predictors.engine import resolve_amp

    name = torch.cuda.get_device_name()
    peak = peak_tflops(name, args.peak_tflops)
    if peak is None:
        print(f"{name}: its bf16 peak is not in the table; pass --peak-tflops for the share")
    amp = resolve_amp(args.amp, "cuda")
    model, fwd = build("resnet50", args.size)
    flops = 3 * fwd
    rate, _ = time_training(model, args.size, args.gpu_batch, args.gpu_steps, "cuda", amp)
    share = f", {rate * flops / (peak * 1e12):.1%} of {peak:.0f} TFLOPS" if peak else ""
    print(
        f"GPU training, resnet50 at {args.size} px, batch {args.gpu_batch}, amp {amp}, "
        f"channels-last on {name}: {rate:.0f} images/s ({flops / 1e9:.1f} GFLOP per image "
        f"= {rate * flops / 1e12:.1f} TFLOPS{share})"
    )
    inference_part(args, name, peak, fwd, amp)


def inference_part(args, name: str, peak: float | None, fwd: float, amp) -> None:
    import numpy as np
    import torch

    sys.path.insert(0, str(Path(__file__).parent))
    from bench_predictors import study_like
    from radinpaint.records import Radiograph

    predictor = study_like("cuda", args.gpu_batch)
    nets = [m.module.cuda().eval().to(memory_format=torch.channels_last) for m in predictor.members]
    per_image = 10  # 5 bone-age folds of the case's sex + 5 sex members
    x = torch.rand(args.gpu_batch, 3, args.size, args.size, device="cuda")
    x = x.contiguous(memory_format=torch.channels_last)

    def run() -> None:
        with torch.inference_mode(), torch.autocast("cuda", dtype=amp, enabled=bool(amp)):
            for net in nets[:5] + nets[10:]:  # the ten forwards one case costs
                net(x)

    run()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(args.gpu_steps):
        run()
    torch.cuda.synchronize()
    rate = args.gpu_batch * args.gpu_steps / (time.perf_counter() - start)
    flops = per_image * fwd
    share = f", {rate * flops / (peak * 1e12):.1%} of {peak:.0f} TFLOPS" if peak else ""
    print(
        f"GPU ensemble inference, networks only ({per_image} resnet50 forwards per image, "
        f"batch {args.gpu_batch}): {rate:.0f} images/s ({rate * flops / 1e12:.1f} TFLOPS{share})"
    )
    rng = np.random.default_rng(0)
    images = [
        Radiograph.from_uint(rng.integers(1, 256, (args.size, args.size)).astype(np.uint8), 8)
        for _ in range(min(256, args.gpu_batch * 4))
    ]
    images = images * max(1, args.n_predict // len(images))
    male = [bool(i % 2) for i in range(len(images))]
    predictor.predict(images[: args.gpu_batch], male=male[: args.gpu_batch])
    torch.cuda.synchronize()
    start = time.perf_counter()
    predictor.predict(images, male=male)
    torch.cuda.synchronize()
    rate = len(images) / (time.perf_counter() - start)
    share = f", {rate * flops / (peak * 1e12):.1%} of {peak:.0f} TFLOPS" if peak else ""
    print(
        f"GPU ensemble inference, end to end (EnsemblePredictor.predict, {len(images)} "
        f"{args.size}x{args.size} 8-bit images): {rate:.0f} images/s{share}"
    )


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=320, help="input side (the study's 320)")
    parser.add_argument("--cpu-arch", default="resnet", help="resnet (tiny) or resnet50")
    parser.add_argument("--cpu-batch", type=int, default=16)
    parser.add_argument("--cpu-steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads on the CPU")
    parser.add_argument("--gpu-batch", type=int, default=128)
    parser.add_argument("--gpu-steps", type=int, default=30)
    parser.add_argument("--n-predict", type=int, default=2048, help="images, end-to-end run")
    parser.add_argument("--amp", default="bf16", choices=("auto", "bf16", "fp16", "none"))
    parser.add_argument(
        "--peak-tflops", type=float, default=None, help="the GPU's dense bf16 peak, if not known"
    )
    parser.add_argument("--no-cpu", action="store_true", help="skip the CPU part")
    args = parser.parse_args()
    if not args.no_cpu:
        cpu_part(args)
    gpu_part(args)


if __name__ == "__main__":
    main()

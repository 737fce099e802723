"""Ensemble inference speed: batched EnsemblePredictor against a naive per-image loop.

Both run in the same process on the same images (512 x 512 phantoms, 16-bit), end to end
including preprocessing. The naive baseline preprocesses each image for each member and runs
each member on a batch of one. On a GPU the script also reports the fraction of the GPU's
dense bf16 peak reached, from a FLOP count of the members (torch's FLOP counter).

    OMP_NUM_THREADS=2 python benchmarks/bench_predictors.py                  # shipped models
    python benchmarks/bench_predictors.py --predictor study-like --n 64      # 10 x ResNet-50
    python benchmarks/bench_predictors.py --device cuda --n 2000             # GPU
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

# dense bf16 tensor-core peaks (FLOP/s) from the vendors' data sheets
BF16_PEAK = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12, "A10G": 70e12}


def study_like(device: str, batch_size: int):
    """Ten random ResNet-50 bone-age members (5 male, 5 female) + 5 sex: the study's shape."""
    import torch

    from radinpaint.predictors import EnsemblePredictor, Member, MemberSpec
    from radinpaint.predictors.preprocessing import STUDY_320

    torch.manual_seed(0)
    members = []
    for subset in ("male", "female"):
        for k in range(5):
            spec = MemberSpec(
                f"{subset}{k}", "resnet50", ("bone_age",), STUDY_320, sex_subset=subset
            )
            members.append(Member.build(spec))
    members += [
        Member.build(MemberSpec(f"sex{k}", "resnet50", ("male",), STUDY_320)) for k in range(5)
    ]
    return EnsemblePredictor(
        "study-like", members, device=device, batch_size=batch_size, sex_from_prediction=True
    )


def flops_per_image(predictor) -> float:
    """FLOPs one image costs: every member that runs on it (half the sex-specific ones)."""
    from radinpaint.predictors.architectures import conv_flops

    total = 0.0
    for m in predictor.members:
        shape = (1, *m.spec.preprocessing.input_shape())
        f = conv_flops(m.module.cpu(), shape)
        total += f * (0.5 if m.spec.sex_subset is not None else 1.0)
    predictor.to(predictor.device)
    return total


def main() -> None:
    """Time both paths and print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--predictor", default="phantom-ensemble", help="name or 'study-like'")
    parser.add_argument("--n", type=int, default=512, help="images for the batched run")
    parser.add_argument("--n-naive", type=int, default=64, help="images for the naive loop")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="batched runs; the best counts")
    args = parser.parse_args()

    import torch

    from radinpaint import get_predictor
    from radinpaint.datasets.phantom import make_phantoms

    torch.set_num_threads(args.threads)
    if args.predictor == "study-like":
        predictor = study_like(args.device, args.batch_size)
    else:
        predictor = get_predictor(args.predictor, device=args.device, batch_size=args.batch_size)
    base = [c.image for c in make_phantoms(min(args.n, 256), seed=123, size=512)]
    images = [base[i % len(base)] for i in range(args.n)]
    male = [bool(i % 2) for i in range(args.n)]

    predictor.predict(images[: args.batch_size], male=male[: args.batch_size])  # warm-up
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        fast = predictor.predict(images, male=male)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    batched = args.n / min(times)

    n_naive = min(args.n_naive, args.n)
    start = time.perf_counter()
    slow = predictor.predict_naive(images[:n_naive], male=male[:n_naive])
    naive = n_naive / (time.perf_counter() - start)

    # same numbers both ways (AMP on a GPU gives small differences)
    diff = float(np.nanmax(np.abs(fast.member_bone_age[:n_naive] - slow.member_bone_age)))
    figures = {
        "predictor": predictor.name,
        "members": len(predictor.members),
        "device": args.device,
        "torch_threads": args.threads,
        "images": args.n,
        "image_size": list(images[0].shape),
        "batched_images_per_s": round(batched, 1),
        "naive_images_per_s": round(naive, 1),
        "speedup": round(batched / naive, 2),
        "max_member_bone_age_diff_months": diff,
    }
    flops = flops_per_image(predictor)
    figures["gflop_per_image"] = round(flops / 1e9, 3)
    figures["achieved_tflops"] = round(flops * batched / 1e12, 4)
    if args.device.startswith("cuda"):
        name = torch.cuda.get_device_name()
        peak = next((v for k, v in BF16_PEAK.items() if k in name), None)
        figures["gpu"] = name
        if peak:
            figures["fraction_of_bf16_peak"] = round(flops * batched / peak, 4)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

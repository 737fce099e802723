"""Phantom generation speed on one core: phantoms per second at 512x512.

Target: 200 phantoms at 512x512 in under 20 s on one core. Run with::

    OMP_NUM_THREADS=1 python benchmarks/bench_phantoms.py [--n 200] [--size 512]

``--phantom-version 1`` measures the square version-1 phantoms (the documented figures);
the default is the generator's default version (2: ``size`` high, mostly portrait, so
fewer pixels per phantom).

``--learnability N`` also checks that bone age and sex can be learned from the pixels, but
not trivially: a small CNN is trained on ``0.8 N`` phantoms (cropped to the hand, longest
side 128 px) and scored on the rest, beside an oracle that reads the generating parameters
(single thread; N=2000 with 24 epochs takes about 15 minutes on an idle core)::

    OMP_NUM_THREADS=1 python benchmarks/bench_phantoms.py --learnability 2000 --epochs 24

The baseline measured in the same run is the cost of the same number of 512x512 Gaussian
blurs of white noise (what any noisy synthetic image costs at least), so the ratio is
comparable across machines.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")


def main() -> None:
    """Time make_phantom for --n seeds and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--learnability", type=int, default=0, metavar="N")
    parser.add_argument("--epochs", type=int, default=24)
    parser.add_argument("--phantom-version", default=None, help="generator version (1 or 2)")
    args = parser.parse_args()
    from radinpaint.datasets.phantom import PHANTOM_VERSION

    version = args.phantom_version or PHANTOM_VERSION
    if args.learnability:
        oracle(4000)
        learnability(args.learnability, args.epochs, version)
        return

    import cv2
    import numpy as np

    cv2.setNumThreads(1)
    from radinpaint.datasets.phantom import make_phantom

    make_phantom(0, size=args.size, version=version)  # warm-up (imports, first-call costs)
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    for _ in range(args.n):
        noise = rng.standard_normal((args.size, args.size), dtype=np.float32)
        cv2.GaussianBlur(noise, (0, 0), 2.0)
    baseline = time.perf_counter() - t0

    t0 = time.perf_counter()
    for seed in range(args.n):
        make_phantom(seed, size=args.size, version=version)
    total = time.perf_counter() - t0
    clean_t0 = time.perf_counter()
    for seed in range(args.n):
        make_phantom(seed, size=args.size, artifacts=False, version=version)
    clean_total = time.perf_counter() - clean_t0

    shape = f"{args.size}x{args.size}" if version == "1" else f"{args.size} high"
    print(f"phantoms: {args.n} at {shape} (generator version {version}), one core")
    print(f"  with artifacts:    {total:.2f} s total, {args.n / total:.1f} phantoms/s")
    print(f"  without artifacts: {clean_total:.2f} s total, {args.n / clean_total:.1f} phantoms/s")
    print(f"  baseline (noise + blur per image): {baseline:.2f} s; ratio {total / baseline:.1f}x")
    target = 20.0 * args.n / 200.0
    print(f"  target: under {target:.1f} s -> {'met' if total < target else 'NOT met'}")


def oracle(n: int) -> None:
    """What the generating parameters themselves allow (an upper bound for any model)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    from radinpaint.datasets.phantom.anatomy import girls_lead, sample_subject
    from radinpaint.seeds import rng

    subjects = [sample_subject(rng(i, "phantom", "subject"), None, None) for i in range(n)]
    x = np.array([[s.breadth, s.shaft, s.index_ring, s.carpal_scale] for s in subjects])
    male = np.array([s.male for s in subjects])
    age = np.array([s.bone_age_months for s in subjects])
    maturity = np.array([s.maturity for s in subjects])
    half = n // 2
    model = LogisticRegression().fit(x[:half], male[:half])
    auc = roc_auc_score(male[half:], model.predict_proba(x[half:])[:, 1])
    lead = np.array([0.0 if m else girls_lead(a) for m, a in zip(male, age, strict=True)])
    mae_sex_known = np.abs(maturity - lead - age).mean()
    fit = np.polyfit(maturity, age, 3)
    mae_no_sex = np.abs(np.polyval(fit, maturity) - age).mean()
    print(f"oracle (generating parameters, {n} subjects):")
    print(f"  sex AUC from proportions alone: {auc:.3f}")
    print(f"  bone-age MAE from visible maturity, sex known: {mae_sex_known:.2f} months")
    print(f"  bone-age MAE from visible maturity, sex unknown: {mae_no_sex:.2f} months")


def learnability(n: int, epochs: int, version: str) -> None:
    """Train a small CNN on phantoms and print held-out bone-age MAE and sex AUC."""
    import time

    import cv2
    import numpy as np
    import torch
    from sklearn.metrics import roc_auc_score

    from radinpaint.datasets.phantom import make_phantoms

    torch.set_num_threads(1)
    torch.manual_seed(0)
    res = 128
    start = time.perf_counter()
    images, ages, males = [], [], []
    for case in make_phantoms(n, seed=12345, size=256, version=version):
        ys, xs = np.nonzero(case.anatomy_mask.array)
        crop = case.image.pixels[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
        scale = res / max(crop.shape)
        shape = (max(1, int(crop.shape[1] * scale)), max(1, int(crop.shape[0] * scale)))
        small = cv2.resize(crop, shape, interpolation=cv2.INTER_AREA)
        canvas = np.zeros((res, res), np.float32)
        canvas[: small.shape[0], : small.shape[1]] = small
        images.append(canvas)
        ages.append(case.bone_age_months)
        males.append(float(case.male))
    x = torch.tensor(np.stack(images))[:, None]
    age = torch.tensor(ages, dtype=torch.float32)
    male = torch.tensor(males)
    n_train = int(0.8 * n)
    print(f"learnability: {n} phantoms ready in {time.perf_counter() - start:.0f} s")

    def block(c_in: int, c_out: int) -> list[torch.nn.Module]:
        return [
            torch.nn.Conv2d(c_in, c_out, 3, padding=1),
            torch.nn.BatchNorm2d(c_out),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
        ]

    net = torch.nn.Sequential(
        *block(1, 16),
        *block(16, 32),
        *block(32, 48),
        *block(48, 64),
        torch.nn.Flatten(),
        torch.nn.Dropout(0.3),
        torch.nn.Linear(64 * (res // 16) ** 2, 2),
    )
    opt = torch.optim.Adam(net.parameters(), 1.5e-3, weight_decay=1e-4)
    for epoch in range(epochs):
        for group in opt.param_groups:
            group["lr"] = 1.5e-3 * 0.5 * (1 + np.cos(np.pi * epoch / epochs))
        net.train()
        order = torch.randperm(n_train)
        for i in range(0, n_train, 32):
            b = order[i : i + 32]
            out = net(x[b])
            loss = torch.nn.functional.smooth_l1_loss(out[:, 0], (age[b] - 120) / 60)
            loss = loss + torch.nn.functional.binary_cross_entropy_with_logits(out[:, 1], male[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        out = net(x[n_train:])
    held = age[n_train:]
    mae = (out[:, 0] * 60 + 120 - held).abs().mean().item()
    baseline = (held - age[:n_train].mean()).abs().mean().item()
    auc = roc_auc_score(male[n_train:].numpy(), out[:, 1].numpy())
    print(f"small CNN, {epochs} epochs, {n_train} train / {n - n_train} held out, {res} px:")
    print(f"  bone-age MAE {mae:.2f} months (constant-mean baseline {baseline:.2f})")
    print(f"  sex AUC {auc:.3f}")
    print(f"  total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()

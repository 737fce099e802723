"""Decode + study preprocessing speed on the CPU: how many images per second can feed a GPU.

Training the study's ResNet-50 members reads every image once per epoch: decode the PNG,
crop the foreground, resize the longest side to 320 (area), pad to 320 x 320
(``study-320``). This measures that path alone (no network), as the training engine runs
it (:class:`radinpaint.predictors.feeding.ImageSource` through a torch DataLoader), with the
work in the main process and with 1 and N decode workers, plus the split between decoding
and preprocessing in one process. Run with::

    python benchmarks/bench_decode.py                          # shared RSNA samples
    python benchmarks/bench_decode.py --data /data/rsna/boneage-training-dataset --n 500
    python benchmarks/bench_decode.py --workers 1 2 8 --passes 3

Without ``--data`` it reads ``../shared/data/rsna-samples`` beside the checkout, or, when
that is absent, 16-bit 1024-pixel phantoms written to a temporary folder. Every figure is
images per second over ``--passes`` passes over the images (after one warm-up pass, so the
file cache is warm: a cold disk can only be slower). The serial split also reports CPU time
per image, which is what a free core delivers when the machine is shared and wall-clock
rates are not.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "rsna-samples"


def _phantom_folder(n: int) -> Path:
    from radinpaint.datasets import PhantomDataset
    from radinpaint.io import write_image

    folder = Path(tempfile.mkdtemp(prefix="bench-decode-"))
    lines = ["id,boneage,male"]
    for i, case in enumerate(PhantomDataset(n, seed=0, size=1024)):
        write_image(folder / f"{i}.png", case.image)
        lines.append(f"{i},{case.bone_age_months},{case.male}")
    (folder / "labels.csv").write_text("\n".join(lines) + "\n")
    return folder


def _loader_rate(cases, prep, workers: int, passes: int) -> float:
    """Images per second through the engine's DataLoader (evaluation keys, no augment)."""
    import numpy as np
    from torch.utils.data import DataLoader

    from radinpaint.predictors.feeding import EpochBatches, ImageSource, _one_thread

    batches = EpochBatches(16, seed=0)
    batches.indices = np.arange(len(cases))
    extra = {"persistent_workers": True, "worker_init_fn": _one_thread} if workers else {}
    loader = DataLoader(
        ImageSource(cases, prep, None, 0),  # type: ignore[arg-type]
        batch_sampler=batches,  # type: ignore[arg-type]
        num_workers=workers,
        **extra,
    )
    for _ in loader:  # warm-up: workers start, files enter the page cache
        pass
    start = time.perf_counter()
    seen = 0
    for _ in range(passes):
        for x, _idx in loader:
            seen += len(x)
    return seen / (time.perf_counter() - start)


def main() -> None:
    """Measure and print."""
    import numpy as np
    import torch

    from radinpaint.datasets import open_dataset
    from radinpaint.predictors.preprocessing import STUDY_320

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="RSNA table or folder")
    parser.add_argument("--n", type=int, default=None, help="use the first N images")
    parser.add_argument("--passes", type=int, default=2, help="timed passes over the images")
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=None,
        help="worker counts to time (default: 0, 1 and the CPU count)",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.data is not None:
        source = args.data
    elif (SAMPLES / "labels.csv").exists():
        source = SAMPLES / "labels.csv"
    else:
        print(f"no RSNA samples at {SAMPLES}: using 24 phantoms (1024 px, 16-bit)")
        source = _phantom_folder(24) / "labels.csv"
    cases = open_dataset(source)
    if args.n:
        cases = cases[: args.n]
    n = len(cases)
    cpus = os.cpu_count() or 1
    workers = args.workers or sorted({0, 1, cpus})
    prep = STUDY_320

    # the split, in this process: decoding, then the study's preprocessing
    decoded = []
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(n):
        decoded.append(cases[i].image)
    t_decode, c_decode = time.perf_counter() - start, time.process_time() - cpu
    start, cpu = time.perf_counter(), time.process_time()
    for image in decoded:
        prep.finish(prep.geometry(image)[None])
    t_prep, c_prep = time.perf_counter() - start, time.process_time() - cpu
    mpix = np.mean([im.pixels.size for im in decoded]) / 1e6
    depths = sorted({im.bit_depth for im in decoded})
    print(f"data: {source} ({n} images, mean {mpix:.2f} megapixels, bit depth {depths})")
    print(f"CPU: {cpus} logical cores; torch {torch.__version__}; 1 torch thread per process")
    load = os.getloadavg()[0]
    print(f"load average (1 min) at the start: {load:.1f} on {cpus} cores")
    for what, wall, used in (("decode", t_decode, c_decode), ("study-320", t_prep, c_prep)):
        print(
            f"{what:>9} alone, main process: {n / wall:7.1f} images/s wall; "
            f"{1e3 * used / n:6.1f} ms CPU per image = {n / used:6.1f} images/s per free core"
        )
    both = c_decode + c_prep
    print(f"decode + study-320 per free core (CPU time): {n / both:.1f} images/s")
    one = None
    for w in workers:
        rate = _loader_rate(cases, prep, w, args.passes)
        label = "main process" if w == 0 else f"{w} worker{'s' if w > 1 else ''}"
        if w == 1:
            one = rate
        scale = f"  ({rate / one:.2f} x 1 worker)" if one and w > 1 else ""
        print(f"decode + study-320, DataLoader, {label:>12}: {rate:7.1f} images/s{scale}")
    # later epochs: the engine's decode cache, read back with the training augmentation
    from radinpaint.predictors.feeding import GeometryCache, ImageSource
    from radinpaint.predictors.training import TrainConfig

    with tempfile.TemporaryDirectory() as tmp:
        cache = GeometryCache(Path(tmp) / "images", n, prep.size)
        fill = ImageSource(cases, prep, None, 0, cache)  # type: ignore[arg-type]
        for i in range(n):
            fill[(-1, i)]
        source = ImageSource(cases, prep, TrainConfig(), 0, cache)  # type: ignore[arg-type]
        start, cpu = time.perf_counter(), time.process_time()
        for p in range(args.passes):
            for i in range(n):
                source[(p, i)]
        wall, used = time.perf_counter() - start, time.process_time() - cpu
        k = n * args.passes
        print(
            f"later epochs (cached + augmented), main process: {k / wall:7.1f} images/s wall; "
            f"{1e3 * used / k:.1f} ms CPU per image = {k / used:.1f} images/s per free core"
        )


if __name__ == "__main__":
    main()

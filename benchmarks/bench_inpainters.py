"""Inpainting backends on phantoms: speed, in-mask error, outside-mask exactness.

For each backend (default: the classical ones and ``identity``; add ``gan`` or any other
registered name with ``--backends``) it prints:

- speed: milliseconds per 16-bit image of 512x512 and 2048x2048 with one marker-sized mask
  (a lead plate of about 5% of the side), median of ``--repeat`` calls of one request each,
  and the ratio to ``identity`` measured in the same run;
- in-mask error against the artifact-free phantom on ``--n`` phantoms (512x512, 16-bit):
  MAE inside the artifact mask (in 16-bit grey levels and in [0, 1] units) and SSIM over
  each mask component's bounding box (grown by 4 px), ``skimage.metrics.structural_similarity``;
- the same errors restricted to mask components that overlap the hand (the hard cases);
  phantoms rarely burn artifacts onto the hand, so a second experiment puts one
  marker-sized lead plate (grey 0.95) on a random point of each phantom's hand and scores
  against the clean image: how well a backend redraws anatomy it must invent;
- outside-mask exactness: the fraction of images whose pixels outside the mask are
  unchanged bit for bit;
- baselines in the same run: ``identity`` (the artifact left in place) and a ring-mean fill
  (each component filled with the mean of a 3-px ring around it).

Run with::

    OMP_NUM_THREADS=1 python benchmarks/bench_inpainters.py [--n 200] [--backends telea,gan]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

DEFAULT_BACKENDS = "identity,telea,navier-stokes,biharmonic"


def _marker_mask(size: int):
    """A lead-plate-sized rectangle near the top-left corner, over background."""
    import numpy as np

    from radinpaint.records import Mask

    arr = np.zeros((size, size), dtype=bool)
    h, w = max(4, size * 5 // 100), max(3, size * 4 // 100)
    y0, x0 = size // 12, size // 12
    arr[y0 : y0 + h, x0 : x0 + w] = True
    return Mask(arr, "marker")


def _hand_mask(anatomy, size: int, seed: int):
    """A marker-sized rectangle centred on a random pixel of the hand, inside the image."""
    import numpy as np

    from radinpaint.records import Mask
    from radinpaint.seeds import rng

    ys, xs = np.nonzero(anatomy)
    h, w = max(4, size * 5 // 100), max(3, size * 4 // 100)
    arr = np.zeros(anatomy.shape, dtype=bool)
    if ys.size == 0:
        return Mask(arr, "hand-marker")
    k = int(rng(seed, "hand").integers(ys.size))
    y0 = int(np.clip(ys[k] - h // 2, 0, anatomy.shape[0] - h))
    x0 = int(np.clip(xs[k] - w // 2, 0, anatomy.shape[1] - w))
    arr[y0 : y0 + h, x0 : x0 + w] = True
    return Mask(arr, "hand-marker")


def _time_ms(inpainter, request, repeat: int) -> float:
    inpainter.inpaint([request])  # warm-up: imports, first-call costs
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        inpainter.inpaint([request])
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def _components(mask):
    import cv2
    import numpy as np

    n, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    return [labels == k for k in range(1, n)]


def _bbox(comp, pad: int, shape):
    import numpy as np

    ys, xs = np.nonzero(comp)
    return (
        max(0, ys.min() - pad),
        min(shape[0], ys.max() + 1 + pad),
        max(0, xs.min() - pad),
        min(shape[1], xs.max() + 1 + pad),
    )


def _ssim(a, b, box) -> float:
    from skimage.metrics import structural_similarity

    y0, y1, x0, x1 = box
    pa, pb = a[y0:y1, x0:x1], b[y0:y1, x0:x1]
    win = min(7, pa.shape[0], pa.shape[1])
    if win % 2 == 0:
        win -= 1
    if win < 3:
        return float("nan")
    return float(structural_similarity(pa, pb, data_range=1.0, win_size=win))


def _ring_fill(pixels, mask):
    import cv2
    import numpy as np

    out = pixels.copy()
    for comp in _components(mask):
        ring = cv2.dilate(comp.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
        ring &= ~mask
        out[comp] = pixels[ring].mean() if ring.any() else pixels[~mask].mean()
    return out


class _Scores:
    """Accumulates in-mask errors over all components and over hand components."""

    def __init__(self) -> None:
        self.abs_sum = {"all": 0.0, "hand": 0.0}
        self.count = {"all": 0, "hand": 0}
        self.ssim: dict[str, list[float]] = {"all": [], "hand": []}
        self.exact = 0
        self.images = 0
        self.seconds = 0.0

    def add(self, out, clean, mask, anatomy, exact: bool) -> None:
        import numpy as np

        self.images += 1
        self.exact += int(exact)
        for comp in _components(mask):
            groups = ["all"] + (["hand"] if (comp & anatomy).any() else [])
            err = np.abs(out[comp].astype(np.float64) - clean[comp])
            s = _ssim(out, clean, _bbox(comp, 4, out.shape))
            for g in groups:
                self.abs_sum[g] += float(err.sum())
                self.count[g] += int(comp.sum())
                if np.isfinite(s):
                    self.ssim[g].append(s)

    def line(self, group: str) -> str:
        import numpy as np

        if not self.count[group]:
            return "      n/a (no component in this group)"
        mae = self.abs_sum[group] / self.count[group]
        ssim = float(np.mean(self.ssim[group])) if self.ssim[group] else float("nan")
        return (
            f"MAE {mae * 65535:8.1f} levels ({mae:.4f})  SSIM {ssim:.3f}  "
            f"[{len(self.ssim[group])} components]"
        )


def main() -> None:
    """Measure and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="phantoms for the error figures")
    parser.add_argument("--backends", default=DEFAULT_BACKENDS, help="comma-separated names")
    parser.add_argument("--repeat", type=int, default=5, help="timed calls per size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=8, help="requests per call (errors)")
    parser.add_argument("--option", action="append", default=[], metavar="BACKEND:KEY=VALUE")
    args = parser.parse_args()

    import cv2
    import numpy as np

    cv2.setNumThreads(1)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass

    from radinpaint.cli.inpaint import parse_options
    from radinpaint.datasets.phantom import make_phantom, make_phantoms
    from radinpaint.errors import RadinpaintError
    from radinpaint.records import InpaintRequest
    from radinpaint.registry import get_inpainter

    names = [n.strip() for n in args.backends.split(",") if n.strip()]
    opts: dict[str, list[str]] = {}
    for item in args.option:
        backend, _, kv = item.partition(":")
        opts.setdefault(backend, []).append(kv)
    backends = {n: get_inpainter(n, **parse_options(opts.get(n, []))) for n in names}

    print(f"inpainting backends, one thread; phantoms seed {args.seed}")
    print(f"\nspeed: ms per 16-bit image, one marker-sized mask (median of {args.repeat})")
    speed_cases = {
        512: make_phantom(args.seed, size=512, artifacts=False),
        2048: make_phantom(args.seed, size=2048, artifacts=False),
    }
    timing: dict[str, dict[int, float]] = {}
    for name, backend in list(backends.items()):
        timing[name] = {}
        try:
            for size, case in speed_cases.items():
                request = InpaintRequest(case.image, _marker_mask(size), seed=1)
                timing[name][size] = _time_ms(backend, request, args.repeat)
        except RadinpaintError as exc:  # e.g. weights not installed: report, go on
            print(f"  {name:14s} skipped: {exc}")
            del timing[name], backends[name]
    ref = timing.get("identity")
    for name, row in timing.items():
        cells = []
        for size in (512, 2048):
            ratio = (
                f" ({row[size] / ref[size]:6.1f}x identity)" if ref and name != "identity" else ""
            )
            cells.append(f"{size}: {row[size]:9.2f} ms{ratio}")
        print(f"  {name:14s} " + "   ".join(cells))

    print(f"\nquality on {args.n} phantoms 512x512 16-bit (ground-truth artifact masks)")
    t0 = time.perf_counter()
    cases = make_phantoms(args.n, seed=args.seed, size=512)
    print(f"  ({time.perf_counter() - t0:.1f} s to draw the phantoms)")
    requests = [
        InpaintRequest(c.image, c.artifact_mask, seed=1, case_id=c.id)
        for c in cases
        if c.artifact_mask is not None and not c.artifact_mask.is_empty
    ]
    on_hand = []
    for i, c in enumerate(cases):
        if c.anatomy_mask is None or not c.anatomy_mask.array.any():
            continue
        mask = _hand_mask(c.anatomy_mask.array, 512, i)
        plate = np.where(mask.array, np.float32(0.95), c.clean_image.pixels)  # a lead plate
        on_hand.append(InpaintRequest(c.clean_image.with_pixels(plate), mask, seed=1, case_id=c.id))
    by_id = {c.id: c for c in cases}
    print(f"  images with a non-empty artifact mask: {len(requests)}")
    for title, reqs in (
        ("burned-in artifacts (phantom masks)", requests),
        ("synthetic lead plate on the hand (burned into the clean image)", on_hand),
    ):
        print(f"\n  {title}")
        results = {
            name: _score(backend, reqs, by_id, args.batch) for name, backend in backends.items()
        }
        ring = _Scores()
        for req in reqs:
            case = by_id[req.case_id]
            m = req.mask.array
            out = _ring_fill(req.image.pixels, m)
            ring.add(out, case.clean_image.pixels, m, case.anatomy_mask.array, True)
        results["ring-mean (baseline)"] = ring
        for name, sc in results.items():
            exact = f"{sc.exact}/{sc.images} exact outside mask"
            per = f"{1000 * sc.seconds / max(1, sc.images):.1f} ms/image" if sc.seconds else ""
            print(f"  {name}: {exact}  {per}")
            print(f"      all components:  {sc.line('all')}")
            print(f"      on the hand:     {sc.line('hand')}")


def _score(backend, requests, by_id, batch: int) -> _Scores:
    import numpy as np

    scores = _Scores()
    for start in range(0, len(requests), batch):
        chunk = requests[start : start + batch]
        t0 = time.perf_counter()
        outs = backend.inpaint(chunk)
        scores.seconds += time.perf_counter() - t0
        for req, res in zip(chunk, outs, strict=True):
            case = by_id[req.case_id]
            m = req.mask.array
            exact = bool(np.array_equal(res.image.to_uint()[~m], req.image.to_uint()[~m]))
            scores.add(res.image.pixels, case.clean_image.pixels, m, case.anatomy_mask.array, exact)
    return scores


if __name__ == "__main__":
    main()

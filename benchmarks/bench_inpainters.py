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

Then, when ``../shared/data/rsna-samples/with-markers`` exists (``--real``), real-image
quality on its 8 radiographs with burned-in lead markers, masked by the ``markers`` provider
(grown by each of ``--real-dilate`` pixels), for ``telea``, ``navier-stokes``,
``biharmonic`` and ``gan`` (``--real-backends``), each run twice in the same process:
*before* (``grain=False, edge_guard=False``: the plain method) and *after* (the defaults).
All figures are on the written output (rounded to the image's bit depth), in 8-bit grey
levels:

- grain: fine-detail SD (the residual after a Gaussian blur of sigma 1 px, robust SD) of
  the mask pixels at least 3 px inside, over that of the unmasked ring 3-19 px outside
  (1.0: the fill is as grainy as its surroundings; a smooth patch is near 0); "grain lv."
  compares it brightness for brightness (noise grows with the signal, so a fill darker
  than most of its ring is rightly less grainy);
- outline: mean absolute step between 4-neighbours across the mask border, over the same
  statistic on neighbour pairs in the ring 3-10 px outside (1.0: the border is invisible;
  higher: the plate's outline still shows), over the whole border ("all") and over the
  border with the dominant region only ("dom.": the outside pixel lies in the dominant
  intensity range of the ring, as :func:`radinpaint.inpainters.edges.dominant_range`
  finds it on the original; where a minority edge touches the hole, a fill from the
  dominant region leaves a step by design);
- overshoot: mean of the first pixel ring inside the mask minus the first ring outside
  (signed; a glow is positive, a dark rim negative), reported as the mean absolute value
  over the samples, again over the whole border and over its dominant part;
- leak: share of the fill (blurred, sigma 2 px) outside the 5-95 % intensity range of the
  ring 3-19 px around it (widened by 3 fine-detail SDs of that ring): edges, glows, wedges
  and spikes the fill drew from a minority of its surroundings.

``--montage DIR`` saves ``fills-real-before.png`` and ``fills-real-after.png`` there: each
sample cropped around its mask (first ``--real-dilate`` value), original | telea | gan; and
``fills-real-grain.png``: a native-resolution 80x80 window on the mask's right border
(hole on the left half), shown at 2x with its contrast stretched, original | telea before |
telea after | gan before | gan after.

Run with::

    OMP_NUM_THREADS=1 python benchmarks/bench_inpainters.py [--n 200] [--backends telea,gan]
    OMP_NUM_THREADS=1 python benchmarks/bench_inpainters.py --real-only --montage docs/img
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

DEFAULT_BACKENDS = "identity,telea,navier-stokes,biharmonic"
REAL_BACKENDS = "telea,navier-stokes,biharmonic,gan"
SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "rsna-samples"
BEFORE = {"grain": False, "edge_guard": False}


def _marker_mask(shape: tuple[int, int]):
    """A lead-plate-sized rectangle near the top-left corner, over background."""
    import numpy as np

    from radinpaint.records import Mask

    size = max(shape)
    arr = np.zeros(shape, dtype=bool)
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
    parser.add_argument("--real", default=str(SAMPLES / "with-markers"), help="marked samples")
    parser.add_argument("--real-backends", default=REAL_BACKENDS)
    parser.add_argument("--real-dilate", default="6,0,12", help="mask growth(s) in pixels")
    parser.add_argument("--real-only", action="store_true", help="skip the phantom figures")
    parser.add_argument("--per-image", action="store_true", help="real figures per sample")
    parser.add_argument("--montage", default=None, help="folder for fills-real-*.png")
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

    if args.real_only:
        _real(args)
        return

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
                request = InpaintRequest(case.image, _marker_mask(case.image.shape), seed=1)
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

    print(f"\nquality on {args.n} phantoms, longest side 512, 16-bit (ground-truth artifact masks)")
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
    _real(args)


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


# --- real radiographs with lead markers --------------------------------------------------------


def _levels(image):
    """The written pixels in 8-bit grey levels (float64)."""
    import numpy as np

    top = float((1 << image.bit_depth) - 1)
    return image.to_uint().astype(np.float64) * (255.0 / top)


def _distances(mask):
    """Distance of each pixel to the other side of the mask border (inside, outside)."""
    import cv2
    import numpy as np

    m = mask.astype(np.uint8)
    inside = cv2.distanceTransform(np.pad(m, 1, mode="edge"), cv2.DIST_L2, 3)[1:-1, 1:-1]
    outside = cv2.distanceTransform(np.pad(1 - m, 1, mode="edge"), cv2.DIST_L2, 3)[1:-1, 1:-1]
    return inside, outside


def _robust_sd(values) -> float:
    import numpy as np

    if values.size == 0:
        return float("nan")
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


def _pair_steps(x, a, b):
    """|x(p) - x(q)| over horizontal and vertical neighbours p in ``a``, q in ``b``."""
    import numpy as np

    out = []
    for dy, dx in ((0, 1), (1, 0)):
        h, w = x.shape
        p, q = (slice(0, h - dy), slice(0, w - dx)), (slice(dy, h), slice(dx, w))
        step = np.abs(x[q] - x[p])
        out.append(step[(a[p] & b[q]) | (b[p] & a[q])])
    return np.concatenate(out)


def real_metrics(result, original, mask) -> dict[str, float]:
    """grain, outline, overshoot and leak of one fill (see the module docs)."""
    import numpy as np

    from radinpaint.inpainters.edges import RING_WIDTH, dominant_range
    from radinpaint.inpainters.grain import _blur, fine_detail

    x = _levels(result)
    before = _levels(original)
    inside, outside = _distances(mask)
    detail = fine_detail(x)
    deep = mask & (inside > 3)
    ring = ~mask & (outside > 3) & (outside <= 19)
    near = ~mask & (outside > 3) & (outside <= 10)
    grain = _robust_sd(detail[deep]) / _robust_sd(detail[ring])
    grain_lv = _level_matched(x, detail, deep, ring)
    lo, hi = dominant_range(before[~mask & (outside <= RING_WIDTH)])
    dominant = ~mask & (before >= lo) & (before <= hi)
    reference = _pair_steps(x, near, near).mean()
    first_in = mask & (inside <= 1.01)
    first_out = ~mask & (outside <= 1.01)
    # first ring inside next to the dominant region: inside pixels with a dominant neighbour
    next_to_dom = first_in & _touches(dominant)
    p5, p95 = np.percentile(before[ring], [5, 95])
    slack = 3.0 * _robust_sd(fine_detail(before)[ring])  # the grain left after the blur
    p5, p95 = p5 - slack, p95 + slack
    smooth = _blur(x, 2.0)[mask]
    return {
        "grain": grain,
        "grain_lv": grain_lv,
        "outline": float(_pair_steps(x, mask, ~mask).mean() / reference),
        "outline_dom": float(_pair_steps(x, mask, dominant).mean() / reference),
        "overshoot": float(x[first_in].mean() - x[first_out].mean()),
        "overshoot_dom": float(x[next_to_dom].mean() - x[first_out & dominant].mean()),
        "leak": float(((smooth < p5) | (smooth > p95)).mean()),
    }


def _level_matched(x, detail, deep, ring, bins: int = 4) -> float:
    """In-mask over ring fine-detail SD compared brightness for brightness: pixels are put
    in ``bins`` quantile bins of the ring's local level (blur sigma 2 px; levels beyond the
    ring's range go to the end bins), and the per-bin ratios are averaged (geometric mean,
    weighted by the mask pixels in each bin). Noise is signal-dependent: a fill darker than
    most of its ring should be less grainy, and this figure does not count that against it."""
    import cv2
    import numpy as np

    level = cv2.GaussianBlur(x, (0, 0), 2.0)
    edges = np.quantile(level[ring], np.linspace(0, 1, bins + 1))
    ring_bin = np.clip(np.searchsorted(edges, level[ring], side="right") - 1, 0, bins - 1)
    deep_bin = np.clip(np.searchsorted(edges, level[deep], side="right") - 1, 0, bins - 1)
    logs, weights = [], []
    for b in range(bins):
        a, r = detail[deep][deep_bin == b], detail[ring][ring_bin == b]
        if a.size >= 50 and r.size >= 50 and _robust_sd(r) > 0:
            logs.append(np.log(max(_robust_sd(a), 1e-6) / _robust_sd(r)))
            weights.append(a.size)
    if not weights:
        return float("nan")
    return float(np.exp(np.average(logs, weights=weights)))


def _touches(region):
    """Pixels with a 4-neighbour in ``region``."""
    import cv2
    import numpy as np

    cross = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    return cv2.dilate(region.astype(np.uint8), cross) > 0


def _real_cases(folder: Path):
    """(name, image, markers mask) for every PNG in ``folder``."""
    import radinpaint
    from radinpaint.io import read_image

    provider = radinpaint.get_mask_provider("markers")
    out = []
    for path in sorted(folder.glob("*.png")):
        image = read_image(path)
        (mask,) = provider.masks([image])
        out.append((path.stem, image, mask))
    return out


def _real(args) -> None:
    """Before/after figures on the real marked samples, and the montages."""
    import numpy as np

    from radinpaint.records import InpaintRequest
    from radinpaint.registry import get_inpainter

    folder = Path(args.real)
    if not folder.is_dir():
        print(f"\nreal radiographs: {folder} not found, skipped")
        return
    names = [n.strip() for n in args.real_backends.split(",") if n.strip()]
    dilations = [int(d) for d in args.real_dilate.split(",") if d.strip()]
    t0 = time.perf_counter()
    cases = _real_cases(folder)
    print(
        f"\nreal radiographs: {len(cases)} marked samples in {folder} "
        f"(markers masks, {time.perf_counter() - t0:.1f} s)"
    )
    backends = {
        (name, when): get_inpainter(name, **(BEFORE if when == "before" else {}))
        for name in names
        for when in ("before", "after")
    }
    keys = ("grain", "grain_lv", "outline", "outline_dom", "overshoot", "overshoot_dom", "leak")
    for d_index, dilate in enumerate(dilations):
        table: dict[tuple[str, str], dict[str, list[float]]] = {}
        kept: dict[tuple[str, str], list] = {}
        for (name, when), backend in backends.items():
            rows: dict[str, list[float]] = {k: [] for k in keys}
            exact = 0
            seconds = 0.0
            outs = []
            for _stem, image, mask in cases:
                grown = mask.dilate(dilate) if dilate else mask
                req = InpaintRequest(image, grown, seed=1)
                t1 = time.perf_counter()
                (res,) = backend.inpaint([req])
                seconds += time.perf_counter() - t1
                m = grown.array
                exact += int(np.array_equal(res.image.to_uint()[~m], image.to_uint()[~m]))
                for k, v in real_metrics(res.image, image, m).items():
                    rows[k].append(v)
                outs.append(res.image)
            rows["exact"] = [exact]
            rows["seconds"] = [seconds]
            table[(name, when)] = rows
            kept[(name, when)] = outs
        _print_real(table, cases, dilate, names, args.per_image)
        if args.montage and d_index == 0:
            for when in ("before", "after"):
                path = Path(args.montage) / f"fills-real-{when}.png"
                _montage(cases, dilate, kept.get(("telea", when)), kept.get(("gan", when)), path)
                print(f"  saved {path}")
            path = Path(args.montage) / "fills-real-grain.png"
            _grain_montage(cases, dilate, kept, path)
            print(f"  saved {path}")


def _print_real(table, cases, dilate: int, names, per_image: bool) -> None:
    import numpy as np

    print(
        f"\n  dilate {dilate} px: median [min-max] over {len(cases)} samples; "
        "before = grain=False, edge_guard=False; after = defaults"
    )
    print(
        f"  {'backend':14s} {'':6s} {'grain (1 = like around)':>23s} {'grain lv.':>20s} "
        f"{'outline all':>20s} {'outline dom.':>20s} {'|over| all':>10s} "
        f"{'|over| dom.':>11s} {'leak':>6s}  exact"
    )
    for name in names:
        for when in ("before", "after"):
            rows = table[(name, when)]

            def cell(k: str, rows=rows) -> str:
                v = np.asarray(rows[k])
                return f"{np.median(v):4.2f} [{v.min():4.2f}-{v.max():4.2f}]"

            over = float(np.mean(np.abs(rows["overshoot"])))
            over_dom = float(np.mean(np.abs(rows["overshoot_dom"])))
            leak = float(np.mean(rows["leak"]))
            print(
                f"  {name:14s} {when:6s} {cell('grain'):>23s} "
                f"{cell('grain_lv'):>20s} {cell('outline'):>20s} "
                f"{cell('outline_dom'):>20s} {over:10.2f} {over_dom:11.2f} {leak:6.3f}  "
                f"{rows['exact'][0]}/{len(cases)}"
            )
            if per_image:
                for i, (stem, _image, _mask) in enumerate(cases):
                    print(
                        f"      {stem:12s} grain {rows['grain'][i]:5.2f} "
                        f"lv. {rows['grain_lv'][i]:5.2f}  outline "
                        f"{rows['outline'][i]:5.2f} dom. {rows['outline_dom'][i]:5.2f}  "
                        f"overshoot {rows['overshoot'][i]:+7.2f} dom. "
                        f"{rows['overshoot_dom'][i]:+7.2f}  leak {rows['leak'][i]:.3f}"
                    )


def _montage(cases, dilate: int, telea, gan, path: Path, height: int = 240) -> None:
    """Rows of crops around each mask: original | telea | gan, 8-bit PNG."""
    import cv2
    import numpy as np

    if telea is None or gan is None:
        print(f"  (montage {path.name} needs telea and gan in --real-backends)")
        return
    rows = []
    for (stem, image, mask), a, b in zip(cases, telea, gan, strict=True):
        m = mask.dilate(dilate).array if dilate else mask.array
        ys, xs = np.nonzero(m)
        pad = max(24, (ys.max() - ys.min()) // 6)
        y0, y1 = max(0, ys.min() - pad), min(m.shape[0], ys.max() + 1 + pad)
        x0, x1 = max(0, xs.min() - pad), min(m.shape[1], xs.max() + 1 + pad)
        tiles = []
        for label, img in (("original", image), ("telea", a), ("gan", b)):
            crop = np.clip(_levels(img)[y0:y1, x0:x1], 0, 255).astype(np.uint8)
            scale = height / crop.shape[0]
            tile = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            tile = cv2.cvtColor(tile, cv2.COLOR_GRAY2BGR)
            cv2.putText(tile, f"{stem} {label}", (4, 14), 0, 0.42, (0, 0, 0), 3)
            cv2.putText(tile, f"{stem} {label}", (4, 14), 0, 0.42, (80, 255, 80), 1)
            tiles.append(tile)
            tiles.append(np.full((height, 3, 3), 255, np.uint8))
        rows.append(np.hstack(tiles[:-1]))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows]
    half = (len(rows) + 1) // 2
    left, right = rows[:half], rows[half:]
    right += [np.zeros_like(rows[0])] * (len(left) - len(right))
    sep = np.full((height * len(left), 8, 3), 255, np.uint8)
    grid = np.hstack([np.vstack(left), sep, np.vstack(right)])
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), grid, [cv2.IMWRITE_PNG_COMPRESSION, 9])


def _grain_montage(cases, dilate: int, kept, path: Path, side: int = 80, zoom: int = 2) -> None:
    """Native-resolution windows across the mask's right border, contrast stretched."""
    import cv2
    import numpy as np

    columns = [("original", None), ("telea", "before"), ("telea", "after")]
    columns += [("gan", "before"), ("gan", "after")]
    if any(c[1] and c not in kept for c in columns):
        print(f"  (montage {path.name} needs telea and gan in --real-backends)")
        return
    rows = []
    for i, (stem, image, mask) in enumerate(cases):
        m = mask.dilate(dilate).array if dilate else mask.array
        cy = int(np.median(np.flatnonzero(m.any(axis=1))))
        cx = int(np.flatnonzero(m[cy])[-1])  # the right border on the middle row
        h, w = m.shape
        y0 = min(max(0, cy - side // 2), max(0, h - side))
        x0 = min(max(0, cx - side // 2), max(0, w - side))
        window = (slice(y0, y0 + side), slice(x0, x0 + side))
        ref = _levels(image)[window][~m[window]]
        lo, hi = np.percentile(ref, [1, 99]) if ref.size else (0.0, 255.0)
        tiles = []
        for name, when in columns:
            img = image if when is None else kept[(name, when)][i]
            x = (_levels(img)[window] - lo) / max(hi - lo, 1e-6) * 255
            tile = np.clip(x, 0, 255).astype(np.uint8)
            tile = cv2.resize(tile, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_NEAREST)
            tile = cv2.cvtColor(tile, cv2.COLOR_GRAY2BGR)
            label = f"{stem} {name}" + (f" {when}" if when else "")
            cv2.putText(tile, label, (3, 12), 0, 0.36, (0, 0, 0), 3)
            cv2.putText(tile, label, (3, 12), 0, 0.36, (80, 255, 80), 1)
            tiles += [tile, np.full((tile.shape[0], 3, 3), 255, np.uint8)]
        rows += [np.hstack(tiles[:-1]), np.full((3, sum(t.shape[1] for t in tiles[:-1]), 3), 255)]
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.vstack(rows[:-1]).astype(np.uint8), [cv2.IMWRITE_PNG_COMPRESSION, 9])


if __name__ == "__main__":
    main()

"""The hand mask (``segment_hand``) against reference outlines of real radiographs.

    OMP_NUM_THREADS=1 python benchmarks/bench_hand_mask.py [--markers] [--phantoms 40] [--show DIR]
        [--baseline OLD_ANATOMY.py]

Reads the reference outlines in ``tests/data/hand-outlines`` (drawn on 15 of the RSNA samples
in ``../shared/data/rsna-samples``; see the README there) and prints, per image, the IoU of
``segment_hand`` with the outline (compared at the outline's size, longest side 256 px), then
the mean and the minimum. ``--markers`` also runs the ``markers`` provider on the 8 marked
samples and counts its pixels inside the reference hand (should be 0). ``--phantoms N``
adds the IoU against the anatomy masks of N phantoms (seed 7, as ``bench_masks.py``).
``--show DIR`` writes overlays (green: reference, red: ``segment_hand``). ``--baseline FILE``
first prints the same IoU figures for another version of ``radinpaint/masks/anatomy.py`` (for
example ``git show HEAD~1:src/radinpaint/masks/anatomy.py > /tmp/old_anatomy.py``), to see
before and after side by side.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT.parent / "shared" / "data" / "rsna-samples"
OUTLINES = ROOT / "tests" / "data" / "hand-outlines"


def reference(name: str) -> np.ndarray:
    """The stored outline of sample ``name`` (file stem) as a bool array."""
    import cv2

    return cv2.imread(str(OUTLINES / f"{name}.png"), cv2.IMREAD_GRAYSCALE) > 127


def at_size(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A mask resized to ``shape`` (area average when shrinking, cut at one half)."""
    import cv2

    interp = cv2.INTER_AREA if shape[0] < mask.shape[0] else cv2.INTER_LINEAR
    return cv2.resize(mask.astype(np.float32), (shape[1], shape[0]), interpolation=interp) >= 0.5


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = int((a | b).sum())
    return float((a & b).sum()) / union if union else 1.0


def outlined() -> dict[str, Path]:
    """Sample files with a reference outline, by stem."""
    files = {p.stem: p for p in sorted(SAMPLES.glob("*/*.png"))}
    return {p.stem: files[p.stem] for p in sorted(OUTLINES.glob("*.png")) if p.stem in files}


def _overlay(image: np.ndarray, ref: np.ndarray, got: np.ndarray) -> np.ndarray:
    import cv2

    grey = (np.clip(image, 0, 1) * 255).astype(np.uint8)
    grey = cv2.resize(grey, (ref.shape[1], ref.shape[0]), interpolation=cv2.INTER_AREA)
    rgb = np.dstack([grey] * 3)
    for mask, colour in ((ref, (0, 255, 0)), (got, (0, 0, 255))):
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(rgb, contours, -1, colour, 1)
    return rgb


def load_anatomy(path: Path):
    """Another version of ``radinpaint.masks.anatomy`` (a copy of the file), as a module."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("radinpaint.masks._baseline_anatomy", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def summary(label: str, scores: dict[str, float], ms: float) -> str:
    values = np.array(list(scores.values()))
    return (
        f"{label}: IoU mean {values.mean():.3f}  median {np.median(values):.3f}  "
        f"min {values.min():.3f} ({min(scores, key=scores.__getitem__)})  {ms:.0f} ms/image"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markers", action="store_true", help="check markers stay off hands")
    parser.add_argument("--phantoms", type=int, default=0, help="also N phantoms (seed 7)")
    parser.add_argument("--show", type=Path, help="write overlays to this folder")
    parser.add_argument("--baseline", type=Path, help="an older anatomy.py to compare with")
    args = parser.parse_args(argv)

    from radinpaint.io import read_image
    from radinpaint.masks.anatomy import segment_hand

    files = outlined()
    if not files:
        print(f"no samples with outlines (samples at {SAMPLES}, outlines at {OUTLINES})")
        return 1
    images = {name: read_image(path) for name, path in files.items()}
    refs = {name: reference(name) for name in files}
    if args.baseline:
        old = load_anatomy(args.baseline)
        t0 = time.perf_counter()
        before = {
            name: iou(at_size(old.segment_hand(images[name]).array, refs[name].shape), refs[name])
            for name in files
        }
        ms = 1000 * (time.perf_counter() - t0) / len(files)
        print(summary(f"before ({args.baseline.name}) vs {len(files)} outlines", before, ms))
    scores: dict[str, float] = {}
    t0 = time.perf_counter()
    for name, path in files.items():
        ref = refs[name]
        got = at_size(segment_hand(images[name]).array, ref.shape)
        scores[name] = iou(got, ref)
        extra = f"  (before {before[name]:.3f})" if args.baseline else ""
        print(f"  {path.parent.name}/{path.name:<16} IoU {scores[name]:.3f}{extra}")
        if args.show:
            import cv2

            args.show.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(args.show / f"{name}.png"), _overlay(images[name].pixels, ref, got))
    ms = 1000 * (time.perf_counter() - t0) / len(files)
    print(summary(f"hand mask vs {len(files)} reference outlines", scores, ms))
    if args.markers:
        from scipy import ndimage as ndi

        from radinpaint.masks.markers import detect_markers

        total = deep = 0
        for name, image in images.items():
            if files[name].parent.name != "with-markers":
                continue
            found = detect_markers(image).array
            inside = int((found & at_size(refs[name], image.shape)).sum())
            core = ndi.binary_erosion(refs[name], iterations=3)
            beyond = int((found & at_size(core, image.shape)).sum())
            total += inside
            deep += beyond
            print(
                f"  markers on {name:<12} {int(found.sum()):>7} px masked, {inside} on the "
                f"hand, {beyond} more than 3 outline px inside it"
            )
        print(
            f"markers: {total} masked pixels inside the reference hands, {deep} more than 3 "
            "outline px inside"
        )
    if args.phantoms:
        from radinpaint.datasets.phantom import make_phantoms
        from radinpaint.masks.scoring import score_pixels

        cases = make_phantoms(args.phantoms, seed=7)
        ph = [score_pixels(segment_hand(c.image), c.anatomy_mask).iou for c in cases]
        print(
            f"hand mask vs {len(ph)} phantom anatomy masks: IoU mean {np.mean(ph):.3f}  "
            f"median {np.median(ph):.3f}  min {np.min(ph):.3f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Train the shipped ``gan`` checkpoint on phantoms, then compare it with telea and
navier-stokes on held-out phantoms.

Reproduces ``src/radinpaint/inpainters/gan/weights/phantom-gan.safetensors`` (+ ``.json``)
with a fixed seed, on the CPU::

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python benchmarks/train_gan_phantoms.py

Training is self-supervised on the artifact-free ``clean_image`` of phantoms (training
seeds), crops centred on the hand; no RSNA pixel is used:

1. stage 1 (always): 900 steps with the original hole kinds (free-form strokes, plates,
   letters, text, rulers) on the phantoms as they are (``holes="default"``,
   ``appearance="none"``): the shipped weights, bit for bit on the same machine and
   thread count; their JSON config records ``"trained_on": "phantoms"``;
2. stage 2 (``--finetune``): fine-tuning from the stage-1 weights (``train_gan(init=...)``),
   ``--finetune-steps`` steps (450) with every kind of hole (``all``: the original ones and
   those shaped like the ``markers`` provider's masks on real radiographs, see
   :mod:`radinpaint.inpainters.gan.holes`) and each crop given a real radiograph's
   appearance (``real``: grain, contrast curve, bias field, collimation and border frames
   at levels measured on the RSNA samples, see :mod:`radinpaint.inpainters.gan.appearance`),
   recorded as ``"trained_on": "phantoms+real-appearance"`` with the stage-1 file's
   SHA-256 as ``training.init``. It is evaluated against the shipped weights (below) and
   shipped only with ``--ship-finetuned``: it did not improve the fills on the real marked
   samples (``docs/gan.md``, "The shipped checkpoint"), so the package keeps stage 1.

``--base FILE`` uses FILE as the result of stage 1 instead of training it (e.g. the shipped
weights, which stage 1 reproduces).

Evaluation (printed at the end), on phantoms drawn with another seed, every inpainter
against the artifact-free ``clean_image``, mean absolute error over the marked pixels:

- ``artifact``: each phantom's own artifact mask (markers, text, rulers), input = the
  image with the artifacts burnt in;
- ``artifact & hand``: the same results scored only where that mask overlaps the hand
  (phantom artifacts rarely touch the hand, so few pixels);
- ``moved onto hand``: each phantom's artifact mask shifted so that its centre lies on a
  random point of the hand, input = the clean image (the pixels under the mask are ignored
  by every backend), scored over the whole moved mask and over its part on the hand.

With ``--real DIR`` (default: the shared ``rsna-samples/with-markers`` folder when present)
it also scores, when stage 2 has run, on the real marked radiographs masked by the
``markers`` provider (grown by 6 px), the fine-tuned weights and the ones in the package
before shipping, with
``benchmarks/bench_inpainters.py``'s real-image figures (grain ratio, outline contrast,
overshoot, leak; the defaults, grain and edge guard on). Nothing from those images is
written.

Stage 2 after stage 1 took 1,133 s for 450 steps (one thread, on a shared two-core
machine under heavy load); the command that ran it::

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python benchmarks/train_gan_phantoms.py \
        --base src/radinpaint/inpainters/gan/weights/phantom-gan.safetensors --finetune --no-ship

Training writes to ``--workdir`` (default ``runs/train-gan-phantoms``, resumable: run the
command again after an interruption), then copies the weights and their JSON config into the
package (``--ship-to``). ``--eval-only`` skips training; ``--no-ship`` evaluates the workdir
copy without touching the package. The weights after step N of a longer run equal those of
a run with ``--steps N`` (constant learning rate; each batch depends only on seed and step).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
WEIGHTS = REPO / "src/radinpaint/inpainters/gan/weights/phantom-gan.safetensors"
WORKDIR = REPO / "runs/train-gan-phantoms"  # training state lives here (not shipped)
TRAIN_SEED = 100  # phantoms make_phantoms(n, seed=TRAIN_SEED)
EVAL_SEED = 200  # held-out phantoms
FINETUNE_STEPS = 450
SAMPLES = REPO.parent / "shared" / "data" / "rsna-samples" / "with-markers"
SETTINGS = {
    "steps": 900,
    "batch_size": 8,
    "crop": 96,
    "seed": 0,
    "lr_g": 5e-4,
    "scale_range": (0.6, 1.25),
    "coarse": "push-pull",
    "checkpoint_every": 50,
    "holes": "default",
    "appearance": "none",
}
FINETUNE = {"steps": FINETUNE_STEPS, "seed": 1, "lr_g": 2e-4, "holes": "all", "appearance": "real"}


def evaluate_real(weights: list[Path], folder: Path, dilate: int = 6) -> None:
    """Print bench_inpainters' real-image figures for the gan with each weights file."""
    import sys

    from radinpaint import InpaintRequest, get_inpainter

    sys.path.insert(0, str(REPO / "benchmarks"))
    from bench_inpainters import _real_cases, real_metrics

    cases = _real_cases(folder)
    print(f"\nreal marked radiographs: {len(cases)} in {folder}; markers masks grown {dilate} px")
    print(f"{'weights':<44}{'grain':>14}{'grain lv.':>14}{'outline':>14}{'|over|':>8}{'leak':>7}")
    for path in weights:
        gan = get_inpainter("gan", weights=str(path), device="cpu")
        rows: dict[str, list[float]] = {}
        for _stem, image, mask in cases:
            grown = mask.dilate(dilate) if dilate else mask
            (res,) = gan.inpaint([InpaintRequest(image, grown, seed=1)])
            for k, v in real_metrics(res.image, image, grown.array).items():
                rows.setdefault(k, []).append(v)
        med = {k: float(np.median(v)) for k, v in rows.items()}
        print(
            f"{str(path)[-44:]:<44}{med['grain']:>14.2f}{med['grain_lv']:>14.2f}"
            f"{med['outline']:>14.2f}{float(np.mean(np.abs(rows['overshoot']))):>8.2f}"
            f"{float(np.mean(rows['leak'])):>7.3f}"
        )


def moved_mask(case, rng: np.random.Generator) -> np.ndarray:
    """The case's artifact mask shifted so its bounding-box centre sits on the hand."""
    mask = case.artifact_mask.array
    anatomy = case.anatomy_mask.array
    ys, xs = np.nonzero(mask)
    cy, cx = (ys.min() + ys.max()) // 2, (xs.min() + xs.max()) // 2
    hy, hx = np.nonzero(anatomy)
    k = int(rng.integers(0, hy.size))
    dy, dx = int(hy[k] - cy), int(hx[k] - cx)
    out = np.zeros_like(mask)
    h, w = mask.shape
    ys2, xs2 = ys + dy, xs + dx
    keep = (ys2 >= 0) & (ys2 < h) & (xs2 >= 0) & (xs2 < w)
    out[ys2[keep], xs2[keep]] = True
    return out


def evaluate(weights: Path, n_eval: int, size: int) -> dict[str, dict[str, float]]:
    """MAE (in [0, 1] grey levels) of gan, telea and navier-stokes on held-out phantoms."""
    from radinpaint import InpaintRequest, Mask, get_inpainter
    from radinpaint.datasets import make_phantoms

    cases = [
        c
        for c in make_phantoms(n_eval, seed=EVAL_SEED, size=size, version=1)
        if not c.artifact_mask.is_empty
    ]
    rng = np.random.default_rng(EVAL_SEED)
    own = [InpaintRequest(c.image, c.artifact_mask, case_id=c.id) for c in cases]
    moved = []
    for c in cases:
        m = moved_mask(c, rng)
        moved.append(InpaintRequest(c.clean_image, Mask(m, "moved"), case_id=c.id))
    backends = {
        "gan": get_inpainter("gan", weights=str(weights), device="cpu"),
        "telea": get_inpainter("telea"),
        "navier-stokes": get_inpainter("navier-stokes"),
    }
    table: dict[str, dict[str, float]] = {}
    for name, backend in backends.items():
        row: dict[str, float] = {}
        for label, requests in (("artifact", own), ("moved onto hand", moved)):
            start = time.perf_counter()
            results = backend.inpaint(requests)
            row[f"{label} s/img"] = (time.perf_counter() - start) / len(requests)
            err_all, n_all, err_hand, n_hand = 0.0, 0, 0.0, 0
            for case, req, res in zip(cases, requests, results, strict=True):
                diff = np.abs(res.image.pixels.astype(np.float64) - case.clean_image.pixels)
                m = req.mask.array
                mh = m & case.anatomy_mask.array
                err_all += float(diff[m].sum())
                n_all += int(m.sum())
                err_hand += float(diff[mh].sum())
                n_hand += int(mh.sum())
            row[f"{label}"] = err_all / max(n_all, 1)
            row[f"{label} & hand"] = err_hand / n_hand if n_hand else float("nan")
            row[f"{label} & hand px"] = n_hand
        table[name] = row
    return table


def main() -> None:
    """Train (unless --eval-only) and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--workdir", type=Path, default=WORKDIR, help="where training writes (resumable)"
    )
    parser.add_argument(
        "--ship-to",
        type=Path,
        default=WEIGHTS,
        help="copy the weights and config here after training (default: the package)",
    )
    parser.add_argument("--no-ship", action="store_true", help="evaluate the workdir copy")
    parser.add_argument("--steps", type=int, default=SETTINGS["steps"])
    parser.add_argument("--train-phantoms", type=int, default=240)
    parser.add_argument("--eval-phantoms", type=int, default=40)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--coarse", default=SETTINGS["coarse"], help="push-pull or telea")
    parser.add_argument("--finetune-steps", type=int, default=FINETUNE["steps"])
    parser.add_argument("--base", type=Path, default=None, help="stage 1's weights, given")
    parser.add_argument("--finetune", action="store_true", help="run stage 2 too")
    parser.add_argument(
        "--ship-finetuned", action="store_true", help="ship stage 2's weights, not stage 1's"
    )
    parser.add_argument("--real", type=Path, default=SAMPLES, help="real marked radiographs")
    parser.add_argument("--eval-only", action="store_true")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from radinpaint.datasets import make_phantoms
    from radinpaint.inpainters.gan import train_gan
    from radinpaint.inpainters.gan.checkpoint import config_path, file_sha256
    from radinpaint.inpainters.gan.holes import resolve_hole_kinds
    from radinpaint.inpainters.gan.model import DEFAULT_GENERATOR_CONFIG

    generator = {**DEFAULT_GENERATOR_CONFIG, "coarse": args.coarse}
    common = {
        "batch_size": SETTINGS["batch_size"],
        "crop": SETTINGS["crop"],
        "generator": generator,
        "scale_range": SETTINGS["scale_range"],
        "device": "cpu",
        "resume": True,
        "progress": not args.no_progress,
        "checkpoint_every": SETTINGS["checkpoint_every"],
    }
    base = args.base or args.workdir / "base" / "phantom-gan.safetensors"
    tuned = args.workdir / "phantom-gan.safetensors"
    trained = tuned if args.ship_finetuned else base
    if not args.eval_only:
        # version 1 (square) phantoms: the shipped weights were trained on them
        cases = make_phantoms(args.train_phantoms, seed=TRAIN_SEED, size=args.size, version=1)

        def stage(label: str, out: Path, steps: int, settings: dict, trained_on: str, **more):
            start = time.perf_counter()
            train_gan(
                cases,
                out=out,
                steps=steps,
                seed=settings["seed"],
                lr_g=settings["lr_g"],
                hole_kinds=resolve_hole_kinds(settings["holes"]),
                appearance=settings["appearance"],
                trained_on=trained_on,
                **more,
                **common,
            )
            print(f"{label}: {steps} steps in {time.perf_counter() - start:.0f} s")

        if args.base is None:
            stage("stage 1", base, args.steps, SETTINGS, "phantoms")
        if args.finetune or args.ship_finetuned:
            stage(
                "stage 2", tuned, args.finetune_steps, FINETUNE, "phantoms+real-appearance",
                init=base,
            )  # fmt: skip
        print(f"{args.threads} thread(s); training state in {args.workdir}")
    weights = trained
    if args.real.is_dir() and tuned.exists():
        evaluate_real([args.ship_to, tuned], args.real)
    if not args.no_ship:
        args.ship_to.parent.mkdir(parents=True, exist_ok=True)
        if trained.resolve() != args.ship_to.resolve():
            shutil.copyfile(trained, args.ship_to)
            shutil.copyfile(config_path(trained), config_path(args.ship_to))
        weights = args.ship_to
        print(f"shipped {weights} (sha256 {file_sha256(weights)})")
    table = evaluate(weights, args.eval_phantoms, args.size)
    cols = [
        "artifact",
        "artifact & hand",
        "moved onto hand",
        "moved onto hand & hand",
        "artifact s/img",
    ]
    print(
        f"\nheld-out phantoms: {args.eval_phantoms} (seed {EVAL_SEED}, {args.size} px); "
        "in-mask MAE vs clean image (grey levels in [0, 1])"
    )
    print(f"{'backend':<15}" + "".join(f"{c:>24}" for c in cols))
    for name, row in table.items():
        print(f"{name:<15}" + "".join(f"{row[c]:>24.5f}" for c in cols))
    px = table["gan"]
    print(
        f"pixels: artifact & hand {px['artifact & hand px']}, "
        f"moved onto hand & hand {px['moved onto hand & hand px']}"
    )
    for ref in ("telea", "navier-stokes"):
        ratio = table["gan"]["moved onto hand & hand"] / table[ref]["moved onto hand & hand"]
        print(f"gan / {ref} MAE where the mask overlaps the hand (moved masks): {ratio:.3f}")
    print(json.dumps(table, indent=1) if os.environ.get("RADINPAINT_BENCH_JSON") else "")


if __name__ == "__main__":
    main()

"""Train the shipped phantom ensemble (bone age and sex) and report held-out figures.

Reproducible: fixed seeds for the phantoms, the folds and every member. The training
phantoms are generated once and cached as a downsampled array (``--cache``).

    OMP_NUM_THREADS=1 python benchmarks/train_phantom_ensemble.py            # train + ship
    python benchmarks/train_phantom_ensemble.py --evaluate-only              # figures only

Held-out phantoms come from a different seed than the training phantoms, so the model has
never seen them. Prints bone-age MAE (months) and sex AUC of the ensemble and of a
constant-mean baseline.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import numpy as np

TRAIN_SEED = 20260101
TEST_SEED = 20269999
SHIPPED = Path(__file__).resolve().parents[1] / "src/radinpaint/predictors/weights/phantom-ensemble"


def _chunk(args: tuple[int, int, int, int]):
    """Geometric preprocessing of phantoms ``start..stop`` of the dataset (one process)."""
    from radinpaint.datasets.phantom import PhantomDataset
    from radinpaint.predictors.preprocessing import PHANTOM_128
    from radinpaint.predictors.training import geometry_arrays

    n, seed, start, stop = args
    cases = PhantomDataset(n, seed=seed, size=512)
    return geometry_arrays([cases[i] for i in range(start, stop)], PHANTOM_128, progress=False)


def cached_arrays(n: int, seed: int, cache: Path, workers: int = 2):
    """Generate ``n`` phantoms once and keep their 128-px images and labels in ``cache``."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    if cache.exists():
        data = np.load(cache)
        if data["images"].shape[0] == n and int(data["seed"]) == seed:
            return data["images"], data["ages"], data["male"]
    bounds = np.linspace(0, n, 4 * workers + 1).astype(int)
    jobs = [(n, seed, int(a), int(b)) for a, b in itertools.pairwise(bounds)]
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("fork")) as pool:
        parts = list(pool.map(_chunk, jobs))
    images, ages, male = (np.concatenate([p[k] for p in parts]) for k in range(3))
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, images=images, ages=ages, male=male, seed=seed)
    return images, ages, male


def evaluate(predictor, n_test: int) -> dict[str, float]:
    """Held-out figures on ``n_test`` fresh phantoms (never trained on)."""
    from sklearn.metrics import roc_auc_score

    from radinpaint.datasets.phantom import PhantomDataset

    cases = PhantomDataset(n_test, seed=TEST_SEED, size=512)
    truth_age = np.array([c.bone_age_months for c in cases])
    truth_male = np.array([c.male for c in cases], dtype=bool)
    start = time.perf_counter()
    pred = predictor.predict(cases)
    seconds = time.perf_counter() - start
    out = {"n_test": n_test, "seconds_incl_phantom_generation": round(seconds, 1)}
    if pred.bone_age_months is not None:
        out["bone_age_mae_months"] = float(np.abs(pred.bone_age_months - truth_age).mean())
        out["baseline_constant_mean_mae"] = float(np.abs(truth_age - truth_age.mean()).mean())
        out["mean_member_spread_months"] = float(pred.member_spread()["bone_age_months"].mean())
    if pred.p_male is not None:
        out["sex_auc"] = float(roc_auc_score(truth_male, pred.p_male))
        out["sex_accuracy"] = float(((pred.p_male >= 0.5) == truth_male).mean())
    return out


def main() -> None:
    """Train, save into the package, evaluate."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n-train", type=int, default=4000)
    parser.add_argument("--n-test", type=int, default=200)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2, help="processes, 1 thread each")
    parser.add_argument("--widths", type=int, nargs="+", default=[16, 32, 64])
    parser.add_argument("--stem-width", type=int, default=8)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/radinpaint-phantom-train.npz"))
    parser.add_argument("--out", type=Path, default=SHIPPED)
    parser.add_argument("--evaluate-only", action="store_true")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args()

    import torch

    from radinpaint.predictors import load_ensemble
    from radinpaint.predictors.preprocessing import PHANTOM_128
    from radinpaint.predictors.training import TrainConfig, train_ensemble_arrays

    torch.set_num_threads(1)
    if not args.evaluate_only:
        start = time.perf_counter()
        images, ages, male = cached_arrays(args.n_train, TRAIN_SEED, args.cache, args.workers)
        print(f"training phantoms ready: {images.shape} in {time.perf_counter() - start:.0f} s")
        cfg = TrainConfig(
            architecture="compact-cnn",
            arch_options={"widths": list(args.widths), "stem_width": args.stem_width},
            preprocessing=PHANTOM_128,
            targets=("bone_age", "male"),
            sex_input=True,  # bone age reads sex (given, or the ensemble's own prediction)
            folds=args.folds,
            epochs=args.epochs,
            patience=4,
            batch_size=64,
            lr=args.lr,
            seed=0,
        )
        start = time.perf_counter()
        train_ensemble_arrays(
            images,
            ages,
            male,
            cfg,
            name="phantom-ensemble",
            output_dir=args.out,
            progress=not args.no_progress,
            workers=args.workers,
        )
        print(f"trained in {time.perf_counter() - start:.0f} s -> {args.out}")
    predictor = load_ensemble(args.out, device="cpu")
    figures = evaluate(predictor, args.n_test)
    print(json.dumps(figures, indent=2))
    size = sum(p.stat().st_size for p in args.out.iterdir())
    print(f"shipped size: {size / 1e6:.2f} MB in {len(list(args.out.iterdir()))} files")


if __name__ == "__main__":
    main()

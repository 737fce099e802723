"""Train the shipped phantom ensemble (bone age and sex) and report held-out figures.

Reproducible: fixed seeds for the phantoms, the folds and every member. The training
phantoms are generated once per preset and cached as downsampled arrays (``--cache-dir``).

Bone-age members read 256-pixel images (``phantom-256``) through a compact CNN without a
max-pool after its stem: at 128 pixels, or with the pool, the physeal gaps that show fusion
after about 170 months are a pixel wide and the members underestimate older hands. Sex
members read 128 pixels: proportions are coarse. Every member runs all its epochs
(``--min-epochs``): the one-cycle learning rate anneals in the last epochs, where the
validation loss still falls; the epoch with the best validation loss is kept.

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


def _chunk(args: tuple[int, int, int, int, str]):
    """Geometric preprocessing of phantoms ``start..stop`` of the dataset (one process)."""
    from radinpaint.datasets.phantom import PhantomDataset
    from radinpaint.predictors.preprocessing import get_preprocessing
    from radinpaint.predictors.training import geometry_arrays

    n, seed, start, stop, preset = args
    cases = PhantomDataset(n, seed=seed, size=512, version=1)  # the shipped weights' phantoms
    prep = get_preprocessing(preset)
    return geometry_arrays([cases[i] for i in range(start, stop)], prep, progress=False)


def cached_arrays(n: int, seed: int, preset: str, cache: Path, workers: int = 2):
    """Generate ``n`` phantoms once and keep their preprocessed images and labels in ``cache``."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    from radinpaint.predictors.preprocessing import get_preprocessing

    size = get_preprocessing(preset).size
    if cache.exists():
        data = np.load(cache)
        if data["images"].shape == (n, size, size) and int(data["seed"]) == seed:
            return data["images"], data["ages"], data["male"]
    bounds = np.linspace(0, n, 4 * workers + 1).astype(int)
    jobs = [(n, seed, int(a), int(b), preset) for a, b in itertools.pairwise(bounds)]
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

    # one rendering pass: the dataset draws each phantom again on every access
    images, ages, males = [], [], []
    start = time.perf_counter()
    for case in PhantomDataset(n_test, seed=TEST_SEED, size=512, version=1):
        images.append(case.image)
        ages.append(case.bone_age_months)
        males.append(case.male)
    generation = time.perf_counter() - start
    truth_age = np.array(ages)
    truth_male = np.array(males, dtype=bool)
    start = time.perf_counter()
    pred = predictor.predict(images)
    seconds = time.perf_counter() - start
    out = {
        "n_test": n_test,
        "phantom_generation_seconds": round(generation, 1),
        "predict_seconds": round(seconds, 1),
    }
    if pred.bone_age_months is not None:
        err = pred.bone_age_months - truth_age
        out["bone_age_mae_months"] = float(np.abs(err).mean())
        out["baseline_constant_mean_mae"] = float(np.abs(truth_age - truth_age.mean()).mean())
        out["mean_member_spread_months"] = float(pred.member_spread()["bone_age_months"].mean())
        out["bone_age_mae_by_band"] = {
            f"{lo}-{hi - 1} months (n={int(band.sum())})": round(float(np.abs(err[band]).mean()), 2)
            for lo, hi in ((0, 72), (72, 144), (144, 180), (180, 229))
            if (band := (truth_age >= lo) & (truth_age < hi)).any()
        }
        given = predictor.predict(images, male=males)
        out["bone_age_mae_sex_given"] = float(np.abs(given.bone_age_months - truth_age).mean())
    if pred.p_male is not None:
        out["sex_auc"] = float(roc_auc_score(truth_male, pred.p_male))
        out["sex_accuracy"] = float(((pred.p_male >= 0.5) == truth_male).mean())
    return out


def _train_target(args, target: str, preset: str, arch: dict):
    """Train the k-fold members of one target (``"bone_age"`` or ``"male"``)."""
    from radinpaint.predictors.training import TrainConfig, train_ensemble_arrays

    start = time.perf_counter()
    cache = args.cache_dir / f"radinpaint-phantom-train-{preset}.npz"
    images, ages, male = cached_arrays(args.n_train, TRAIN_SEED, preset, cache, args.workers)
    print(
        f"{target}: training phantoms ready: {images.shape} in {time.perf_counter() - start:.0f} s"
    )
    cfg = TrainConfig(
        architecture="compact-cnn",
        arch_options=arch,
        preprocessing=preset,
        targets=(target,),
        sex_input=True,  # bone age reads sex (given, or the ensemble's own prediction)
        folds=args.folds,
        epochs=args.epochs,
        patience=4,
        min_epochs=args.epochs if args.min_epochs is None else args.min_epochs,
        batch_size=64,
        lr=args.lr,
        seed=0,
    )
    start = time.perf_counter()
    ensemble = train_ensemble_arrays(
        images, ages, male, cfg, progress=not args.no_progress, workers=args.workers
    )
    print(f"{target}: trained in {time.perf_counter() - start:.0f} s")
    return ensemble, cfg


def main() -> None:
    """Train, save into the package, evaluate."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n-train", type=int, default=4000)
    parser.add_argument("--n-test", type=int, default=200)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument(
        "--min-epochs", type=int, default=None, help="never stop earlier (default: --epochs)"
    )
    parser.add_argument("--workers", type=int, default=2, help="processes, 1 thread each")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--age-preprocessing", default="phantom-256", help="preset name")
    parser.add_argument("--age-widths", type=int, nargs="+", default=[16, 32, 64, 128])
    parser.add_argument(
        "--age-stem-pool",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="max-pool after the bone-age members' stem (halves every stage's resolution)",
    )
    parser.add_argument("--sex-preprocessing", default="phantom-128", help="preset name")
    parser.add_argument("--sex-widths", type=int, nargs="+", default=[16, 32, 64])
    parser.add_argument("--cache-dir", type=Path, default=Path("/tmp"))
    parser.add_argument("--out", type=Path, default=SHIPPED)
    parser.add_argument("--evaluate-only", action="store_true")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args()

    import torch

    from radinpaint.predictors import EnsemblePredictor, load_ensemble, save_training_run

    torch.set_num_threads(1)
    if not args.evaluate_only:
        age_arch = {
            "widths": list(args.age_widths),
            "stem_width": 8,
            "stem_pool": args.age_stem_pool,
        }
        sex_arch = {"widths": list(args.sex_widths), "stem_width": 8}
        age, age_cfg = _train_target(args, "bone_age", args.age_preprocessing, age_arch)
        sex, sex_cfg = _train_target(args, "male", args.sex_preprocessing, sex_arch)
        ensemble = EnsemblePredictor(
            name="phantom-ensemble",
            members=[*age.members, *sex.members],
            sex_from_prediction=True,  # without a given sex, bone age reads the predicted one
            metadata={"training": {**age.metadata["training"], **sex.metadata["training"]}},
        )
        save_training_run(ensemble, args.out, {"bone_age": age_cfg, "male": sex_cfg})
        print(f"saved -> {args.out}")
    predictor = load_ensemble(args.out, device="cpu")
    figures = evaluate(predictor, args.n_test)
    print(json.dumps(figures, indent=2))
    size = sum(p.stat().st_size for p in args.out.iterdir())
    print(f"shipped size: {size / 1e6:.2f} MB in {len(list(args.out.iterdir()))} files")


if __name__ == "__main__":
    main()

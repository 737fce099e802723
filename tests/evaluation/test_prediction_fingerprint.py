"""The prediction cache keys on the weights' bytes: an ensemble retrained into the same
folder, under the same name and options, never serves the old ensemble's predictions."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from radinpaint.evaluation import Evaluation, SerialExecutor, get_preset  # noqa: E402
from radinpaint.predictors.preprocessing import Preprocessing  # noqa: E402
from radinpaint.predictors.training import TrainConfig, train_ensemble_arrays  # noqa: E402

FAST = get_preset("recommended").with_resamples(30)
PREP = Preprocessing(name="t24", size=24, channels=1, crop_foreground=False, resize="cv2-area")


@pytest.fixture(autouse=True)
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _disks(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bright disks whose radius encodes 'bone age' and whose position encodes 'sex'."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:24, :24]
    ages = rng.uniform(0, 200, n)
    male = rng.integers(0, 2, n)
    images = np.zeros((n, 24, 24), np.float32)
    for i in range(n):
        cx = 7 if male[i] else 16
        r = 2 + ages[i] / 200 * 5
        images[i] = ((xx - cx) ** 2 + (yy - 12) ** 2 <= r * r) * 0.8 + rng.random((24, 24)) * 0.1
    return images, ages, male


def _train(folder, seed: int) -> None:
    config = TrainConfig(
        arch_options={"widths": [8], "stem_width": 8},
        preprocessing=PREP,
        folds=2,
        epochs=2,
        patience=20,
        batch_size=16,
        rotate_deg=0.0,
        flip=False,
        seed=seed,
    )
    images, ages, male = _disks(32, 0)
    train_ensemble_arrays(
        images, ages, male, config, name="disks", output_dir=folder, progress=False
    )


def _predictions(result) -> np.ndarray:
    ok = result.table.sort_values(["case_id", "view"])
    return ok[["orig_pred_bone_age", "pred_bone_age"]].to_numpy(dtype=float)


def test_retraining_into_the_same_folder_misses_the_prediction_cache(
    test_plugin, phantoms, tmp_path
):
    folder = tmp_path / "ensemble"
    _train(folder, seed=3)
    predictor = {"name": "ensemble", "options": {"path": str(folder), "device": "cpu"}}

    def run():
        result = Evaluation(
            phantoms[:3],
            inpainters=["test-bright"],
            predictors=[predictor],
            variants=1,
            preset=FAST,
            cache_dir=tmp_path / "cache",
            executor=SerialExecutor(),
            pixel_detail_cases=0,
            progress=False,
        ).run()
        assert result.table["error"].isna().all(), result.table["error"].dropna().unique()
        (record,) = result.manifest["backends"]["predictors"]
        return result, result.manifest["counts"], record["fingerprint"]

    first, counts, fingerprint = run()
    assert counts["predict_computed"] > 0 and counts["predict_cached"] == 0

    again, counts, same_fingerprint = run()
    assert counts["predict_computed"] == 0  # all served from the prediction cache
    assert counts["predict_cached"] > 0
    assert same_fingerprint == fingerprint
    np.testing.assert_array_equal(_predictions(again), _predictions(first))

    _train(folder, seed=4)  # same folder, file names, predictor name and options
    retrained, counts, new_fingerprint = run()
    assert new_fingerprint != fingerprint
    # every image is predicted again, as on the first run
    assert counts["predict_computed"] == first.manifest["counts"]["predict_computed"]
    assert counts["predict_cached"] == 0
    assert not np.allclose(_predictions(retrained), _predictions(first))

"""The prediction cache keys on the weights' bytes: an ensemble retrained into the same
folder, under the same name and options, never serves the old ensemble's predictions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from radinpaint.evaluation import Evaluation, SerialExecutor, get_preset

from ..predictors._tiny import train_tiny

FAST = get_preset("recommended").with_resamples(30)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _train(folder, seed: int) -> None:
    train_tiny(folder, seed=seed)


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

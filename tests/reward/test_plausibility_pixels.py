"""The ``plausibility`` metric scoring the outputs' pixels with a reward model
(``plausibility:reward=FILE``) inside an evaluation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from radinpaint.datasets import PhantomDataset
from radinpaint.errors import CheckpointError, InvalidInputError
from radinpaint.evaluation import Evaluation
from radinpaint.protocols import ScoredImage
from radinpaint.records import Mask, Radiograph
from radinpaint.registry import build_backend
from radinpaint.reward import PlausibilityMetric, TrainOptions, train_reward

from .test_reward import separable


@pytest.fixture(scope="module")
def reward_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny reward model that learnt to reject a bright ghost inside the mask."""
    path = tmp_path_factory.mktemp("plaus") / "reward.safetensors"
    options = TrainOptions(epochs=15, width=8, batch_size=16, seed=0)
    train_reward(separable(), options=options, data={"source": "test"}).save(path)
    return path


def _run(reward: Path) -> object:
    evaluation = Evaluation(
        dataset=PhantomDataset(6, size=96),
        inpainters=["identity", "telea", "blur"],
        predictors=["phantom-ensemble"],
        metrics=["regression:n_resamples=20"],
        add_metrics=[f"plausibility:reward={reward},n_resamples=200"],
        progress=False,
        n_samples=0,
        pixel_detail_cases=0,
    )
    return evaluation.run()


def test_declares_reads_images_only_with_a_reward_model(reward_file):
    built = build_backend("metric", "plausibility", reward=str(reward_file))
    assert built.capabilities.reads_images and built.capabilities.deterministic
    assert not build_backend("metric", "plausibility").capabilities.reads_images


def test_scores_every_inpainter_from_the_pixels_deterministically(reward_file):
    first, second = _run(reward_file), _run(reward_file)
    assert first.metric_errors == {}
    table = first.metrics["plausibility"].table
    assert list(table["inpainter"]) == ["blur", "identity", "telea"]
    assert (table["cases"] == 6).all() and (table["outputs"] == 6).all()
    assert table["plausibility"].between(0, 1).all()
    assert (table["ci_low"] <= table["plausibility"]).all()
    assert (table["plausibility"] <= table["ci_high"]).all()
    values = first.metrics["plausibility"].values
    # identity leaves the bright marker in the mask: the ghost the model learnt to reject
    assert values["telea"] > values["identity"]
    assert second.metrics["plausibility"].values == values
    assert first.metrics["plausibility"].details["reward_sha256"]


def test_observe_pairs_each_output_with_its_original_and_mask(reward_file):
    rng = np.random.default_rng(0)
    film = (0.45 + 0.06 * rng.standard_normal((48, 48))).astype(np.float32)
    mask = np.zeros((48, 48), bool)
    mask[10:22, 10:22] = True
    original = film.copy()
    original[mask] = 0.95
    metric = PlausibilityMetric(reward=str(reward_file), n_resamples=50)

    def scored(label: str, pixels: np.ndarray) -> ScoredImage:
        image = Radiograph.from_float(pixels)
        return ScoredImage("c0", label, label, 0, image, image.content_hash(), mask=Mask(mask))

    # an output at twice the original's size is brought to the original's frame
    big = np.kron(film, np.ones((2, 2), np.float32))
    metric.observe([scored("original", original), scored("fill", film), scored("big", big)])
    scores = metric.observed_scores()
    assert list(scores["inpainter"]) == ["fill", "big"]
    assert scores["p_acceptable"].iloc[0] == pytest.approx(scores["p_acceptable"].iloc[1], abs=0.05)


def test_bad_reward_files_and_options_give_clear_errors(reward_file, tmp_path):
    with pytest.raises(CheckpointError, match="reward model not found"):
        build_backend("metric", "plausibility", reward=str(tmp_path / "missing.safetensors"))
    other = tmp_path / "other.safetensors"
    other.write_bytes(b"not weights")
    other.with_suffix(".json").write_text('{"format": "something-else"}', "utf-8")
    with pytest.raises(CheckpointError, match="not a reward model"):
        PlausibilityMetric(reward=str(other))
    with pytest.raises(InvalidInputError, match="not both"):
        PlausibilityMetric(reward=str(reward_file), scores="s.csv")
    with pytest.raises(InvalidInputError, match="observed no outputs"):
        PlausibilityMetric(reward=str(reward_file)).compute(None)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="reward model"):
        PlausibilityMetric().observe([])

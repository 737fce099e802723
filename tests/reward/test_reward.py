"""The reward model, best-of-n, the plausibility metric and the simulated rater."""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import numpy as np
import pandas as pd
import pytest

from radinpaint.capabilities import Capabilities
from radinpaint.errors import CheckpointError, InvalidInputError
from radinpaint.hookspecs import hookimpl
from radinpaint.inpainters.base import PerImageInpainter
from radinpaint.records import InpaintRequest, Mask, Radiograph
from radinpaint.reward import (
    BestOfInpainter,
    PlausibilityMetric,
    RatedSample,
    SimulatedRater,
    TrainOptions,
    cross_validate,
    load_reward,
    plausibility_table,
    train_reward,
)

SIZE = 48


def _case(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A grainy film with a bright square marker: (clean film, original, mask)."""
    film = (0.45 + 0.06 * rng.standard_normal((SIZE, SIZE))).astype(np.float32)
    mask = np.zeros((SIZE, SIZE), bool)
    r, c = rng.integers(8, SIZE - 20, size=2)
    mask[r : r + 12, c : c + 12] = True
    original = film.copy()
    original[mask] = 0.95
    return film, original, mask


def separable(n_cases: int = 12, seed: int = 0) -> list[RatedSample]:
    """Per case: two fills with the film's level and grain (acceptable) and two ghosts of the
    marker, a grainy fill 0.15 to 0.3 brighter (not acceptable): a rule a model must learn
    from the pixels."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n_cases):
        film, original, mask = _case(rng)
        for v in range(4):
            output = film.copy()
            grainy = v < 2
            noise = 0.06 * rng.standard_normal(int(mask.sum()))
            output[mask] = 0.45 + noise + (0.0 if grainy else rng.uniform(0.15, 0.3))
            out.append(
                RatedSample(
                    output=output,
                    original=original,
                    mask=mask,
                    accepted=grainy,
                    case_id=f"c{k}",
                    inpainter="clean" if grainy else "ghost",
                    variant=v,
                )
            )
    return out


FAST = TrainOptions(epochs=15, width=8, batch_size=16, seed=0)


@pytest.fixture(scope="module")
def reward_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A reward model trained on the separable rule."""
    path = tmp_path_factory.mktemp("reward") / "reward.safetensors"
    train_reward(separable(), options=FAST, data={"source": "test"}).save(path)
    return path


def test_learns_a_separable_rule_with_high_cross_validated_auc():
    samples = separable()
    cv = cross_validate(samples, folds=3, options=FAST)
    assert cv.auc >= 0.95 and cv.accuracy >= 0.85
    assert len(cv.fold_auc) == 3
    # folds by case: one case's outputs are held out together
    for case in {s.case_id for s in samples}:
        folds = {cv.folds_of[i] for i, s in enumerate(samples) if s.case_id == case}
        assert len(folds) == 1


def test_saved_and_loaded_models_predict_the_same(tmp_path: Path):
    samples = separable(n_cases=6)
    cv = cross_validate(samples, folds=2, options=attrs.evolve(FAST, epochs=2))
    model = train_reward(samples, options=FAST, cv=cv, data={"source": "unit test"})
    path = model.save(tmp_path / "r.safetensors")
    loaded = load_reward(path)
    np.testing.assert_array_equal(model.predict(samples), loaded.predict(samples))
    config = json.loads(path.with_suffix(".json").read_text())
    assert config["training"]["source"] == "unit test"
    assert config["training"]["outputs"] == len(samples)
    assert config["cross_validation"]["folds"] == 2
    assert len(config["weights_sha256"]) == 64


def test_training_is_deterministic_per_seed():
    samples = separable(n_cases=4)
    a = train_reward(samples, options=attrs.evolve(FAST, epochs=3)).predict(samples)
    b = train_reward(samples, options=attrs.evolve(FAST, epochs=3)).predict(samples)
    np.testing.assert_array_equal(a, b)


def test_bad_ratings_give_clear_errors(tmp_path: Path):
    with pytest.raises(InvalidInputError, match="no rated outputs"):
        train_reward([])
    one_class = [s for s in separable(n_cases=3) if s.accepted]
    with pytest.raises(InvalidInputError, match="both classes"):
        train_reward(one_class)
    with pytest.raises(InvalidInputError, match="at least 5 cases"):
        cross_validate(separable(n_cases=3), folds=5)
    unrated = [attrs.evolve(s, accepted=None) for s in separable(n_cases=2)]
    with pytest.raises(InvalidInputError, match="no rating"):
        train_reward(unrated)
    s = separable(n_cases=1)[0]
    with pytest.raises(InvalidInputError, match="mask is empty"):
        RatedSample(output=s.output, original=s.original, mask=np.zeros_like(s.mask))
    with pytest.raises(InvalidInputError, match="does not match"):
        RatedSample(output=s.output, original=s.original, mask=s.mask[:-1])
    with pytest.raises(CheckpointError, match="not found"):
        load_reward(tmp_path / "missing.safetensors")


# -- best-of ---------------------------------------------------------------------------


@attrs.define
class GrainLottery(PerImageInpainter):
    """Fills the mask at the ring's mean plus grain of a seed-drawn amplitude (0 to 0.1)."""

    name = "grain-lottery"
    compositing = "paste-back"

    def inpaint_one(self, request: InpaintRequest) -> np.ndarray:
        rng = np.random.default_rng(request.variant_seed)
        amplitude = rng.uniform(0.0, 0.1)
        out = request.image.pixels.copy()
        m = request.mask.array
        out[m] = 0.45 + amplitude * rng.standard_normal(int(m.sum()))
        return np.clip(out, 0.0, 1.0)


class _LotteryPlugin:
    @hookimpl
    def radinpaint_register_inpainters(self, register):
        register(
            "grain-lottery",
            GrainLottery,
            summary="test backend",
            capabilities=Capabilities(deterministic=False, fingerprint="lottery-1"),
        )


@pytest.fixture
def lottery():
    from radinpaint import registry
    from radinpaint.plugins import get_plugin_manager

    get_plugin_manager().register(_LotteryPlugin(), name="grain-lottery-test")
    registry._clear_cache()
    yield
    # the autouse fixture of conftest resets the plugins


def _request(seed: int = 3, variant: int = 0) -> InpaintRequest:
    _, original, mask = _case(np.random.default_rng(42))
    return InpaintRequest(
        image=Radiograph.from_float(original, 16),
        mask=Mask.from_array(mask),
        seed=seed,
        variant=variant,
        case_id="x",
    )


def test_best_of_picks_the_highest_score_and_replays_per_seed(lottery, reward_file):
    from radinpaint import get_inpainter

    best = get_inpainter("best-of", inner="grain-lottery", n=4, reward=str(reward_file))
    request = _request()
    (result,) = best.inpaint([request])
    record = result.extra["best_of"]
    assert len(record["scores"]) == 4 and record["n"] == 4
    assert record["chosen"] == int(np.argmax(record["scores"]))
    # the chosen output is the inner backend's candidate of that variant
    inner = GrainLottery()
    candidates = inner.inpaint(
        [attrs.evolve(request, seed=request.variant_seed, variant=j) for j in range(4)]
    )
    chosen = candidates[record["chosen"]]
    np.testing.assert_array_equal(result.image.pixels, chosen.image.pixels)
    model = load_reward(reward_file)
    scores = model.predict(
        [
            RatedSample(
                output=c.image.pixels, original=request.image.pixels, mask=request.mask.array
            )
            for c in candidates
        ]
    )
    np.testing.assert_array_equal(record["scores"], scores)
    assert result.backend == "best-of" and result.seed == request.variant_seed
    # deterministic per seed
    (again,) = best.inpaint([request])
    np.testing.assert_array_equal(again.image.pixels, result.image.pixels)
    assert again.extra["best_of"] == record
    (other,) = best.inpaint([_request(seed=4)])
    assert other.extra["best_of"]["candidate_seeds"] != record["candidate_seeds"]


def test_best_of_asks_a_deterministic_inner_backend_once(reward_file):
    from radinpaint import get_inpainter

    best = get_inpainter("best-of", inner="telea", n=4, reward=str(reward_file))
    (result,) = best.inpaint([_request()])
    assert len(result.extra["best_of"]["scores"]) == 1
    empty = attrs.evolve(_request(), mask=Mask.empty((SIZE, SIZE)))
    (same,) = best.inpaint([empty])
    assert "empty-mask" in same.flags


def test_best_of_fingerprint_follows_inner_n_and_reward(lottery, reward_file, tmp_path):
    from radinpaint.registry import build_backend

    def fp(**options):
        built = build_backend("inpainter", "best-of", **options)
        return built.capabilities.fingerprint

    base = {"inner": "grain-lottery", "n": 4, "reward": str(reward_file)}
    other_reward = tmp_path / "other.safetensors"
    train_reward(separable(n_cases=3), options=attrs.evolve(FAST, epochs=1, seed=7)).save(
        other_reward
    )
    prints = {
        fp(**base),
        fp(**{**base, "n": 3}),
        fp(**{**base, "inner": "telea"}),
        fp(**{**base, "reward": str(other_reward)}),
    }
    assert len(prints) == 4
    assert fp(**base) == fp(**base)
    caps = build_backend("inpainter", "best-of", **base).capabilities
    assert not caps.deterministic


def test_best_of_refuses_a_missing_reward_model_and_itself(tmp_path, reward_file):
    from radinpaint import get_inpainter

    with pytest.raises(CheckpointError, match="reward model not found"):
        get_inpainter("best-of", inner="telea", reward=str(tmp_path / "none.safetensors"))
    with pytest.raises(InvalidInputError, match="wrap itself"):
        BestOfInpainter(inner="best-of", reward=str(reward_file))


# -- plausibility ------------------------------------------------------------------------


def test_plausibility_metric_is_registered_and_scores_per_inpainter(tmp_path):
    from radinpaint import get_metric, list_metrics

    assert "plausibility" in {e.name for e in list_metrics()}
    scores = pd.DataFrame(
        {
            "case_id": ["a", "a", "b", "b", "a", "b"],
            "inpainter": ["x", "x", "x", "x", "y", "y"],
            "variant": [0, 1, 0, 1, 0, 0],
            "p_acceptable": [0.2, 0.4, 0.6, 0.8, 0.9, 1.0],
        }
    )
    path = tmp_path / "scores.csv"
    scores.to_csv(path, index=False)
    # the tidy table repeats each output per predictor and view
    table = pd.DataFrame(
        {
            "case_id": ["a", "a", "a", "b", "b", "a", "b"],
            "inpainter": ["x", "x", "x", "x", "x", "y", "y"],
            "variant": [0, 0, 1, 0, 1, 0, 0],
            "predictor": ["p", "q", "p", "p", "p", "p", "p"],
        }
    )
    metric = get_metric("plausibility", scores=str(path), n_resamples=200)
    result = metric.compute(table)
    assert result.values["x"] == pytest.approx(0.5)  # case means 0.3 and 0.7
    assert result.values["y"] == pytest.approx(0.95)
    assert result.values["x_ci_low"] <= 0.5 <= result.values["x_ci_high"]
    with pytest.raises(InvalidInputError, match="p_acceptable"):
        PlausibilityMetric().compute(table)
    summary = plausibility_table(scores[scores["inpainter"] == "x"], n_resamples=100)
    assert summary.loc[0, "outputs"] == 4 and summary.loc[0, "cases"] == 2


# -- the simulated rater -------------------------------------------------------------------


def test_simulated_rater_applies_its_stated_rule():
    rater = SimulatedRater()
    film, original, mask = _case(np.random.default_rng(1))
    grainy = film.copy()
    assert rater.accepts(grainy, mask)  # the clean film itself
    flat = film.copy()
    flat[mask] = float(film[mask].mean())
    assert not rater.accepts(flat, mask)
    assert rater.measure(flat, mask)["detail_ratio"] < 0.5
    assert not rater.accepts(original, mask)  # the marker left in place
    assert rater.measure(original, mask)["outline_levels"] > 10
    with pytest.raises(InvalidInputError):
        SimulatedRater(detail_factor=0.5)


def test_best_of_passes_the_conformance_kit(lottery, reward_file):
    from radinpaint.registry import build_backend
    from radinpaint.testing import check_inpainter

    for inner in ("grain-lottery", "telea"):
        built = build_backend("inpainter", "best-of", inner=inner, n=3, reward=str(reward_file))
        ran = check_inpainter(built, paste_back=True)
        assert {"seed-replay", "order", "empty-mask"} <= set(ran), inner

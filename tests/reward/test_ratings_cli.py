"""Ratings of a results folder -> rated samples -> ``radinpaint train-reward``."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import attrs
import pandas as pd
import pytest

from radinpaint.cli import main
from radinpaint.errors import InvalidInputError
from radinpaint.reward import SimulatedRater, samples_from_ratings, simulated_ratings


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder written by ``radinpaint run`` on 4 phantoms (identity, telea, blur)."""
    out = tmp_path_factory.mktemp("reward-run") / "run"
    code = main(
        ["run", "--data", "phantom:4:128", "--inpainters", "identity,telea,blur",
         "--predictors", "phantom-ensemble", "--variants", "1", "--n-resamples", "20",
         "--no-progress", "--format", "csv,json", "--out", str(out)]
    )  # fmt: skip
    assert code == 0
    return out


def _write_csv(path: Path, ratings: list) -> Path:
    from radinpaint.review.ratings import CSV_COLUMNS

    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(CSV_COLUMNS))
        writer.writeheader()
        for r in ratings:
            writer.writerow(r.to_row())
    return path


def test_simulated_ratings_pair_with_their_outputs(results_dir):
    rated = simulated_ratings(results_dir, SimulatedRater())
    assert len(rated) == 12 and {r.inpainter for r in rated} == {"identity", "telea", "blur"}
    assert not any(r.acceptable for r in rated if r.inpainter == "identity")
    samples = samples_from_ratings(rated, results_dir)
    assert len(samples) == 12
    by_key = {(s.case_id, s.inpainter): s for s in samples}
    ident = by_key[(rated[0].case_id, "identity")]
    assert (ident.output == ident.original).all() and ident.mask.any()


def test_ratings_of_unknown_outputs_and_no_ratings_are_refused(results_dir):
    rated = simulated_ratings(results_dir, SimulatedRater())
    stray = attrs.evolve(rated[0], output_hash="0" * 64)
    with pytest.raises(InvalidInputError, match="does not hold"):
        samples_from_ratings([*rated, stray], results_dir)
    with pytest.raises(InvalidInputError, match="no ratings"):
        samples_from_ratings([], results_dir)


def test_majority_and_each_combine_several_raters(results_dir):
    rated = simulated_ratings(results_dir, SimulatedRater())[:1]
    second = attrs.evolve(rated[0], rater="b", acceptable=not rated[0].acceptable)
    assert len(samples_from_ratings([*rated, second], results_dir, combine="each")) == 2
    (tie,) = samples_from_ratings([*rated, second], results_dir)
    assert tie.accepted is False  # a tie is not acceptable


def test_train_reward_command(results_dir, tmp_path, capsys):
    rated = simulated_ratings(results_dir, SimulatedRater())
    # a stated rule the test controls: telea's fills are acceptable, the others are not
    ratings = [attrs.evolve(r, acceptable=r.inpainter == "telea") for r in rated]
    path = _write_csv(tmp_path / "ratings.csv", ratings)
    out = tmp_path / "reward.safetensors"
    scores = tmp_path / "scores.csv"
    code = main(
        ["train-reward", "--ratings", str(path), "--results", str(results_dir), "--out",
         str(out), "--folds", "2", "--epochs", "2", "--width", "4", "--score", str(scores)]
    )  # fmt: skip
    assert code == 0
    text = capsys.readouterr().out
    assert "12 rated outputs (4 acceptable) of 4 cases" in text and "AUC" in text
    config = json.loads(out.with_suffix(".json").read_text())
    assert config["training"]["ratings"] == str(path)
    assert config["cross_validation"]["folds"] == 2
    table = pd.read_csv(scores)
    assert len(table) == 12 and table["p_acceptable"].between(0, 1).all()
    assert not (results_dir / "review").exists()  # a CSV leaves the results folder alone


def test_train_reward_command_refuses_one_class(results_dir, tmp_path, capsys):
    rated = simulated_ratings(results_dir, SimulatedRater())
    path = _write_csv(tmp_path / "r.csv", [attrs.evolve(r, acceptable=False) for r in rated])
    code = main(
        ["train-reward", "--ratings", str(path), "--results", str(results_dir), "--out",
         str(tmp_path / "r.safetensors"), "--folds", "2"]
    )  # fmt: skip
    assert code != 0
    assert "both classes" in capsys.readouterr().err


def test_best_of_and_plausibility_run_in_an_evaluation(results_dir, tmp_path):
    from radinpaint.evaluation import evaluation_from_config

    rated = simulated_ratings(results_dir, SimulatedRater())
    ratings = [attrs.evolve(r, acceptable=r.inpainter == "telea") for r in rated]
    reward = tmp_path / "reward.safetensors"
    path = _write_csv(tmp_path / "ratings.csv", ratings)
    assert main(["train-reward", "--ratings", str(path), "--results", str(results_dir),
                 "--out", str(reward), "--folds", "2", "--epochs", "2", "--width", "4",
                 "--score", str(tmp_path / "scores.csv")]) == 0  # fmt: skip
    scores = pd.read_csv(tmp_path / "scores.csv")
    evaluation = evaluation_from_config(
        {
            "dataset": {"kind": "phantom", "n": 2, "size": 128},
            "inpainters": [f"best-of:inner=telea,n=3,reward={reward}"],
            "predictors": ["phantom-ensemble"],
            "metrics": ["regression"],
            "variants": 1,
            "cache_dir": str(tmp_path / "cache"),
        }
    )
    result = evaluation.run()
    assert result.ok_rows()["inpainter"].unique().tolist() == ["best-of"]
    # best-of over a deterministic backend returns telea's own output, so the telea scores
    # of the same cases are the best-of outputs' scores: the metric reads them from the table
    from radinpaint import get_metric
    from radinpaint.reward import add_scores

    telea = scores[scores["inpainter"] == "telea"].assign(inpainter="best-of")
    out = get_metric("plausibility", n_resamples=50).compute(add_scores(result.table, telea))
    assert out.table is not None and out.table.loc[0, "cases"] == 2
    assert 0.0 <= out.values["best-of"] <= 1.0

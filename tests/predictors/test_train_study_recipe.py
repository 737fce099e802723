"""The study recipe: sex-specific k-fold bone-age members + sex members, trained resumably."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from radinpaint.datasets import PhantomDataset
from radinpaint.errors import CheckpointError, InvalidInputError, MissingLabelError
from radinpaint.predictors.engine import EngineOptions, TrainingPaused
from radinpaint.predictors.study_training import (
    KFOLD_REPORT,
    StudyRecipe,
    format_kfold_table,
    train_study_ensemble,
)

TINY_RESNET = {"depths": [1, 1, 1, 1], "base_width": 4}
SMALL_PREP = {"name": "study-48", "size": 48, "channels": 3, "crop_foreground": True}


def tiny_recipe(**changes: object) -> StudyRecipe:
    """A tiny ResNet at 48 px with 2 folds and 2 epochs: seconds on one CPU thread."""
    base: dict[str, object] = dict(
        architecture="resnet",
        arch_options=TINY_RESNET,
        preprocessing=SMALL_PREP,
        folds=2,
        sex_folds=2,
        epochs=2,
        batch_size=4,
        patience=0,
        seed=5,
    )
    base.update(changes)
    return StudyRecipe(**base)  # type: ignore[arg-type]


def quiet(**changes: object) -> EngineOptions:
    return EngineOptions(progress=False, device="cpu", **changes)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def phantoms() -> PhantomDataset:
    return PhantomDataset(16, seed=1, size=96)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, phantoms) -> Path:
    out = tmp_path_factory.mktemp("study")
    train_study_ensemble(phantoms, out, tiny_recipe(), quiet())
    return out


def _weights(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.safetensors"))}


def test_trains_the_study_members_saves_and_loads(trained, phantoms):
    from radinpaint.registry import get_predictor

    manifest = json.loads((trained / "ensemble.json").read_text())
    assert manifest["members"] == [
        "male_resnet_fold0", "male_resnet_fold1", "female_resnet_fold0",
        "female_resnet_fold1", "sex_resnet_fold0", "sex_resnet_fold1",
    ]  # fmt: skip
    assert manifest["trained_on"] == "phantoms"  # the phantom-on-real warning applies
    details = manifest["training_data"]
    assert details["n_images"] == 16 and details["data"].startswith("PhantomDataset(n=16")
    assert details["n_male"] + details["n_female"] == 16
    assert manifest["training"]["age_scale"] == 200.0
    spec = json.loads((trained / "male_resnet_fold0.json").read_text())["spec"]
    assert spec["sex_subset"] == "male" and spec["age_scale"] == 200.0
    assert spec["age_offset"] == 0.0 and spec["preprocessing"]["size"] == 48
    predictor = get_predictor("ensemble", path=str(trained))
    assert predictor.capabilities().trained_on == "phantoms"
    cases = [phantoms[i] for i in range(3)]
    given = predictor.predict([c.image for c in cases], male=[c.male for c in cases])
    assert given.bone_age_months is not None and np.isfinite(given.bone_age_months).all()
    assert given.p_male is not None and ((given.p_male > 0) & (given.p_male < 1)).all()
    # without a given sex, the sex members choose the bone-age folds
    inferred = predictor.predict([c.image for c in cases])
    assert inferred.bone_age_months is not None and np.isfinite(inferred.bone_age_months).all()


def test_kfold_report_has_each_fold_and_out_of_fold_rows(trained, phantoms):
    rows = list(csv.DictReader((trained / KFOLD_REPORT).open()))
    by_member = {r["member"]: r for r in rows}
    for sex in ("male", "female"):
        for k in (0, 1):
            row = by_member[f"{sex}_resnet_fold{k}"]
            assert row["target"] == "bone_age" and row["subset"] == sex
            assert float(row["val_mae_months"]) >= 0 and row["val_auc"] == ""
            assert int(row["best_epoch"]) in (0, 1) and int(row["epochs_run"]) == 2
    sex_rows = [by_member[f"sex_resnet_fold{k}"] for k in (0, 1)]
    assert all(0 <= float(r["val_auc"]) <= 1 and r["val_mae_months"] == "" for r in sex_rows)
    assert sum(int(r["n_val"]) for r in sex_rows) == 16
    oof = {r["member"]: r for r in rows if r["fold"] == "oof"}
    assert set(oof) == {"male out-of-fold", "female out-of-fold", "sex out-of-fold"}
    n_male = sum(bool(phantoms[i].male) for i in range(16))
    assert int(oof["male out-of-fold"]["n_val"]) == n_male
    # the out-of-fold MAE weights each fold by its size
    folds = [by_member[f"male_resnet_fold{k}"] for k in (0, 1)]
    pooled = sum(float(r["val_mae_months"]) * int(r["n_val"]) for r in folds) / n_male
    assert float(oof["male out-of-fold"]["val_mae_months"]) == pytest.approx(pooled)
    table = format_kfold_table(rows)
    assert "male_resnet_fold0" in table and "sex out-of-fold" in table


def test_resumed_run_equals_an_uninterrupted_one(tmp_path, trained, phantoms):
    out = tmp_path / "resumed"
    recipe = tiny_recipe()
    with pytest.raises(TrainingPaused, match="rerun"):  # mid-epoch of the first member
        train_study_ensemble(phantoms, out, recipe, quiet(stop_after_steps=1))
    assert (out / "checkpoints" / "male_resnet_fold0.state.pt").exists()
    with pytest.raises(TrainingPaused):  # into the third member, with per-step checkpoints
        train_study_ensemble(phantoms, out, recipe, quiet(stop_after_steps=3, checkpoint_every=1))
    assert (out / "checkpoints" / "male_resnet_fold0.done.json").exists()
    # the rest, with decode workers (which must not change the result either)
    train_study_ensemble(phantoms, out, recipe, quiet(num_workers=2))
    assert _weights(out) == _weights(trained)
    assert (out / KFOLD_REPORT).read_text().splitlines()[1].split(",")[:9] == (
        (trained / KFOLD_REPORT).read_text().splitlines()[1].split(",")[:9]
    )


def test_a_finished_run_rerun_is_read_back_not_retrained(tmp_path, trained, phantoms, monkeypatch):
    import shutil

    from radinpaint.predictors import study_training

    out = tmp_path / "again"
    shutil.copytree(trained, out)

    def no_training(*args, **kwargs):
        raise AssertionError("a finished member was trained again")

    monkeypatch.setattr(study_training, "fit_member", no_training)
    ensemble = train_study_ensemble(phantoms, out, tiny_recipe(), quiet())
    assert len(ensemble.members) == 6 and _weights(out) == _weights(trained)


def test_the_decode_cache_is_filled_and_changes_nothing(tmp_path, trained, phantoms):
    flags = list((trained / "checkpoints").glob("images-*.filled.npy"))
    assert len(flags) == 1 and np.load(flags[0]).all()
    out = tmp_path / "uncached"
    train_study_ensemble(phantoms, out, tiny_recipe(), quiet(cache_geometry=False))
    assert not list((out / "checkpoints").glob("images-*"))
    assert _weights(out) == _weights(trained)


def test_a_saved_state_of_another_recipe_is_refused(tmp_path, phantoms):
    out = tmp_path / "o"
    with pytest.raises(TrainingPaused):
        train_study_ensemble(phantoms, out, tiny_recipe(), quiet(stop_after_steps=1))
    with pytest.raises(CheckpointError, match="different recipe"):
        train_study_ensemble(phantoms, out, tiny_recipe(lr=5e-4), quiet())
    with pytest.raises(TrainingPaused):  # restart discards it
        train_study_ensemble(
            phantoms, out, tiny_recipe(lr=5e-4), quiet(stop_after_steps=1), restart=True
        )


def test_recipe_defaults_are_the_study_models():
    recipe = StudyRecipe()
    assert recipe.architecture == "resnet50" and recipe.preprocessing.name == "study-320"
    assert (recipe.folds, recipe.sex_folds, recipe.age_scale) == (5, 5, 200.0)
    with pytest.raises(InvalidInputError, match="folds"):
        StudyRecipe(folds=1)
    with pytest.raises(InvalidInputError, match="amp"):
        EngineOptions(amp="fp8")


def test_too_few_labelled_cases_name_the_member_set(tmp_path):
    with pytest.raises(MissingLabelError, match="members need"):
        train_study_ensemble(PhantomDataset(4, seed=0, size=64), tmp_path, tiny_recipe(), quiet())


def test_trains_on_the_real_rsna_samples(rsna_samples, tmp_path):
    out = tmp_path / "rsna"
    ensemble = train_study_ensemble(
        rsna_samples / "labels.csv",
        out,
        tiny_recipe(epochs=1),
        quiet(num_workers=2),
        limit=20,
    )
    manifest = json.loads((out / "ensemble.json").read_text())
    assert manifest["trained_on"] == "rsna-samples/labels.csv (20 real images)"
    assert manifest["training_data"]["n_images"] == 20
    assert len(ensemble.members) == 6
    from radinpaint.datasets import open_dataset

    cases = open_dataset(rsna_samples / "labels.csv")
    picked = [cases[i] for i in (0, 30)]
    prediction = ensemble.predict([c.image for c in picked], male=[c.male for c in picked])
    assert prediction.bone_age_months is not None
    assert np.isfinite(prediction.bone_age_months).all()


def test_cli_recipe_study_trains_and_reports(tmp_path, capsys):
    from radinpaint.cli import main

    folder = tmp_path / "P"
    assert main(["phantoms", "--n", "12", "--size", "64", "--seed", "0", "--out", str(folder)]) == 0
    capsys.readouterr()
    out = tmp_path / "study"
    code = main([
        "train-predictor", "--recipe", "study", "--data", str(folder), "--out", str(out),
        "--architecture", "resnet", "--arch-option", "depths=[1,1,1,1]",
        "--arch-option", "base_width=4", "--preprocessing", "study-320", "--folds", "2",
        "--sex-folds", "2", "--epochs", "1", "--batch-size", "4", "--quiet",
        "--num-workers", "0", "--image-size", "40",
    ])  # fmt: skip
    text = capsys.readouterr().out
    assert code == 0, text
    assert "sex out-of-fold" in text and (out / KFOLD_REPORT).exists()
    manifest = json.loads((out / "ensemble.json").read_text())
    assert manifest["training_data"]["n_images"] == 12
    assert manifest["training"]["preprocessing"]["size"] == 40


def test_members_start_from_given_weights(tmp_path, trained, phantoms):
    from safetensors.torch import load_file, save_file

    start = load_file(str(trained / "sex_resnet_fold0.safetensors"))
    save_file(start, str(tmp_path / "start.safetensors"))
    recipe = tiny_recipe(init_weights=str(tmp_path / "start.safetensors"), lr=1e-12, epochs=1)
    out = tmp_path / "o"
    train_study_ensemble(phantoms, out, recipe, quiet())
    for name in ("male_resnet_fold0", "sex_resnet_fold1"):
        got = load_file(str(out / f"{name}.safetensors"))
        # every convolution starts from the given weights (a tiny learning rate keeps them)
        assert torch_close(got["layer1.0.conv2.weight"], start["layer1.0.conv2.weight"])
    with pytest.raises(CheckpointError, match="no tensor"):
        save_file({"other": start["fc.bias"]}, str(tmp_path / "bad.safetensors"))
        train_study_ensemble(
            phantoms,
            tmp_path / "bad",
            tiny_recipe(init_weights=str(tmp_path / "bad.safetensors")),
            quiet(),
        )


def torch_close(a, b) -> bool:
    import torch

    return bool(torch.allclose(a, b, atol=1e-6))


def test_cli_pauses_with_status_75_and_resumes(tmp_path, capsys):
    from radinpaint.cli import main

    args = [
        "train-predictor", "--recipe", "study", "--phantoms", "12", "--out",
        str(tmp_path / "o"), "--architecture", "resnet", "--arch-option", "base_width=4",
        "--image-size", "40", "--folds", "2", "--sex-folds", "2", "--epochs", "2",
        "--batch-size", "4", "--quiet", "--num-workers", "0",
    ]  # fmt: skip
    assert main([*args, "--stop-after-steps", "2"]) == 75
    assert "rerun the same command to resume" in capsys.readouterr().out
    assert main(args) == 0
    assert "saved 6 members" in capsys.readouterr().out


@pytest.mark.gpu
def test_amp_training_step_on_cuda(tmp_path, phantoms):
    import torch

    recipe = tiny_recipe(epochs=1)
    ensemble = train_study_ensemble(
        phantoms, tmp_path, recipe, EngineOptions(device="cuda", amp="bf16", progress=False,
                                                  channels_last=True)
    )  # fmt: skip
    for member in ensemble.members:
        assert all(torch.isfinite(p).all() for p in member.module.parameters())


@pytest.mark.gpu
def test_loader_pins_memory_on_cuda(phantoms):
    from radinpaint.predictors.engine import make_loaders

    recipe = tiny_recipe()
    loaders = make_loaders(
        phantoms, recipe.preprocessing, recipe.settings(),
        EngineOptions(device="cuda", num_workers=1), seed=0, device="cuda",
    )  # fmt: skip
    loaders.eval_batches.indices = np.arange(4)
    x, _ = next(iter(loaders.evaluate))
    assert x.is_pinned()


def test_resnet_architecture_scales_the_resnet50_layout():
    from radinpaint.predictors.architectures import ResNet50, build_model

    full = build_model("resnet", options={"depths": [3, 4, 6, 3], "base_width": 64})
    shapes = {k: tuple(v.shape) for k, v in full.state_dict().items()}
    assert shapes == {k: tuple(v.shape) for k, v in ResNet50().state_dict().items()}
    tiny = build_model("resnet", options=TINY_RESNET)
    assert sum(p.numel() for p in tiny.parameters()) < 50_000
    with pytest.raises(InvalidInputError, match="resnet"):
        build_model("resnet", options={"depth": [1, 1]})
    with pytest.raises(InvalidInputError, match="four stage depths"):
        build_model("resnet", options={"depths": [1, 1]})

"""Training: k folds, early stopping, saving, learning something, bad labels, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from radinpaint.cli import main
from radinpaint.errors import InvalidInputError, MissingLabelError
from radinpaint.predictors import EnsemblePredictor
from radinpaint.predictors.checkpoint import load_ensemble
from radinpaint.predictors.training import (
    TrainConfig,
    save_training_run,
    train_ensemble,
    train_ensemble_arrays,
)
from radinpaint.records import Case, Radiograph

from ._tiny import PREP, disks


def _config(**kw) -> TrainConfig:
    base = dict(
        arch_options={"widths": [8, 16], "stem_width": 8},
        preprocessing=PREP,
        folds=2,
        epochs=12,
        patience=20,
        batch_size=16,
        lr=1e-2,
        rotate_deg=0.0,
        flip=False,
        seed=3,
    )
    return TrainConfig(**{**base, **kw})


def test_learns_and_is_reproducible(tmp_path) -> None:
    images, ages, male = disks(96, 0)
    ens = train_ensemble_arrays(
        images, ages, male, _config(), name="disks", output_dir=tmp_path, progress=False
    )
    assert [m.name for m in ens.members] == [
        "bone_age_fold0",
        "bone_age_fold1",
        "sex_fold0",
        "sex_fold1",
    ]
    test_images, test_ages, test_male = disks(40, 1)
    cases = [Radiograph.from_float(im, clip=True) for im in test_images]
    pred = ens.predict(cases)
    mae = np.abs(pred.bone_age_months - test_ages).mean()
    baseline = np.abs(test_ages - ages.mean()).mean()
    assert mae < 0.7 * baseline
    assert ((pred.p_male >= 0.5) == test_male.astype(bool)).mean() > 0.75
    report = json.loads((tmp_path / "ensemble.json").read_text())["members_report"]
    assert report["bone_age_fold0"]["val_size"] == 48
    again = train_ensemble_arrays(images, ages, male, _config(), progress=False)
    np.testing.assert_allclose(again.predict(cases).bone_age_months, pred.bone_age_months)
    loaded = load_ensemble(tmp_path).predict(cases)
    np.testing.assert_allclose(loaded.bone_age_months, pred.bone_age_months)


def test_sex_specific_joint_and_sex_input_layouts() -> None:
    images, ages, male = disks(32, 2)
    cfg = _config(epochs=1, sex_specific=True, sex_input=True, targets=("bone_age",))
    ens = train_ensemble_arrays(images, ages, male, cfg, progress=False)
    assert [m.spec.sex_subset for m in ens.members] == ["male", "male", "female", "female"]
    assert all(m.spec.sex_input for m in ens.members)
    joint = train_ensemble_arrays(images, ages, male, _config(epochs=1, joint=True), progress=False)
    assert [m.spec.targets for m in joint.members] == [("bone_age", "male")] * 2
    with pytest.raises(InvalidInputError, match="joint"):
        _config(joint=True, sex_input=True)
    with pytest.raises(InvalidInputError, match="target"):
        _config(targets=("height",))


def test_parallel_workers_match_serial() -> None:
    images, ages, male = disks(32, 4)
    cfg = _config(epochs=2, targets=("bone_age",))
    serial = train_ensemble_arrays(images, ages, male, cfg, progress=False)
    parallel = train_ensemble_arrays(images, ages, male, cfg, progress=False, workers=2)
    probe = [Radiograph.from_float(im, clip=True) for im in images[:6]]
    np.testing.assert_allclose(
        serial.predict(probe).member_bone_age, parallel.predict(probe).member_bone_age, atol=1e-5
    )


def test_targets_trained_separately_are_saved_as_one_ensemble(tmp_path) -> None:
    images, ages, male = disks(32, 5)
    age_cfg = _config(epochs=1, targets=("bone_age",), sex_input=True)
    sex_cfg = _config(epochs=1, targets=("male",), arch_options={"widths": [4], "stem_width": 4})
    age = train_ensemble_arrays(images, ages, male, age_cfg, progress=False)
    sex = train_ensemble_arrays(images, None, male, sex_cfg, progress=False)
    joined = EnsemblePredictor(
        name="joined",
        members=[*age.members, *sex.members],
        sex_from_prediction=True,
        metadata={"training": {**age.metadata["training"], **sex.metadata["training"]}},
    )
    save_training_run(joined, tmp_path, {"bone_age": age_cfg, "male": sex_cfg})
    manifest = json.loads((tmp_path / "ensemble.json").read_text())
    assert manifest["training"]["male"]["arch_options"] == {"widths": [4], "stem_width": 4}
    assert set(manifest["members_report"]) == {m.name for m in joined.members}
    assert "history" not in manifest["members_report"]["sex_fold0"]
    history = json.loads((tmp_path / "training_history.json").read_text())
    assert len(history["bone_age_fold1"]["history"]) == 1
    probe = [Radiograph.from_float(im, clip=True) for im in images[:5]]
    loaded = load_ensemble(tmp_path).predict(probe)  # sex comes from the sex members
    np.testing.assert_allclose(loaded.bone_age_months, joined.predict(probe).bone_age_months)


def test_missing_labels() -> None:
    images, _, _ = disks(8, 5)
    with pytest.raises(MissingLabelError, match="labels"):
        train_ensemble_arrays(images, np.full(8, np.nan), None, _config(), progress=False)
    cases = [
        Case(id=str(i), image=Radiograph.from_float(im, clip=True)) for i, im in enumerate(images)
    ]
    with pytest.raises(MissingLabelError):
        train_ensemble(cases, _config(), progress=False)


def test_train_predictor_cli_on_phantoms(tmp_path, capsys) -> None:
    out = tmp_path / "model"
    code = main(
        [
            "train-predictor",
            "--phantoms",
            "12",
            "--out",
            str(out),
            "--folds",
            "2",
            "--epochs",
            "1",
            "--preprocessing",
            "phantom-128",
            "--arch-option",
            "widths=[8,16]",
            "--arch-option",
            "stem_pool=false",
            "--min-epochs",
            "1",
            "--quiet",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "saved 4 members" in printed
    manifest = json.loads((out / "ensemble.json").read_text())
    assert manifest["training"]["arch_options"] == {"widths": [8, 16], "stem_pool": False}
    assert manifest["training"]["min_epochs"] == 1
    assert len(list(out.glob("*.safetensors"))) == 4
    member = json.loads((out / "bone_age_fold0.json").read_text())
    assert member["spec"]["arch_options"]["stem_pool"] is False
    bad = ["train-predictor", "--phantoms", "4", "--out", str(out), "--arch-option", "wide"]
    assert main(bad) == 2
    assert "KEY=VALUE" in capsys.readouterr().err


def test_train_predictor_cli_on_rsna_layout(tmp_path, capsys) -> None:
    from radinpaint.io import write_image

    images, ages, male = disks(10, 6)
    rows = ["id,boneage,male"]
    for i, im in enumerate(images):
        write_image(tmp_path / f"{100 + i}.png", Radiograph.from_float(im, 8, clip=True))
        rows.append(f"{100 + i},{ages[i]:.0f},{bool(male[i])}")
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "model"
    args = ["train-predictor", "--data", str(tmp_path), "--out", str(out), "--folds", "2"]
    args += ["--epochs", "1", "--targets", "bone_age", "--quiet"]
    assert main(args) == 0
    assert "saved 2 members" in capsys.readouterr().out

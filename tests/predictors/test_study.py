"""The study's model layout loads in one call, without timm, through weights_only."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from radinpaint.errors import CheckpointError, InvalidInputError, ModelUnavailableError
from radinpaint.predictors.architectures import ResNet50
from radinpaint.predictors.preprocessing import Preprocessing
from radinpaint.predictors.study import load_study_ensemble
from radinpaint.registry import get_predictor

SMALL = Preprocessing(name="study-64", size=64, channels=3)
"""The study's steps at 64 pixels, to keep a ResNet-50 fast on a CPU."""


_BASE: dict[str, torch.Tensor] = {}


def _resnet(bias: float | None, seed: int) -> dict[str, torch.Tensor]:
    if not _BASE:
        torch.manual_seed(0)
        _BASE.update(ResNet50(num_outputs=1).state_dict())
    state = {k: v.clone() for k, v in _BASE.items()}
    gen = torch.Generator().manual_seed(seed)
    if bias is None:
        state["fc.weight"] = torch.randn(1, 2048, generator=gen) * 0.05
        state["fc.bias"] = torch.randn(1, generator=gen)
    else:
        state["fc.weight"] = torch.zeros(1, 2048)
        state["fc.bias"] = torch.full((1,), bias)
    return state


def _small(state: dict[str, torch.Tensor]):
    """bf16 copies of the float tensors: half the disk, and the loader must upcast them."""
    for k, v in state.items():
        yield k, (v.to(torch.bfloat16) if v.is_floating_point() else v)


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory):
    """Random weights saved exactly as the study's training script saved them."""
    root = tmp_path_factory.mktemp("study")
    for sex, bias, folds in (("male", 0.6, 2), ("female", 0.3, 1)):
        for fold in range(folds):
            state = {f"module.model.{k}": v for k, v in _small(_resnet(bias + fold * 0.1, fold))}
            payload = {"model": state, "best_score": np.float64(5.5), "epoch": 7}
            torch.save(payload, root / f"{sex}_resnet50_fold{fold}_best_score.pth")
    for k in range(2):  # named as the study's validate_gender.py loads them
        torch.save(dict(_small(_resnet(None, 100 + k))), root / f"resnet50_gender_{k}.pth")
    return root


def test_loads_in_one_call_and_routes_by_sex(study_dir, images) -> None:
    ens = load_study_ensemble(study_dir, preprocessing=SMALL, batch_size=8)
    names = [m.name for m in ens.members]
    assert names[:2] == ["male_resnet50_fold0_best_score", "male_resnet50_fold1_best_score"]
    assert sum(m.spec.sex_subset == "female" for m in ens.members) == 1
    sex = [m.name for m in ens.members if "male" in m.spec.targets]
    assert sex == ["resnet50_gender_0", "resnet50_gender_1"]  # the study's file names
    imgs = images[:4]
    male = [True, False, True, False]
    pred = ens.predict(imgs, male=male)
    # x 200 months: male folds output 0.6 and 0.7, the female fold 0.3
    np.testing.assert_allclose(pred.member_bone_age[0], [120.0, 140.0], atol=0.5)
    np.testing.assert_allclose(pred.member_bone_age[1], [60.0, np.nan], atol=0.5)
    np.testing.assert_allclose(pred.bone_age_months, [130, 60, 130, 60], atol=0.5)
    assert pred.member_p_male.shape == (4, 2)
    assert ((pred.p_male > 0) & (pred.p_male < 1)).all()
    with pytest.raises(InvalidInputError, match="sex"):
        ens.predict(imgs)


def test_registered_predictor_and_patterns(study_dir) -> None:
    ens = get_predictor(
        "study-resnet50", weights_dir=str(study_dir), sex_pattern=None, preprocessing=SMALL
    )
    assert ens.targets == ("bone_age",)
    with pytest.raises(InvalidInputError, match="weights_dir"):
        get_predictor("study-resnet50")


def test_bad_folders_and_wrong_weights(tmp_path) -> None:
    with pytest.raises(ModelUnavailableError, match="does not exist"):
        load_study_ensemble(tmp_path / "nope")
    with pytest.raises(ModelUnavailableError, match="no study weights"):
        load_study_ensemble(tmp_path)
    state = _resnet(None, 0)
    state.pop("fc.bias")
    state["head.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "male_resnet50_fold0_best_score.pth")
    with pytest.raises(CheckpointError, match=r"missing keys: fc\.bias.*unexpected keys: head"):
        load_study_ensemble(tmp_path)


def test_a_missing_sex_model_is_said_not_dropped_silently(study_dir) -> None:
    for path in study_dir.glob("resnet50_gender_*.pth"):
        path.unlink()
    with pytest.warns(RuntimeWarning, match="no sex model"):
        ens = load_study_ensemble(study_dir, preprocessing=SMALL)
    assert ens.targets == ("bone_age",)

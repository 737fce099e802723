"""Ensembles declare their capabilities; the fingerprint follows the weight files' bytes."""

from __future__ import annotations

import copy
import json

import pytest
import torch

from radinpaint.capabilities import Capabilities
from radinpaint.fingerprint import clear_fingerprint_memo
from radinpaint.predictors import checkpoint as checkpoint_module
from radinpaint.predictors.checkpoint import load_ensemble
from radinpaint.predictors.ensemble import EnsemblePredictor
from radinpaint.predictors.members import Member
from radinpaint.predictors.plugin import load_phantom_ensemble
from radinpaint.predictors.preprocessing import Preprocessing

from ._tiny import train_tiny

_train = train_tiny


def _forbid_loading(monkeypatch) -> None:
    """Make every way of loading weights raise."""

    def refuse(*args, **kwargs):
        raise AssertionError("capabilities() loaded weights")

    import safetensors.torch

    monkeypatch.setattr(checkpoint_module, "load_member", refuse)
    monkeypatch.setattr(checkpoint_module, "read_pth_state_dict", refuse)
    monkeypatch.setattr(safetensors.torch, "load_file", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(torch.jit, "load", refuse)


def test_retraining_into_the_same_folder_changes_the_fingerprint(tmp_path, monkeypatch) -> None:
    folder = tmp_path / "ensemble"
    _train(folder, seed=3)
    first = load_ensemble(folder, device="cpu")
    caps = first.capabilities()
    assert isinstance(caps, Capabilities) and len(caps.fingerprint) == 64
    assert set(first.source_files) >= {str(folder / "ensemble.json")}
    assert {m.source for m in first.members} <= set(first.source_files)

    # an already built ensemble: its capabilities read files, never load weights
    clear_fingerprint_memo()
    with monkeypatch.context() as m:
        _forbid_loading(m)
        assert first.capabilities().fingerprint == caps.fingerprint
        again = EnsemblePredictor(
            name="again", members=first.members, source_files=first.source_files
        )
        assert again.capabilities().fingerprint == caps.fingerprint  # the name is an option

    _train(folder, seed=4)  # other seed, same folder, same file names and sizes
    reseeded = load_ensemble(folder, device="cpu").capabilities().fingerprint
    assert reseeded != caps.fingerprint

    _train(folder, seed=4, epochs=3)  # one more epoch
    longer = load_ensemble(folder, device="cpu").capabilities().fingerprint
    assert longer not in (caps.fingerprint, reseeded)

    # the first object still holds (and declares) the weights it loaded
    assert first.capabilities().fingerprint == caps.fingerprint


def test_settings_the_outputs_depend_on_are_in_the_fingerprint(tmp_path) -> None:
    folder = tmp_path / "ensemble"
    _train(folder)
    base = load_ensemble(folder).capabilities().fingerprint
    assert load_ensemble(folder, batch_size=3, prefetch=False).capabilities().fingerprint == base
    assert load_ensemble(folder, aggregation="median").capabilities().fingerprint != base

    spec = json.loads((folder / "bone_age_fold0.json").read_text())
    spec["spec"]["age_offset"] += 1.0  # a member config changes, the weights do not
    (folder / "bone_age_fold0.json").write_text(json.dumps(spec))
    assert load_ensemble(folder).capabilities().fingerprint != base


def test_in_memory_ensembles_hash_their_state_dicts(tmp_path) -> None:
    trained = _train(None, seed=3)
    assert all(m.source is None for m in trained.members)
    fp = trained.capabilities().fingerprint
    copies = [Member(m.spec, copy.deepcopy(m.module), None) for m in trained.members]
    assert EnsemblePredictor(name="copy", members=copies).capabilities().fingerprint == fp

    other = _train(None, seed=4)
    assert other.capabilities().fingerprint != fp
    with torch.no_grad():
        next(trained.members[0].module.parameters()).add_(1.0)
    fresh = EnsemblePredictor(name="nudged", members=trained.members)
    assert fresh.capabilities().fingerprint != fp


def test_declared_fields(tmp_path) -> None:
    plain = _train(tmp_path / "plain")
    caps = load_ensemble(tmp_path / "plain", device="cpu", batch_size=5).capabilities()
    assert caps.deterministic and caps.max_concurrency == 1
    assert caps.batch_size == 5 and caps.device == "cpu"
    assert not caps.needs_sex and not caps.infers_sex
    assert plain.capabilities().fingerprint != caps.fingerprint  # memory vs files

    _train(tmp_path / "by-sex", sex_specific=True)
    caps = load_ensemble(tmp_path / "by-sex").capabilities()
    assert caps.needs_sex and caps.infers_sex  # saved with sex_from_prediction
    caps = load_ensemble(tmp_path / "by-sex", sex_from_prediction=False).capabilities()
    assert caps.needs_sex and not caps.infers_sex

    _train(tmp_path / "age-only", sex_specific=True, targets=("bone_age",))
    caps = load_ensemble(tmp_path / "age-only", sex_from_prediction=True).capabilities()
    assert caps.needs_sex and not caps.infers_sex  # no sex member to infer it from


def test_the_shipped_ensemble_declares_a_file_fingerprint() -> None:
    ens = load_phantom_ensemble(device="cpu")
    caps = ens.capabilities()
    assert caps.device == "cpu" and caps.batch_size == ens.batch_size
    assert caps.needs_sex == ens.needs_sex
    assert len(ens.source_files) == 1 + 2 * len(ens.members)
    assert load_phantom_ensemble().capabilities().fingerprint == caps.fingerprint


def test_study_ensembles_fingerprint_their_pth_files(tmp_path) -> None:
    from radinpaint.predictors.architectures import ResNet50
    from radinpaint.predictors.study import load_study_ensemble

    small = Preprocessing(name="study-64", size=64, channels=3)
    torch.manual_seed(0)
    state = ResNet50(num_outputs=1).state_dict()
    path = tmp_path / "male_resnet50_fold0_best_score.pth"
    torch.save({"model": state}, path)
    ens = load_study_ensemble(tmp_path, preprocessing=small, sex_pattern=None)
    assert ens.source_files == (str(path),)
    fp = ens.capabilities().fingerprint
    other = Preprocessing(name="study-96", size=96, channels=3)
    again = load_study_ensemble(tmp_path, preprocessing=other, sex_pattern=None)
    assert again.capabilities().fingerprint != fp

    state["fc.bias"] = state["fc.bias"] + 1.0
    torch.save({"model": state}, path)
    retrained = load_study_ensemble(tmp_path, preprocessing=small, sex_pattern=None)
    assert retrained.capabilities().fingerprint != fp


@pytest.mark.parametrize("device", ["cpu", "cuda:1"])
def test_an_explicit_device_is_declared_as_given(tmp_path, device) -> None:
    trained = _train(None)
    trained.device = device
    assert trained.capabilities().device == device

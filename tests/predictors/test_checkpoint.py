"""Checkpoints: safetensors + JSON round trip, mismatches, TorchScript, no unpickling."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch

from radinpaint.errors import CheckpointError, ModelUnavailableError
from radinpaint.predictors.checkpoint import (
    load_ensemble,
    load_member,
    load_torchscript_member,
    read_pth_state_dict,
    save_ensemble,
)
from radinpaint.predictors.ensemble import EnsemblePredictor
from radinpaint.predictors.members import Member, MemberSpec

from .conftest import TINY

ARCH = {"widths": [8, 16], "stem_width": 4}


def _ensemble() -> EnsemblePredictor:
    torch.manual_seed(0)
    members = [
        Member.build(MemberSpec(f"a{i}", "compact-cnn", ("bone_age",), TINY, ARCH, age_scale=30))
        for i in range(2)
    ]
    members.append(Member.build(MemberSpec("s", "compact-cnn", ("male",), TINY, ARCH)))
    return EnsemblePredictor("saved", members, aggregation="median")


def test_round_trip_is_exact(tmp_path, images) -> None:
    ens = _ensemble()
    save_ensemble(ens, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "a0.json",
        "a0.safetensors",
        "a1.json",
        "a1.safetensors",
        "ensemble.json",
        "s.json",
        "s.safetensors",
    ]
    again = load_ensemble(tmp_path)
    assert again.name == "saved" and again.aggregation == "median"
    a, b = ens.predict(images), again.predict(images)
    assert np.array_equal(a.member_bone_age, b.member_bone_age)
    assert np.array_equal(a.p_male, b.p_male)


def test_mismatched_checkpoint_names_missing_and_unexpected_keys(tmp_path) -> None:
    save_ensemble(_ensemble(), tmp_path)
    config = json.loads((tmp_path / "a0.json").read_text())
    config["spec"]["arch_options"] = {"widths": [8, 16, 32], "stem_width": 4}
    (tmp_path / "a0.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"missing keys: .*features\.(9|1[0-9])") as info:
        load_member(tmp_path / "a0.json")
    assert "a0.safetensors" in str(info.value)
    config["spec"]["arch_options"] = {"widths": [8], "stem_width": 4}
    (tmp_path / "a0.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="unexpected keys"):
        load_member(tmp_path / "a0.json")
    config["spec"]["arch_options"] = {"widths": [8, 24], "stem_width": 4}
    (tmp_path / "a0.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="shape mismatches"):
        load_member(tmp_path / "a0.json")


def test_missing_files_are_clear(tmp_path) -> None:
    with pytest.raises(ModelUnavailableError, match=r"ensemble\.json"):
        load_ensemble(tmp_path)
    save_ensemble(_ensemble(), tmp_path)
    (tmp_path / "s.safetensors").unlink()
    with pytest.raises(ModelUnavailableError, match="weights not found"):
        load_ensemble(tmp_path)


def test_torchscript_member_loads_and_matches(tmp_path, images) -> None:
    torch.manual_seed(1)
    spec = MemberSpec("net", "compact-cnn", ("bone_age", "male"), TINY, ARCH, age_scale=10)
    member = Member.build(spec)
    scripted = torch.jit.trace(member.module, torch.rand(2, 1, 32, 32))
    path = tmp_path / "net.pt"
    scripted.save(str(path))
    ts = load_torchscript_member(
        path, targets=("bone_age", "male"), preprocessing=TINY, age_scale=10, allow_torchscript=True
    )
    assert ts.is_script
    ours = EnsemblePredictor("eager", [member]).predict(images)
    theirs = EnsemblePredictor("script", [ts]).predict(images)
    np.testing.assert_allclose(theirs.bone_age_months, ours.bone_age_months, atol=1e-4)
    np.testing.assert_allclose(theirs.p_male, ours.p_male, atol=1e-6)
    out = tmp_path / "saved"
    save_ensemble(EnsemblePredictor("script", [ts]), out)
    again = load_ensemble(out, allow_torchscript=True).predict(images)
    np.testing.assert_allclose(again.bone_age_months, ours.bone_age_months, atol=1e-4)
    with pytest.raises(CheckpointError, match="TorchScript"):
        (tmp_path / "junk.pt").write_bytes(b"not a zip")
        load_torchscript_member(
            tmp_path / "junk.pt", targets="male", preprocessing=TINY, allow_torchscript=True
        )


class _Evil:
    def __reduce__(self):
        return (print, ("unpickled!",))


def test_pth_reading_never_unpickles_objects(tmp_path) -> None:
    path = tmp_path / "evil.pth"
    with path.open("wb") as fh:
        pickle.dump({"model": {"w": _Evil()}}, fh)
    with pytest.raises(CheckpointError, match="weights_only"):
        read_pth_state_dict(path)


def test_pth_wrappers_and_prefixes(tmp_path) -> None:
    state = {"conv.weight": torch.ones(2), "fc.bias": torch.zeros(1)}
    torch.save(
        {"model": {f"module.model.{k}": v for k, v in state.items()}, "score": np.float64(4)},
        tmp_path / "a.pth",
    )
    torch.save({"state_dict": state, "epoch": 3}, tmp_path / "b.pth")
    for name in ("a.pth", "b.pth"):
        got = read_pth_state_dict(tmp_path / name)
        assert sorted(got) == sorted(state)

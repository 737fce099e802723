"""`radinpaint predict`, the registered predictors, and the shipped phantom ensemble."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from radinpaint.cli import main
from radinpaint.errors import InvalidInputError
from radinpaint.predictors.checkpoint import save_ensemble
from radinpaint.predictors.ensemble import EnsemblePredictor
from radinpaint.predictors.members import Member, MemberSpec
from radinpaint.registry import get_predictor, list_predictors

from .conftest import TINY


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    arch = {"widths": [8], "stem_width": 4}
    members = [
        Member.build(MemberSpec("a0", "compact-cnn", ("bone_age",), TINY, arch, age_offset=100)),
        Member.build(MemberSpec("a1", "compact-cnn", ("bone_age",), TINY, arch, age_offset=90)),
        Member.build(MemberSpec("s0", "compact-cnn", ("male",), TINY, arch)),
        Member.build(MemberSpec("x0", "compact-cnn", ("bone_age",), TINY, arch, sex_input=True)),
    ]
    out = tmp_path / "model"
    save_ensemble(EnsemblePredictor("cli-test", members), out)
    return out


@pytest.fixture
def pngs(tmp_path):
    from radinpaint.io import write_image
    from radinpaint.records import Radiograph

    rng = np.random.default_rng(0)
    paths = []
    for i, (shape, depth) in enumerate([((50, 40), 8), ((33, 71), 16)]):
        arr = rng.integers(0, 1 << depth, size=shape).astype(np.uint16)
        path = tmp_path / f"img{i}.png"
        write_image(path, Radiograph.from_uint(arr, depth))
        paths.append(str(path))
    return paths


def test_predict_cli_json(saved, pngs, capsys) -> None:
    args = ["predict", *pngs, "--predictor", "ensemble", "-o", f"path={saved}"]
    assert main([*args, "--male", "true,false", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["image"] for r in rows] == pngs
    ens = get_predictor("ensemble", path=str(saved))
    from radinpaint.io import read_image

    expected = ens.predict([read_image(p) for p in pngs], male=[True, False])
    for row, age, p in zip(rows, expected.bone_age_months, expected.p_male, strict=True):
        assert row["bone_age_months"] == pytest.approx(age, abs=1e-3)
        assert row["p_male"] == pytest.approx(p, abs=1e-4)
        assert row["bone_age_member_sd"] > 0
    assert rows[0]["male_given"] is True


def test_predict_cli_text_and_errors(saved, pngs, capsys) -> None:
    args = ["predict", *pngs, "--predictor", "ensemble", "-o", f"path={saved}"]
    assert main([*args, "--male", "f"]) == 0
    out = capsys.readouterr().out
    assert "bone age" in out and "P(male)" in out and "member SD" in out
    assert main(args) == 2  # a member takes sex as input and none was given
    assert "needs each image's sex" in capsys.readouterr().err
    assert main([*args, "--male", "true,false,true"]) == 2
    assert main([*args, "--male", "perhaps"]) == 2


def test_registered_names() -> None:
    names = {e.name for e in list_predictors()}
    assert {"phantom-ensemble", "study-resnet50", "ensemble"} <= names
    with pytest.raises(InvalidInputError, match="path"):
        get_predictor("ensemble")


def test_plugin_module_does_not_import_torch() -> None:
    import subprocess
    import sys

    code = "import sys, radinpaint.predictors.plugin; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_shipped_phantom_ensemble_offline_beats_constant_mean() -> None:
    from radinpaint.datasets.phantom import make_phantoms
    from radinpaint.predictors.plugin import PHANTOM_WEIGHTS

    if not (PHANTOM_WEIGHTS / "ensemble.json").exists():
        pytest.skip("shipped weights not built yet: run benchmarks/train_phantom_ensemble.py")

    ens = get_predictor("phantom-ensemble")
    assert ens.targets == ("bone_age", "male")
    cases = make_phantoms(16, seed=424242, size=512)
    pred = ens.predict(cases)
    truth = np.array([c.bone_age_months for c in cases])
    mae = np.abs(pred.bone_age_months - truth).mean()
    baseline = np.abs(truth - truth.mean()).mean()  # the best constant in hindsight
    assert mae < 0.6 * baseline
    male = np.array([c.male for c in cases])
    assert pred.p_male[male].mean() > pred.p_male[~male].mean()
    assert pred.member_bone_age.shape[1] >= 3

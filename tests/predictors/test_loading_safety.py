"""Loading weight folders runs no code without an opt-in and reads nothing outside them.

The hostile TorchScript archive here has a ``__setstate__`` that calls an operator written
in Python which creates a marker file: ``torch.jit.load`` runs it while loading, so the
marker existing is proof that code from the archive ran.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import types
from pathlib import Path

import pytest
import torch

from radinpaint.cli import main
from radinpaint.errors import CheckpointError, InvalidInputError, RadinpaintError
from radinpaint.predictors import checkpoint
from radinpaint.predictors.checkpoint import (
    ALLOW_TORCHSCRIPT_ENV,
    ENSEMBLE_FORMAT,
    PathOutsideFolderError,
    TorchScriptNotAllowedError,
    load_ensemble,
    load_member,
    load_torchscript_member,
    save_ensemble,
)
from radinpaint.predictors.ensemble import EnsemblePredictor
from radinpaint.predictors.members import Member, MemberSpec
from radinpaint.registry import get_predictor

from .conftest import TINY

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.*is deprecated:DeprecationWarning")

ARCH = {"widths": [8], "stem_width": 4}
_NS = "radinpaint_test_predictors"


@pytest.fixture(autouse=True)
def _no_env_opt_in(monkeypatch):
    monkeypatch.delenv(ALLOW_TORCHSCRIPT_ENV, raising=False)


def _touch_op() -> None:
    """Register ``torch.ops.<ns>.touch(path)``: a Python operator that creates ``path``."""
    if hasattr(getattr(torch.ops, _NS), "touch"):
        return
    lib = torch.library.Library(_NS, "DEF")
    lib.define("touch(str path) -> int")

    def touch(path: str) -> int:
        Path(path).write_text("code from the archive ran\n")
        return 1

    lib.impl("touch", touch, "CompositeExplicitAutograd")
    _LIBS.append(lib)  # the registration lives as long as the Library object


_LIBS: list[object] = []


class _Hostile(torch.nn.Module):
    """A working member whose ``__setstate__`` (run by torch.jit.load) creates a file."""

    def __init__(self, marker: str) -> None:
        super().__init__()
        self.marker = marker
        self.scale = torch.ones(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(1, 2, 3)).unsqueeze(1) * self.scale

    @torch.jit.export
    def __getstate__(self) -> tuple[str, torch.Tensor, bool]:
        return (self.marker, self.scale, self.training)

    @torch.jit.export
    def __setstate__(self, state: tuple[str, torch.Tensor, bool]) -> None:
        self.marker = state[0]
        self.scale = state[1]
        self.training = state[2]
        if torch.ops.radinpaint_test_predictors.touch(self.marker) != 1:
            self.training = True


def hostile_archive(path: Path, marker: Path) -> Path:
    """Write the hostile TorchScript archive to ``path``; loading it creates ``marker``."""
    _touch_op()
    torch.jit.script(_Hostile(str(marker))).save(str(path))
    assert not marker.exists()
    return path


def _script_folder(root: Path, marker: Path, *, first_safe: bool = False) -> Path:
    """An ensemble folder whose member ``evil`` is the hostile TorchScript archive."""
    folder = root / "hostile"
    names = []
    if first_safe:
        torch.manual_seed(0)
        safe = Member.build(MemberSpec("safe", "compact-cnn", ("bone_age",), TINY, ARCH))
        save_ensemble(EnsemblePredictor("tmp", [safe]), folder)
        names.append("safe")
    folder.mkdir(exist_ok=True)
    hostile_archive(folder / "evil.pt", marker)
    spec = MemberSpec("evil", "torchscript", ("bone_age",), TINY)
    (folder / "evil.json").write_text(json.dumps({"spec": spec.to_dict(), "weights": "evil.pt"}))
    names.append("evil")
    manifest = {"format": ENSEMBLE_FORMAT, "name": "hostile", "members": names}
    (folder / "ensemble.json").write_text(json.dumps(manifest))
    return folder


# -- TorchScript needs an explicit opt-in -----------------------------------------------


def test_torchscript_member_is_refused_without_opt_in_and_runs_no_code(tmp_path) -> None:
    marker = tmp_path / "ran.txt"
    folder = _script_folder(tmp_path, marker)
    with pytest.raises(TorchScriptNotAllowedError) as info:
        load_ensemble(folder)
    text = str(info.value)
    assert "evil.pt" in text and "evil.json" in text
    assert "allow_torchscript=True" in text and "safetensors" in text
    assert "runs code" in text
    assert isinstance(info.value, RadinpaintError)
    with pytest.raises(TorchScriptNotAllowedError):
        load_member(folder / "evil.json")
    with pytest.raises(TorchScriptNotAllowedError, match=r"evil\.pt"):
        load_torchscript_member(folder / "evil.pt", targets="bone_age", preprocessing=TINY)
    with pytest.raises(TorchScriptNotAllowedError):
        get_predictor("ensemble", path=str(folder))
    assert not marker.exists()


def test_refusal_comes_before_any_weights_are_read(tmp_path, monkeypatch) -> None:
    marker = tmp_path / "ran.txt"
    folder = _script_folder(tmp_path, marker, first_safe=True)
    import safetensors.torch

    def no_reading(*args, **kwargs):
        raise AssertionError("weights were read before the TorchScript check")

    monkeypatch.setattr(safetensors.torch, "load_file", no_reading)
    monkeypatch.setattr(torch.jit, "load", no_reading)
    with pytest.raises(TorchScriptNotAllowedError, match="evil"):
        load_ensemble(folder)
    assert not marker.exists()


def test_with_the_opt_in_the_archive_loads_and_its_code_does_run(tmp_path, images) -> None:
    marker = tmp_path / "ran.txt"
    folder = _script_folder(tmp_path, marker)
    ens = load_ensemble(folder, allow_torchscript=True)
    assert marker.exists()  # the check above is not vacuous: loading really runs code
    assert ens.members[0].is_script
    assert ens.predict(images[:3]).bone_age_months.shape == (3,)
    marker.unlink()
    assert get_predictor("ensemble", path=str(folder), allow_torchscript=True).members
    assert marker.exists()


def test_the_environment_opts_in_and_an_explicit_false_wins(tmp_path, monkeypatch) -> None:
    marker = tmp_path / "ran.txt"
    folder = _script_folder(tmp_path, marker)
    monkeypatch.setenv(ALLOW_TORCHSCRIPT_ENV, "1")
    with pytest.raises(TorchScriptNotAllowedError):
        load_ensemble(folder, allow_torchscript=False)
    with pytest.raises(TorchScriptNotAllowedError):
        get_predictor("ensemble", path=str(folder), allow_torchscript="false")
    assert not marker.exists()
    load_ensemble(folder)
    assert marker.exists()


def test_the_cli_option_opts_in(tmp_path, capsys) -> None:
    from radinpaint.io import write_image

    from .conftest import random_images

    marker = tmp_path / "ran.txt"
    folder = _script_folder(tmp_path, marker)
    png = tmp_path / "hand.png"
    write_image(png, random_images(1)[0])
    args = ["predict", str(png), "--predictor", "ensemble", "-o", f"path={folder}"]
    assert main(args) == 2
    assert "allow_torchscript" in capsys.readouterr().err
    assert not marker.exists()
    assert main([*args, "-o", "allow_torchscript=true", "--json"]) == 0
    assert marker.exists()
    assert "bone_age_months" in capsys.readouterr().out


def test_a_bad_opt_in_value_is_refused(tmp_path) -> None:
    folder = _script_folder(tmp_path, tmp_path / "ran.txt")
    with pytest.raises(InvalidInputError, match="allow_torchscript"):
        get_predictor("ensemble", path=str(folder), allow_torchscript="maybe")


# -- member paths stay inside the folder -------------------------------------------------


@pytest.fixture
def saved(tmp_path) -> Path:
    torch.manual_seed(0)
    members = [
        Member.build(MemberSpec("a0", "compact-cnn", ("bone_age",), TINY, ARCH)),
        Member.build(MemberSpec("s0", "compact-cnn", ("male",), TINY, ARCH)),
    ]
    return save_ensemble(EnsemblePredictor("inside", members), tmp_path / "model")


def _outside_copy(saved: Path) -> Path:
    """A valid copy of a0's weights outside the folder: only the path check can refuse it."""
    outside = saved.parent / "elsewhere"
    outside.mkdir()
    return Path(shutil.copyfile(saved / "a0.safetensors", outside / "a0.safetensors"))


def _point_weights(saved: Path, value: str) -> None:
    config = json.loads((saved / "a0.json").read_text())
    config["weights"] = value
    (saved / "a0.json").write_text(json.dumps(config))


def test_an_absolute_weights_path_is_refused(saved) -> None:
    target = _outside_copy(saved)
    _point_weights(saved, str(target))
    with pytest.raises(PathOutsideFolderError) as info:
        load_ensemble(saved)
    text = str(info.value)
    assert "a0.json" in text and str(target) in text and "Fix:" in text
    assert isinstance(info.value, CheckpointError)
    with pytest.raises(PathOutsideFolderError):
        load_member(saved / "a0.json")


def test_a_dotdot_weights_path_is_refused(saved) -> None:
    _outside_copy(saved)
    _point_weights(saved, "../elsewhere/a0.safetensors")
    with pytest.raises(PathOutsideFolderError, match=r"'\.\./elsewhere/a0\.safetensors'.*a0\.json"):
        load_ensemble(saved)
    _point_weights(saved, "sub/../../elsewhere/a0.safetensors")
    with pytest.raises(PathOutsideFolderError):
        load_ensemble(saved)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_a_symlink_escaping_the_folder_is_refused(saved) -> None:
    target = _outside_copy(saved)
    (saved / "a0.safetensors").unlink()
    (saved / "a0.safetensors").symlink_to(target)
    with pytest.raises(PathOutsideFolderError, match="symbolic link") as info:
        load_ensemble(saved)
    assert "a0.json" in str(info.value) and str(target.resolve()) in str(info.value)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_links_inside_the_folder_and_a_linked_folder_are_fine(saved, tmp_path) -> None:
    (saved / "weights").mkdir()
    shutil.move(saved / "a0.safetensors", saved / "weights" / "a0.safetensors")
    (saved / "a0.safetensors").symlink_to(saved / "weights" / "a0.safetensors")
    link = tmp_path / "linked-model"
    link.symlink_to(saved, target_is_directory=True)
    assert [m.name for m in load_ensemble(link).members] == ["a0", "s0"]


def test_member_names_escaping_the_folder_are_refused(saved) -> None:
    outside = saved.parent / "a0.json"
    shutil.copyfile(saved / "a0.json", outside)
    manifest = json.loads((saved / "ensemble.json").read_text())
    for name in ("../a0", str(outside.with_suffix(""))):
        manifest["members"] = [name, "s0"]
        (saved / "ensemble.json").write_text(json.dumps(manifest))
        with pytest.raises(PathOutsideFolderError, match=r"ensemble\.json"):
            load_ensemble(saved)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_a_member_config_linked_from_outside_is_refused(saved) -> None:
    outside = saved.parent / "other.json"
    shutil.move(saved / "s0.json", outside)
    (saved / "s0.json").symlink_to(outside)
    with pytest.raises(PathOutsideFolderError, match=r"s0\.json"):
        load_ensemble(saved)


def test_a_non_string_weights_entry_is_a_clear_error(saved) -> None:
    config = json.loads((saved / "a0.json").read_text())
    config["weights"] = ["a0.safetensors"]
    (saved / "a0.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="relative to the folder"):
        load_ensemble(saved)


# -- timm options cannot reach files outside the member ---------------------------------


@pytest.mark.parametrize(
    ("arch", "options", "match"),
    [
        ("timm:resnet18", {"checkpoint_path": "/tmp/evil.pth"}, "checkpoint_path"),
        ("timm:resnet18", {"pretrained_cfg_overlay": {"file": "/tmp/evil.pth"}}, "pretrained"),
        ("timm:local-dir:/tmp/models", {}, "local-dir"),
    ],
)
def test_timm_options_that_load_other_files_are_refused(
    saved, monkeypatch, arch, options, match
) -> None:
    fake = types.ModuleType("timm")

    def create_model(*args, **kwargs):
        raise AssertionError("timm was asked to build a model from a hostile member config")

    fake.create_model = create_model  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "timm", fake)
    config = json.loads((saved / "a0.json").read_text())
    config["spec"]["architecture"] = arch
    config["spec"]["arch_options"] = options
    (saved / "a0.json").write_text(json.dumps(config))
    with pytest.raises(InvalidInputError, match=match):
        load_ensemble(saved)


def test_the_checkpoint_module_never_calls_torch_load_without_weights_only() -> None:
    source = Path(checkpoint.__file__).read_text()
    assert source.count("torch.load(") == source.count("weights_only=True)")


# -- the study's weights folder ----------------------------------------------------------


class _Opens:
    """Unpickling this calls ``open(path, "w")``: it creates ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _study_folder(root: Path) -> Path:
    from radinpaint.predictors.architectures import ResNet50

    folder = root / "study"
    folder.mkdir()
    torch.manual_seed(0)
    torch.save(ResNet50(num_outputs=1).state_dict(), folder / "male_resnet50_fold0_best_score.pth")
    return folder


def test_study_patterns_cannot_leave_the_folder(tmp_path) -> None:
    from radinpaint.predictors.study import load_study_ensemble

    folder = _study_folder(tmp_path)
    shutil.copyfile(
        folder / "male_resnet50_fold0_best_score.pth", tmp_path / "male_resnet50_fold9.pth"
    )
    for pattern in ("../male_*.pth", str(tmp_path / "male_*.pth")):
        with pytest.raises(InvalidInputError, match="male_pattern") as info:
            load_study_ensemble(folder, male_pattern=pattern, sex_pattern=None)
        assert "outside the weights folder" in str(info.value)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_study_files_linked_from_outside_are_refused(tmp_path) -> None:
    from radinpaint.predictors.study import load_study_ensemble

    folder = _study_folder(tmp_path)
    outside = tmp_path / "shared.pth"
    shutil.move(folder / "male_resnet50_fold0_best_score.pth", outside)
    (folder / "male_resnet50_fold0_best_score.pth").symlink_to(outside)
    with pytest.raises(PathOutsideFolderError, match="symbolic link") as info:
        load_study_ensemble(folder, sex_pattern=None)
    assert "male_resnet50_fold0_best_score.pth" in str(info.value)


def test_study_pickles_that_run_code_are_refused(tmp_path) -> None:
    from radinpaint.predictors.study import load_study_ensemble

    folder = tmp_path / "study"
    folder.mkdir()
    marker = tmp_path / "unpickled.txt"
    torch.save({"model": {"fc.bias": _Opens(marker)}}, folder / "resnet50_gender_0.pth")
    with pytest.raises(CheckpointError, match="weights_only") as info:
        load_study_ensemble(folder)
    assert "resnet50_gender_0.pth" in str(info.value)
    assert not marker.exists()

"""Hostile weight folders: every attack is refused with a clear error, and no code runs.

Each attack carries a payload that creates a marker file if any of its code runs: a
TorchScript archive whose ``__setstate__`` (run by ``torch.jit.load``) calls an operator
written in Python, or a pickle whose ``__reduce__`` calls ``open(marker, "w")``. The marker
must not exist after the refusal.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from radinpaint.errors import CheckpointError, RadinpaintError

pytestmark = [
    pytest.mark.faults,
    pytest.mark.filterwarnings("ignore:`torch.jit.*is deprecated:DeprecationWarning"),
]

_NS = "radinpaint_test_faults"
_LIBS: list[object] = []
TINY = {"name": "tiny", "size": 32, "channels": 1, "crop_foreground": False}
ARCH = {"widths": [8], "stem_width": 4}


@pytest.fixture(autouse=True)
def _no_env_opt_in(monkeypatch):
    from radinpaint.predictors.checkpoint import ALLOW_TORCHSCRIPT_ENV

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
    _LIBS.append(lib)


class _Hostile(torch.nn.Module):
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
        if torch.ops.radinpaint_test_faults.touch(self.marker) != 1:
            self.training = True


class _Opens:
    """Unpickling this calls ``open(path, "w")``: it creates ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _archive(path: Path, marker: Path) -> Path:
    _touch_op()
    torch.jit.script(_Hostile(str(marker))).save(str(path))
    return path


def _pickle(path: Path, marker: Path) -> Path:
    torch.save({"model": {"fc.bias": _Opens(marker)}}, path)
    return path


def _folder(root: Path, *, architecture: str, weights: str) -> Path:
    """An ensemble folder with one member ``m`` whose config names ``weights``."""
    from radinpaint.predictors.checkpoint import ENSEMBLE_FORMAT
    from radinpaint.predictors.members import MemberSpec

    folder = root / "model"
    folder.mkdir(exist_ok=True)
    options = ARCH if architecture != "torchscript" else {}
    spec = MemberSpec("m", architecture, ("bone_age",), TINY, options)
    (folder / "m.json").write_text(json.dumps({"spec": spec.to_dict(), "weights": weights}))
    manifest = {"format": ENSEMBLE_FORMAT, "name": "hostile", "members": ["m"]}
    (folder / "ensemble.json").write_text(json.dumps(manifest))
    return folder


def _refused(call, marker: Path, error: type[Exception] = RadinpaintError, *needles: str) -> str:
    with pytest.raises(error) as info:
        call()
    text = str(info.value)
    assert isinstance(info.value, RadinpaintError)
    assert "Input:" in text and "Fix:" in text, text
    for needle in needles:
        assert needle in text, (needle, text)
    assert not marker.exists(), "code from the hostile file ran"
    return text


@pytest.fixture
def marker(tmp_path) -> Path:
    return tmp_path / "payload-ran.txt"


def test_torchscript_member_without_opt_in(tmp_path, marker) -> None:
    from radinpaint.predictors.checkpoint import TorchScriptNotAllowedError, load_ensemble
    from radinpaint.registry import get_predictor

    folder = _folder(tmp_path, architecture="torchscript", weights="m.pt")
    _archive(folder / "m.pt", marker)
    text = _refused(
        lambda: load_ensemble(folder), marker, TorchScriptNotAllowedError, "m.pt", "m.json"
    )
    assert "allow_torchscript" in text and "safetensors" in text
    _refused(lambda: get_predictor("ensemble", path=str(folder)), marker)
    load_ensemble(folder, allow_torchscript=True)  # the payload is real: opting in runs it
    assert marker.exists()


def test_absolute_weights_path(tmp_path, marker) -> None:
    from radinpaint.predictors.checkpoint import PathOutsideFolderError, load_ensemble

    outside = _archive(tmp_path / "outside.pt", marker)
    folder = _folder(tmp_path, architecture="torchscript", weights=str(outside))
    _refused(
        lambda: load_ensemble(folder, allow_torchscript=True),
        marker,
        PathOutsideFolderError,
        str(outside),
        "m.json",
    )


def test_dotdot_weights_path(tmp_path, marker) -> None:
    from radinpaint.predictors.checkpoint import PathOutsideFolderError, load_ensemble

    _archive(tmp_path / "outside.pt", marker)
    folder = _folder(tmp_path, architecture="torchscript", weights="../outside.pt")
    _refused(
        lambda: load_ensemble(folder, allow_torchscript=True),
        marker,
        PathOutsideFolderError,
        "../outside.pt",
        "m.json",
    )


def test_dotdot_member_name(tmp_path, marker) -> None:
    from radinpaint.predictors.checkpoint import PathOutsideFolderError, load_ensemble

    folder = _folder(tmp_path, architecture="torchscript", weights="m.pt")
    _archive(tmp_path / "m.pt", marker)
    shutil.move(folder / "m.json", tmp_path / "m.json")
    manifest = json.loads((folder / "ensemble.json").read_text())
    manifest["members"] = ["../m"]
    (folder / "ensemble.json").write_text(json.dumps(manifest))
    _refused(
        lambda: load_ensemble(folder, allow_torchscript=True),
        marker,
        PathOutsideFolderError,
        "ensemble.json",
    )


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_symlink_escaping_the_folder(tmp_path, marker) -> None:
    from radinpaint.predictors.checkpoint import PathOutsideFolderError, load_ensemble

    outside = _archive(tmp_path / "outside.pt", marker)
    folder = _folder(tmp_path, architecture="torchscript", weights="m.pt")
    (folder / "m.pt").symlink_to(outside)
    _refused(
        lambda: load_ensemble(folder, allow_torchscript=True),
        marker,
        PathOutsideFolderError,
        "symbolic link",
        "m.json",
    )


def test_pickle_with_a_malicious_reduce_as_member_weights(tmp_path, marker) -> None:
    from radinpaint.predictors.checkpoint import load_ensemble

    folder = _folder(tmp_path, architecture="compact-cnn", weights="m.pth")
    _pickle(folder / "m.pth", marker)
    _refused(lambda: load_ensemble(folder), marker, CheckpointError, "m.pth")


def test_pickle_with_a_malicious_reduce_in_the_study_folder(tmp_path, marker) -> None:
    from radinpaint.predictors.checkpoint import read_pth_state_dict
    from radinpaint.predictors.study import load_study_ensemble

    folder = tmp_path / "study"
    folder.mkdir()
    path = _pickle(folder / "male_resnet50_fold1_best_score.pth", marker)
    _refused(lambda: read_pth_state_dict(path), marker, CheckpointError, "weights_only")
    _refused(lambda: load_study_ensemble(folder, sex_pattern=None), marker, CheckpointError)


def test_pickle_with_a_malicious_reduce_as_gan_weights(tmp_path, marker) -> None:
    from radinpaint.inpainters.gan.checkpoint import load_generator
    from radinpaint.inpainters.gan.inference import SHIPPED_WEIGHTS

    weights = _pickle(tmp_path / "gan.safetensors", marker)
    shutil.copyfile(SHIPPED_WEIGHTS.with_suffix(".json"), weights.with_suffix(".json"))
    _refused(lambda: load_generator(weights), marker, CheckpointError, "gan.safetensors")


def test_pickle_with_a_malicious_reduce_as_mask_weights(tmp_path, marker) -> None:
    from radinpaint.masks.learned import PACKAGED_WEIGHTS, load_mask_net

    weights = _pickle(tmp_path / "masks.pth", marker)
    shutil.copyfile(PACKAGED_WEIGHTS.with_suffix(".json"), weights.with_suffix(".json"))
    _refused(lambda: load_mask_net(weights), marker, CheckpointError, "masks.pth")


def test_torchscript_archive_as_gan_or_mask_weights(tmp_path, marker) -> None:
    from radinpaint.inpainters.gan.checkpoint import load_generator
    from radinpaint.inpainters.gan.inference import SHIPPED_WEIGHTS
    from radinpaint.masks.learned import PACKAGED_WEIGHTS, load_mask_net

    gan = _archive(tmp_path / "gan.safetensors", marker)
    shutil.copyfile(SHIPPED_WEIGHTS.with_suffix(".json"), gan.with_suffix(".json"))
    _refused(lambda: load_generator(gan), marker, CheckpointError)
    masks = _archive(tmp_path / "masks.safetensors", marker)
    shutil.copyfile(PACKAGED_WEIGHTS.with_suffix(".json"), masks.with_suffix(".json"))
    _refused(lambda: load_mask_net(masks), marker, CheckpointError)

"""Your own models as predictors: each adapter against a plain forward pass, and bad input."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from radinpaint.errors import (
    InvalidInputError,
    MissingDependencyError,
    ModelUnavailableError,
    RadinpaintError,
)
from radinpaint.predictors import (
    TorchScriptNotAllowedError,
    declared_preprocessing,
    from_callable,
    from_models,
    from_module,
    save_ensemble,
)
from radinpaint.registry import build_backend, get_predictor

from .conftest import random_images

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch export/jit notes

PREP = {"preprocessing": "study-320", "size": 48}
"""The study's steps at 48 pixels (3 channels, /255): small enough to be quick."""


class TinyNet(nn.Module):
    """Two outputs (bone age / 200, sex logit); optionally the sex as a second input."""

    def __init__(self, channels: int = 3, sex_input: bool = False, outputs: int = 2) -> None:
        super().__init__()
        self.sex_input = sex_input
        self.conv = nn.Conv2d(channels, 4, 3, stride=2)
        self.fc = nn.Linear(4 + int(sex_input), outputs)

    def forward(self, x: torch.Tensor, sex: torch.Tensor | None = None) -> torch.Tensor:
        feats = torch.relu(self.conv(x)).mean(dim=(2, 3))
        if self.sex_input:
            assert sex is not None
            feats = torch.cat([feats, sex.reshape(-1, 1).to(feats.dtype)], dim=1)
        return self.fc(feats)


class AgeOnly(nn.Module):
    """One output, bone age in years; no sex input (scripted without Optional args)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 3)
        self.fc = nn.Linear(2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3))) + 10.0


def _net(seed: int = 0, **kw: object) -> nn.Module:
    torch.manual_seed(seed)
    return TinyNet(**kw).eval()  # type: ignore[arg-type]


def _reference(net: nn.Module, images: list, prep: dict, sex: list[bool] | None = None):
    """The plain forward pass: preprocess each image, one batch, no radinpaint runtime."""
    x = torch.from_numpy(declared_preprocessing(**prep).batch(images))
    with torch.no_grad():
        if sex is None:
            return net(x).double().numpy()
        return net(x, torch.tensor([float(s) for s in sex])).double().numpy()


def _sigmoid(v: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-v))


def _close(got: np.ndarray, want: np.ndarray, atol: float = 1e-4) -> float:
    diff = float(np.max(np.abs(np.asarray(got, float) - np.asarray(want, float))))
    print(f"max abs diff {diff:.3g}")  # shown with pytest -s
    assert diff <= atol, f"max abs diff {diff}"
    return diff


def _export_onnx(net: nn.Module, path: Path, channels: int = 3, size: int = 48) -> Path:
    x = torch.zeros(2, channels, size, size)
    torch.onnx.export(
        net, (x,), str(path), dynamo=False, input_names=["image"], output_names=["out"],
        dynamic_axes={"image": {0: "batch"}, "out": {0: "batch"}},
    )  # fmt: skip
    return path


def _export_script(net: nn.Module, path: Path) -> Path:
    torch.jit.save(torch.jit.script(net), str(path))
    return path


# -- each adapter equals a plain forward pass ---------------------------------------------
def test_module_adapter_equals_forward() -> None:
    images = random_images(19)  # more than one CPU pass of 16
    net = _net()
    pred = from_module(net, targets="bone_age+male", age_scale=200, device="cpu", **PREP)
    out = pred.predict(images)
    ref = _reference(net, images, PREP)
    _close(out.bone_age_months, ref[:, 0] * 200, atol=1e-3)
    _close(out.p_male, _sigmoid(ref[:, 1]), atol=1e-5)
    caps = pred.capabilities()
    assert (caps.device, caps.needs_sex, caps.trained_on) == ("cpu", False, "unknown")


def test_torchscript_adapter_equals_forward_and_needs_the_opt_in(tmp_path: Path) -> None:
    images = random_images(5)
    net = _net(1)
    path = _export_script(net, tmp_path / "model.pt")
    options = dict(path=str(path), targets="bone_age+male", age_scale=200, device="cpu", **PREP)
    with pytest.raises(TorchScriptNotAllowedError, match="allow_torchscript=true"):
        get_predictor("torchscript", **options)
    pred = get_predictor("torchscript", allow_torchscript=True, **options)
    out = pred.predict(images)
    ref = _reference(net, images, PREP)
    _close(out.bone_age_months, ref[:, 0] * 200, atol=1e-3)
    _close(out.p_male, _sigmoid(ref[:, 1]), atol=1e-5)


def test_onnx_adapter_equals_forward(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (extra onnx)")
    images = random_images(7)
    net = _net(2)
    path = _export_onnx(net, tmp_path / "model.onnx")
    built = build_backend(
        "predictor", "onnx", path=str(path), targets="bone_age+male", age_scale=200,
        batch_size=4, trained_on="RSNA training set", **PREP,
    )  # fmt: skip
    out = built.backend.predict(images)
    ref = _reference(net, images, PREP)
    _close(out.bone_age_months, ref[:, 0] * 200, atol=1e-3)
    _close(out.p_male, _sigmoid(ref[:, 1]), atol=1e-5)
    caps = built.capabilities
    assert (caps.device, caps.batch_size, caps.needs_sex) == ("cpu", 4, False)
    assert caps.trained_on == "RSNA training set"
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    assert built.backend.metadata["weights_sha256"] == {str(path): sha}


def test_onnx_with_sex_input_and_fixed_batch(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (extra onnx)")
    images = random_images(3)
    sexes = [True, False, True]
    net = _net(3, sex_input=True, outputs=1)
    x, s = torch.zeros(1, 3, 48, 48), torch.zeros(1)
    path = tmp_path / "sexin.onnx"
    torch.onnx.export(net, (x, s), str(path), dynamo=False, input_names=["image", "sex"])
    built = build_backend(
        "predictor", "onnx", path=str(path), targets="bone_age", sex_input=True,
        age_unit="years", **PREP,
    )  # fmt: skip
    assert built.capabilities.needs_sex
    with pytest.raises(InvalidInputError, match="needs each image's sex"):
        built.backend.predict(images)
    out = built.backend.predict(images, male=sexes)
    ref = _reference(net, images, PREP, sex=sexes)
    _close(out.bone_age_months, ref[:, 0] * 12, atol=1e-3)  # years -> months


def test_timm_adapter_equals_forward(tmp_path: Path) -> None:
    try:
        import timm
    except Exception as exc:  # timm imports torchvision, which may not match this torch
        pytest.skip(f"timm cannot be imported here ({type(exc).__name__}: {exc})")
    from safetensors.torch import save_file

    images = random_images(4)
    torch.manual_seed(4)
    net = timm.create_model("resnet18", pretrained=False, num_classes=1, in_chans=3).eval()
    path = tmp_path / "fold0.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    pred = get_predictor(
        "timm", model="resnet18", path=str(path), targets="bone_age", age_scale=200,
        device="cpu", **PREP,
    )  # fmt: skip
    out = pred.predict(images)
    _close(out.bone_age_months, _reference(net, images, PREP)[:, 0] * 200, atol=1e-3)


def test_timm_missing_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    path = tmp_path / "w.safetensors"
    path.write_bytes(b"x")
    monkeypatch.setitem(sys.modules, "timm", None)  # import timm -> ImportError
    with pytest.raises(MissingDependencyError, match=r"radinpaint\[timm\]"):
        get_predictor("timm", model="resnet18", path=str(path), targets="bone_age", **PREP)


def test_callable_with_probability_output() -> None:
    images = random_images(6)
    net = AgeOnly().eval()

    def model(x: torch.Tensor) -> dict[str, np.ndarray]:
        with torch.no_grad():
            age = net(x)[:, 0].numpy()
        return {"bone_age": age, "male": 1.0 / (1.0 + np.exp(-age / 10.0))}

    pred = from_callable(
        model, targets="bone_age+male", sex_output="probability", age_unit="years",
        fingerprint="v1", **PREP,
    )  # fmt: skip
    out = pred.predict(images)
    age = _reference(net, images, PREP)[:, 0]
    _close(out.bone_age_months, age * 12, atol=1e-3)
    _close(out.p_male, 1.0 / (1.0 + np.exp(-age / 10.0)), atol=1e-5)
    other = from_callable(model, targets="bone_age+male", sex_output="probability",
                          age_unit="years", fingerprint="v2", **PREP)  # fmt: skip
    assert other.capabilities().fingerprint != pred.capabilities().fingerprint


def test_module_factory_from_the_cli(tmp_path: Path, monkeypatch, capsys) -> None:
    from radinpaint.cli import main
    from radinpaint.io import read_image, write_image

    (tmp_path / "mylab_models.py").write_text(
        "import torch\n"
        "def build():\n"
        "    torch.manual_seed(5)\n"
        "    return torch.nn.Sequential(torch.nn.Conv2d(3, 2, 3), torch.nn.AdaptiveAvgPool2d(1),"
        " torch.nn.Flatten(), torch.nn.Linear(2, 1))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    image = tmp_path / "hand.png"
    write_image(image, random_images(1)[0])
    spec = "module:factory=mylab_models:build,targets=bone_age,preprocessing=study-320,size=48"
    assert main(["predict", str(image), "--predictor", spec, "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    import mylab_models  # type: ignore[import-not-found]

    ref = _reference(mylab_models.build().eval(), [read_image(image)], PREP)
    _close([row["bone_age_months"]], ref[:, 0], atol=2e-3)  # printed to 3 decimals


def test_models_config_averages_members(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (extra onnx)")
    images = random_images(5)
    nets = [_net(10), _net(11)]
    _export_onnx(nets[0], tmp_path / "fold0.onnx")
    _export_script(nets[1], tmp_path / "fold1.pt")
    config = tmp_path / "models.json"
    config.write_text(json.dumps({
        "name": "my-folds",
        "trained_on": "real",
        "defaults": {"targets": "bone_age+male", "age_scale": 200, **PREP},
        "models": [{"kind": "onnx", "path": "fold0.onnx"},
                   {"kind": "torchscript", "path": "fold1.pt"}],
    }))  # fmt: skip
    with pytest.raises(TorchScriptNotAllowedError):
        get_predictor("models", config=str(config))
    built = build_backend("predictor", "models", config=str(config), allow_torchscript=True)
    out = built.backend.predict(images)
    refs = [_reference(n, images, PREP) for n in nets]
    _close(out.bone_age_months, np.mean([r[:, 0] * 200 for r in refs], axis=0), atol=1e-3)
    _close(out.p_male, np.mean([_sigmoid(r[:, 1]) for r in refs], axis=0), atol=1e-5)
    assert built.backend.name == "my-folds"
    assert built.capabilities.trained_on == "real"


# -- bad input ----------------------------------------------------------------------------
def test_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError, match="not found") as info:
        get_predictor("onnx", path=str(tmp_path / "nope.onnx"), targets="bone_age", **PREP)
    assert "nope.onnx" in str(info.value)


def test_wrong_output_shape_is_a_clear_error() -> None:
    net = _net(outputs=3)
    pred = from_module(net, targets="bone_age+male", **PREP)
    with pytest.raises(InvalidInputError, match=r"shape \(16, 3\).*expected \(16, 2\)"):
        pred.predict(random_images(2))


def test_unknown_normalisation_and_missing_declarations() -> None:
    with pytest.raises(InvalidInputError, match="unknown preprocessing normalize 'zscore'"):
        from_module(_net(), targets="bone_age", normalize="zscore", **PREP)
    with pytest.raises(InvalidInputError, match="declare what the model outputs"):
        from_module(_net(), **PREP)
    with pytest.raises(InvalidInputError, match="declare how the model's input is prepared"):
        from_module(_net(), targets="bone_age")
    with pytest.raises(InvalidInputError, match="unknown member target 'age'"):
        from_module(_net(), targets="age", **PREP)
    with pytest.raises(InvalidInputError, match=r"imagenet.*channels=3"):
        declared_preprocessing("study-320", channels=1, normalize="imagenet")


def test_probability_outside_unit_interval_is_refused() -> None:
    pred = from_callable(
        lambda x: torch.full((x.shape[0], 1), 3.0), targets="male", sex_output="probability", **PREP
    )
    with pytest.raises(InvalidInputError, match="sex_output=logit"):
        pred.predict(random_images(1))


def test_onnx_input_mismatch_is_named(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (extra onnx)")
    net = _net(channels=1)
    x = torch.zeros(1, 1, 48, 48)
    path = tmp_path / "fixed.onnx"
    torch.onnx.export(net, (x,), str(path), dynamo=False)
    with pytest.raises(InvalidInputError, match=r"channels 1.*gives 3"):
        get_predictor("onnx", path=str(path), targets="bone_age", **PREP)
    with pytest.raises(InvalidInputError, match="1 input"):
        get_predictor("onnx", path=str(path), targets="bone_age", sex_input=True, **PREP)


def test_adapters_are_not_saved_as_ensemble_members(tmp_path: Path) -> None:
    pred = from_module(_net(), targets="bone_age", **PREP)
    with pytest.raises(InvalidInputError, match="not saved"):
        save_ensemble(pred, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_weights_fingerprint_follows_the_file(tmp_path: Path) -> None:
    path = _export_script(_net(20), tmp_path / "m.pt")
    options = dict(path=str(path), targets="bone_age+male", allow_torchscript=True, **PREP)
    first = get_predictor("torchscript", **options).capabilities().fingerprint
    assert get_predictor("torchscript", **options).capabilities().fingerprint == first
    _export_script(_net(21), path)
    assert get_predictor("torchscript", **options).capabilities().fingerprint != first


def test_from_models_combines_python_objects() -> None:
    images = random_images(3)
    a, b = _net(30), _net(31)
    pred = from_models(
        [from_module(a, targets="bone_age+male", **PREP),
         from_module(b, targets="bone_age+male", **PREP)],
        aggregation="median", trained_on="real",
    )  # fmt: skip
    assert [m.name for m in pred.members] == ["TinyNet", "TinyNet_2"]
    out = pred.predict(images)
    refs = [_reference(n, images, PREP)[:, 0] for n in (a, b)]
    _close(out.bone_age_months, np.median(refs, axis=0), atol=1e-4)
    assert pred.capabilities().trained_on == "real"
    with pytest.raises(RadinpaintError):
        from_models([])


@pytest.mark.gpu
def test_module_adapter_on_cuda_matches_the_cpu_forward() -> None:
    import copy

    images = random_images(5)
    net = _net(40)
    ref = _reference(copy.deepcopy(net), images, PREP)  # on the CPU, before the move
    pred = from_module(net, targets="bone_age+male", device="cuda", **PREP)
    out = pred.predict(images)
    assert pred.capabilities().device.startswith("cuda")
    _close(out.bone_age_months, ref[:, 0], atol=1e-2)  # cuDNN may use TF32 convolutions
    _close(out.p_male, _sigmoid(ref[:, 1]), atol=1e-3)


def test_timm_adapter_with_a_stand_in_timm(tmp_path: Path, monkeypatch) -> None:
    """The timm path (build by name, strict checkpoint load, declared scaling) without timm:
    a module named ``timm`` whose ``create_model`` builds the tiny network."""
    import sys
    import types

    from safetensors.torch import save_file

    calls: list[dict] = []

    def create_model(name: str, **kwargs: object) -> nn.Module:
        calls.append({"name": name, **kwargs})
        torch.manual_seed(0)
        return TinyNet(channels=int(kwargs["in_chans"]), outputs=int(kwargs["num_classes"]))

    fake = types.ModuleType("timm")
    fake.create_model = create_model  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "timm", fake)
    net = _net(50, outputs=1)
    path = tmp_path / "fold0.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    images = random_images(3)
    pred = get_predictor("timm", model="resnet50", path=str(path), targets="bone_age",
                         age_scale=200, **PREP)  # fmt: skip
    assert calls == [{"name": "resnet50", "pretrained": False, "num_classes": 1, "in_chans": 3}]
    out = pred.predict(images)
    _close(out.bone_age_months, _reference(net, images, PREP)[:, 0] * 200, atol=1e-3)
    wrong = tmp_path / "other.safetensors"
    save_file({"fc.weight": torch.zeros(1, 4)}, str(wrong))
    with pytest.raises(RadinpaintError, match="missing keys"):
        get_predictor("timm", model="resnet50", path=str(wrong), targets="bone_age", **PREP)
    with pytest.raises(InvalidInputError, match="names a source"):
        get_predictor("timm", model="hf-hub:x/y", path=str(path), targets="bone_age", **PREP)


def test_misspelt_option_is_refused_before_loading(tmp_path: Path) -> None:
    from radinpaint.errors import UnknownOptionError

    missing = str(tmp_path / "never-read.onnx")  # a loader that ran would say "not found"
    for kind in ("torchscript", "onnx", "timm", "module", "models"):
        with pytest.raises(UnknownOptionError, match="sizee"):
            get_predictor(kind, path=missing, config=missing, sizee=48, **PREP)
    with pytest.raises(UnknownOptionError, match="sex_input"):
        get_predictor("timm", model="resnet18", path=missing, targets="bone_age", sex_input=True)
    with pytest.raises(TypeError, match="sizee"):
        from_module(_net(), targets="bone_age", sizee=48, **PREP)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="devise"):
        from_models([from_module(_net(), targets="bone_age", **PREP)], devise="cpu")  # type: ignore[call-arg]

"""The gan inpainter's options and capabilities: cheap (no torch, no weights), and the
fingerprint follows the weight file's bytes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

from radinpaint import InpaintRequest  # noqa: E402
from radinpaint.capabilities import Capabilities  # noqa: E402
from radinpaint.errors import ModelUnavailableError  # noqa: E402
from radinpaint.fingerprint import fingerprint_files, fingerprint_value  # noqa: E402
from radinpaint.inpainters.gan import checkpoint as gan_checkpoint  # noqa: E402
from radinpaint.inpainters.gan.inference import SHIPPED_WEIGHTS, GanInpainter  # noqa: E402

from ._helpers import box_mask, radiograph  # noqa: E402


def _copy_shipped(folder):
    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / "mine.safetensors"
    shutil.copyfile(SHIPPED_WEIGHTS, weights)
    shutil.copyfile(SHIPPED_WEIGHTS.with_suffix(".json"), weights.with_suffix(".json"))
    return weights


def _forbid_loading(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("the GAN weights were loaded")

    import safetensors.torch

    monkeypatch.setattr(gan_checkpoint, "load_generator", refuse)
    monkeypatch.setattr(gan_checkpoint, "read_tensors", refuse)
    monkeypatch.setattr(safetensors.torch, "load_file", refuse)


def test_options_and_capabilities_do_not_load_the_weights(tmp_path, monkeypatch) -> None:
    weights = _copy_shipped(tmp_path)
    with monkeypatch.context() as m:
        _forbid_loading(m)
        gan = GanInpainter(weights=str(weights), device="cpu")
        opts = gan.options()
        caps = gan.capabilities()
        assert gan._model is None
    assert opts["weights"] == "mine.safetensors"
    assert opts["weights_sha256"] == gan_checkpoint.file_sha256(weights)
    assert {"compositing", "margin", "max_tile"} <= set(opts)
    assert isinstance(caps, Capabilities)
    # what a loaded backend records is the same as what the cheap options said
    image = radiograph((48, 64))
    request = InpaintRequest(image, box_mask(image.shape, (10, 20, 10, 30)), seed=1)
    (result,) = gan.inpaint([request])
    assert result.options == opts
    assert gan.capabilities() == caps


def test_options_and_capabilities_do_not_import_torch() -> None:
    code = (
        "import sys\n"
        "from radinpaint.inpainters.gan.inference import GanInpainter\n"
        "gan = GanInpainter(compositing='raw')\n"
        "opts = gan.options()\n"
        "caps = gan.capabilities()\n"
        "assert opts['raw_size'] > 0 and len(caps.fingerprint) == 64, (opts, caps)\n"
        "assert caps.device == 'auto', caps.device\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_the_fingerprint_changes_with_the_weights_file(tmp_path) -> None:
    weights = _copy_shipped(tmp_path)
    gan = GanInpainter(weights=str(weights), device="cpu")
    first, sha = gan.capabilities().fingerprint, gan.options()["weights_sha256"]

    # a perturbed copy saved under the same name (as retraining would)
    tensors = gan_checkpoint.read_tensors(weights)
    name = sorted(tensors)[0]
    tensors[name] = tensors[name] + 1e-3
    gan_checkpoint.write_tensors(weights, tensors)
    again = GanInpainter(weights=str(weights), device="cpu")
    second = again.capabilities().fingerprint
    assert second != first
    assert again.options()["weights_sha256"] != sha

    # one byte of the config (the inference defaults) counts too
    cfg = json.loads(weights.with_suffix(".json").read_text())
    cfg["inference"]["margin"] = int(cfg["inference"].get("margin", 48)) + 1
    weights.with_suffix(".json").write_text(json.dumps(cfg))
    assert GanInpainter(weights=str(weights)).capabilities().fingerprint not in (first, second)


def test_declared_fields() -> None:
    caps = GanInpainter(device="cpu", batch_size=3).capabilities()
    assert caps.deterministic and caps.max_concurrency == 1
    assert caps.batch_size == 3 and caps.device == "cpu"
    weights = fingerprint_files([SHIPPED_WEIGHTS, SHIPPED_WEIGHTS.with_suffix(".json")])
    gan = GanInpainter(device="cpu", batch_size=3)
    assert caps.fingerprint == fingerprint_value(weights, gan.options())
    # the options that shape the output are in it; device and batch size are operational
    raw = GanInpainter(device="cpu", compositing="raw").capabilities()
    assert raw.fingerprint != caps.fingerprint
    assert GanInpainter(device="cpu", batch_size=5).capabilities().fingerprint == caps.fingerprint
    assert {"device", "batch_size"} <= caps.operational_options
    assert GanInpainter(device="cuda:1").capabilities().device == "cuda:1"
    resolved = GanInpainter().capabilities().device  # torch is imported in this process
    assert resolved == ("cuda" if torch.cuda.is_available() else "cpu")


def test_missing_weights_fail_clearly(tmp_path) -> None:
    gan = GanInpainter(weights=str(tmp_path / "nope.safetensors"))
    with pytest.raises(ModelUnavailableError, match="GAN weights not found"):
        gan.capabilities()
    with pytest.raises(ModelUnavailableError, match="GAN weights not found"):
        gan.options()

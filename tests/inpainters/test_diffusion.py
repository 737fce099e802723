"""The diffusion inpainter: training, resume, checkpoints, SDEdit redraw, RePaint inpaint."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from radinpaint import (  # noqa: E402
    CheckpointError,
    InpaintRequest,
    InvalidInputError,
    Mask,
    Radiograph,
    get_inpainter,
)
from radinpaint.inpainters.diffusion.checkpoint import (  # noqa: E402
    config_path,
    load_unet,
    state_paths,
)
from radinpaint.inpainters.diffusion.inference import SHIPPED_WEIGHTS  # noqa: E402
from radinpaint.inpainters.diffusion.train import train_diffusion  # noqa: E402
from radinpaint.inpainters.gan.checkpoint import read_tensors  # noqa: E402
from radinpaint.testing import check_inpainter  # noqa: E402

TINY_UNET = {
    "sample_size": 32,
    "block_out_channels": [8, 16],
    "attention": "none",
    "norm_num_groups": 4,
}
TINY = {"unet": TINY_UNET, "batch_size": 2, "warmup": 2, "schedule": {"num_train_timesteps": 50}}


@pytest.fixture(autouse=True)
def _one_thread():
    """One torch thread: the tests are tiny, and more threads only contend for the cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _images(n: int = 4, shape: tuple[int, int] = (48, 40)) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    out = []
    for _ in range(n):
        cy, cx = rng.uniform(10, shape[0] - 10), rng.uniform(10, shape[1] - 10)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 60.0)
        out.append((0.2 + 0.6 * blob + rng.normal(0, 0.02, shape)).clip(0, 1).astype(np.float32))
    return out


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory) -> Path:
    """A tiny model trained for 2 steps (never downloaded)."""
    out = tmp_path_factory.mktemp("diffusion") / "tiny.safetensors"
    return train_diffusion(_images(), out=out, steps=2, progress=False, seed=1, **TINY)


def _requests(mask_empty: bool = False, seed: int = 0) -> list[InpaintRequest]:
    image = Radiograph.from_float(_images(1, (60, 44))[0])
    m = np.zeros((60, 44), bool)
    if not mask_empty:
        m[20:30, 10:22] = True
    return [InpaintRequest(image, Mask(m), seed=seed, variant=v, case_id="c") for v in range(2)]


def _state(path: Path) -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in read_tensors(path).items()}


def test_resume_is_bit_identical_on_cpu(tmp_path) -> None:
    data = _images()
    straight = train_diffusion(
        data, out=tmp_path / "a.safetensors", steps=4, progress=False, **TINY
    )
    half = tmp_path / "b.safetensors"
    train_diffusion(data, out=half, steps=2, progress=False, **TINY)
    resumed = train_diffusion(data, out=half, steps=4, progress=False, **TINY)
    a, b = _state(straight), _state(resumed)
    assert a.keys() == b.keys()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    sa, sb = _state(state_paths(straight)[0]), _state(state_paths(resumed)[0])
    assert all(np.array_equal(sa[k], sb[k]) for k in sa)
    assert json.loads(state_paths(resumed)[1].read_text())["step"] == 4


def test_resume_with_another_config_names_the_file_and_fix(tmp_path) -> None:
    out = tmp_path / "w.safetensors"
    train_diffusion(_images(), out=out, steps=1, progress=False, **TINY)
    with pytest.raises(CheckpointError) as info:
        train_diffusion(_images(), out=out, steps=2, progress=False, **{**TINY, "lr": 0.5})
    text = str(info.value)
    assert "lr" in text and state_paths(out)[1].name in text and "resume" in text


def test_mismatched_checkpoint_fails_clearly(tiny_weights, tmp_path) -> None:
    cfg = json.loads(config_path(tiny_weights).read_text())
    cfg["unet"]["block_out_channels"] = [8, 24]
    cfg.pop("tensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(tiny_weights.read_bytes())
    config_path(bad).write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="shape mismatches") as info:
        load_unet(bad)
    assert str(bad) in str(info.value)
    # a GAN config (another kind of checkpoint) is refused by name
    config_path(bad).write_text(json.dumps({"format": "radinpaint-gan-weights"}))
    with pytest.raises(CheckpointError, match="not a radinpaint diffusion") as info:
        get_inpainter("diffusion", weights=str(bad), device="cpu").inpaint(_requests())
    assert "train-diffusion" in str(info.value)


@pytest.mark.parametrize("mode", ["redraw", "inpaint"])
def test_conformance(tiny_weights, mode) -> None:
    backend = get_inpainter("diffusion", weights=str(tiny_weights), mode=mode, steps=4)
    images = [Radiograph.from_float(a) for a in _images(2, (50, 36))]
    checks = check_inpainter(backend, images=images)
    assert ("empty-mask-edited" in checks) == (mode == "redraw")


def test_inpaint_keeps_every_pixel_outside_the_mask(tiny_weights) -> None:
    backend = get_inpainter("diffusion", weights=str(tiny_weights), mode="inpaint", steps=4)
    requests = _requests()
    for request, result in zip(requests, backend.inpaint(requests), strict=True):
        outside = ~request.mask.array
        assert np.array_equal(result.image.pixels[outside], request.image.pixels[outside])
        assert not np.array_equal(result.image.pixels, request.image.pixels)
        assert result.compositing == "paste-back"


def test_redraw_variants_differ_and_replay(tiny_weights) -> None:
    backend = get_inpainter("diffusion", weights=str(tiny_weights), steps=4, strength=0.6)
    first = backend.inpaint(_requests())
    again = backend.inpaint(_requests())
    assert not np.array_equal(first[0].image.pixels, first[1].image.pixels)
    for a, b in zip(first, again, strict=True):
        assert np.array_equal(a.image.pixels, b.image.pixels)
        assert a.compositing == "raw" and a.returned is not None
        assert a.returned.shape == (32, 32)
    # alone or in another batch: the same output (the batch is padded, noise per request)
    alone = backend.inpaint(_requests()[1:])
    assert np.array_equal(alone[0].image.pixels, first[1].image.pixels)


def test_empty_mask_is_redrawn(tiny_weights) -> None:
    backend = get_inpainter("diffusion", weights=str(tiny_weights), steps=4)
    assert backend.capabilities().edits_whole_image
    assert not backend.capabilities().deterministic
    (result, _) = backend.inpaint(_requests(mask_empty=True))
    assert "empty-mask" not in result.flags
    assert not np.array_equal(result.image.pixels, _requests()[0].image.pixels)
    inpaint = get_inpainter("diffusion", weights=str(tiny_weights), mode="inpaint")
    assert not inpaint.capabilities().edits_whole_image
    (same, _) = inpaint.inpaint(_requests(mask_empty=True))
    assert "empty-mask" in same.flags


def test_options_validate_and_record(tiny_weights) -> None:
    with pytest.raises(InvalidInputError, match="mode"):
        get_inpainter("diffusion", mode="paint")
    with pytest.raises(InvalidInputError, match="strength"):
        get_inpainter("diffusion", strength=1.5)
    backend = get_inpainter("diffusion", weights=str(tiny_weights), strength=0.3)
    opts = backend.options()
    assert opts["strength"] == 0.3 and opts["size"] == 32 and opts["mode"] == "redraw"
    other = get_inpainter("diffusion", weights=str(tiny_weights), strength=0.4)
    assert backend.capabilities().fingerprint != other.capabilities().fingerprint


@pytest.mark.skipif(not SHIPPED_WEIGHTS.exists(), reason="shipped weights not built")
def test_shipped_weights_load_and_run() -> None:
    from radinpaint.datasets import make_phantom

    case = make_phantom(3, size=128)
    cfg = json.loads(config_path(SHIPPED_WEIGHTS).read_text())
    assert cfg["format"] == "radinpaint-diffusion-weights"
    assert SHIPPED_WEIGHTS.stat().st_size < 20 * 2**20
    backend = get_inpainter("diffusion", steps=4, device="cpu", batch_size=1)
    request = InpaintRequest(case.image, case.artifact_mask, seed=1)
    (result,) = backend.inpaint([request])
    assert result.image.shape == case.image.shape
    assert np.isfinite(result.image.pixels).all()
    # the redraw keeps the hand roughly where it was
    corr = np.corrcoef(result.image.pixels.ravel(), case.image.pixels.ravel())[0, 1]
    assert corr > 0.5


def test_cli_trains_on_phantoms_and_resumes(tmp_path, capsys) -> None:
    from radinpaint.cli import main

    out = tmp_path / "cli.safetensors"
    argv = ["train-diffusion", "--data", "phantom:2:64", "--out", str(out), "--size", "32"]
    argv += ["--channels", "8,16", "--batch-size", "2", "--device", "cpu", "--no-progress"]
    assert main([*argv, "--steps", "1"]) == 0
    assert main([*argv, "--steps", "2"]) == 0
    assert json.loads(state_paths(out)[1].read_text())["step"] == 2
    assert "weights:" in capsys.readouterr().out
    assert main([*argv, "--steps", "3", "--lr", "0.1"]) == 2
    err = capsys.readouterr().err
    assert "lr" in err and "state.json" in err


def test_options_and_capabilities_do_not_import_torch(tiny_weights) -> None:
    import os
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from radinpaint import get_inpainter\n"
        f"b = get_inpainter('diffusion', weights={str(tiny_weights)!r}, mode='inpaint')\n"
        "b.options(); b.capabilities()\n"
        "assert 'torch' not in sys.modules and 'diffusers' not in sys.modules\n"
    )
    env = {**os.environ, "RADINPAINT_PLUGINS": ""}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)

"""The gan inpainter: networks, holes, training, checkpoints, inference, CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from radinpaint import (  # noqa: E402
    CheckpointError,
    InpaintRequest,
    InvalidInputError,
    Mask,
    Radiograph,
    get_inpainter,
)
from radinpaint.errors import ModelUnavailableError  # noqa: E402
from radinpaint.inpainters.gan.checkpoint import (  # noqa: E402
    config_path,
    load_generator,
    read_tensors,
    state_paths,
)
from radinpaint.inpainters.gan.holes import HOLE_KINDS, holes_for_batch, random_holes  # noqa: E402
from radinpaint.inpainters.gan.inference import SHIPPED_WEIGHTS  # noqa: E402
from radinpaint.inpainters.gan.model import (  # noqa: E402
    DEFAULT_DISCRIMINATOR_CONFIG,
    DEFAULT_GENERATOR_CONFIG,
    build_discriminator,
    build_generator,
)
from radinpaint.inpainters.gan.train import train_gan  # noqa: E402
from radinpaint.testing import check_inpainter  # noqa: E402

from ._helpers import TINY_D, TINY_G  # noqa: E402

TINY = {"generator": TINY_G, "discriminator": TINY_D, "batch_size": 2, "crop": 32}


@pytest.fixture(autouse=True)
def _one_thread():
    """One torch thread: the tests are tiny, and more threads only contend for the cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _images(n: int = 3, shape: tuple[int, int] = (48, 56)) -> list[np.ndarray]:
    """Smooth synthetic 'radiographs': a bright blob with stripes on a dark background."""
    out = []
    for i in range(n):
        yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
        blob = np.exp(-(((yy - shape[0] / 2) / 14) ** 2 + ((xx - shape[1] / 2 - i) / 9) ** 2))
        stripes = 0.1 * np.sin(yy / 3.0 + i)
        out.append(np.clip(0.1 + 0.6 * blob + stripes * blob, 0, 1).astype(np.float32))
    return out


def _tiny_train(out: Path, steps: int, **kw) -> Path:
    options = {**TINY, **kw}
    return train_gan(_images(), out=out, steps=steps, progress=False, checkpoint_every=2, **options)


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory) -> Path:
    return _tiny_train(tmp_path_factory.mktemp("gan") / "tiny.safetensors", steps=3)


def _request(bits: int = 16, shape: tuple[int, int] = (50, 70), seed: int = 0) -> InpaintRequest:
    rng = np.random.default_rng(seed)
    top = (1 << bits) - 1
    pixels = np.clip(_images(1, shape)[0] + 0.02 * rng.standard_normal(shape), 0, 1)
    ints = np.rint(pixels * top).astype(np.uint8 if bits == 8 else np.uint16)
    mask = np.zeros(shape, bool)
    mask[10:22, 30:52] = True
    mask[30:33, 5:40] = True
    return InpaintRequest(Radiograph.from_uint(ints, bits), Mask(mask), seed=3, case_id="c")


# --- networks -------------------------------------------------------------------------------


def test_generator_and_critic_shapes():
    g = build_generator(DEFAULT_GENERATOR_CONFIG)
    d = build_discriminator(DEFAULT_DISCRIMINATOR_CONFIG)
    x = torch.rand(2, 1, 32, 48)
    m = (torch.rand(2, 1, 32, 48) > 0.7).float()
    with torch.no_grad():
        y = g(x, m)
    assert y.shape == (2, 1, 32, 48)
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0
    assert d(y, m).shape == (2, 1, 2, 3)  # four stride-2 layers
    with torch.no_grad():
        assert torch.equal(g(x, m), y)  # no noise input: deterministic
    n_params = sum(p.numel() for p in g.parameters())
    assert n_params * 4 < 5_000_000  # fp32 weights under 5 MB


def test_generator_ignores_pixels_inside_the_hole():
    g = build_generator(TINY_G)
    x = torch.rand(1, 1, 16, 16)
    m = torch.zeros(1, 1, 16, 16)
    m[..., 4:10, 4:10] = 1
    x2 = x.clone()
    x2[..., 4:10, 4:10] = 1.0 - x2[..., 4:10, 4:10]
    assert torch.equal(g(x, m), g(x2, m))


@pytest.mark.parametrize("coarse", ["push-pull", "telea"])
def test_untrained_generator_returns_its_coarse_fill(coarse):
    import cv2

    g = build_generator({**TINY_G, "coarse": coarse})
    x = torch.from_numpy(np.stack(_images(2, (32, 40)))).unsqueeze(1)
    m = torch.zeros_like(x)
    m[..., 8:20, 10:30] = 1
    with torch.no_grad():
        y = g(x, m)
    outside = m == 0
    torch.testing.assert_close(y[outside], x[outside])  # valid pixels come back
    inside = y[m > 0]
    assert float(inside.std()) > 0  # a real fill, not a constant
    if coarse == "telea":
        hole = m[0, 0].numpy().astype(np.uint8)
        known = (x[0, 0].numpy() * (1 - hole) * 2**20).astype(np.float32)
        ref = cv2.inpaint(known, hole, 3.0, cv2.INPAINT_TELEA) / 2**20
        np.testing.assert_allclose(y[0, 0].numpy(), np.clip(ref, 0, 1), atol=1e-6)


def test_unknown_coarse_fill_is_rejected():
    with pytest.raises(ValueError, match="unknown coarse fill"):
        build_generator({**TINY_G, "coarse": "median"})


# --- holes ----------------------------------------------------------------------------------


def test_holes_are_reproducible_per_seed_and_step():
    a = holes_for_batch(4, (64, 64), seed=3, step=7)
    b = holes_for_batch(4, (64, 64), seed=3, step=7)
    c = holes_for_batch(4, (64, 64), seed=3, step=8)
    assert a.dtype == bool and a.shape == (4, 64, 64)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert all(h.any() for h in a)


@pytest.mark.parametrize("kind", HOLE_KINDS)
def test_each_hole_kind_draws_something(kind):
    fractions = [
        random_holes((96, 96), np.random.default_rng(s), kinds=(kind,)).mean() for s in range(6)
    ]
    assert 0.0 < float(np.mean(fractions)) <= 0.5


def test_unknown_hole_kind_is_rejected():
    with pytest.raises(ValueError, match="unknown hole kinds"):
        random_holes((32, 32), np.random.default_rng(0), kinds=("circle",))


# --- training -------------------------------------------------------------------------------


def _stripes(n: int = 3, shape: tuple[int, int] = (48, 56)) -> list[np.ndarray]:
    """Vertical stripes: a smooth (harmonic) fill cannot guess them, a network can learn."""
    xx = np.mgrid[0 : shape[0], 0 : shape[1]][1].astype(np.float32)
    return [(0.5 + 0.3 * np.sin(xx / 1.5 + i)).astype(np.float32) for i in range(n)]


def test_a_few_training_steps_reduce_the_hole_error(tmp_path):
    from radinpaint.inpainters.gan.data import load_training_images, sample_batch

    x, m = sample_batch(load_training_images(_stripes()), seed=99, step=0, batch_size=8, crop=32)
    x_t = torch.from_numpy(x).unsqueeze(1)
    m_t = torch.from_numpy(m.astype(np.float32)).unsqueeze(1)

    def hole_l1(path: Path) -> float:
        g, _ = load_generator(path)
        with torch.no_grad():
            return float(((g(x_t, m_t) - x_t).abs() * m_t).sum() / m_t.sum())

    out = tmp_path / "a.safetensors"
    options = {**TINY, "lr_g": 2e-3, "adv_weight": 0.0}
    train_gan(_stripes(), out=out, steps=1, progress=False, **options)
    before = hole_l1(out)
    train_gan(_stripes(), out=out, steps=40, progress=False, checkpoint_every=40, **options)
    after = hole_l1(out)
    assert after < 0.95 * before


def test_images_read_on_demand_give_the_same_batches():
    from radinpaint.inpainters.gan.data import load_training_images, sample_batch

    cases = [Radiograph.from_float(p, 16, source=f"s{i}") for i, p in enumerate(_images(4))]
    eager = load_training_images(cases, in_memory=True)
    lazy = load_training_images(cases, in_memory=False)
    assert isinstance(eager, list) and not isinstance(lazy, list) and len(lazy) == 4
    for step in range(3):
        a = sample_batch(eager, seed=1, step=step, batch_size=3, crop=32)
        b = sample_batch(lazy, seed=1, step=step, batch_size=3, crop=32)
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_resumed_training_equals_uninterrupted(tmp_path):
    whole = _tiny_train(tmp_path / "whole.safetensors", steps=4)
    _tiny_train(tmp_path / "split.safetensors", steps=2)
    split = _tiny_train(tmp_path / "split.safetensors", steps=4)
    a, b = read_tensors(whole), read_tensors(split)
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k])
    sa = read_tensors(state_paths(whole)[0])
    sb = read_tensors(state_paths(split)[0])
    assert any(k.startswith("optG.") for k in sa) and any(k.startswith("D.") for k in sa)
    for k in sa:
        torch.testing.assert_close(sa[k], sb[k])
    meta = json.loads(state_paths(split)[1].read_text())
    assert meta["step"] == 4 and [h["step"] for h in meta["history"]] == [2, 4]


def test_resume_with_another_configuration_is_refused(tmp_path):
    _tiny_train(tmp_path / "w.safetensors", steps=2)
    with pytest.raises(CheckpointError, match="lr_g"):
        _tiny_train(tmp_path / "w.safetensors", steps=4, lr_g=1e-3)
    _tiny_train(tmp_path / "w.safetensors", steps=2, lr_g=1e-3, resume=False)  # allowed


def test_bad_training_options_are_rejected(tmp_path):
    with pytest.raises(InvalidInputError, match="multiple of 4"):
        _tiny_train(tmp_path / "w.safetensors", steps=1, crop=30)
    with pytest.raises(InvalidInputError, match="unknown training option"):
        _tiny_train(tmp_path / "w.safetensors", steps=1, learning_rate=1.0)
    with pytest.raises(InvalidInputError, match="safetensors"):
        train_gan(_images(), out=tmp_path / "w.pt", steps=1, progress=False, **TINY)


# --- checkpoints ----------------------------------------------------------------------------


def test_checkpoint_is_safetensors_plus_json_and_round_trips(tiny_weights):
    raw = tiny_weights.read_bytes()
    header_len = int.from_bytes(raw[:8], "little")
    assert raw[8:9] == b"{" and json.loads(raw[8 : 8 + header_len])  # safetensors header
    cfg = json.loads(config_path(tiny_weights).read_text())
    assert cfg["format"] == "radinpaint-gan-weights" and cfg["generator"] == TINY_G
    g, loaded_cfg = load_generator(tiny_weights)
    state = read_tensors(state_paths(tiny_weights)[0])
    for k, v in g.state_dict().items():
        assert torch.equal(v, state[f"G.{k}"])
    assert loaded_cfg["training"]["steps"] == 3


def _copy(weights: Path, dest: Path) -> Path:
    target = dest / weights.name
    target.write_bytes(weights.read_bytes())
    config_path(target).write_text(config_path(weights).read_text())
    return target


def test_config_that_does_not_match_the_tensors_is_an_error(tiny_weights, tmp_path):
    w = _copy(tiny_weights, tmp_path)
    cfg = json.loads(config_path(w).read_text())

    wider = {**cfg, "generator": {**cfg["generator"], "base_channels": 6}}
    config_path(w).write_text(json.dumps(wider))
    with pytest.raises(
        CheckpointError,
        match=r"shape mismatches: .*head\.conv\.weight: config \[12, 3, 5, 5\] vs file \[8, 3, 5",
    ):
        load_generator(w)

    deeper = {**cfg, "generator": {**cfg["generator"], "depth": 3}}
    config_path(w).write_text(json.dumps(deeper))
    with pytest.raises(CheckpointError, match=r"missing keys: down\.2\.conv\.bias"):
        load_generator(w)

    fewer = {**cfg, "generator": {**cfg["generator"], "dilations": []}}
    config_path(w).write_text(json.dumps(fewer))
    with pytest.raises(CheckpointError, match=r"unexpected keys: middle\.0\.conv\.bias"):
        load_generator(w)


def test_missing_or_foreign_config_is_an_error(tiny_weights, tmp_path):
    w = _copy(tiny_weights, tmp_path)
    config_path(w).write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(CheckpointError, match="not a radinpaint GAN weights config"):
        load_generator(w)
    config_path(w).unlink()
    with pytest.raises(CheckpointError, match="not found"):
        load_generator(w)


# --- inference ------------------------------------------------------------------------------


@pytest.mark.parametrize("bits", [8, 16])
def test_inference_keeps_shape_depth_and_pixels_outside_the_mask(tiny_weights, bits):
    req = _request(bits)
    gan = get_inpainter("gan", weights=str(tiny_weights), device="cpu")
    (res,) = gan.inpaint([req])
    assert res.image.shape == req.image.shape and res.image.bit_depth == bits
    outside = ~req.mask.array
    assert np.array_equal(res.image.to_uint()[outside], req.image.to_uint()[outside])
    assert not np.array_equal(res.image.to_uint()[~outside], req.image.to_uint()[~outside])
    assert res.backend == "gan" and res.compositing == "paste-back"
    assert res.seed == req.variant_seed
    assert res.options["weights"] == "tiny.safetensors"
    from radinpaint.inpainters.gan.checkpoint import file_sha256

    assert res.options["weights_sha256"] == file_sha256(tiny_weights)


def test_raw_mode_redraws_the_whole_image(tiny_weights):
    req = _request(16)
    gan = get_inpainter("gan", weights=str(tiny_weights), compositing="raw", raw_size=64)
    (res,) = gan.inpaint([req])
    outside = ~req.mask.array
    changed = res.image.to_uint()[outside] != req.image.to_uint()[outside]
    assert changed.mean() > 0.5
    assert res.compositing == "raw" and res.options["raw_size"] == 64
    assert res.placement is not None and res.placement.backend_shape == (64, 64)


def test_feather_is_exact_outside_the_mask(tiny_weights):
    req = _request(16)
    (res,) = get_inpainter("gan", weights=str(tiny_weights), compositing="feather").inpaint([req])
    outside = ~req.mask.array
    assert np.array_equal(res.image.to_uint()[outside], req.image.to_uint()[outside])


def test_same_request_gives_the_same_output_alone_or_batched(tiny_weights):
    gan = get_inpainter("gan", weights=str(tiny_weights), batch_size=3)
    reqs = [_request(16, seed=s) for s in range(4)]
    together = gan.inpaint(reqs)
    alone = gan.inpaint([reqs[2]])
    again = gan.inpaint(reqs)
    assert np.array_equal(together[2].image.pixels, alone[0].image.pixels)
    for a, b in zip(together, again, strict=True):
        assert np.array_equal(a.image.pixels, b.image.pixels)


def test_large_tiles_are_downscaled_and_flagged(tiny_weights):
    req = _request(16, shape=(90, 120))
    gan = get_inpainter("gan", weights=str(tiny_weights), max_tile=32, margin=4)
    (res,) = gan.inpaint([req])
    assert "resampled" in res.flags
    assert res.placement is not None and max(res.placement.backend_shape) <= 32
    outside = ~req.mask.array
    assert np.array_equal(res.image.to_uint()[outside], req.image.to_uint()[outside])


@pytest.mark.parametrize("compositing", ["paste-back", "feather", "raw"])
def test_conformance_kit(tiny_weights, compositing):
    gan = get_inpainter("gan", weights=str(tiny_weights), compositing=compositing)
    ran = check_inpainter(gan)
    assert "seed-replay" in ran
    assert ("outside-mask-exact" in ran) == (compositing != "raw")


def test_bad_options_and_missing_weights(tmp_path):
    with pytest.raises(InvalidInputError, match="unknown compositing"):
        get_inpainter("gan", compositing="blend")
    gan = get_inpainter("gan", weights=str(tmp_path / "none.safetensors"))
    with pytest.raises(ModelUnavailableError, match="train-gan"):
        gan.inpaint([_request()])


def test_shipped_weights_work_offline():
    assert SHIPPED_WEIGHTS.exists()
    assert config_path(SHIPPED_WEIGHTS).exists()
    size = SHIPPED_WEIGHTS.stat().st_size + config_path(SHIPPED_WEIGHTS).stat().st_size
    assert size < 5_000_000
    gan = get_inpainter("gan")
    (res,) = gan.inpaint([_request(16, shape=(64, 80))])
    assert res.options["weights"] == "phantom-gan.safetensors"
    assert res.image.shape == (64, 80)
    check_inpainter(gan)


def test_plugin_module_does_not_import_torch():
    code = (
        "import sys, radinpaint.inpainters.gan.plugin, radinpaint.inpainters.gan;"
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- CLI ------------------------------------------------------------------------------------


def test_cli_train_gan_on_a_folder_of_pngs(tmp_path, capsys):
    from radinpaint.cli import main
    from radinpaint.io import write_image

    data = tmp_path / "data"
    data.mkdir()
    for i, pixels in enumerate(_images(3, (40, 44))):
        write_image(data / f"img{i}.png", Radiograph.from_float(pixels, 16))
    out = tmp_path / "w.safetensors"
    argv = ["train-gan", "--data", str(data), "--out", str(out), "--steps", "2"]
    argv += ["--crop", "32", "--batch-size", "2", "--no-progress", "--checkpoint-every", "1"]
    assert main(argv) == 0
    assert "weights:" in capsys.readouterr().out
    _, cfg = load_generator(out)
    assert cfg["training"]["steps"] == 2 and cfg["training"]["images"] == 3
    argv[argv.index("2")] = "3"
    assert main(argv) == 0  # resumes from step 2
    assert json.loads(state_paths(out)[1].read_text())["step"] == 3


def test_cli_reports_bad_input(tmp_path, capsys):
    from radinpaint.cli import main

    code = main(["train-gan", "--data", str(tmp_path / "missing"), "--out", "x.safetensors"])
    assert code == 2
    assert "missing" in capsys.readouterr().err


# --- GPU ------------------------------------------------------------------------------------


@pytest.mark.gpu
def test_cuda_inference_matches_cpu(tiny_weights):
    reqs = [_request(16, seed=s) for s in range(3)]
    cpu = get_inpainter("gan", weights=str(tiny_weights), device="cpu").inpaint(reqs)
    gpu = get_inpainter("gan", weights=str(tiny_weights), device="cuda").inpaint(reqs)
    for a, b in zip(cpu, gpu, strict=True):
        assert b.extra["device"] == "cuda"
        np.testing.assert_allclose(a.image.pixels, b.image.pixels, atol=2e-3)


# --- real radiographs: grain and edges ------------------------------------------------------


def _detail_sd(pixels: np.ndarray) -> float:
    from radinpaint.inpainters.grain import fine_detail

    d = fine_detail(pixels)
    return float(1.4826 * np.median(np.abs(d - np.median(d))))


def _noisy_request(seed: int = 0, variant: int = 0) -> InpaintRequest:
    from radinpaint.inpainters.grain import synthesize_grain

    yy, xx = np.mgrid[0:96, 0:112]
    noise = synthesize_grain((96, 112), 0.7, np.random.default_rng(0)) * 2.0 / 255
    ints = np.rint(np.clip(0.35 + 0.15 * xx / 112 + 0.05 * yy / 96 + noise, 0, 1) * 255)
    mask = np.zeros((96, 112), bool)
    mask[30:66, 36:76] = True
    image = Radiograph.from_uint(ints.astype(np.uint8), 8)
    return InpaintRequest(image, Mask(mask), seed=seed, variant=variant)


def test_gan_fill_carries_the_grain_of_its_surroundings_whatever_the_seed():
    req = _noisy_request()
    gan = get_inpainter("gan", device="cpu")
    assert gan.options()["grain"] is True and gan.options()["edge_guard"] is True
    (res,) = gan.inpaint([req])
    px = res.image.to_uint().astype(np.float64)
    ratio = _detail_sd(px[33:63, 39:73]) / _detail_sd(px[5:25, 10:100])
    assert 0.7 <= ratio <= 1.3
    (other,) = gan.inpaint([_noisy_request(seed=77, variant=3)])
    assert np.array_equal(res.image.pixels, other.image.pixels)  # still deterministic
    (plain,) = get_inpainter("gan", device="cpu", grain=False).inpaint([req])
    px = plain.image.to_uint().astype(np.float64)
    assert _detail_sd(px[33:63, 39:73]) / _detail_sd(px[5:25, 10:100]) < 0.35


@pytest.mark.parametrize("compositing", ["paste-back", "raw"])
def test_gan_fills_from_the_dominant_region_at_a_bright_border(compositing):
    rng = np.random.default_rng(0)
    arr = 0.45 + rng.standard_normal((80, 100)) * 1.5 / 255
    arr[:, 0] = 0.0
    arr[:, 1:5] = 1.0
    arr[:, 5:9] = np.linspace(0.9, 0.55, 4)
    arr[0, :] = 0.0
    image = Radiograph.from_uint(np.rint(np.clip(arr, 0, 1) * 255).astype(np.uint8), 8)
    mask = np.zeros(arr.shape, bool)
    mask[0:40, 0:45] = True
    req = InpaintRequest(image, Mask(mask))
    (res,) = get_inpainter("gan", device="cpu", compositing=compositing).inpaint([req])
    hole = res.image.pixels[mask]
    assert abs(float(np.median(hole)) - 0.45) < 0.03
    assert float(np.percentile(hole, 1)) > 0.38 and float(np.percentile(hole, 99)) < 0.52
    if compositing == "raw":  # the edges the guard left out come back (resampled) as they were
        assert float(res.image.pixels[50:78, 2:4].min()) > 0.9
    (old,) = get_inpainter(
        "gan", device="cpu", compositing=compositing, grain=False, edge_guard=False
    ).inpaint([req])
    glow = old.image.pixels[mask]
    assert float(np.percentile(glow, 99)) > 0.55 or float(np.percentile(glow, 1)) < 0.35

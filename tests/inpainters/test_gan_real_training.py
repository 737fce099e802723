"""The gan's training for real radiographs: marker-shaped holes, real appearance, real data."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("safetensors")

from radinpaint.errors import InvalidInputError
from radinpaint.inpainters.gan.appearance import (
    GRAIN_RANGE,
    apply_appearance,
    fine_detail_sd,
    real_appearance,
)
from radinpaint.inpainters.gan.holes import (
    ALL_HOLE_KINDS,
    HOLE_KINDS,
    HOLE_PRESETS,
    MARKER_HOLE_KINDS,
    _halo,
    _marker_text,
    _rounded_plate_stamp,
    holes_for_batch,
    random_holes,
    resolve_hole_kinds,
)

from ._helpers import TINY_D, TINY_G


def _holes(kind: str, seed: int, side: int = 96) -> np.ndarray:
    return random_holes((side, side), np.random.default_rng(seed), kinds=(kind,))


def _rect(mask: np.ndarray) -> tuple[float, float, float, float]:
    """(shorter side, longer side, angle, filled share) of the mask's min-area rectangle."""
    ys, xs = np.nonzero(mask)
    (_, _), (a, b), angle = cv2.minAreaRect(np.stack([xs, ys], 1).astype(np.float32))
    lo, hi = sorted((a, b))
    return lo, hi, angle, float(mask.sum()) / max(a * b, 1.0)


# --- holes ----------------------------------------------------------------------------------


def test_default_holes_are_those_of_earlier_releases():
    # pixel counts of seed 5, step 3 drawn before the marker-shaped kinds were added
    holes = holes_for_batch(6, (64, 64), seed=5, step=3)
    assert [int(h.sum()) for h in holes] == [442, 711, 826, 1085, 866, 456]


@pytest.mark.parametrize("kind", MARKER_HOLE_KINDS)
def test_marker_kinds_are_deterministic_per_seed_and_draw_something(kind):
    a, b, c = _holes(kind, 4), _holes(kind, 4), _holes(kind, 5)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert all(_holes(kind, s).any() for s in range(8))


def test_halo_grows_every_side_by_its_declared_width():
    stamp = np.zeros((80, 80), np.uint8)
    stamp[30:50, 25:55] = 1
    grown = _halo(stamp, np.random.default_rng(0), 2.0, 8.0).astype(bool)
    dist = cv2.distanceTransform((stamp == 0).astype(np.uint8), cv2.DIST_L2, 3)
    assert grown[stamp > 0].all()
    assert grown[dist <= 2.0].all()  # at least 2 px everywhere
    assert not grown[dist > 8.0].any()  # at most 8 px
    assert grown.sum() > (dist <= 2.5).sum()  # and more than 2 px somewhere


def test_lead_plate_is_a_filled_rounded_rectangle_near_the_axes():
    for seed in range(12):
        mask = _holes("lead-plate", seed, side=128)
        if mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any():
            continue  # cut by the crop
        lo, hi, angle, filled = _rect(mask)
        assert 0.75 < filled <= 1.0  # a plate, with rounded corners and a halo
        assert 1.0 <= hi / lo < 2.6
        assert min(abs(angle % 90), 90 - abs(angle % 90)) < 20


def test_rotated_plate_covers_the_whole_plate_at_any_angle():
    upright = _rounded_plate_stamp(np.random.default_rng(7), 96, 0.0, (2.0, 8.0))
    for angle in (17.0, 45.0, 77.0, 130.0):
        stamp = _rounded_plate_stamp(np.random.default_rng(7), 96, angle, (2.0, 8.0))
        # the turned plate keeps all its pixels (nothing cut off by its canvas)
        assert abs(int(stamp.sum()) - int(upright.sum())) < 0.04 * upright.sum()
        assert not (stamp[0].any() or stamp[-1].any() or stamp[:, 0].any() or stamp[:, -1].any())
        _, _, found, filled = _rect(stamp)
        assert filled > 0.8
        off = (found + angle) % 90  # OpenCV turns counter-clockwise, reports clockwise
        assert min(off, 90 - off) < 5.0
    drawn = [_holes("rotated-plate", s) for s in range(6)]
    assert all(d.any() for d in drawn)


def test_border_plate_touches_the_crop_border():
    for seed in range(16):
        mask = _holes("border-plate", seed)
        assert mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any()


def test_collimation_edge_runs_across_the_crop():
    for seed in range(10):
        mask = _holes("collimation-edge", seed)
        across_rows = mask[:, 0].any() and mask[:, -1].any()
        across_cols = mask[0].any() and mask[-1].any()
        assert across_rows or across_cols


def test_marker_text_is_a_long_band():
    aspects = []
    for seed in range(10):
        mask = np.zeros((400, 400), np.uint8)  # one band, well inside
        _marker_text(mask[120:280, 120:280], np.random.default_rng(seed))
        lo, hi, _, filled = _rect(mask > 0)
        aspects.append(hi / lo)
        assert filled > 0.6
    assert np.median(aspects) > 2.0


def test_hole_presets_and_lists_resolve():
    assert resolve_hole_kinds("default") == HOLE_KINDS
    assert resolve_hole_kinds("all") == ALL_HOLE_KINDS
    assert set(MARKER_HOLE_KINDS) <= set(resolve_hole_kinds("markers"))
    assert resolve_hole_kinds("lead-plate, ruler") == ("lead-plate", "ruler")
    assert resolve_hole_kinds(["markers", "lead-plate"]) == HOLE_PRESETS["markers"]
    with pytest.raises(InvalidInputError, match="circle"):
        resolve_hole_kinds("lead-plate,circle")
    with pytest.raises(InvalidInputError, match="no hole kinds"):
        resolve_hole_kinds(" , ")


# --- appearance -----------------------------------------------------------------------------


def _ramp(side: int = 192) -> np.ndarray:
    return np.tile(np.linspace(0.3, 0.8, side, dtype=np.float32), (side, 1))


def test_real_appearance_grain_is_at_the_measured_level():
    levels = []
    for seed in range(8):
        y = real_appearance(_ramp(), np.random.default_rng(seed))
        x = y * 255.0
        res = x - cv2.GaussianBlur(x, (0, 0), 1.0)
        bright = res[(y > 0.5) & (y < 0.95)]
        if bright.size > 2000:
            levels.append(1.4826 * float(np.median(np.abs(bright - np.median(bright)))))
    assert len(levels) >= 4
    assert GRAIN_RANGE[0] * 0.85 < min(levels) and max(levels) < GRAIN_RANGE[1] * 1.15
    # the smooth ramp alone has (almost) no fine detail
    assert fine_detail_sd(_ramp()) < 0.05


def test_real_appearance_grain_grows_with_the_signal():
    halves = np.full((128, 256), 0.06, np.float32)
    halves[:, 128:] = 0.7
    for seed in range(4):
        y = real_appearance(halves, np.random.default_rng(seed), grain=1.4)
        dark, bright = y[16:-16, 16:100], y[16:-16, 156:-16]
        assert float(dark.mean()) < float(bright.mean())
        assert fine_detail_sd(bright) > fine_detail_sd(dark) + 0.3


def test_real_appearance_is_deterministic_and_in_range():
    x = _ramp(96)
    a = real_appearance(x, np.random.default_rng(3))
    b = real_appearance(x, np.random.default_rng(3))
    c = real_appearance(x, np.random.default_rng(4))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.dtype == np.float32 and a.shape == x.shape
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0
    assert apply_appearance(x, "none", np.random.default_rng(0)) is x
    with pytest.raises(InvalidInputError, match="unknown appearance"):
        apply_appearance(x, "film", np.random.default_rng(0))


def test_batches_with_real_appearance_are_reproducible_and_differ_from_plain():
    from radinpaint.inpainters.gan.data import load_training_images, sample_batch

    images = load_training_images([_ramp(64) for _ in range(2)])
    kw = {"seed": 2, "step": 5, "batch_size": 3, "crop": 32, "hole_kinds": ALL_HOLE_KINDS}
    a, ha = sample_batch(images, appearance="real", **kw)
    b, hb = sample_batch(images, appearance="real", **kw)
    plain, hp = sample_batch(images, **kw)
    assert np.array_equal(a, b) and np.array_equal(ha, hb)
    assert np.array_equal(ha, hp)  # the look never changes the holes
    assert not np.array_equal(a, plain)


# --- training -------------------------------------------------------------------------------


def test_train_gan_records_appearance_and_what_it_trained_on(tmp_path):
    import torch

    from radinpaint.inpainters.gan import train_gan

    torch.set_num_threads(1)
    out = train_gan(
        [_ramp(64) for _ in range(2)],
        out=tmp_path / "w.safetensors",
        steps=2,
        batch_size=2,
        crop=32,
        progress=False,
        generator=TINY_G,
        discriminator=TINY_D,
        hole_kinds=MARKER_HOLE_KINDS,
        appearance="real",
        trained_on="phantoms+real-appearance",
    )
    cfg = json.loads(out.with_suffix(".json").read_text())
    assert cfg["training"]["trained_on"] == "phantoms+real-appearance"
    assert cfg["training"]["config"]["appearance"] == "real"
    assert cfg["training"]["config"]["hole_kinds"] == list(MARKER_HOLE_KINDS)
    with pytest.raises(InvalidInputError, match="unknown appearance"):
        train_gan([_ramp(64)], out=tmp_path / "x.safetensors", steps=1, appearance="film")


def test_a_state_saved_before_the_appearance_option_resumes(tmp_path):
    import torch

    from radinpaint.inpainters.gan import train_gan
    from radinpaint.inpainters.gan.checkpoint import state_paths

    torch.set_num_threads(1)
    kw = {"batch_size": 2, "crop": 32, "progress": False, "generator": TINY_G}
    kw["discriminator"] = TINY_D
    out = train_gan([_ramp(64)], out=tmp_path / "w.safetensors", steps=1, **kw)
    state = state_paths(out)[1]
    meta = json.loads(state.read_text())
    del meta["config"]["appearance"]
    state.write_text(json.dumps(meta))
    train_gan([_ramp(64)], out=out, steps=2, **kw)
    assert json.loads(state.read_text())["step"] == 2


def test_cli_trains_on_a_real_rsna_folder_and_writes_loadable_weights(
    rsna_samples, tmp_path, capsys
):
    import torch

    from radinpaint.cli import main
    from radinpaint.records import InpaintRequest, Mask, Radiograph
    from radinpaint.registry import get_inpainter

    torch.set_num_threads(1)
    out = tmp_path / "real.safetensors"
    argv = ["train-gan", "--data", str(rsna_samples), "--out", str(out), "--steps", "2"]
    argv += ["--crop", "32", "--batch-size", "2", "--no-progress", "--threads", "1"]
    argv += ["--device", "auto", "--holes", "markers", "--appearance", "none"]
    assert main(argv) == 0
    assert "weights:" in capsys.readouterr().out
    cfg = json.loads(out.with_suffix(".json").read_text())
    assert cfg["training"]["images"] == 41
    assert cfg["training"]["trained_on"] == str(rsna_samples)
    assert cfg["training"]["config"]["hole_kinds"] == list(HOLE_PRESETS["markers"])
    gan = get_inpainter("gan", weights=str(out), device="cpu")
    pixels = np.random.default_rng(0).uniform(0.2, 0.6, (48, 64)).astype(np.float32)
    hole = np.zeros((48, 64), bool)
    hole[10:20, 20:40] = True
    (res,) = gan.inpaint([InpaintRequest(Radiograph.from_float(pixels), Mask(hole))])
    assert res.image.shape == (48, 64)
    assert np.array_equal(res.image.pixels[~hole], Radiograph.from_float(pixels).pixels[~hole])


def test_training_can_start_from_earlier_weights(tmp_path):
    import torch

    from radinpaint.errors import CheckpointError
    from radinpaint.inpainters.gan import train_gan
    from radinpaint.inpainters.gan.checkpoint import file_sha256, read_tensors

    torch.set_num_threads(1)
    kw = {"batch_size": 2, "crop": 32, "progress": False, "discriminator": TINY_D}
    base = train_gan(
        [_ramp(64)], out=tmp_path / "base.safetensors", steps=2, generator=TINY_G, **kw
    )
    tuned = train_gan(
        [_ramp(64)],
        out=tmp_path / "tuned.safetensors",
        steps=0,
        generator=TINY_G,
        init=base,
        appearance="real",
        **kw,
    )
    a, b = read_tensors(base), read_tensors(tuned)
    assert all(torch.equal(a[k], b[k]) for k in a)  # zero steps: the init weights as they are
    cfg = json.loads(tuned.with_suffix(".json").read_text())
    assert cfg["training"]["init"] == {"file": "base.safetensors", "sha256": file_sha256(base)}
    other = {**TINY_G, "base_channels": 8}
    with pytest.raises(CheckpointError, match="another generator config"):
        train_gan(
            [_ramp(64)], out=tmp_path / "x.safetensors", steps=1, generator=other, init=base, **kw
        )

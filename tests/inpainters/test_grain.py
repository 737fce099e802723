"""Grain matched to the surroundings, added inside the mask by the local backends."""

from __future__ import annotations

import numpy as np
import pytest

from radinpaint import get_inpainter
from radinpaint.inpainters.grain import (
    add_grain,
    estimate_grain,
    fine_detail,
    synthesize_grain,
)
from radinpaint.records import InpaintRequest, Mask, Radiograph
from radinpaint.testing import check_inpainter

from ._helpers import box_mask

LOCAL = ["telea", "navier-stokes", "biharmonic"]


def _robust_sd(values: np.ndarray) -> float:
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


def _noisy(
    shape=(96, 112), sd_levels: float = 2.0, sigma: float = 0.7, bits: int = 8, seed: int = 0
) -> Radiograph:
    """A gentle gradient with correlated Gaussian noise of ``sd_levels`` grey levels."""
    top = (1 << bits) - 1
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    base = 0.35 + 0.15 * xx / shape[1] + 0.05 * yy / shape[0]
    noise = synthesize_grain(shape, sigma, np.random.default_rng(seed)) * sd_levels / top
    ints = np.rint(np.clip(base + noise, 0, 1) * top).astype(np.uint8 if bits == 8 else np.uint16)
    return Radiograph.from_uint(ints, bits)


def _detail_ratio(result: Radiograph, mask: np.ndarray) -> float:
    """Fine-detail SD inside the mask (3 px in) over that of a ring 3-19 px outside it."""
    import cv2

    detail = fine_detail(result.to_uint().astype(np.float64))
    inside = cv2.erode(mask.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    near = cv2.dilate(mask.astype(np.uint8), np.ones((39, 39), np.uint8)) > 0
    gap = cv2.dilate(mask.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    return _robust_sd(detail[inside]) / _robust_sd(detail[near & ~gap])


@pytest.mark.parametrize(("sigma", "sd"), [(0.0, 1.5), (0.8, 3.0), (1.6, 4.0)])
def test_estimate_recovers_grain_size_and_level(sigma, sd):
    img = _noisy(sd_levels=sd, sigma=sigma, shape=(160, 160))
    mask = box_mask(img.shape, (50, 110, 50, 110)).array
    model = estimate_grain(img.pixels, mask, img.bit_depth)
    assert model is not None
    assert abs(model.sigma - sigma) < 0.3  # below ~0.4 px every grain is nearly white
    truth = _robust_sd(fine_detail(synthesize_grain((400, 400), sigma, np.random.default_rng(1))))
    for detail in model.detail_sd:
        assert detail * 255 == pytest.approx(truth * sd, rel=0.15)


def test_flat_or_quantization_only_surroundings_get_no_grain():
    flat = Radiograph.from_uint(np.full((40, 40), 1234, np.uint16), 16)
    mask = box_mask(flat.shape, (10, 30, 10, 30))
    assert estimate_grain(flat.pixels, mask.array, 16) is None
    filled = np.full(flat.shape, 0.3, np.float32)
    assert np.array_equal(add_grain(filled, flat, mask), filled)


def test_add_grain_is_seeded_by_content_and_leaves_the_outside_alone():
    img = _noisy()
    mask = box_mask(img.shape, (30, 60, 40, 80))
    smooth = img.pixels.copy()
    smooth[mask.array] = 0.4
    a = add_grain(smooth, img, mask)
    b = add_grain(smooth, img, mask)
    assert np.array_equal(a, b)  # same image and mask: the same grain
    assert np.array_equal(a[~mask.array], smooth[~mask.array])  # bit for bit outside
    assert a[mask.array].std() > 0.003
    other = add_grain(smooth, img, box_mask(img.shape, (30, 60, 40, 81)))
    assert not np.array_equal(a[mask.array], other[mask.array])


def test_grain_follows_the_brightness_of_its_neighbourhood():
    """Signal-dependent level: the bright side of a fill gets the bright side's noise."""
    rng = np.random.default_rng(3)
    shape = (120, 160)
    xx = np.mgrid[0 : shape[0], 0 : shape[1]][1]
    bright = xx >= 80
    base = np.where(bright, 0.7, 0.3)
    noise = rng.standard_normal(shape) * np.where(bright, 6.0, 1.5) / 255
    img = Radiograph.from_uint(np.rint(np.clip(base + noise, 0, 1) * 255).astype(np.uint8), 8)
    mask = box_mask(shape, (30, 90, 40, 120))
    (res,) = get_inpainter("telea", edge_guard=False).inpaint([InpaintRequest(img, mask)])
    detail = fine_detail(res.image.to_uint().astype(np.float64))
    left = _robust_sd(detail[35:85, 45:70])
    right = _robust_sd(detail[35:85, 90:115])
    assert right > 2.5 * left


@pytest.mark.parametrize("name", LOCAL)
def test_fills_carry_the_grain_of_their_surroundings(name):
    img = _noisy(sd_levels=2.0, sigma=0.7)
    mask = box_mask(img.shape, (30, 66, 36, 76))
    req = InpaintRequest(img, mask, seed=5)
    (res,) = get_inpainter(name).inpaint([req])
    assert 0.7 <= _detail_ratio(res.image, mask.array) <= 1.3
    assert np.array_equal(res.image.to_uint()[~mask.array], img.to_uint()[~mask.array])
    (plain,) = get_inpainter(name, grain=False).inpaint([req])
    assert _detail_ratio(plain.image, mask.array) < 0.35  # the smooth patch of before


@pytest.mark.parametrize("name", LOCAL)
def test_grain_keeps_the_backends_deterministic(name):
    img = _noisy(bits=16, sd_levels=300.0)
    mask = box_mask(img.shape, (20, 50, 30, 70))
    backend = get_inpainter(name)
    (a,) = backend.inpaint([InpaintRequest(img, mask, seed=1, variant=0)])
    (b,) = backend.inpaint([InpaintRequest(img, mask, seed=99, variant=2)])
    assert np.array_equal(a.image.pixels, b.image.pixels)
    assert not np.array_equal(a.image.pixels[mask.array], img.pixels[mask.array])
    ran = check_inpainter(backend, images=[img, _noisy(bits=16, seed=1)], paste_back=True)
    assert "deterministic-claim" in ran


def test_each_part_of_a_mask_learns_from_its_own_ring():
    """Two holes far apart, one in a quiet and one in a noisy area."""
    rng = np.random.default_rng(4)
    shape = (80, 200)
    xx = np.mgrid[0 : shape[0], 0 : shape[1]][1]
    sd = np.where(xx < 100, 1.0, 6.0)
    ints = np.rint(np.clip(0.5 + rng.standard_normal(shape) * sd / 255, 0, 1) * 255)
    img = Radiograph.from_uint(ints.astype(np.uint8), 8)
    arr = np.zeros(shape, bool)
    arr[25:55, 20:60] = True
    arr[25:55, 140:180] = True
    (res,) = get_inpainter("navier-stokes").inpaint([InpaintRequest(img, Mask(arr))])
    detail = fine_detail(res.image.to_uint().astype(np.float64))
    around = fine_detail(img.to_uint().astype(np.float64))
    quiet, loud = _robust_sd(detail[30:50, 25:55]), _robust_sd(detail[30:50, 145:175])
    assert 0.7 < quiet / _robust_sd(around[5:20, 10:90]) < 1.3
    assert 0.7 < loud / _robust_sd(around[5:20, 110:190]) < 1.3

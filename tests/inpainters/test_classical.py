"""Classical backends: telea, navier-stokes, biharmonic."""

from __future__ import annotations

import numpy as np
import pytest

from radinpaint import get_inpainter
from radinpaint.errors import InvalidInputError, ShapeMismatchError, UnknownOptionError
from radinpaint.records import InpaintFailure, InpaintRequest, InpaintResult, Mask, Radiograph
from radinpaint.testing import check_inpainter

from ._helpers import box_mask, radiograph

CLASSICAL = ["telea", "navier-stokes", "biharmonic"]


def _flat(value: int, bits: int, shape=(40, 40)) -> Radiograph:
    dtype = np.uint8 if bits == 8 else np.uint16
    return Radiograph.from_uint(np.full(shape, value, dtype), bits)


def test_opencv_telea_is_wrong_on_float_pixels_in_unit_range():
    """The pitfall the backend works around: cv2 Telea on float32 in [0, 1]."""
    import cv2

    img = np.full((40, 40), 0.6, np.float32)
    mask = np.zeros((40, 40), np.uint8)
    mask[15:25, 15:25] = 1
    raw = cv2.inpaint(img, mask, 3, cv2.INPAINT_TELEA)
    assert abs(float(raw[20, 20]) - 0.6) > 0.05  # wrong value in the hole


@pytest.mark.parametrize("name", CLASSICAL)
@pytest.mark.parametrize(("bits", "value"), [(8, 153), (12, 2457), (16, 39321)])
def test_flat_region_is_filled_with_its_value(name, bits, value):
    img = _flat(value, bits)
    mask = box_mask(img.shape, (15, 25, 15, 25))
    (res,) = get_inpainter(name).inpaint([InpaintRequest(img, mask)])
    filled = res.image.to_uint()[mask.array].astype(np.int64)
    assert res.image.bit_depth == bits
    assert np.abs(filled - value).max() == 0  # exact at every depth (OpenCV's error is tiny)


@pytest.mark.parametrize("name", CLASSICAL)
@pytest.mark.parametrize("bits", [8, 12, 16])
def test_outside_mask_exact_and_hole_close_to_smooth_truth(name, bits):
    yy, xx = np.mgrid[0:64, 0:80]
    truth = (0.2 + 0.5 * xx / 79 + 0.1 * yy / 63).astype(np.float64)
    top = (1 << bits) - 1
    ints = np.rint(truth * top).astype(np.uint8 if bits == 8 else np.uint16)
    img = Radiograph.from_uint(ints, bits)
    mask = box_mask(img.shape, (20, 32, 30, 44))
    (res,) = get_inpainter(name).inpaint([InpaintRequest(img, mask)])
    outside = ~mask.array
    assert np.array_equal(res.image.to_uint()[outside], img.to_uint()[outside])
    err = np.abs(res.image.pixels[mask.array] - truth[mask.array]).mean()
    assert err < 0.03
    assert res.compositing == "paste-back"
    assert "8-bit-roundtrip" not in res.flags


@pytest.mark.parametrize("name", CLASSICAL)
def test_sixteen_bit_detail_is_not_reduced_to_eight_bits(name):
    """Filled values use levels an 8-bit round trip could not produce."""
    yy, xx = np.mgrid[0:48, 0:48]
    ints = (30000 + 40 * xx + 7 * yy).astype(np.uint16)  # steps far below one 8-bit level
    img = Radiograph.from_uint(ints, 16)
    mask = box_mask(img.shape, (18, 30, 18, 30))
    (res,) = get_inpainter(name).inpaint([InpaintRequest(img, mask)])
    filled = res.image.to_uint()[mask.array]
    assert len(np.unique(filled)) > 20
    assert (filled % 257 != 0).mean() > 0.9  # an 8-bit round trip gives multiples of 257


@pytest.mark.parametrize("name", CLASSICAL)
def test_crop_gives_the_same_fill_as_the_whole_image(name):
    img = radiograph((120, 160), 16, seed=3)
    mask = box_mask(img.shape, (50, 62, 70, 90))
    req = InpaintRequest(img, mask)
    (cropped,) = get_inpainter(name).inpaint([req])
    (whole,) = get_inpainter(name, margin=10_000).inpaint([req])
    assert whole.options["margin"] == 10_000
    diff = np.abs(cropped.image.pixels - whole.image.pixels)
    assert diff.max() < 0.02  # local methods: the far-away pixels barely matter


@pytest.mark.parametrize("name", CLASSICAL)
def test_full_mask_is_a_clear_error(name):
    img = radiograph((20, 20), 16)
    ok = InpaintRequest(img, box_mask(img.shape, (4, 10, 4, 10)), case_id="c8")
    bad = InpaintRequest(img, Mask.full(img.shape), case_id="c9")
    good, failed = get_inpainter(name).inpaint([ok, bad])
    assert isinstance(good, InpaintResult)  # the other request still gets its result
    assert isinstance(failed, InpaintFailure) and failed.case_id == "c9"
    assert "whole image" in failed.error


@pytest.mark.parametrize("name", CLASSICAL)
def test_empty_mask_returns_the_input(name):
    img = radiograph((20, 20), 8)
    (res,) = get_inpainter(name).inpaint([InpaintRequest(img, Mask.empty(img.shape))])
    assert res.flags == ("empty-mask",)
    assert np.array_equal(res.image.pixels, img.pixels)


def test_shape_mismatch_and_nan_are_rejected_before_any_backend():
    img = radiograph((20, 20), 16)
    with pytest.raises(ShapeMismatchError, match=r"\(20, 21\)"):
        InpaintRequest(img, Mask.full((20, 21)))
    bad = img.pixels.copy()
    bad[3, 3] = np.nan
    with pytest.raises(InvalidInputError, match="NaN"):
        Radiograph(bad, 16)


def test_options_and_validation():
    telea = get_inpainter("telea", radius=5, compositing="feather", feather=2)
    assert telea.options() == {
        "radius": 5.0,
        "margin": 16,
        "compositing": "feather",
        "feather": 2,
        "grain": True,
        "edge_guard": True,
    }
    assert get_inpainter("biharmonic", grain="false").options()["grain"] is False
    with pytest.raises(InvalidInputError, match="true or false"):
        get_inpainter("telea", edge_guard="maybe")
    with pytest.raises(UnknownOptionError, match="radius"):
        get_inpainter("biharmonic", radius=3)
    with pytest.raises(InvalidInputError):
        get_inpainter("telea", radius=0)
    with pytest.raises(InvalidInputError):
        get_inpainter("navier-stokes", margin=0)
    with pytest.raises(ValueError):
        get_inpainter("telea", compositing="blend")


@pytest.mark.parametrize("compositing", ["paste-back", "feather", "raw"])
def test_compositing_is_selectable_and_recorded(compositing):
    img = radiograph((40, 40), 16)
    mask = box_mask(img.shape, (10, 24, 10, 24))
    (res,) = get_inpainter("telea", compositing=compositing).inpaint([InpaintRequest(img, mask)])
    assert res.compositing == compositing
    if compositing != "raw":
        assert np.array_equal(res.image.to_uint()[~mask.array], img.to_uint()[~mask.array])


def test_feather_differs_from_paste_back_only_inside_the_mask():
    img = radiograph((40, 40), 16, seed=2)
    mask = box_mask(img.shape, (8, 30, 8, 30))
    req = InpaintRequest(img, mask)
    (pb,) = get_inpainter("telea").inpaint([req])
    (fe,) = get_inpainter("telea", compositing="feather", feather=3).inpaint([req])
    changed = pb.image.pixels != fe.image.pixels
    assert changed.any() and not (changed & ~mask.array).any()


@pytest.mark.parametrize("name", CLASSICAL)
def test_conformance_kit_passes(name):
    ran = check_inpainter(get_inpainter(name), paste_back=True)
    assert "outside-mask-exact" in ran and "seed-replay" in ran


def test_large_sixteen_bit_image_with_marker_mask():
    rng = np.random.default_rng(0)
    ints = rng.integers(20000, 40000, size=(2048, 2048), dtype=np.uint16)
    img = Radiograph.from_uint(ints, 16)
    mask = box_mask(img.shape, (100, 160, 1800, 1860))
    (res,) = get_inpainter("biharmonic").inpaint([InpaintRequest(img, mask)])
    assert res.image.shape == (2048, 2048)
    assert np.array_equal(res.image.to_uint()[~mask.array], ints[~mask.array])


def test_plugin_modules_stay_cheap_to_import():
    import subprocess
    import sys

    code = (
        "import sys, radinpaint; radinpaint.list_inpainters(); "
        "heavy = [m for m in ('cv2', 'skimage', 'torch') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# --- real-radiograph handling: edges and the image border ----------------------------------


def _edge_image(bits: int = 8) -> Radiograph:
    """Grey background with a black scanner column and a bright collimator line along the
    left border, and a black row along the top (as in raw RSNA frames)."""
    rng = np.random.default_rng(0)
    arr = 0.45 + rng.standard_normal((80, 100)) * 1.5 / 255
    arr[:, 0] = 0.0
    arr[:, 1:5] = 1.0
    arr[:, 5:9] = np.linspace(0.9, 0.55, 4)
    arr[0, :] = 0.0
    top = (1 << bits) - 1
    ints = np.rint(np.clip(arr, 0, 1) * top).astype(np.uint8 if bits == 8 else np.uint16)
    return Radiograph.from_uint(ints, bits)


@pytest.mark.parametrize("name", CLASSICAL)
def test_fill_comes_from_the_dominant_region_not_the_bright_edge(name):
    img = _edge_image()
    mask = box_mask(img.shape, (0, 40, 0, 45))  # touches the top and the left border
    req = InpaintRequest(img, mask)
    (res,) = get_inpainter(name).inpaint([req])
    hole = res.image.pixels[mask.array]
    assert abs(float(np.median(hole)) - 0.45) < 0.02
    assert float(np.percentile(hole, 99)) < 0.5  # no glow, no streak
    assert float(np.percentile(hole, 1)) > 0.4  # no black spike from the top row
    # the edges outside the mask are untouched, bit for bit
    assert np.array_equal(res.image.to_uint()[~mask.array], img.to_uint()[~mask.array])
    (old,) = get_inpainter(name, edge_guard=False, grain=False).inpaint([req])
    glow = old.image.pixels[mask.array]
    assert float(np.percentile(glow, 99)) > 0.55 or float(np.percentile(glow, 1)) < 0.35


@pytest.mark.parametrize("compositing", ["raw", "feather"])
def test_edge_pixels_are_restored_in_every_compositing(compositing):
    img = _edge_image(16)
    mask = box_mask(img.shape, (10, 40, 0, 45))
    (res,) = get_inpainter("telea", compositing=compositing).inpaint([InpaintRequest(img, mask)])
    assert np.array_equal(res.image.to_uint()[~mask.array], img.to_uint()[~mask.array])


def test_guard_finds_minority_edges_and_leaves_two_regions_alone():
    from radinpaint.inpainters.edges import dominant_range, guard

    rng = np.random.default_rng(1)
    background = 0.4 + 0.004 * rng.standard_normal(900)
    line = np.full(100, 0.95)
    black = np.zeros(60)
    lo, hi = dominant_range(np.concatenate([background, line, black]))
    assert 0.0 < lo < 0.39 and 0.41 < hi < 0.95
    # a hole on the border of two large regions (a plate across the hand's edge): no guard
    halves = np.concatenate([background, 0.7 + 0.004 * rng.standard_normal(700)])
    assert dominant_range(halves) == (-np.inf, np.inf)
    # a bone holding a fifth of the ring is anatomy the fill should continue, not an edge
    bone = np.concatenate([background, 0.6 + 0.004 * rng.standard_normal(225)])
    assert dominant_range(bone) == (-np.inf, np.inf)

    img = _edge_image(16).pixels
    hole = np.zeros(img.shape, bool)
    hole[20:40, 12:40] = True  # away from the border: no padding
    guarded = guard(img, hole)
    assert guarded.pad == ((0, 0), (0, 0))
    assert guarded.minority[20:40, 1:5].all() and not guarded.minority[2:, 30:].any()
    out = guarded.finish(np.full(guarded.pixels.shape, 0.5, np.float32))
    assert np.array_equal(out[~hole], img[~hole]) and np.all(out[hole] == 0.5)
    corner = np.zeros(img.shape, bool)
    corner[60:, 80:] = True  # touches the bottom and the right border
    padded = guard(img, corner, multiple_of=8, regions=False)
    assert padded.pad == ((0, 16), (0, 16)) and not padded.minority.any()
    assert padded.finish(padded.pixels).shape == img.shape


def test_plain_options_give_the_method_as_before():
    """grain=False, edge_guard=False is cv2.inpaint on the crop, nothing else."""
    import cv2

    img = _edge_image(16)
    mask = box_mask(img.shape, (0, 30, 0, 30))
    (res,) = get_inpainter("telea", grain=False, edge_guard=False).inpaint(
        [InpaintRequest(img, mask)]
    )
    crop = (img.pixels[:46, :46].astype(np.float64) * 2**20).astype(np.float32)
    ref = cv2.inpaint(crop, mask.array[:46, :46].astype(np.uint8), 3.0, cv2.INPAINT_TELEA)
    ref = np.clip(ref.astype(np.float64) / 2**20, 0, 1).astype(np.float32)
    assert np.array_equal(res.image.pixels[:46, :46], ref)

"""Controls: identity changes nothing; resample is the study's geometry alone."""

from __future__ import annotations

import numpy as np
import pytest

from radinpaint import get_inpainter
from radinpaint.errors import InvalidInputError
from radinpaint.inpainters.geometry import plan
from radinpaint.records import InpaintRequest, Mask, Radiograph
from radinpaint.testing import check_inpainter

from ._helpers import box_mask, radiograph


@pytest.mark.parametrize("bits", [8, 12, 16])
def test_identity_returns_the_very_same_pixels(bits):
    img = radiograph((50, 70), bits)
    unquantized = img.with_pixels(img.pixels * np.float32(0.9731))
    for image in (img, unquantized):
        for mask in (box_mask(image.shape, (5, 20, 5, 30)), Mask.full(image.shape)):
            (res,) = get_inpainter("identity").inpaint([InpaintRequest(image, mask, seed=3)])
            assert np.array_equal(res.image.pixels, image.pixels)
            assert res.image.bit_depth == bits
            assert res.seed == InpaintRequest(image, mask, seed=3).variant_seed


def test_identity_conformance():
    assert "outside-mask-exact" in check_inpainter(get_inpainter("identity"), paste_back=True)


@pytest.mark.parametrize("bits", [8, 16])
def test_resample_keeps_shape_and_depth_but_changes_pixels(bits):
    img = radiograph((300, 200), bits, seed=4)
    (res,) = get_inpainter("resample", size=128).inpaint(
        [InpaintRequest(img, Mask.full(img.shape))]
    )
    assert res.image.shape == (300, 200) and res.image.bit_depth == bits
    assert res.compositing == "raw"
    assert res.flags == ("8-bit-roundtrip",)
    assert res.options == {"size": 128, "bits": 8, "restore": True}
    diff = np.abs(res.image.pixels - img.pixels)
    assert diff.mean() > 1e-3  # changed everywhere, not only in a mask
    assert diff.mean() < 0.05


def test_resample_matches_squash_quantize_and_back():
    img = radiograph((90, 60), 16, seed=5)
    mask = box_mask(img.shape, (1, 5, 1, 5))
    (res,) = get_inpainter("resample", size=64).inpaint([InpaintRequest(img, mask)])
    p = plan(img.shape, size=64, mode="squash")
    small = p.to_backend(img.pixels)
    assert small.shape == (64, 64)
    expected = p.from_backend(np.rint(small.astype(np.float64) * 255) / 255)
    assert np.array_equal(res.image.pixels, expected.astype(np.float32))


def test_resample_is_exact_on_an_eight_bit_image_already_at_size():
    img = radiograph((64, 64), 8)
    (res,) = get_inpainter("resample", size=64).inpaint([InpaintRequest(img, Mask.full(img.shape))])
    assert np.array_equal(res.image.to_uint(), img.to_uint())


def test_resample_flags_the_rounding_it_does():
    img = radiograph((40, 40), 16)
    resample = get_inpainter("resample", size=32, bits=None)
    (res,) = resample.inpaint([InpaintRequest(img, Mask.full(img.shape))])
    assert res.flags == ()
    (res16,) = get_inpainter("resample", size=32, bits=16).inpaint(
        [InpaintRequest(img, Mask.full(img.shape))]
    )
    assert res16.flags == ("16-bit-roundtrip",)  # the geometry includes 16-bit rounding


def test_resample_eight_bits_is_coarser_than_sixteen():
    _, xx = np.mgrid[0:64, 0:64]
    img = Radiograph.from_float((0.3 + 0.001 * xx).astype(np.float32), 16).quantized()
    req = InpaintRequest(img, Mask.full(img.shape))
    (r8,) = get_inpainter("resample", size=64, bits=8).inpaint([req])
    (r16,) = get_inpainter("resample", size=64, bits=16).inpaint([req])
    e8 = np.abs(r8.image.pixels - img.pixels).max()
    e16 = np.abs(r16.image.pixels - img.pixels).max()
    assert e16 < 1e-4 < e8 <= 0.5 / 255 + 1e-6


def test_resample_empty_mask_follows_the_contract():
    img = radiograph((40, 40), 16)
    (res,) = get_inpainter("resample").inpaint([InpaintRequest(img, Mask.empty(img.shape))])
    assert res.flags == ("empty-mask",) and np.array_equal(res.image.pixels, img.pixels)


def test_resample_default_is_the_study_geometry():
    r = get_inpainter("resample")
    assert r.options() == {"size": 1024, "bits": 8, "restore": True}
    with pytest.raises(InvalidInputError):
        get_inpainter("resample", size=0)
    with pytest.raises(InvalidInputError):
        get_inpainter("resample", bits=32)


def test_resample_conformance():
    ran = check_inpainter(get_inpainter("resample", size=32))
    assert "outside-mask-exact" not in ran  # raw: it does not claim paste-back
    with pytest.raises(AssertionError, match="paste-back"):
        check_inpainter(get_inpainter("resample", size=32), paste_back=True)


def test_blur_blurs_where_it_says():
    import cv2

    img = radiograph((30, 40), 16)
    mask = box_mask(img.shape, (5, 15, 5, 20))
    req = InpaintRequest(img, mask)
    (whole,) = get_inpainter("blur", sigma=2).inpaint([req])
    want = cv2.GaussianBlur(img.pixels, (0, 0), 2.0, borderType=cv2.BORDER_REFLECT)
    np.testing.assert_allclose(whole.image.pixels, want, atol=1e-7)
    assert not np.array_equal(whole.image.pixels, img.pixels)
    assert whole.placement is None and whole.compositing == "raw"
    (inside,) = get_inpainter("blur", sigma=2, region="mask").inpaint([req])
    m = mask.array
    np.testing.assert_array_equal(inside.image.pixels[~m], img.pixels[~m])
    np.testing.assert_allclose(inside.image.pixels[m], want[m], atol=1e-7)
    assert check_inpainter(get_inpainter("blur"))


@pytest.mark.parametrize("options", [{"sigma": 0}, {"sigma": -1}, {"region": "hand"}])
def test_blur_refuses_bad_options(options):
    with pytest.raises(InvalidInputError, match="blur"):
        get_inpainter("blur", **options)

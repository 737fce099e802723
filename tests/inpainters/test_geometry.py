"""Geometry: crop around the mask, fit to a backend's size, and back."""

from __future__ import annotations

import numpy as np
import pytest

from radinpaint.errors import InvalidInputError, ShapeMismatchError
from radinpaint.inpainters.geometry import mask_bbox, plan, resize
from radinpaint.records import Mask


def _image(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    smooth = 0.5 + 0.3 * np.sin(yy / 17.0) * np.cos(xx / 23.0)
    return np.clip(smooth + 0.01 * rng.standard_normal(shape), 0, 1).astype(np.float32)


def _mask(shape: tuple[int, int], box: tuple[int, int, int, int]) -> Mask:
    """A mask marking ``box`` = ``(x0, y0, x1, y1)``, end-exclusive."""
    arr = np.zeros(shape, bool)
    x0, y0, x1, y1 = box
    arr[y0:y1, x0:x1] = True
    return Mask(arr)


def test_mask_bbox_is_end_exclusive_and_none_when_empty():
    assert mask_bbox(_mask((10, 12), (3, 2, 9, 5))) == (3, 2, 9, 5)
    assert mask_bbox(Mask.empty((4, 4))) is None


def test_no_constraints_is_identity_and_exact():
    img = _image((37, 53))
    p = plan(img.shape)
    assert p.is_identity and not p.resamples
    assert np.array_equal(p.to_backend(img), img)
    assert np.array_equal(p.from_backend(p.to_backend(img)), img)


def test_multiple_of_pads_without_resampling_and_round_trips_exactly():
    img = _image((37, 53))
    p = plan(img.shape, multiple_of=8)
    assert p.backend_shape == (40, 56)
    assert not p.resamples
    assert np.array_equal(p.from_backend(p.to_backend(img)), img)
    m = p.mask_to_backend(Mask.full(img.shape))
    assert m.sum() == 37 * 53  # padding never marked


@pytest.mark.parametrize("shape", [(300, 200), (200, 300), (1024, 1024), (50, 700)])
def test_letterbox_keeps_aspect_ratio(shape):
    p = plan(shape, size=1024, mode="letterbox")
    assert p.backend_shape == (1024, 1024)
    sy, sx = p.scale
    assert abs(sy - sx) < 2.5 / min(p.scaled_shape)
    assert max(p.scaled_shape) == 1024
    out = p.to_backend(_image(shape))
    assert out.shape == (1024, 1024) and out.dtype == np.float32


def test_squash_is_explicit_and_changes_aspect():
    p = plan((300, 200), size=1024, mode="squash")
    assert p.scaled_shape == (1024, 1024) and p.offset == (0, 0)
    assert p.scale != pytest.approx((1024 / 300, 1024 / 300))
    default = plan((300, 200), size=1024)
    assert default.mode == "letterbox"


def test_round_trip_error_is_small_for_smooth_images():
    img = _image((640, 480))
    p = plan(img.shape, size=512, mode="letterbox")
    back = p.from_backend(p.to_backend(img))
    assert back.shape == img.shape and back.dtype == np.float32
    assert float(np.abs(back - img).mean()) < 0.01
    assert back.min() >= 0.0 and back.max() <= 1.0


def test_max_side_shrinks_and_multiple_of_rounds():
    p = plan((3000, 2000), max_side=1024, multiple_of=8)
    assert max(p.scaled_shape) == 1024
    assert all(s % 8 == 0 for s in p.backend_shape)
    assert p.backend_shape[0] >= p.scaled_shape[0]


def test_margin_crops_around_mask_and_pastes_outside_back_exactly():
    img = _image((200, 300))
    mask = _mask(img.shape, (100, 50, 130, 70))
    p = plan(img.shape, mask, margin=10)
    assert p.region == (90, 40, 140, 80)
    crop = p.to_backend(img)
    assert np.array_equal(crop, img[40:80, 90:140])
    edited = crop + 0.0
    edited[:] = 0.25
    full = p.from_backend(edited, base=img)
    x0, y0, x1, y1 = p.region
    assert np.array_equal(full[y0:y1, x0:x1], edited)
    outside = np.ones(img.shape, bool)
    outside[40:80, 90:140] = False
    assert np.array_equal(full[outside], img[outside])


def test_margin_is_clipped_to_the_image():
    mask = _mask((50, 50), (45, 0, 50, 5))
    p = plan((50, 50), mask, margin=8)
    assert p.region == (37, 0, 50, 13)


def test_from_backend_with_crop_needs_base():
    mask = _mask((50, 50), (10, 10, 20, 20))
    p = plan((50, 50), mask, margin=2)
    with pytest.raises(InvalidInputError, match="base"):
        p.from_backend(np.zeros(p.backend_shape, np.float32))


def test_crop_mode_takes_a_native_window_around_the_mask():
    img = _image((2048, 1536))
    mask = _mask(img.shape, (700, 1000, 760, 1040))
    p = plan(img.shape, mask, size=512, mode="crop")
    assert p.backend_shape == (512, 512)
    assert not p.resamples
    x0, y0, x1, y1 = p.region
    assert (y1 - y0, x1 - x0) == (512, 512)
    assert y0 <= 1000 and y1 >= 1040 and x0 <= 700 and x1 >= 760
    assert np.array_equal(p.to_backend(img), img[y0:y1, x0:x1])


def test_crop_mode_near_border_stays_inside():
    mask = _mask((600, 600), (590, 0, 600, 10))
    p = plan((600, 600), mask, size=256, mode="crop")
    x0, y0, x1, y1 = p.region
    assert y0 == 0 and x1 == 600 and (y1 - y0, x1 - x0) == (256, 256)


def test_crop_mode_on_small_image_pads():
    mask = _mask((100, 80), (10, 10, 20, 20))
    p = plan((100, 80), mask, size=128, mode="crop")
    assert p.region == (0, 0, 80, 100)
    assert p.scaled_shape == (100, 80) and p.backend_shape == (128, 128)
    img = _image((100, 80))
    assert np.array_equal(p.from_backend(p.to_backend(img), base=img), img)


def test_crop_mode_with_large_mask_scales_down():
    mask = _mask((2000, 2000), (100, 100, 1900, 1900))
    p = plan((2000, 2000), mask, size=512, mode="crop")
    assert p.resamples and p.backend_shape == (512, 512)
    _, y0, _, y1 = p.region
    assert y0 <= 100 and y1 >= 1900


def test_mask_downscale_is_conservative():
    mask = _mask((1000, 1000), (500, 500, 501, 501))  # one pixel
    p = plan(mask.shape, size=100, mode="letterbox")
    small = p.mask_to_backend(mask)
    assert small.dtype == np.bool_ and small.sum() >= 1


def test_mask_upscale_uses_nearest():
    mask = _mask((10, 10), (2, 2, 4, 4))
    p = plan(mask.shape, size=40, mode="squash")
    big = p.mask_to_backend(mask)
    assert big.sum() == 4 * 16


def test_pad_modes():
    img = _image((10, 20))
    for pad in ("reflect", "edge", "constant"):
        p = plan(img.shape, size=(20, 20), pad=pad, pad_value=0.5)
        out = p.to_backend(img)
        assert out.shape == (20, 20)
        if pad == "constant":
            assert np.all(out[0] == 0.5)
    with pytest.raises(InvalidInputError):
        plan(img.shape, pad="wrap")


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(InvalidInputError, match="mode"):
        plan((10, 10), mode="stretch")
    with pytest.raises(InvalidInputError, match="mask"):
        plan((10, 10), margin=4)
    with pytest.raises(InvalidInputError, match="empty mask"):
        plan((10, 10), Mask.empty((10, 10)), margin=4)
    with pytest.raises(ShapeMismatchError):
        plan((10, 10), Mask.full((10, 11)), margin=4)
    with pytest.raises(InvalidInputError):
        plan((10, 10), size=0)
    p = plan((10, 10), size=16)
    with pytest.raises(InvalidInputError, match="shape"):
        p.to_backend(np.zeros((11, 10), np.float32))
    with pytest.raises(InvalidInputError, match="grey"):
        p.from_backend(np.zeros((16, 16, 3), np.float32))


def test_resize_directions():
    img = _image((64, 64))
    assert resize(img, (64, 64)) is img or np.array_equal(resize(img, (64, 64)), img)
    assert resize(img, (32, 32)).shape == (32, 32)
    up = resize(img, (200, 100))
    assert up.shape == (200, 100) and up.dtype == np.float32 and up.max() <= 1.0


def test_to_dict_is_json_ready():
    import json

    p = plan((30, 40), size=64)
    assert json.loads(json.dumps(p.to_dict()))["backend_shape"] == [64, 64]

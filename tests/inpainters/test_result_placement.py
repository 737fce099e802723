"""Every result says how the backend saw the image: its placement, or None (as it is)."""

from __future__ import annotations

import numpy as np

from radinpaint import get_inpainter
from radinpaint.cache import ResultCache, inpaint_cached
from radinpaint.inpainters.geometry import Placement
from radinpaint.records import InpaintRequest

from ._helpers import box_mask, radiograph


def _request(shape=(48, 64)):
    img = radiograph(shape, 16)
    return InpaintRequest(img, box_mask(img.shape, (10, 20, 12, 30)), case_id="c1")


def test_native_backends_record_no_placement():
    for name in ("identity", "telea", "navier-stokes", "biharmonic"):
        (res,) = get_inpainter(name).inpaint([_request()])
        assert res.placement is None, name
        assert res.to_record()["placement"] is None


def test_resample_records_the_squash_it_went_through():
    (res,) = get_inpainter("resample", size=32).inpaint([_request((48, 64))])
    p = res.placement
    assert isinstance(p, Placement)
    assert (p.mode, p.image_shape, p.backend_shape, p.resamples) == (
        "squash",
        (48, 64),
        (32, 32),
        True,
    )
    assert res.image.shape == (48, 64)


def test_gan_records_its_crop_and_the_cache_gives_it_back(tmp_path):
    gan = get_inpainter("gan", device="cpu")
    cache = ResultCache(tmp_path)
    (first,) = inpaint_cached(gan, [_request()], cache)
    assert isinstance(first.placement, Placement) and first.placement.mode in ("crop", "letterbox")
    assert "placement" not in first.extra  # recorded once, as a typed field
    (again,) = inpaint_cached(gan, [_request()], cache)
    assert again.placement == first.placement
    assert np.array_equal(again.image.pixels, first.image.pixels)

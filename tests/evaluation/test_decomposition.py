"""Views of an output: composition and aliasing of collapsed views."""

from __future__ import annotations

import numpy as np
import pytest

from radinpaint.errors import InvalidInputError
from radinpaint.evaluation import VIEWS, decompose
from radinpaint.records import Mask, Radiograph


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    x = Radiograph.from_float(rng.uniform(0, 1, (16, 16)).astype(np.float32))
    m = np.zeros((16, 16), bool)
    m[4:8, 4:8] = True
    return x, Mask(m)


def test_raw_output_gets_both_composites(pair) -> None:
    x, mask = pair
    o = x.with_pixels(np.clip(x.pixels * 0.5 + 0.2, 0, 1))
    d = decompose(x, o, mask)
    assert d.collapse == "none"
    # a bare image has no geometry: the geometry views are the views without it
    assert d.aliases == {
        "geometry": "original",
        "edit": "total",
        "geometry+in-mask": "in-mask",
        "geometry+out-of-mask": "out-of-mask",
    }
    m = mask.array
    inside, outside = d.images["in-mask"].pixels, d.images["out-of-mask"].pixels
    np.testing.assert_array_equal(inside[m], o.pixels[m])
    np.testing.assert_array_equal(inside[~m], x.pixels[~m])
    np.testing.assert_array_equal(outside[m], x.pixels[m])
    np.testing.assert_array_equal(outside[~m], o.pixels[~m])
    assert d.images["total"] is o


def test_paste_back_output_collapses(pair) -> None:
    x, mask = pair
    o = x.with_pixels(np.where(mask.array, 0.9, x.pixels))
    d = decompose(x, o, mask)
    assert d.collapse == "paste-back"
    assert set(d.images) == {"total"}
    assert d.aliases == {
        "in-mask": "total",
        "out-of-mask": "original",
        "geometry": "original",
        "edit": "total",
        "geometry+in-mask": "total",
        "geometry+out-of-mask": "original",
    }


def test_unchanged_and_outside_only(pair) -> None:
    x, mask = pair
    assert decompose(x, x, mask).aliases == dict.fromkeys(VIEWS, "original")
    o = x.with_pixels(np.where(mask.array, x.pixels, 0.1))
    d = decompose(x, o, mask, views=("total", "in-mask", "out-of-mask"))
    assert d.collapse == "outside-only"
    assert d.aliases == {"in-mask": "original", "out-of-mask": "total"}


def test_a_view_left_out_lends_its_image_to_its_aliases(pair) -> None:
    x, mask = pair
    o = x.with_pixels(np.clip(x.pixels * 0.5 + 0.2, 0, 1))
    d = decompose(x, o, mask, views=("total", "geometry+in-mask"))
    assert set(d.images) == {"total", "geometry+in-mask"} and not d.aliases
    np.testing.assert_array_equal(
        d.images["geometry+in-mask"].pixels, np.where(mask.array, o.pixels, x.pixels)
    )


def test_views_must_include_total(pair) -> None:
    x, mask = pair
    with pytest.raises(InvalidInputError, match="total"):
        decompose(x, x, mask, views=("in-mask",))

"""Compositing: paste-back exact outside the mask, feather inside only, raw as is."""

from __future__ import annotations

import numpy as np
import pytest

from radinpaint.errors import InvalidInputError, ShapeMismatchError
from radinpaint.inpainters.compositing import composite, feather_weights, quantize
from radinpaint.records import Mask

from ._helpers import box_mask, radiograph


@pytest.mark.parametrize("bits", [8, 12, 16])
@pytest.mark.parametrize("mode", ["paste-back", "feather"])
def test_outside_mask_is_bit_exact(bits, mode):
    img = radiograph((40, 50), bits, seed=bits)
    mask = box_mask(img.shape, (10, 25, 12, 30))
    noise = np.random.default_rng(1).random(img.shape).astype(np.float32)
    out = composite(img, noise, mask, mode, feather=3)
    assert out.bit_depth == bits
    assert np.array_equal(out.to_uint()[~mask.array], img.to_uint()[~mask.array])
    assert np.array_equal(out.pixels[~mask.array], img.pixels[~mask.array])
    assert not np.array_equal(out.to_uint()[mask.array], img.to_uint()[mask.array])


def test_paste_back_takes_backend_pixels_inside():
    img = radiograph((20, 20), 16)
    mask = box_mask(img.shape, (5, 10, 5, 10))
    out = composite(img, np.full(img.shape, 0.25, np.float32), mask, "paste-back")
    assert np.all(out.pixels[mask.array] == np.float32(0.25))


def test_raw_takes_backend_everywhere_and_clips():
    img = radiograph((20, 20), 8)
    mask = box_mask(img.shape, (5, 10, 5, 10))
    backend = np.full(img.shape, 1.5, np.float32)
    out = composite(img, backend, mask, "raw")
    assert np.all(out.pixels == 1.0) and out.bit_depth == 8


def test_feather_weights_rise_inside_the_edge():
    mask = box_mask((30, 30), (5, 25, 5, 25))
    w = feather_weights(mask, 3)
    assert np.all(w[~mask.array] == 0)
    assert w[5, 15] == pytest.approx(0.25)  # on the edge: 1 / (feather + 1)
    assert w[15, 15] == 1.0
    assert np.all(np.diff(w[5:15, 15]) >= 0)
    assert np.array_equal(feather_weights(mask, 0), mask.array.astype(np.float32))


def test_feather_treats_image_border_as_inside():
    mask = box_mask((20, 20), (0, 10, 0, 20))
    w = feather_weights(mask, 2)
    assert w[0, 10] == 1.0  # image border is not an unmarked neighbour
    assert w[9, 10] < 1.0


def test_identity_output_gives_identical_pixels():
    img = radiograph((20, 30), 12)
    mask = box_mask(img.shape, (2, 8, 2, 8))
    for mode in ("paste-back", "feather", "raw"):
        out = composite(img, img.pixels, mask, mode)
        assert np.array_equal(out.pixels, img.pixels)


def test_errors():
    img = radiograph((20, 20), 16)
    mask = box_mask(img.shape, (5, 10, 5, 10))
    with pytest.raises(InvalidInputError, match="compositing"):
        composite(img, img.pixels, mask, "blend")
    with pytest.raises(ShapeMismatchError):
        composite(img, np.zeros((21, 20), np.float32), mask)
    with pytest.raises(ShapeMismatchError):
        composite(img, img.pixels, Mask.full((20, 21)))
    bad = img.pixels.copy()
    bad[0, 0] = np.nan
    with pytest.raises(InvalidInputError, match="NaN"):
        composite(img, bad, mask)


def test_quantize_rounds_to_levels():
    q = quantize(np.array([[0.0, 0.5, 1.2]], np.float32), 8)
    assert np.allclose(q * 255, np.rint(q * 255))
    assert q.max() == 1.0

"""Preprocessing: the study's steps, any size and depth, presets and round trips."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from radinpaint.errors import InvalidInputError
from radinpaint.predictors.preprocessing import (
    PHANTOM_128,
    PHANTOM_256,
    SQUARE_512,
    STUDY_320,
    Preprocessing,
    get_preprocessing,
)
from radinpaint.records import Radiograph


def _study_by_hand(img_u8: np.ndarray) -> np.ndarray:
    """The study's steps written out plainly (MONAI CropForeground / Resize / SpatialPad)."""
    img = img_u8.astype(np.float32) / 255.0
    ys, xs = np.nonzero(img > 0)
    img = img[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    h, w = img.shape
    scale = 320 / max(h, w)
    nh, nw = round(h * scale), round(w * scale)
    t = F.interpolate(torch.from_numpy(img)[None, None], size=(nh, nw), mode="area")[0, 0]
    out = np.zeros((320, 320), np.float32)
    top, left = (320 - nh) // 2, (320 - nw) // 2
    out[top : top + nh, left : left + nw] = t.numpy()
    return np.stack([out, out, out])


def test_study_preprocessing_matches_plain_reimplementation() -> None:
    rng = np.random.default_rng(3)
    img = np.zeros((700, 430), np.uint8)
    img[40:650, 25:400] = rng.integers(1, 256, size=(610, 375))
    ours = STUDY_320(Radiograph.from_uint(img, 8))
    theirs = _study_by_hand(img)
    assert ours.shape == (3, 320, 320)
    np.testing.assert_allclose(ours, theirs, atol=1e-6)


@pytest.mark.parametrize("shape", [(1, 1), (3, 900), (1000, 7), (37, 41)])
@pytest.mark.parametrize("depth", [8, 12, 16])
def test_any_size_and_depth_is_preprocessed(shape: tuple[int, int], depth: int) -> None:
    arr = np.random.default_rng(0).integers(0, 1 << depth, size=shape).astype(np.uint16)
    image = Radiograph.from_uint(arr, depth)
    for prep in (STUDY_320, SQUARE_512, PHANTOM_128, PHANTOM_256):
        out = prep(image)
        assert out.shape == prep.input_shape()
        assert np.isfinite(out).all()


def test_blank_image_and_raw_arrays() -> None:
    blank = Radiograph.from_float(np.zeros((50, 60), np.float32))
    assert np.isfinite(PHANTOM_128(blank)).all()
    rgb = np.random.default_rng(1).integers(0, 256, (40, 30, 3), dtype=np.uint8)
    assert STUDY_320(rgb).shape == (3, 320, 320)
    floats = np.random.default_rng(1).normal(size=(40, 30)) * 1000
    assert PHANTOM_128(floats).shape == (1, 128, 128)


def test_finish_agrees_between_numpy_and_torch() -> None:
    x = np.random.default_rng(2).random((4, 16, 16)).astype(np.float32)
    for prep in (PHANTOM_128, STUDY_320):
        a = prep.finish(x)
        b = prep.finish(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_presets_and_dict_round_trip() -> None:
    assert get_preprocessing("study-320") is STUDY_320
    assert get_preprocessing("phantom-256") is PHANTOM_256
    assert PHANTOM_256.input_shape() == (1, 256, 256)
    p = Preprocessing(name="x", size=64, channels=1, normalize="fixed", mean=0.5, std=0.25)
    assert Preprocessing.from_dict(p.to_dict()) == p
    with pytest.raises(InvalidInputError, match="unknown preprocessing"):
        get_preprocessing("nope")
    with pytest.raises(InvalidInputError):
        Preprocessing(channels=2)
    with pytest.raises(InvalidInputError, match="unknown preprocessing field"):
        Preprocessing.from_dict({"size": 3, "colour": True})

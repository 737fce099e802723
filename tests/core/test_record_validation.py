"""Masks built from arrays and inpaint requests refuse values they cannot mean."""

from __future__ import annotations

import numpy as np
import pytest

from radinpaint import InpaintRequest, InvalidInputError, Mask, Radiograph


def _image(shape=(4, 5)) -> Radiograph:
    return Radiograph.from_float(np.zeros(shape), 8)


@pytest.mark.parametrize(
    "values",
    [
        np.full((3, 3), np.nan),
        np.array([[0.0, np.nan], [1.0, 0.0]]),
        np.array([[0.0, np.inf], [1.0, 0.0]]),
        np.array([[0.0, -np.inf], [1.0, 0.0]], dtype=np.float32),
    ],
    ids=["all-nan", "one-nan", "inf", "minus-inf"],
)
def test_mask_from_non_finite_values_is_refused(values):
    with pytest.raises(InvalidInputError, match="NaN or infinite") as info:
        Mask.from_array(values, source="seg.npy")
    assert "seg.npy" in str(info.value)
    assert info.value.fix


def test_mask_from_nan_with_a_threshold_is_refused_too():
    with pytest.raises(InvalidInputError, match="NaN"):
        Mask.from_array(np.full((2, 2), np.nan), threshold=0.5)


def test_mask_from_negative_values_without_threshold_is_refused():
    with pytest.raises(InvalidInputError, match="negative") as info:
        Mask.from_array(np.array([[0.0, -1.0], [1.0, 0.0]]))
    assert "threshold" in str(info.value.fix)
    # with a threshold, signed values (logits) are fine
    logits = Mask.from_array(np.array([[-3.0, 2.0], [0.5, -0.1]]), threshold=0.0)
    assert logits.array.tolist() == [[False, True], [True, False]]


def test_mask_threshold_must_be_a_finite_number():
    for bad in (float("nan"), "0.5", float("inf")):
        with pytest.raises(InvalidInputError, match="threshold"):
            Mask.from_array(np.zeros((2, 2)), threshold=bad)  # type: ignore[arg-type]


def test_mask_from_non_numeric_values_is_refused():
    with pytest.raises(InvalidInputError, match="dtype"):
        Mask.from_array(np.array([["a", "b"], ["", "c"]]))


def test_float_masks_follow_the_documented_rule():
    """Non-zero is True; ``> threshold`` with a threshold; values above 1 are fine."""
    soft = np.array([[0.0, 0.2], [1.0, 255.0]])
    assert Mask.from_array(soft).array.tolist() == [[False, True], [True, True]]
    assert Mask.from_array(soft, threshold=0.5).array.tolist() == [[False, False], [True, True]]


@pytest.mark.parametrize("field", ["seed", "variant"])
@pytest.mark.parametrize(
    "bad", ["abc", "12", 1.5, 2.0, True, False, -1, None, np.float64(3.0), np.bool_(True)]
)
def test_request_seed_and_variant_must_be_non_negative_ints(field, bad):
    with pytest.raises(InvalidInputError, match=field) as info:
        InpaintRequest(_image(), Mask.empty((4, 5)), **{field: bad})
    assert info.value.fix


@pytest.mark.parametrize("good", [0, 7, 2**40, np.int64(5), np.uint8(3)])
def test_request_seed_accepts_ints_and_numpy_ints(good):
    request = InpaintRequest(_image(), Mask.empty((4, 5)), seed=good, variant=good)
    assert request.seed == int(good) and type(request.seed) is int
    assert request.variant == int(good) and type(request.variant) is int

"""Record validation: every bad value gives a clear error."""

from __future__ import annotations

import numpy as np
import pytest

from radinpaint import (
    Case,
    InpaintRequest,
    InpaintResult,
    InvalidInputError,
    Mask,
    MaskComponent,
    Predictions,
    Radiograph,
    ShapeMismatchError,
    derive_seed,
)


def image(shape=(4, 5), depth=16):
    return Radiograph.from_float(np.linspace(0, 1, shape[0] * shape[1]).reshape(shape), depth)


def test_radiograph_validation():
    with pytest.raises(InvalidInputError, match="2-D"):
        Radiograph(np.zeros((2, 2, 3), np.float32))
    with pytest.raises(InvalidInputError, match="float32"):
        Radiograph(np.zeros((2, 2), np.float64))
    with pytest.raises(InvalidInputError, match="NaN"):
        Radiograph(np.array([[0.0, np.nan]], np.float32))
    with pytest.raises(InvalidInputError, match=r"\[0, 1\]"):
        Radiograph(np.array([[0.0, 1.5]], np.float32))
    with pytest.raises(InvalidInputError, match="unsupported bit depth 7"):
        Radiograph(np.zeros((2, 2), np.float32), 7)
    with pytest.raises(InvalidInputError, match="do not fit 12 bits"):
        Radiograph.from_uint(np.array([[4096]], np.uint16), 12)
    with pytest.raises(InvalidInputError, match="integer"):
        Radiograph.from_uint(np.zeros((2, 2), np.float32))
    with pytest.raises(InvalidInputError, match="photometric"):
        Radiograph(np.zeros((2, 2), np.float32), 8, None, "RGB")


def test_radiograph_pixels_are_read_only_copies():
    source = np.zeros((3, 3), np.float32)
    r = Radiograph(source)
    source[0, 0] = 1
    assert r.pixels[0, 0] == 0
    with pytest.raises(ValueError):
        r.pixels[0, 0] = 1


@pytest.mark.parametrize("depth", [8, 10, 12, 14, 16])
def test_uint_round_trip_is_exact(depth):
    top = (1 << depth) - 1
    values = np.array([[0, 1, top // 2, top - 1, top]], np.uint16 if depth > 8 else np.uint8)
    r = Radiograph.from_uint(values, depth)
    np.testing.assert_array_equal(r.to_uint(), values)
    assert r.max_value == top
    assert r.quantized().content_hash() == r.content_hash()


def test_from_float_clip_and_with_pixels():
    r = Radiograph.from_float(np.array([[-0.1, 1.2]]), 12, clip=True)
    assert r.pixels.min() == 0 and r.pixels.max() == 1 and r.bit_depth == 12
    assert r.with_pixels(np.zeros((1, 2))).bit_depth == 12


def test_mask_validation_and_operations():
    with pytest.raises(InvalidInputError, match="boolean"):
        Mask(np.zeros((2, 2), np.uint8))
    with pytest.raises(InvalidInputError, match="2-D"):
        Mask(np.zeros((2, 2, 2), bool))
    m = Mask.from_array(np.array([[0, 255], [0, 0]], np.uint8))
    assert m.array.tolist() == [[False, True], [False, False]]
    assert Mask.empty((3, 3)).is_empty and Mask.full((3, 3)).is_full
    other = Mask.from_array(np.array([[1, 0], [0, 0]]))
    assert (m | other).array.sum() == 2 and (m & other).is_empty
    assert (~m).array.sum() == 3
    with pytest.raises(ShapeMismatchError, match=r"\(3, 3\)"):
        m | Mask.empty((3, 3))
    dot = np.zeros((9, 9), bool)
    dot[4, 4] = True
    grown = Mask(dot).dilate(2)
    assert grown.array[4, 2] and grown.array[2, 4] and not grown.array[0, 0]
    with pytest.raises(InvalidInputError):
        Mask(dot).dilate(-1)


def test_mask_component_box():
    assert MaskComponent((1, 2, 3, 4), "plate", 0.5).to_dict() == {
        "box": [1, 2, 3, 4],
        "kind": "plate",
        "score": 0.5,
    }
    with pytest.raises(InvalidInputError):
        MaskComponent((5, 5, 1, 1))


def test_case_validation():
    img = image()
    with pytest.raises(ShapeMismatchError, match=r"\(4, 5\).*|.*\(4, 5\)"):
        Case("a", img, artifact_mask=Mask.empty((5, 4)))
    case = Case("a", img, bone_age_months=120, male="M")
    assert case.male is True and case.bone_age_months == 120.0
    with pytest.raises(InvalidInputError, match="sex label"):
        Case("a", img, male="X")
    with pytest.raises(InvalidInputError, match="finite"):
        Case("a", img, bone_age_months=float("nan"))


def test_inpaint_request_validation_and_seeds():
    img = image()
    with pytest.raises(ShapeMismatchError, match=r"mask shape \(5, 4\).*image shape \(4, 5\)"):
        InpaintRequest(img, Mask.empty((5, 4)))
    with pytest.raises(InvalidInputError):
        InpaintRequest(img, Mask.empty((4, 5)), variant=-1)
    a = InpaintRequest(img, Mask.empty((4, 5)), seed=3, variant=1)
    assert a.variant_seed == derive_seed(3, 1) != derive_seed(3, 2)
    assert 0 <= a.variant_seed < 2**31 - 1


def test_inpaint_result_record_is_json_ready():
    import json

    result = InpaintResult(image(), "identity", {"a": 1}, seed=5, flags=["empty-mask"])
    record = json.loads(json.dumps(result.to_record()))
    assert record["backend"] == "identity" and record["flags"] == ["empty-mask"]
    assert record["bit_depth"] == 16 and record["shape"] == [4, 5]


def test_predictions_validation_and_concatenate():
    with pytest.raises(InvalidInputError, match="bone_age_months, p_male or both"):
        Predictions("p")
    with pytest.raises(InvalidInputError, match="shape"):
        Predictions("p", [1, 2], [0.5])
    with pytest.raises(InvalidInputError, match=r"\[0, 1\]"):
        Predictions("p", p_male=[1.5])
    a = Predictions("p", [1.0, 2.0], [0.1, 0.9], member_bone_age=[[1, 1], [2, 2]])
    both = Predictions.concatenate([a, a])
    assert len(both) == 4 and both.member_bone_age.shape == (4, 2)
    assert both.member_spread()["bone_age_months"].tolist() == [0, 0, 0, 0]

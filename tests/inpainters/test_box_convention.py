"""One box convention in the whole library: ``(x0, y0, x1, y1)``, end-exclusive."""

from __future__ import annotations

import json

import numpy as np
import pytest

from radinpaint.datasets.phantom import make_phantom
from radinpaint.inpainters.geometry import Placement, mask_bbox, plan
from radinpaint.masks.anatomy import HandMasks
from radinpaint.records import Mask, MaskComponent


def _rect_mask(shape, x0, y0, x1, y1) -> Mask:
    arr = np.zeros(shape, bool)
    arr[y0:y1, x0:x1] = True
    return Mask(arr, "rect", (MaskComponent((x0, y0, x1, y1), "plate"),))


def test_mask_bbox_is_x0_y0_x1_y1():
    mask = _rect_mask((40, 60), x0=5, y0=10, x1=50, y1=20)  # wide and short
    assert mask_bbox(mask) == (5, 10, 50, 20)
    assert mask_bbox(mask.array) == (5, 10, 50, 20)


def test_component_box_bbox_and_region_agree_on_the_same_mask():
    mask = _rect_mask((40, 60), x0=7, y0=3, x1=19, y1=31)
    (component,) = mask.components
    placement = plan(mask.shape, mask, margin=0)
    assert component.box == mask_bbox(mask) == placement.region


def test_a_providers_component_box_agrees_with_bbox_and_region():
    case = make_phantom(0, size=256)
    hand = HandMasks().masks([case])[0]
    (component,) = hand.components
    assert component.box == mask_bbox(hand) == plan(hand.shape, hand, margin=0).region
    x0, y0, x1, y1 = component.box
    assert hand.array[y0:y1, x0:x1].sum() == hand.array.sum()  # end-exclusive and tight


def test_region_crops_with_x_and_y_in_the_right_places():
    image = np.arange(50 * 80, dtype=np.float32).reshape(50, 80) / (50 * 80)
    mask = _rect_mask(image.shape, x0=60, y0=5, x1=70, y1=12)
    p = plan(image.shape, mask, margin=2)
    assert p.region == (58, 3, 72, 14)
    assert p.region_shape == (11, 14)
    x0, y0, x1, y1 = p.region
    np.testing.assert_array_equal(p.to_backend(image), image[y0:y1, x0:x1])
    full = plan(image.shape)
    assert full.region == (0, 0, 80, 50) and full.is_identity


@pytest.mark.parametrize(
    "kwargs",
    [
        {"size": 64},
        {"size": (32, 48), "mode": "squash"},
        {"margin": 4, "multiple_of": 8},
        {"size": 32, "mode": "crop", "pad": "constant", "pad_value": 0.25},
    ],
)
def test_placement_round_trips_through_its_dict(kwargs):
    mask = _rect_mask((50, 70), x0=40, y0=10, x1=55, y1=20)
    p = plan(mask.shape, mask, **kwargs)
    d = json.loads(json.dumps(p.to_dict()))
    assert Placement.from_dict(d) == p
    assert d["region"] == list(p.region)

"""Classical backends and controls on the real RSNA radiographs with lead markers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from radinpaint import get_inpainter
from radinpaint.io import read_image
from radinpaint.records import InpaintRequest, Mask
from radinpaint.testing import check_inpainter

BOXES = Path(__file__).resolve().parents[1] / "masks" / "real_marker_boxes.json"


def _marker_mask(shape, marks) -> Mask:
    import cv2

    arr = np.zeros(shape, np.uint8)
    for mark in marks:
        if "polygon" in mark:
            cv2.fillPoly(arr, [np.array(mark["polygon"], np.int32)], 1)
        else:
            x0, y0, x1, y1 = mark["box"]
            arr[y0:y1, x0:x1] = 1
    return Mask(arr > 0, "annotation").dilate(3)


@pytest.fixture(scope="module")
def marked(rsna_samples):
    if not BOXES.exists():
        pytest.skip(f"marker annotations not found at {BOXES}")
    boxes = json.loads(BOXES.read_text())["images"]
    out = []
    for name, marks in sorted(boxes.items()):
        image = read_image(rsna_samples / "with-markers" / name)
        out.append((name, image, _marker_mask(image.shape, marks)))
    return out


@pytest.mark.parametrize("backend", ["telea", "navier-stokes"])
def test_markers_are_removed_and_nothing_else_changes(marked, backend):
    inpainter = get_inpainter(backend, radius=5)
    requests = [InpaintRequest(img, mask, case_id=name) for name, img, mask in marked]
    results = inpainter.inpaint(requests)
    for req, res in zip(requests, results, strict=True):
        m = req.mask.array
        assert res.case_id == req.case_id and res.image.bit_depth == 8
        assert np.array_equal(res.image.to_uint()[~m], req.image.to_uint()[~m])
        # the bright lead plate is replaced by pixels like its surroundings
        ring = req.mask.dilate(6).array & ~m
        before = abs(float(req.image.pixels[m].mean()) - float(req.image.pixels[ring].mean()))
        after = abs(float(res.image.pixels[m].mean()) - float(req.image.pixels[ring].mean()))
        assert after < before, req.case_id


def test_biharmonic_and_conformance_on_the_small_real_image(marked):
    _name, img, mask = next(item for item in marked if item[0] == "1381_small.png")
    (res,) = get_inpainter("biharmonic").inpaint([InpaintRequest(img, mask)])
    assert np.array_equal(res.image.to_uint()[~mask.array], img.to_uint()[~mask.array])
    check_inpainter(get_inpainter("telea"), images=[img, marked[0][1]], paste_back=True)


def test_resample_on_real_images_keeps_shape_and_changes_everywhere(marked):
    _name, img, _mask = marked[0]
    (res,) = get_inpainter("resample").inpaint([InpaintRequest(img, Mask.full(img.shape))])
    assert res.image.shape == img.shape and res.image.bit_depth == 8
    changed = res.image.to_uint() != img.to_uint()
    assert changed.mean() > 0.05  # the squash to 1024x1024 and back is not a no-op

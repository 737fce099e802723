"""Every mask provider takes `dilate`, as docs/masks.md says."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from radinpaint.errors import InvalidInputError
from radinpaint.records import Case, Mask, MaskComponent, Radiograph
from radinpaint.registry import get_mask_provider, list_mask_providers


def test_every_registered_provider_declares_dilate():
    for entry in list_mask_providers():
        params = inspect.signature(entry.factory).parameters
        assert "dilate" in params, entry.name
        assert params["dilate"].default == 0, entry.name


def _case() -> Case:
    image = Radiograph.from_float(np.full((40, 50), 0.4, np.float32), 8)
    arr = np.zeros((40, 50), dtype=bool)
    arr[10:14, 20:25] = True
    mask = Mask(arr, "annotation", (MaskComponent((20, 10, 25, 14), "plate", 1.0),))
    return Case("c1", image, artifact_mask=mask)


def test_ground_truth_grows_the_known_mask_by_dilate():
    case = _case()
    (same,) = get_mask_provider("ground-truth").masks([case])
    assert same is case.artifact_mask
    (grown,) = get_mask_provider("ground-truth", dilate=2).masks([case])
    assert grown.shape == case.artifact_mask.shape
    assert (grown.array & case.artifact_mask.array).sum() == case.artifact_mask.array.sum()
    assert grown.array.sum() > case.artifact_mask.array.sum()
    assert grown.array[8:16, 18:27].any() and not grown.array[:7].any()
    assert grown.components[0].box == (18, 8, 27, 16)
    assert grown.source == "annotation"


def test_ground_truth_dilate_from_a_mask_file(tmp_path):
    from radinpaint.io import read_image, write_image, write_mask

    case = _case()
    write_image(tmp_path / "scan.png", case.image)
    write_mask(tmp_path / "scan_mask.png", case.artifact_mask)
    image = read_image(tmp_path / "scan.png")
    (grown,) = get_mask_provider("ground-truth", dilate="3").masks([image])
    assert grown.array.sum() > case.artifact_mask.array.sum()


@pytest.mark.parametrize("bad", [-1, 1.5, "wide", True])
def test_ground_truth_rejects_a_bad_dilate(bad):
    with pytest.raises(InvalidInputError, match="dilate"):
        get_mask_provider("ground-truth", dilate=bad)

"""The `ground-truth` mask provider."""

from __future__ import annotations

import numpy as np
import pytest

from radinpaint import Case, Mask, MissingLabelError, ShapeMismatchError, get_mask_provider
from radinpaint.io import read_image, write_image, write_mask
from radinpaint.records import Radiograph


def _image(tmp_path, name="scan.png", shape=(6, 8)):
    return read_image(write_image(tmp_path / name, Radiograph.from_float(np.zeros(shape), 8)))


def test_case_mask_wins(tmp_path):
    mask = Mask(np.eye(6, 8, dtype=bool))
    case = Case("a", _image(tmp_path), artifact_mask=mask)
    assert get_mask_provider("ground-truth").masks([case])[0] is mask


def test_mask_file_beside_the_image(tmp_path):
    image = _image(tmp_path)
    write_mask(tmp_path / "scan_mask.png", Mask(np.eye(6, 8, dtype=bool)))
    (mask,) = get_mask_provider("ground-truth").masks([image])
    assert mask.array.sum() == 6


def test_mask_directory(tmp_path):
    image = _image(tmp_path)
    write_mask(tmp_path / "m" / "scan.png", Mask(np.ones((6, 8), bool)))
    (mask,) = get_mask_provider("ground-truth", directory=str(tmp_path / "m")).masks([image])
    assert mask.is_full


def test_missing_mask_is_an_error_or_empty(tmp_path):
    image = _image(tmp_path)
    with pytest.raises(MissingLabelError, match=r"scan_mask\.png"):
        get_mask_provider("ground-truth").masks([image])
    (mask,) = get_mask_provider("ground-truth", missing="empty").masks([image])
    assert mask.is_empty and mask.shape == (6, 8)


def test_mask_of_another_shape_is_refused(tmp_path):
    image = _image(tmp_path)
    write_mask(tmp_path / "scan_mask.png", Mask(np.ones((8, 6), bool)))
    with pytest.raises(ShapeMismatchError, match=r"\(8, 6\)"):
        get_mask_provider("ground-truth").masks([image])

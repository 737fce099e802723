"""hand, learned, ocr, union/intersection providers and the masks command."""

from __future__ import annotations

import json

import numpy as np
import pytest

from radinpaint.errors import CheckpointError, InvalidInputError
from radinpaint.masks.anatomy import segment_hand
from radinpaint.masks.combine import intersection, union
from radinpaint.masks.scoring import score_pixels
from radinpaint.records import Mask, Radiograph
from radinpaint.registry import get_mask_provider, list_mask_providers


class _Fixed:
    name = "fixed"

    def __init__(self, box):
        self.box = box

    def masks(self, items):
        out = []
        for item in items:
            arr = np.zeros(item.shape, bool)
            x0, y0, x1, y1 = self.box
            arr[y0:y1, x0:x1] = True
            out.append(Mask(arr, "fixed"))
        return out


def test_registered():
    names = {e.name for e in list_mask_providers()}
    assert {"ground-truth", "markers", "hand", "ocr", "learned", "union", "intersection"} <= names


def test_union_intersection_and_dilate():
    image = Radiograph.from_float(np.zeros((40, 40), np.float32))
    a, b = _Fixed((0, 0, 20, 20)), _Fixed((10, 10, 30, 30))
    assert union(a, b).masks([image])[0].array.sum() == 400 + 400 - 100
    assert intersection(a, b).masks([image])[0].array.sum() == 100
    assert intersection(a, b, dilate=2).masks([image])[0].array.sum() > 100
    named = get_mask_provider("union", providers="markers+hand", dilate=1)
    assert [p.name for p in named.providers] == ["markers", "hand"]
    with pytest.raises(InvalidInputError):
        get_mask_provider("union", providers=[])


def test_hand_matches_phantom_anatomy(phantoms):
    ious = [score_pixels(segment_hand(c.image), c.anatomy_mask).iou for c in phantoms]
    assert np.mean(ious) > 0.85


def test_hand_on_blank_and_tiny():
    for arr in (np.zeros((100, 100)), np.ones((100, 100)), np.zeros((8, 8))):
        assert segment_hand(Radiograph.from_float(arr.astype(np.float32))).is_empty


def test_learned_packaged_weights(phantoms):
    masks = get_mask_provider("learned").masks(phantoms[:4])
    for m, c in zip(masks, phantoms[:4], strict=True):
        assert m.shape == c.image.shape
    total = sum(score_pixels(m, c.artifact_mask).tp for m, c in zip(masks, phantoms, strict=False))
    assert total > 0
    with pytest.raises(CheckpointError):
        get_mask_provider("learned", weights="/nonexistent.safetensors").masks(phantoms[:1])


def test_train_is_reproducible(phantoms, tmp_path):
    from radinpaint.masks.learned import load_mask_net, save_mask_net, train_mask_net

    kw = dict(steps=2, batch_size=2, input_size=128, crop=32, widths=(4, 8), seed=3)
    a = train_mask_net(phantoms[:3], **kw)
    b = train_mask_net(phantoms[:3], **kw)
    for (_, x), (_, y) in zip(
        a.model.state_dict().items(), b.model.state_dict().items(), strict=True
    ):
        assert np.array_equal(x.numpy(), y.numpy())
    path = save_mask_net(a, tmp_path / "net")
    assert load_mask_net(path).config.widths == (4, 8)


def test_ocr_finds_drawn_text():
    pytest.importorskip("rapidocr", reason="rapidocr not installed (pip install 'radinpaint[ocr]')")
    import cv2

    canvas = np.full((200, 400), 20, np.uint8)
    cv2.putText(canvas, "PORTABLE", (40, 110), cv2.FONT_HERSHEY_SIMPLEX, 1.5, 240, 3)
    (mask,) = get_mask_provider("ocr", use_anatomy=False).masks([Radiograph.from_uint(canvas)])
    assert mask.array[80:115, 60:300].mean() > 0.5
    assert all(c.kind == "text" for c in mask.components)


def test_masks_command(tmp_path, phantoms):
    from radinpaint.cli import main
    from radinpaint.io import read_mask, write_image

    src = tmp_path / "p.png"
    write_image(src, phantoms[0].image)
    rc = main(
        [
            "masks",
            str(src),
            "--provider",
            "markers",
            "--option",
            "dilate=2",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert rc == 0
    mask = read_mask(tmp_path / "out" / "p_mask.png")
    assert mask.shape == phantoms[0].image.shape
    record = json.loads((tmp_path / "out" / "p_mask.json").read_text())
    assert record["components"] and record["options"] == {"dilate": 2}

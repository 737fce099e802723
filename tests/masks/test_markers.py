"""The ``markers`` provider: phantoms, the real samples, bad input, options."""

from __future__ import annotations

import numpy as np
import pytest

from radinpaint.errors import InvalidInputError
from radinpaint.masks.markers import MarkerDetector, detect_markers
from radinpaint.masks.scoring import PixelScores, region_coverage, score_pixels
from radinpaint.records import Case, Mask, Radiograph
from radinpaint.registry import get_mask_provider

from .conftest import load_annotations, read_sample


def _drawn_marker(size: int = 256) -> Radiograph:
    """A dark frame with a grey rounded plate holding a white 'L', and a soft bright blob."""
    import cv2

    canvas = np.full((size, size), 20, np.uint8)
    cv2.rectangle(canvas, (30, 40), (90, 150), 51, -1)
    cv2.putText(canvas, "L", (42, 120), cv2.FONT_HERSHEY_SIMPLEX, 2.2, 242, 7)
    img = canvas.astype(np.float32) / 255.0
    blob = np.zeros_like(img)
    cv2.circle(blob, (180, 150), 40, 0.5, -1)
    img += cv2.GaussianBlur(blob, (0, 0), 12)
    return Radiograph.from_float(img, clip=True)


def test_finds_a_drawn_plate_and_letter():
    image = _drawn_marker()
    mask = detect_markers(image)
    assert mask.shape == image.shape
    assert region_coverage(mask, box=(30, 40, 91, 151)) > 0.8
    assert not mask.array[110:190, 140:220].any()  # the soft blob is not a marker
    assert [c.kind for c in mask.components] == ["plate"]
    x0, y0, x1, y1 = mask.components[0].box
    assert x0 <= 32 and y0 <= 42 and x1 >= 88 and y1 >= 148


def test_letters_only_and_dilate():
    image = _drawn_marker()
    letters = MarkerDetector(plates=False).masks([image])[0]
    plate = MarkerDetector().masks([image])[0]
    assert 0 < letters.array.sum() < plate.array.sum()
    assert not (letters.array & ~plate.array).any()
    grown = MarkerDetector(dilate=5).masks([image])[0]
    assert (grown.array & plate.array).sum() == plate.array.sum()
    assert grown.array.sum() > plate.array.sum()
    assert grown.components[0].box[0] == max(0, plate.components[0].box[0] - 5)


def test_is_deterministic_and_accepts_cases():
    image = _drawn_marker()
    a = MarkerDetector().masks([Case("a", image), image])
    assert a[0].content_hash() == a[1].content_hash()


@pytest.mark.parametrize(
    "pixels",
    [
        np.zeros((300, 300), np.float32),
        np.ones((300, 300), np.float32),
        np.full((300, 300), 0.4, np.float32),
        np.zeros((8, 8), np.float32),
        np.ones((1, 1), np.float32),
        np.random.default_rng(0).random((64, 64), dtype=np.float32),
    ],
    ids=["black", "white", "grey", "8x8", "1x1", "noise"],
)
def test_bad_input_gives_an_empty_mask(pixels):
    image = Radiograph.from_float(pixels)
    (mask,) = MarkerDetector().masks([image])
    assert mask.shape == image.shape
    if pixels.shape[0] >= 16 and pixels.std() < 0.5:
        assert mask.is_empty


def test_rejects_bad_options_and_bare_items():
    with pytest.raises(InvalidInputError):
        MarkerDetector(dilate=-1)
    with pytest.raises(InvalidInputError):
        MarkerDetector(dilate=1.5)
    with pytest.raises(InvalidInputError):
        MarkerDetector(plates="maybe")
    with pytest.raises(InvalidInputError):
        MarkerDetector().masks(_drawn_marker())
    with pytest.raises(InvalidInputError):
        detect_markers(np.zeros((20, 20)))
    assert get_mask_provider("markers", dilate="3").dilate == 3


def test_phantoms(phantoms):
    scores = [
        score_pixels(m, c.artifact_mask)
        for m, c in zip(MarkerDetector().masks(phantoms), phantoms, strict=True)
    ]
    total = PixelScores.total(scores)
    assert total.recall > 0.6
    assert total.precision > 0.8
    assert total.iou > 0.55


def test_phantom_plates_are_found(phantoms):
    masks = MarkerDetector().masks(phantoms)
    plates = found = 0
    for mask, case in zip(masks, phantoms, strict=True):
        for art in case.metadata["artifacts"]:
            if art["kind"] == "plate":
                plates += 1
                found += region_coverage(mask, box=art["box"]) >= 0.5
    assert plates >= 5
    assert found / plates >= 0.8


def test_real_plates_found_and_no_hand_masked(marked_samples):
    from radinpaint.masks.anatomy import segment_hand

    notes = load_annotations()
    for name, image in marked_samples.items():
        mask = detect_markers(image)
        for obj in notes[name]:
            if "inside" in obj or obj["kind"] == "mark":
                continue  # letters are checked through their plate; 'mark' is 8 x 7 px
            cov = region_coverage(mask, box=obj["box"], polygon=obj.get("polygon"))
            assert cov >= 0.5, f"{name}: {obj['kind']} {obj['box']} covered {cov:.2f}"
        hand = segment_hand(image)
        assert (mask.array & hand.array).sum() <= 0.01 * hand.array.sum(), name


def test_real_components_overlap_annotations(marked_samples):
    from radinpaint.masks.scoring import component_precision

    notes = load_annotations()
    good = total = 0
    for name, image in marked_samples.items():
        mask = detect_markers(image)
        g, t = component_precision(mask.components, [o["box"] for o in notes[name]])
        good, total = good + g, total + t
    assert total >= 8
    assert good / total >= 0.8


def test_hands_only_have_no_markers(rsna_samples):
    folder = rsna_samples / "hands-only"
    files = sorted(folder.glob("*.png"))[::4]  # 9 of the 33; the benchmark runs all
    masks = MarkerDetector().masks([read_sample(p) for p in files])
    flagged = [p.name for p, m in zip(files, masks, strict=True) if m.fraction > 0.001]
    assert len(flagged) <= 1, flagged


def test_mask_matches_image_shape_for_odd_sizes():
    image = _drawn_marker(256)
    odd = Radiograph.from_float(np.ascontiguousarray(image.pixels[:, :201]))
    mask = MarkerDetector(max_side=128).masks([odd])[0]
    assert isinstance(mask, Mask) and mask.shape == (256, 201)

"""Plates at any angle and whole lines of text, drawn with the phantoms' own artifact code.

Each case draws one artifact (:func:`.drawn.draw_artifact`) where nothing else is, into a
phantom's clean image (always) or a real sample (skipped without the shared folder), and
checks the ``markers`` mask against the artifact's exact mask.
"""

from __future__ import annotations

import numpy as np
import pytest

from radinpaint.masks.markers import detect_markers
from radinpaint.records import Radiograph

from .drawn import draw_artifact


@pytest.fixture(scope="module")
def phantom_background():
    from radinpaint.datasets.phantom import make_phantom

    case = make_phantom(0, size=768)
    return case.clean_image.pixels, case.anatomy_mask.array


@pytest.fixture(scope="module")
def real_background(marked_samples):
    from radinpaint.masks.anatomy import segment_hand
    from radinpaint.masks.scoring import region_mask

    from .conftest import load_annotations

    image = marked_samples["11933.png"]
    busy = segment_hand(image).array.copy()
    for obj in load_annotations()["11933.png"]:
        busy |= region_mask(image.shape, box=obj["box"])
    return image.pixels, busy


def _found(pixels: np.ndarray, truth: np.ndarray):
    mask = detect_markers(Radiograph.from_float(pixels, clip=True))
    ys, xs = np.nonzero(truth)
    kinds = [
        c.kind
        for c in mask.components
        if c.box[0] < xs.max()
        and c.box[2] > xs.min()
        and c.box[1] < ys.max()
        and c.box[3] > ys.min()
    ]
    return float((mask.array & truth).sum()) / float(truth.sum()), kinds


@pytest.mark.parametrize(("seed", "angle", "body"), [(1, 45, 0.03), (6, 30, 0.05), (9, 70, 0.1)])
def test_rotated_plate_on_a_phantom(phantom_background, seed, angle, body):
    clean, busy = phantom_background
    pixels, truth, info = draw_artifact(
        clean, "plate", seed=seed, angle=angle, size=600, body=body, keep_off=busy
    )
    coverage, kinds = _found(pixels, truth)
    assert kinds == ["plate"], (info, kinds)
    assert coverage >= 0.9, (info, coverage)


def test_faint_plate_at_45_degrees_on_a_real_sample(real_background):
    """The plate's outline has gaps: found in the letters' own frame (12% to 0% before)."""
    clean, busy = real_background
    pixels, truth, info = draw_artifact(
        clean, "plate", seed=1, angle=45, size=800, body=0.03, keep_off=busy
    )
    coverage, kinds = _found(pixels, truth)
    assert kinds == ["plate"], (info, kinds)
    assert coverage >= 0.9, (info, coverage)


@pytest.mark.parametrize(
    ("seed", "size", "angle", "text"),
    [(2, 900, 0, "PORTABLE"), (7, 900, 30, "HAND PA"), (6, 1100, 0, "BONE AGE")],
)
def test_a_line_of_text_is_text_not_a_ruler(phantom_background, seed, size, angle, text):
    """Five or more letters of one height along a line were taken for a ruler."""
    clean, busy = phantom_background
    pixels, truth, info = draw_artifact(
        clean, "text", seed=seed, angle=angle, size=size, keep_off=busy
    )
    assert info["text"] == text
    coverage, kinds = _found(pixels, truth)
    assert kinds == ["text"], kinds
    assert coverage >= 0.98, coverage


def test_a_partly_missed_line_is_masked_whole(phantom_background):
    """In small text the glyph finder misses characters; the line walk takes them in."""
    clean, busy = phantom_background
    pixels, truth, info = draw_artifact(clean, "text", seed=4, angle=30, size=500, keep_off=busy)
    assert info["text"] == "21:30"
    coverage, kinds = _found(pixels, truth)  # half the line before
    assert kinds == ["text"], kinds
    assert coverage >= 0.95, coverage


def test_a_small_slanted_line_on_a_real_sample(real_background):
    clean, busy = real_background
    pixels, truth, info = draw_artifact(clean, "text", seed=10, angle=30, size=500, keep_off=busy)
    assert info["text"] == "06:12"
    coverage, kinds = _found(pixels, truth)  # nothing at all before
    assert kinds == ["text"], kinds
    assert coverage >= 0.95, coverage


def test_rulers_and_text_lines_told_apart():
    from radinpaint.masks._glyphs import Glyph
    from radinpaint.masks._lines import is_ruler

    def glyph(x: int, height: int, width: int) -> Glyph:
        region = np.ones((height, width), bool)
        box = (x, 100 - height, x + width, 100)
        return Glyph(box, region, 0.5, 0.4, 0.1, float(width), 0.5, 0.1, 0.8)

    letters = [glyph(10 + 14 * i, 12, 9) for i in range(8)]
    ticks = [glyph(10 + 8 * i, 12 if i % 5 == 0 else 6, 2) for i in range(11)]
    assert not is_ruler(letters)
    assert is_ruler(ticks)
    assert not is_ruler(ticks[:4])  # too few to tell

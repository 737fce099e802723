"""Fixtures of the mask provider tests: phantoms, the real samples and their annotations."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from radinpaint.records import Radiograph

ANNOTATIONS = Path(__file__).with_name("real_marker_boxes.json")


def load_annotations() -> dict[str, list[dict]]:
    """Hand annotations of the marker plates and letters of rsna-samples/with-markers."""
    return json.loads(ANNOTATIONS.read_text())["images"]


def read_sample(path: Path) -> Radiograph:
    """A real sample as a Radiograph (8-bit PNG)."""
    import cv2

    arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert arr is not None, path
    return Radiograph.from_uint(np.asarray(arr), source=str(path))


@pytest.fixture(scope="session")
def phantoms():
    """Twelve 512 px phantoms (seed 7, the benchmark's seed)."""
    from radinpaint.datasets.phantom import make_phantoms

    return make_phantoms(12, seed=7)


@pytest.fixture(scope="session")
def marked_samples(rsna_samples: Path) -> dict[str, Radiograph]:
    """The 8 real radiographs with lead markers, by file name."""
    folder = rsna_samples / "with-markers"
    return {name: read_sample(folder / name) for name in load_annotations()}

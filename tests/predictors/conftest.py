"""Small helpers shared by the predictor tests."""

from __future__ import annotations

import numpy as np
import pytest

from radinpaint.records import Radiograph

TINY = {
    "name": "tiny",
    "size": 32,
    "channels": 1,
    "crop_foreground": False,
    "resize": "cv2-area",
    "normalize": "per-image",
}
"""A 32-pixel preprocessing that keeps the tests fast."""


def random_images(n: int, seed: int = 0) -> list[Radiograph]:
    """Radiographs of assorted sizes and bit depths."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        h, w = int(rng.integers(20, 90)), int(rng.integers(20, 90))
        depth = (8, 12, 16)[i % 3]
        arr = rng.integers(0, 1 << depth, size=(h, w))
        out.append(Radiograph.from_uint(arr.astype(np.uint16), depth))
    return out


@pytest.fixture
def images() -> list[Radiograph]:
    """Eleven random radiographs of different shapes and depths."""
    return random_images(11)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Run these small models on one thread (oversubscribed cores make two far slower)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

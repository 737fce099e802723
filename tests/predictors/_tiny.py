"""Tiny learnable data and a tiny preprocessing preset for training tests (seconds on a CPU)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from radinpaint.predictors.preprocessing import Preprocessing

PREP = Preprocessing(name="t24", size=24, channels=1, crop_foreground=False, resize="cv2-area")
"""24-pixel single-channel preprocessing for the tiny disks."""


def disks(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bright disks whose radius encodes 'bone age' and whose position encodes 'sex'."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:24, :24]
    ages = rng.uniform(0, 200, n)
    male = rng.integers(0, 2, n)
    images = np.zeros((n, 24, 24), np.float32)
    for i in range(n):
        cx = 7 if male[i] else 16
        r = 2 + ages[i] / 200 * 5
        images[i] = ((xx - cx) ** 2 + (yy - 12) ** 2 <= r * r) * 0.8 + rng.random((24, 24)) * 0.1
    return images, ages, male


def train_tiny(folder: Path, **config: Any) -> Any:
    """A 2-fold, 2-epoch ensemble of 8-channel CNNs trained on 32 disks, saved in ``folder``
    (seconds on a CPU); ``config`` overrides TrainConfig fields (``seed=...``)."""
    from radinpaint.predictors.training import TrainConfig, train_ensemble_arrays

    base: dict[str, Any] = dict(
        arch_options={"widths": [8], "stem_width": 8},
        preprocessing=PREP,
        folds=2,
        epochs=2,
        patience=20,
        batch_size=16,
        rotate_deg=0.0,
        flip=False,
        seed=3,
    )
    images, ages, male = disks(32, 0)
    cfg = TrainConfig(**{**base, **config})
    return train_ensemble_arrays(
        images, ages, male, cfg, name="disks", output_dir=folder, progress=False
    )

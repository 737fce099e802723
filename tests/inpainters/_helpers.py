"""Small synthetic radiographs and masks shared by the inpainter tests."""

from __future__ import annotations

import threading

import numpy as np

from radinpaint.records import Mask, Radiograph


def radiograph(shape: tuple[int, int] = (48, 64), bit_depth: int = 16, seed: int = 0) -> Radiograph:
    """A smooth grey image with noise, quantized at ``bit_depth``."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    base = 0.45 + 0.3 * np.sin(yy / 9.0 + seed) * np.cos(xx / 13.0)
    base = np.clip(base + 0.02 * rng.standard_normal(shape), 0.0, 1.0)
    top = (1 << bit_depth) - 1
    dtype = np.uint16 if bit_depth > 8 else np.uint8
    return Radiograph.from_uint(np.rint(base * top).astype(dtype), bit_depth)


def box_mask(shape: tuple[int, int], box: tuple[int, int, int, int]) -> Mask:
    """A mask with the rectangle ``(y0, y1, x0, x1)`` marked."""
    arr = np.zeros(shape, bool)
    arr[box[0] : box[1], box[2] : box[3]] = True
    return Mask(arr, "box")


class FakeClock:
    """Monotonic time that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self.lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.sleeps.append(seconds)
            self.now += seconds


# The smallest GAN the training code accepts: a few seconds per step on a CPU.
TINY_G: dict = {
    "arch": "gated-unet",
    "in_channels": 3,
    "coarse": "push-pull",
    "base_channels": 4,
    "depth": 2,
    "dilations": [2],
}
TINY_D: dict = {"arch": "sn-patchgan", "in_channels": 2, "base_channels": 4, "layers": 2}

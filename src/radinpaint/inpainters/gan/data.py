"""Training data for the GAN: radiographs in memory and reproducible random crops.

Training is self-supervised: a crop of a radiograph, a random hole (see
:mod:`radinpaint.inpainters.gan.holes`), and the crop itself as the target. Crops are
centred, most of the time, on the anatomy (a case's ``anatomy_mask`` when known, else the
pixels brighter than the image's Otsu threshold), so that the network learns to fill holes
that overlap the hand, where a classical inpainter is weakest.

Every random choice of step ``t``, sample ``i`` comes from its own generator seeded with
``derive_seed(seed, kind, t, i)``: a batch depends only on the seed and the step, which is
what makes an interrupted and resumed run identical to an uninterrupted one.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from ...errors import InvalidInputError
from ...records import Case, Radiograph
from ...seeds import derive_seed
from .appearance import apply_appearance
from .holes import HOLE_KINDS, holes_for_batch

__all__ = ["TrainingImage", "load_training_images", "sample_batch"]

_STRIDE = 4  # candidate crop centres are kept on a 4-pixel grid (memory)


@attrs.frozen(eq=False)
class TrainingImage:
    """One training radiograph: float32 pixels and where crops should preferably centre.

    Attributes:
        pixels: ``(H, W)`` float32 in [0, 1] (artifact-free when the case has a clean image).
        centres: flat indices (into the full image) of preferred crop centres.
        source: where it came from.
    """

    pixels: np.ndarray
    centres: np.ndarray
    source: str = ""


def _foreground(pixels: np.ndarray) -> np.ndarray:
    from skimage.filters import threshold_otsu

    if float(pixels.max()) - float(pixels.min()) < 1e-6:
        return np.ones(pixels.shape, bool)
    return pixels > threshold_otsu(pixels)


def _training_image(item: Any, index: int) -> TrainingImage:
    anatomy = None
    if isinstance(item, Case):
        image = item.clean_image if item.clean_image is not None else item.image
        if item.anatomy_mask is not None and not item.anatomy_mask.is_empty:
            anatomy = item.anatomy_mask.array
        source = item.id
    elif isinstance(item, Radiograph):
        image, source = item, item.source or str(index)
    elif isinstance(item, np.ndarray):
        arr = np.asarray(item)
        if arr.ndim != 2:
            raise InvalidInputError(f"training image {index} has shape {arr.shape}, not (H, W)")
        if np.issubdtype(arr.dtype, np.integer):
            image = Radiograph.from_uint(arr, source=f"array:{index}")
        else:
            image = Radiograph.from_float(arr, source=f"array:{index}")
        source = f"array:{index}"
    else:
        raise InvalidInputError(
            f"cannot train on item {index} of type {type(item).__name__}",
            fix="pass Cases, Radiographs, (H, W) arrays, or a folder path",
        )
    pixels = np.ascontiguousarray(image.pixels, dtype=np.float32)
    region = anatomy if anatomy is not None else _foreground(pixels)
    grid = np.zeros_like(region)
    grid[::_STRIDE, ::_STRIDE] = region[::_STRIDE, ::_STRIDE]
    centres = np.flatnonzero(grid).astype(np.int64)
    return TrainingImage(pixels, centres, str(source))


class _LazyImages(Sequence[TrainingImage]):
    """Training images read on demand from a lazy dataset, the most recent ones cached."""

    def __init__(self, items: Sequence[Any], cache: int) -> None:
        self._items = items
        self._get = functools.lru_cache(maxsize=cache)(self._load)

    def _load(self, index: int) -> TrainingImage:
        return _training_image(self._items[index], index)

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: int) -> TrainingImage:  # type: ignore[override]
        return self._get(int(index))


def load_training_images(
    data: str | os.PathLike[str] | Iterable[Case | Radiograph | np.ndarray],
    *,
    progress: bool = False,
    in_memory: bool | None = None,
    max_in_memory: int = 1000,
) -> Sequence[TrainingImage]:
    """The training images, read into memory or on demand.

    Args:
        data: a folder or label table (opened with
            :func:`radinpaint.datasets.open_dataset`), or any iterable of cases (their
            ``clean_image`` is used when present), radiographs or ``(H, W)`` arrays.
        progress: show a progress bar while reading.
        in_memory: read everything first (True), or read each image when a crop needs it,
            caching the last 256 (False; needs a sequence such as a dataset). ``None``: in
            memory unless the data is a sequence of more than ``max_in_memory`` items (a
            full RSNA training set does not fit in memory as float32).
        max_in_memory: the threshold for ``in_memory=None``.

    Raises:
        InvalidInputError: nothing to train on, or an item of an unknown type.
    """
    from tqdm.auto import tqdm

    if isinstance(data, (str, os.PathLike)):
        from ...datasets import open_dataset

        data = open_dataset(Path(data))
    is_sequence = isinstance(data, Sequence)
    if in_memory is None:
        in_memory = not (is_sequence and len(data) > max_in_memory)  # type: ignore[arg-type]
    if not in_memory:
        if not is_sequence:
            raise InvalidInputError(
                "in_memory=False needs a sequence of images (a dataset or a list)",
                fix="pass a dataset, a list, or in_memory=True",
            )
        if not len(data):  # type: ignore[arg-type]
            raise InvalidInputError("no training images", fix="pass at least one radiograph")
        return _LazyImages(data, cache=256)  # type: ignore[arg-type]
    items = tqdm(data, desc="reading training images", disable=not progress, leave=False)
    images = [_training_image(item, i) for i, item in enumerate(items)]
    if not images:
        raise InvalidInputError("no training images", fix="pass at least one radiograph")
    return images


def _crop(
    image: TrainingImage,
    size: int,
    rng: np.random.Generator,
    scale_range: tuple[float, float],
    centre_bias: float,
) -> np.ndarray:
    import cv2

    h, w = image.pixels.shape
    scale = float(np.exp(rng.uniform(np.log(scale_range[0]), np.log(scale_range[1]))))
    side = max(2, round(size / scale))
    if image.centres.size and rng.random() < centre_bias:
        flat = int(image.centres[int(rng.integers(0, image.centres.size))])
        cy, cx = divmod(flat, w)
        cy += int(rng.integers(-side // 4, side // 4 + 1))
        cx += int(rng.integers(-side // 4, side // 4 + 1))
    else:
        cy, cx = int(rng.integers(0, h)), int(rng.integers(0, w))
    y0 = int(np.clip(cy - side // 2, 0, max(0, h - side)))
    x0 = int(np.clip(cx - side // 2, 0, max(0, w - side)))
    patch = image.pixels[y0 : y0 + side, x0 : x0 + side]
    if patch.shape != (side, side):  # image smaller than the crop: mirror it out
        ph, pw = side - patch.shape[0], side - patch.shape[1]
        patch = np.pad(patch, ((0, ph), (0, pw)), mode="symmetric")
    if side != size:
        interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
        patch = cv2.resize(np.ascontiguousarray(patch), (size, size), interpolation=interp)
    if rng.random() < 0.5:
        patch = patch[:, ::-1]
    return np.clip(patch, 0.0, 1.0).astype(np.float32)


def sample_batch(
    images: Sequence[TrainingImage],
    *,
    seed: int,
    step: int,
    batch_size: int,
    crop: int,
    scale_range: tuple[float, float] = (0.8, 1.25),
    centre_bias: float = 0.8,
    hole_kinds: Sequence[str] = HOLE_KINDS,
    appearance: str = "none",
) -> tuple[np.ndarray, np.ndarray]:
    """The batch of training step ``step``: ``(images, holes)``, each ``(B, crop, crop)``.

    ``appearance="real"`` gives every crop a real radiograph's grain, contrast curve, bias
    field and borders (:mod:`radinpaint.inpainters.gan.appearance`), from its own generator
    ``derive_seed(seed, "appearance", step, i)``; ``"none"`` leaves crops as they are.
    Depends only on the arguments (never on earlier calls).
    """
    crops = []
    for i in range(batch_size):
        rng = np.random.default_rng(derive_seed(seed, "crop", step, i))
        image = images[int(rng.integers(0, len(images)))]
        patch = _crop(image, crop, rng, scale_range, centre_bias)
        if appearance != "none":
            look = np.random.default_rng(derive_seed(seed, "appearance", step, i))
            patch = apply_appearance(patch, appearance, look)
        crops.append(patch)
    holes = holes_for_batch(batch_size, (crop, crop), seed, step, kinds=hole_kinds)
    return np.stack(crops), holes

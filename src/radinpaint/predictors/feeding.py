"""Feeding the training engine: decode workers, a decode-once cache, seeded batch order.

:class:`ImageSource` is a torch map-style dataset whose keys are ``(epoch, image index)``:
it decodes the image, applies the members' geometric preprocessing (kept in a
:class:`GeometryCache` after the first read) and, for training keys, an augmentation seeded
by ``(seed, epoch, index)``. :class:`EpochBatches` yields the keys in an order seeded by
``(seed, member, epoch)``, from any step on. So a batch is the same tensor whichever worker
builds it and wherever a run was resumed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from ..records import Case
from ..seeds import derive_seed
from .preprocessing import Preprocessing
from .training import TrainConfig, _augment

__all__ = ["EpochBatches", "GeometryCache", "ImageSource", "Loaders", "build_loaders"]


def _one_thread(_: int) -> None:
    """DataLoader workers use one torch thread each (the workers are the parallelism)."""
    import torch

    torch.set_num_threads(1)


class GeometryCache:
    """Preprocessed images of a dataset in a memory-mapped ``uint16`` file, filled on use.

    ``<stem>.npy`` holds ``(N, size, size)`` pixels (x 65535) and ``<stem>.filled.npy`` one
    flag per image. Processes that share it (DataLoader workers) write distinct rows.
    """

    def __init__(self, stem: Path, n: int, size: int) -> None:
        self.data_path = stem.with_suffix(".npy")
        self.flag_path = stem.with_name(stem.name + ".filled.npy")
        self.shape = (n, size, size)
        self._data: Any = None
        self._flags: Any = None
        self._open()

    def _open(self) -> None:
        fmt = np.lib.format
        if self.data_path.exists() and self.flag_path.exists():
            data = fmt.open_memmap(self.data_path, mode="r+")
            flags = fmt.open_memmap(self.flag_path, mode="r+")
            if data.shape == self.shape and data.dtype == np.uint16 and len(flags) == len(data):
                self._data, self._flags = data, flags
                return
        self.data_path.parent.mkdir(parents=True, exist_ok=True)
        self._flags = fmt.open_memmap(
            self.flag_path, mode="w+", dtype=np.uint8, shape=(self.shape[0],)
        )
        self._data = fmt.open_memmap(self.data_path, mode="w+", dtype=np.uint16, shape=self.shape)

    def get(self, i: int, compute: Any) -> np.ndarray:
        """Image ``i`` as ``uint16``, computed with ``compute()`` the first time."""
        if self._flags[i]:
            return np.array(self._data[i])
        q = _quantize(compute())
        self._data[i] = q
        self._flags[i] = 1
        return q


def _quantize(square: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(square, 0.0, 1.0) * 65535.0).astype(np.uint16)


class ImageSource:
    """A torch map-style dataset: key ``(epoch, i)`` -> (preprocessed image ``i``, ``i``).

    Epoch ``-1`` means evaluation (no augmentation). Augmentation is seeded per image and
    epoch, so any worker produces the same tensor for the same key. Images are rounded to
    16 bits (what the optional :class:`GeometryCache` stores), cached or not.
    """

    def __init__(
        self,
        cases: Sequence[Case],
        preprocessing: Preprocessing,
        augment: TrainConfig | None,
        seed: int,
        cache: GeometryCache | None = None,
    ) -> None:
        self.cases = cases
        self.preprocessing = preprocessing
        self.augment = augment
        self.seed = seed
        self.cache = cache

    def __len__(self) -> int:
        return len(self.cases)

    def __getitem__(self, key: tuple[int, int]) -> tuple[Any, int]:
        import torch

        epoch, i = key

        def compute() -> np.ndarray:
            return self.preprocessing.geometry(self.cases[i])

        q = self.cache.get(i, compute) if self.cache is not None else _quantize(compute())
        x = torch.from_numpy(q.astype(np.float32) / np.float32(65535.0))
        if self.augment is not None and epoch >= 0:
            gen = torch.Generator().manual_seed(derive_seed(self.seed, "augment", epoch, i))
            x = _augment(x[None], gen, self.augment)[0]
        return x.float(), i


class EpochBatches:
    """Batches of ``(epoch, index)`` keys: a shuffled order per epoch, from a given step.

    Its ``indices``, ``epoch``, ``start`` and ``shuffle`` are set before each pass; the
    DataLoader reads them when a pass begins, so one loader (and its workers) serves every
    member and epoch.
    """

    def __init__(self, batch_size: int, seed: int) -> None:
        self.batch_size = batch_size
        self.seed = seed
        self.indices = np.zeros(0, dtype=np.int64)
        self.epoch = -1
        self.start = 0
        self.shuffle = False
        self.key = ""

    def batches(self) -> list[np.ndarray]:
        """This pass's batches, all of them (the first ``start`` are skipped when iterating)."""
        order = self.indices
        if self.shuffle:
            rng = np.random.default_rng(derive_seed(self.seed, "order", self.key, self.epoch))
            order = order[rng.permutation(len(order))]
        out = [order[s : s + self.batch_size] for s in range(0, len(order), self.batch_size)]
        if self.shuffle and out and len(out[-1]) < 2:  # batch norm needs two images
            out.pop()
        return out

    def __len__(self) -> int:
        return max(0, len(self.batches()) - self.start)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        epoch = self.epoch if self.shuffle else -1
        for b in self.batches()[self.start :]:
            yield [(epoch, int(i)) for i in b]


@attrs.define
class Loaders:
    """The training and evaluation DataLoaders over one image source, with their samplers."""

    train: Any
    evaluate: Any
    train_batches: EpochBatches
    eval_batches: EpochBatches


def build_loaders(
    cases: Sequence[Case],
    preprocessing: Preprocessing,
    *,
    batch_size: int,
    augment: TrainConfig | None,
    seed: int,
    num_workers: int = 0,
    pin_memory: bool = False,
    prefetch_factor: int = 4,
    cache_stem: Path | None = None,
) -> Loaders:
    """The training and evaluation DataLoaders over ``cases``.

    Args:
        cases: the labelled cases (read lazily, in the workers).
        preprocessing: the members' preprocessing (its geometric steps run here).
        batch_size: training batch size (evaluation uses at least 64).
        augment: the augmentation settings (``None``: none).
        seed: the base seed of batch order and augmentation.
        num_workers: decode processes (0: the main process); persistent, one torch
            thread each.
        pin_memory: pin batches (for non-blocking copies to a GPU).
        prefetch_factor: batches each worker prepares ahead.
        cache_stem: keep preprocessed images in a :class:`GeometryCache` there.
    """
    from torch.utils.data import DataLoader

    cache = None
    if cache_stem is not None:
        cache = GeometryCache(cache_stem, len(cases), preprocessing.size)
    source = ImageSource(cases, preprocessing, augment, seed, cache)
    train_batches = EpochBatches(batch_size, seed)
    train_batches.shuffle = True
    eval_batches = EpochBatches(max(batch_size, 64), seed)
    common: dict[str, Any] = {"num_workers": num_workers, "pin_memory": pin_memory}
    if num_workers > 0:
        common.update(
            persistent_workers=True,
            prefetch_factor=prefetch_factor,
            worker_init_fn=_one_thread,
        )
    return Loaders(
        train=DataLoader(source, batch_sampler=train_batches, **common),  # type: ignore[arg-type]
        evaluate=DataLoader(source, batch_sampler=eval_batches, **common),  # type: ignore[arg-type]
        train_batches=train_batches,
        eval_batches=eval_batches,
    )

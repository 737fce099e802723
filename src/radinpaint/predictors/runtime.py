"""The fast path of ensemble inference: device placement, stacked members, prefetching.

- :class:`MemberGroup` runs members of one architecture on one batch. On a GPU (or when
  asked) their weights are stacked with :func:`torch.func.stack_module_state` and run as
  one vmapped call; otherwise the members run one after another on the whole batch (on a
  CPU the plain loop is faster: vmapped convolutions become grouped convolutions, which
  oneDNN handles poorly).
- :func:`prefetch_batches` preprocesses batch ``k + 1`` in a background thread while the
  models run on batch ``k`` (OpenCV and torch release the GIL), into pinned memory when the
  models are on a GPU.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch

from ..errors import InvalidInputError, error_text
from ..protocols import as_radiograph
from ..records import Radiograph
from .preprocessing import Preprocessing

__all__ = ["MemberGroup", "autocast_context", "prefetch_batches", "resolve_device"]


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``"auto"``/``None`` -> CUDA when available, else CPU; otherwise the device given."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InvalidInputError(
            f"device {device!r} asked for but CUDA is not available",
            fix="use device='cpu' or 'auto'",
        )
    return dev


def amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``amp`` (``auto``: bf16 on CUDA, none on CPU)."""
    if amp == "auto":
        return torch.bfloat16 if device.type == "cuda" else None
    table = {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}
    if amp not in table:
        raise InvalidInputError(f"unknown amp mode {amp!r}", available=["auto", *table])
    return table[amp]


def autocast_context(
    device: torch.device, dtype: torch.dtype | None
) -> contextlib.AbstractContextManager[Any]:
    """``torch.autocast`` for ``dtype``, or a no-op context."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


class MemberGroup:
    """Members sharing architecture, preprocessing and sex handling, run on one batch.

    Args:
        modules: the members' modules, already on their device and in eval mode.
        stack: stack the weights and vmap (True) or loop over members (False).
        sex_input: whether the modules take sex as a second input.
    """

    def __init__(self, modules: Sequence[Any], *, stack: bool, sex_input: bool) -> None:
        self.modules = list(modules)
        self.sex_input = sex_input
        self._vmapped: Callable[..., torch.Tensor] | None = None
        if stack and len(self.modules) > 1:
            from torch.func import functional_call, stack_module_state

            params, buffers = stack_module_state(self.modules)
            base = copy.deepcopy(self.modules[0]).to("meta")
            self._params, self._buffers = params, buffers

            def call(p: Any, b: Any, *inputs: torch.Tensor) -> torch.Tensor:
                return functional_call(base, (p, b), inputs)

            in_dims = (0, 0, None, None) if sex_input else (0, 0, None)
            self._vmapped = torch.vmap(call, in_dims=in_dims)

    @property
    def stacked(self) -> bool:
        """True when the members run as one vmapped call."""
        return self._vmapped is not None

    def __call__(self, x: torch.Tensor, sex: torch.Tensor | None) -> torch.Tensor:
        """``(members, batch, outputs)`` raw outputs."""
        if self.sex_input and sex is None:
            raise InvalidInputError("these members need sex as an input and none was given")
        inputs = (x, sex) if self.sex_input else (x,)
        if self._vmapped is not None:
            return self._vmapped(self._params, self._buffers, *inputs)
        return torch.stack([m(*inputs) for m in self.modules])


def _load_batch(
    images: Sequence[Any],
    indices: np.ndarray,
    preprocessings: Sequence[Preprocessing],
    pin: bool,
) -> tuple[np.ndarray, list[torch.Tensor], dict[int, str]]:
    """One batch's input tensors, and the images that could not be read or preprocessed
    (index -> reason; their rows are zeros, and the caller reports them, not predictions)."""
    arrays = [np.zeros((len(indices), *p.input_shape()), np.float32) for p in preprocessings]
    failures: dict[int, str] = {}
    for j, i in enumerate(indices):
        try:
            item = as_radiograph(images[int(i)])
            if not isinstance(item, (Radiograph, np.ndarray)):
                raise InvalidInputError(
                    f"item {int(i)} is a {type(item).__name__}, not a Radiograph",
                    input=f"image {int(i)}",
                    fix="read images with radinpaint.io.read_image",
                )
            for arr, prep in zip(arrays, preprocessings, strict=True):
                arr[j] = prep(item)
        except Exception as exc:  # this image fails, its neighbours go on
            failures[int(i)] = error_text(exc)
    tensors = [torch.from_numpy(a) for a in arrays]
    if pin:
        tensors = [t.pin_memory() for t in tensors]
    return indices, tensors, failures


def prefetch_batches(
    images: Sequence[Any],
    batches: Sequence[np.ndarray],
    preprocessings: Sequence[Preprocessing],
    *,
    pin_memory: bool = False,
    prefetch: bool = True,
) -> Iterator[tuple[np.ndarray, list[torch.Tensor], dict[int, str]]]:
    """Yield ``(indices, [tensor per preprocessing], failures)`` for each batch of indices.

    ``failures`` maps the index of an image that could not be read or preprocessed to the
    reason; its rows hold zeros.

    With ``prefetch`` the next batch is prepared in a background thread while the caller
    works on the current one.
    """
    if not prefetch:
        for idx in batches:
            yield _load_batch(images, idx, preprocessings, pin_memory)
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="radinpaint-prefetch") as pool:
        pending = None
        for k in range(len(batches)):
            if pending is None:
                pending = pool.submit(_load_batch, images, batches[k], preprocessings, pin_memory)
            current = pending.result()
            pending = (
                pool.submit(_load_batch, images, batches[k + 1], preprocessings, pin_memory)
                if k + 1 < len(batches)
                else None
            )
            yield current

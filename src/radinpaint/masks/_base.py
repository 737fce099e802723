"""Shared plumbing of the built-in mask providers: input checks, margins, working scale."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import InvalidInputError
from ..protocols import as_radiograph
from ..records import Case, Mask, MaskComponent, Radiograph

__all__ = [
    "MIN_SIDE",
    "as_bool",
    "check_dilate",
    "finish_mask",
    "grow",
    "radiographs",
    "resize_to",
    "working_scale",
]

MIN_SIDE = 16
"""Images with a side shorter than this are too small to hold a readable marker: the
detectors return an empty mask for them rather than guessing."""


def check_dilate(value: object, provider: str) -> int:
    """Validate a ``dilate`` option (pixels of margin, a whole number >= 0)."""
    fix = "pass dilate=0 (no margin) or a positive whole number such as dilate=4"
    bad = isinstance(value, bool) or (isinstance(value, float) and not value.is_integer())
    try:
        pixels = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        bad = True
        pixels = -1
    if bad or pixels < 0:
        raise InvalidInputError(
            f"dilate must be a whole number of pixels >= 0, got {value!r}", input=provider, fix=fix
        )
    return pixels


def radiographs(items: Sequence[Case | Radiograph]) -> list[Radiograph]:
    """The radiographs of a sequence of cases or radiographs (a bare item is an error)."""
    if isinstance(items, (Case, Radiograph)):
        raise InvalidInputError(
            "masks() takes a sequence of cases or radiographs, got a single item",
            fix="wrap it in a list: provider.masks([image])",
        )
    return [as_radiograph(item) for item in items]


def working_scale(shape: tuple[int, int], longest: int) -> float:
    """Factor (<= 1) bringing the longest side of ``shape`` down to ``longest`` pixels."""
    return min(1.0, float(longest) / float(max(shape)))


def resize_to(array: np.ndarray, shape: tuple[int, int], *, nearest: bool = False) -> np.ndarray:
    """Resize a 2-D array to ``shape`` (height, width): area averaging down, linear up."""
    import cv2

    if array.shape == tuple(shape):
        return array
    h, w = shape
    if nearest:
        interp = cv2.INTER_NEAREST
    elif h < array.shape[0] or w < array.shape[1]:
        interp = cv2.INTER_AREA
    else:
        interp = cv2.INTER_LINEAR
    return cv2.resize(array, (int(w), int(h)), interpolation=interp)


def grow(mask: np.ndarray, r: int) -> np.ndarray:
    """``mask`` grown by a disc of radius ``r`` pixels (returned as is when ``r <= 0``)."""
    import cv2

    if r <= 0:
        return mask
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    return cv2.dilate(mask.astype(np.uint8), k) > 0


def finish_mask(
    array: np.ndarray,
    source: str | None,
    components: Sequence[MaskComponent] = (),
    dilate: int = 0,
) -> Mask:
    """Build the provider's mask, adding the margin and growing the component boxes with it."""
    mask = Mask(np.asarray(array, dtype=bool), source, tuple(components))
    if dilate > 0 and not mask.is_empty:
        h, w = mask.shape
        grown = mask.dilate(dilate)
        comps = tuple(
            MaskComponent(
                (
                    max(0, c.box[0] - dilate),
                    max(0, c.box[1] - dilate),
                    min(w, c.box[2] + dilate),
                    min(h, c.box[3] + dilate),
                ),
                c.kind,
                c.score,
            )
            for c in mask.components
        )
        mask = Mask(grown.array, source, comps)
    return mask


def as_bool(value: object, name: str) -> bool:
    """Read a boolean option given as a bool, 0/1 or a word (true/false, yes/no, on/off)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("0", "false", "no", "off"):
        return False
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise InvalidInputError(
        f"option {name} must be true or false, got {value!r}", fix=f"pass {name}=true or false"
    )

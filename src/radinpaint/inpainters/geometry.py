"""Geometry shared by inpainting backends: crop around the mask, fit to a backend's size, undo.

A backend rarely works on the image as it comes. A model may need 1024x1024 pixels, sides
that are multiples of 8, or at most 2048 pixels on a side; a slow algorithm should only see
the region around the mask. :func:`plan` decides all of this once, from the image shape and
the mask, and returns a frozen :class:`Placement` that moves arrays in both directions::

    placement = plan(image.shape, mask, size=(1024, 1024), mode="letterbox", margin=64)
    pixels_in = placement.to_backend(image.pixels)        # (1024, 1024) float32
    mask_in = placement.mask_to_backend(mask)              # (1024, 1024) bool
    pixels_out = backend(pixels_in, mask_in)
    full = placement.from_backend(pixels_out, base=image.pixels)  # (H, W) float32

Modes (how the selected region is fitted to the backend's size):

``"letterbox"`` (default)
    Scale the region to fit inside the target keeping its aspect ratio, pad the rest
    (reflected pixels by default; padded pixels are never marked in the mask).
``"squash"``
    Scale the region to exactly the target size; the aspect ratio is **not** kept. This is
    what the reference study did (every radiograph squashed to 1024x1024). Only on request.
``"crop"``
    Take a window of the target's size around the mask at native resolution (scale 1). A
    window larger than the image is padded; a mask too large for the window widens the
    window to the target's aspect ratio and scales it down.

Region: with ``margin=None`` the region is the whole image; with ``margin=m`` it is the
mask's bounding box grown by ``m`` pixels on each side, clipped to the image.

Boxes: every box here (:func:`mask_bbox`, :attr:`Placement.region`) is
``(x0, y0, x1, y1)`` in pixels with ``x1`` and ``y1`` end-exclusive, the same convention
as :attr:`radinpaint.records.MaskComponent.box`: the box of ``array[y0:y1, x0:x1]``.
Shapes stay ``(height, width)`` as in numpy.

Exactness: pixels are float32 throughout (never 8-bit). Cropping and padding are exact, so a
placement with ``scale == 1`` (``Placement.resamples`` is False) round-trips bit for bit.
Resampling is not exact: downscaling uses area averaging (``cv2.INTER_AREA``), upscaling
bicubic (``cv2.INTER_CUBIC``) clipped to ``[0, 1]``; a down-up round trip loses detail finer
than the backend's pixel. Compositing (:mod:`radinpaint.inpainters.compositing`) then
restores every pixel outside the mask exactly, so the loss only reaches pixels inside it.
Masks are resampled conservatively: a backend pixel is marked when any part of it covers a
marked source pixel, so an artifact is never lost to downscaling.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

import attrs
import numpy as np

from ..errors import InvalidInputError
from ..records import Mask, check_same_shape

__all__ = ["MODES", "PADS", "Placement", "mask_bbox", "plan", "resize"]

MODES: tuple[str, ...] = ("letterbox", "squash", "crop")
"""The ways a region is fitted to a backend's size (see the module docs)."""

PADS: tuple[str, ...] = ("reflect", "edge", "constant")
"""How letterbox padding is filled: mirrored pixels, the edge pixel repeated, or a value."""

Mode = Literal["letterbox", "squash", "crop"]


def mask_bbox(mask: Mask | np.ndarray) -> tuple[int, int, int, int] | None:
    """Bounding box ``(x0, y0, x1, y1)`` of the marked pixels, or None when none is marked.

    End-exclusive, like :attr:`~radinpaint.records.MaskComponent.box`: every marked pixel
    lies in ``array[y0:y1, x0:x1]``.
    """
    arr = mask.array if isinstance(mask, Mask) else np.asarray(mask, dtype=bool)
    rows = np.flatnonzero(arr.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(arr.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def resize(array: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize float pixels to ``shape`` ``(h, w)`` in float32.

    Area averaging when shrinking, bicubic when growing (clipped to ``[0, 1]``); an axis
    may shrink while the other grows (cubic is used then). Same shape: returned unchanged.
    """
    import cv2

    arr = np.asarray(array, dtype=np.float32)
    h, w = int(shape[0]), int(shape[1])
    if arr.shape == (h, w):
        return arr
    shrinking = h <= arr.shape[0] and w <= arr.shape[1]
    interp = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    out = cv2.resize(np.ascontiguousarray(arr), (w, h), interpolation=interp)
    if not shrinking:
        np.clip(out, 0.0, 1.0, out=out)
    return out.astype(np.float32, copy=False)


def _resize_mask(array: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Conservative mask resize: a target pixel is True if it overlaps any True source pixel."""
    import cv2

    arr = np.asarray(array, dtype=bool)
    h, w = int(shape[0]), int(shape[1])
    if arr.shape == (h, w):
        return arr.copy()
    if h <= arr.shape[0] and w <= arr.shape[1]:
        cover = cv2.resize(arr.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
        return cover > 1e-6
    return cv2.resize(arr.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0


@attrs.frozen
class Placement:
    """Where a region of an image goes in a backend's input, and how to come back.

    Build one with :func:`plan`. Boxes are ``(x0, y0, x1, y1)``, end-exclusive (as
    :attr:`~radinpaint.records.MaskComponent.box`); shapes are ``(height, width)``.

    Attributes:
        image_shape: ``(H, W)`` of the full image.
        region: ``(x0, y0, x1, y1)``: the part ``image[y0:y1, x0:x1]`` the backend sees.
        scaled_shape: ``(h, w)`` the region is resized to before padding.
        backend_shape: ``(Hb, Wb)`` of the backend's input (scaled region plus padding).
        offset: ``(top, left)`` where the scaled region sits in the backend input.
        mode: ``"letterbox"``, ``"squash"`` or ``"crop"``.
        pad: how padding is filled (``"reflect"``, ``"edge"``, ``"constant"``).
        pad_value: the fill value for ``pad="constant"``.
    """

    image_shape: tuple[int, int]
    region: tuple[int, int, int, int]
    scaled_shape: tuple[int, int]
    backend_shape: tuple[int, int]
    offset: tuple[int, int] = (0, 0)
    mode: str = "letterbox"
    pad: str = "reflect"
    pad_value: float = 0.0

    @property
    def region_shape(self) -> tuple[int, int]:
        """``(h, w)`` of the region in the original image."""
        x0, y0, x1, y1 = self.region
        return y1 - y0, x1 - x0

    @property
    def resamples(self) -> bool:
        """True when pixels are resized (the round trip is then not exact)."""
        return self.scaled_shape != self.region_shape

    @property
    def scale(self) -> tuple[float, float]:
        """Scale factors ``(sy, sx)`` from the region to the backend (1.0 = native)."""
        rh, rw = self.region_shape
        return self.scaled_shape[0] / rh, self.scaled_shape[1] / rw

    @property
    def is_identity(self) -> bool:
        """True when the backend sees the whole image unchanged."""
        return self.whole_image and self.backend_shape == self.image_shape

    @property
    def whole_image(self) -> bool:
        """True when the region is the whole image (no crop)."""
        return self.region == (0, 0, self.image_shape[1], self.image_shape[0])

    @property
    def returns_other_frame(self) -> bool:
        """True when the backend sees the whole image at another size (resized or padded):
        its output is then a picture of the whole image in another frame, worth keeping as
        it came (:attr:`~radinpaint.records.InpaintResult.returned`)."""
        return self.whole_image and self.backend_shape != self.image_shape

    def _check(self, array: np.ndarray, shape: tuple[int, int], what: str) -> None:
        if tuple(array.shape[:2]) != tuple(shape):
            raise InvalidInputError(
                f"{what} has shape {tuple(array.shape)}, expected {tuple(shape)}",
                fix="pass arrays of the shape this placement was planned for",
            )

    def _pad_widths(self) -> tuple[tuple[int, int], tuple[int, int]]:
        top, left = self.offset
        bottom = self.backend_shape[0] - self.scaled_shape[0] - top
        right = self.backend_shape[1] - self.scaled_shape[1] - left
        return (top, bottom), (left, right)

    def to_backend(self, array: np.ndarray) -> np.ndarray:
        """Full-size float pixels ``(H, W)`` -> the backend's input ``backend_shape``."""
        arr = np.asarray(array, dtype=np.float32)
        self._check(arr, self.image_shape, "image")
        x0, y0, x1, y1 = self.region
        scaled = resize(arr[y0:y1, x0:x1], self.scaled_shape)
        widths = self._pad_widths()
        if widths == ((0, 0), (0, 0)):
            return np.ascontiguousarray(scaled, dtype=np.float32)
        if self.pad == "constant":
            out = np.pad(scaled, widths, mode="constant", constant_values=self.pad_value)
        elif self.pad == "reflect" and min(scaled.shape) > 1:
            out = np.pad(scaled, widths, mode="reflect")
        else:
            out = np.pad(scaled, widths, mode="edge")
        return np.ascontiguousarray(out, dtype=np.float32)

    def mask_to_backend(self, mask: Mask | np.ndarray) -> np.ndarray:
        """Full-size mask -> a boolean mask of ``backend_shape`` (padding never marked)."""
        arr = mask.array if isinstance(mask, Mask) else np.asarray(mask, dtype=bool)
        check_same_shape(self.image_shape, arr.shape, "mask given to Placement.mask_to_backend")
        x0, y0, x1, y1 = self.region
        scaled = _resize_mask(arr[y0:y1, x0:x1], self.scaled_shape)
        return np.pad(scaled, self._pad_widths(), mode="constant", constant_values=False)

    def from_backend(self, array: np.ndarray, base: np.ndarray | None = None) -> np.ndarray:
        """The backend's output ``backend_shape`` -> full-size float32 ``(H, W)``.

        Padding is dropped and the region resized back to its original size. Pixels outside
        the region come from ``base`` (normally the original image's pixels), which is
        required unless the region is the whole image.
        """
        arr = np.asarray(array, dtype=np.float32)
        if arr.ndim == 3:
            raise InvalidInputError(
                f"backend output has shape {arr.shape}; expected a grey (H, W) array",
                fix="convert colour output to grey before from_backend (e.g. mean over channels)",
            )
        self._check(arr, self.backend_shape, "backend output")
        top, left = self.offset
        h, w = self.scaled_shape
        region = resize(arr[top : top + h, left : left + w], self.region_shape)
        if self.whole_image:
            return np.ascontiguousarray(region, dtype=np.float32)
        if base is None:
            raise InvalidInputError(
                "from_backend needs base= (the original pixels) when the region is a crop",
                fix="pass base=request.image.pixels",
            )
        out = np.array(base, dtype=np.float32, copy=True)
        self._check(out, self.image_shape, "base")
        x0, y0, x1, y1 = self.region
        out[y0:y1, x0:x1] = region
        return out

    def to_dict(self) -> dict[str, object]:
        """JSON-ready description (for a result's ``extra``); :meth:`from_dict` reads it."""
        return {
            "image_shape": list(self.image_shape),
            "region": list(self.region),
            "scaled_shape": list(self.scaled_shape),
            "backend_shape": list(self.backend_shape),
            "offset": list(self.offset),
            "mode": self.mode,
            "pad": self.pad,
            "pad_value": self.pad_value,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Placement:
        """The placement :meth:`to_dict` described (``region`` is ``(x0, y0, x1, y1)``)."""

        def pair(key: str) -> tuple[int, int]:
            a, b = data[key]
            return int(a), int(b)

        try:
            x0, y0, x1, y1 = (int(v) for v in data["region"])
            return cls(
                image_shape=pair("image_shape"),
                region=(x0, y0, x1, y1),
                scaled_shape=pair("scaled_shape"),
                backend_shape=pair("backend_shape"),
                offset=pair("offset") if "offset" in data else (0, 0),
                mode=str(data.get("mode", "letterbox")),
                pad=str(data.get("pad", "reflect")),
                pad_value=float(data.get("pad_value", 0.0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInputError(
                f"not a placement description ({type(exc).__name__}: {exc})",
                input=dict(data) if isinstance(data, Mapping) else data,
                fix="pass a dict made by Placement.to_dict",
            ) from exc


def _as_size(size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    if size is None:
        return None
    if isinstance(size, (int, np.integer)):
        out = (int(size), int(size))
    else:
        out = (int(size[0]), int(size[1]))
    if min(out) < 1:
        raise InvalidInputError(f"target size must be positive, got {size!r}")
    return out


def _round_up(value: int, multiple: int) -> int:
    return int(math.ceil(value / multiple) * multiple)


def _crop_window(
    image_shape: tuple[int, int],
    box: tuple[int, int, int, int],
    size: tuple[int, int],
) -> tuple[int, int, int, int]:
    """A window of ``size`` (or larger, same aspect) centred on ``box``, inside the image.

    ``box`` and the window are ``(x0, y0, x1, y1)``; ``image_shape`` and ``size`` ``(h, w)``.
    """
    H, W = image_shape
    bw, bh = box[2] - box[0], box[3] - box[1]
    grow = max(1.0, bh / size[0], bw / size[1])
    wh = min(H, math.ceil(size[0] * grow))
    ww = min(W, math.ceil(size[1] * grow))

    def place(lo: int, hi: int, extent: int, limit: int) -> int:
        start = (lo + hi) // 2 - extent // 2
        return int(min(max(start, 0), limit - extent))

    y0 = place(box[1], box[3], wh, H)
    x0 = place(box[0], box[2], ww, W)
    return x0, y0, x0 + ww, y0 + wh


def plan(
    image_shape: tuple[int, int],
    mask: Mask | np.ndarray | None = None,
    *,
    size: int | tuple[int, int] | None = None,
    multiple_of: int = 1,
    max_side: int | None = None,
    mode: Mode | str = "letterbox",
    margin: int | None = None,
    pad: str = "reflect",
    pad_value: float = 0.0,
) -> Placement:
    """Decide how an image of ``image_shape`` is given to a backend, and how it comes back.

    Args:
        image_shape: ``(H, W)`` of the full image.
        mask: the artifact mask; needed when ``margin`` is set or ``mode="crop"``.
        size: a fixed backend size ``(h, w)`` (or an int for a square), e.g. 1024.
        multiple_of: without ``size``, round backend sides up to a multiple of this (by
            padding), e.g. 8 for latent-diffusion models.
        max_side: without ``size``, shrink (keeping aspect) so the longer side is at most this.
        mode: ``"letterbox"`` (keep aspect, pad), ``"squash"`` (exact size, aspect not kept)
            or ``"crop"`` (native-resolution window around the mask). See the module docs.
        margin: crop to the mask's bounding box grown by this many pixels; ``None`` keeps the
            whole image (``"crop"`` mode uses 0 when None).
        pad: how padding is filled: ``"reflect"``, ``"edge"`` or ``"constant"``.
        pad_value: the value for ``pad="constant"``.

    Returns:
        A :class:`Placement`.

    Raises:
        InvalidInputError: an unknown mode or pad, a non-positive size, or a mask needed but
            absent or empty.
        ShapeMismatchError: the mask's shape is not ``image_shape``.
    """
    H, W = int(image_shape[0]), int(image_shape[1])
    if mode not in MODES:
        raise InvalidInputError(f"unknown geometry mode {mode!r}", available=MODES)
    if pad not in PADS:
        raise InvalidInputError(f"unknown padding {pad!r}", available=PADS)
    if multiple_of < 1:
        raise InvalidInputError(f"multiple_of must be >= 1, got {multiple_of}")
    if max_side is not None and max_side < 1:
        raise InvalidInputError(f"max_side must be >= 1, got {max_side}")
    target = _as_size(size)
    if margin is not None and margin < 0:
        raise InvalidInputError(f"margin must be >= 0 pixels, got {margin}")

    box: tuple[int, int, int, int] | None = None
    if margin is not None or mode == "crop":
        if mask is None:
            raise InvalidInputError(
                f"geometry mode {mode!r} with margin={margin!r} needs the mask",
                fix="pass the mask, or margin=None to use the whole image",
            )
        arr = mask.array if isinstance(mask, Mask) else np.asarray(mask, dtype=bool)
        check_same_shape((H, W), arr.shape, "mask given to geometry.plan")
        box = mask_bbox(arr)
        if box is None:
            raise InvalidInputError(
                "cannot crop around an empty mask",
                fix="handle empty masks before planning (return the input flagged 'empty-mask')",
            )
        m = margin or 0
        box = (max(0, box[0] - m), max(0, box[1] - m), min(W, box[2] + m), min(H, box[3] + m))

    if mode == "crop":
        # without a size: the native crop, sides rounded up by padding below
        region = box if target is None else _crop_window((H, W), box, target)  # type: ignore[arg-type]
    else:
        region = box if box is not None else (0, 0, W, H)
    assert region is not None
    rh, rw = region[3] - region[1], region[2] - region[0]

    if target is not None:
        if mode == "squash":
            scaled = target
        else:
            s = min(target[0] / rh, target[1] / rw)
            if mode == "crop":
                s = min(s, 1.0)  # native resolution unless the window is too big
            scaled = (max(1, min(target[0], round(rh * s))), max(1, min(target[1], round(rw * s))))
        backend = target
    else:
        s = 1.0 if max_side is None else min(1.0, max_side / max(rh, rw))
        scaled = (max(1, round(rh * s)), max(1, round(rw * s)))
        if mode == "squash":
            scaled = (_round_up(scaled[0], multiple_of), _round_up(scaled[1], multiple_of))
            if max_side is not None:
                cap = max_side - max_side % multiple_of if max_side >= multiple_of else max_side
                scaled = (min(scaled[0], cap), min(scaled[1], cap))
            backend = scaled
        else:
            backend = (_round_up(scaled[0], multiple_of), _round_up(scaled[1], multiple_of))
    top = (backend[0] - scaled[0]) // 2
    left = (backend[1] - scaled[1]) // 2
    return Placement(
        image_shape=(H, W),
        region=tuple(int(v) for v in region),  # type: ignore[arg-type]
        scaled_shape=(int(scaled[0]), int(scaled[1])),
        backend_shape=(int(backend[0]), int(backend[1])),
        offset=(int(top), int(left)),
        mode=str(mode),
        pad=pad,
        pad_value=float(pad_value),
    )

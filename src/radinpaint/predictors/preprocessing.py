"""How an ensemble member turns a radiograph of any size and bit depth into its input tensor.

Each member declares a :class:`Preprocessing`; it is saved in the member's JSON config, so a
checkpoint always knows what its network expects. Four presets:

- :data:`STUDY_320`: the reference study's steps, exactly as its MONAI pipeline did them:
  grey, crop to the bounding box of pixels > 0 (``CropForeground`` defaults), resize so the
  longest side is 320 with area interpolation (``Resize(size_mode="longest")``: new side
  ``round(side * 320 / longest)``, torch ``area`` mode), pad symmetrically with zeros to
  320 x 320 (``SpatialPad``), copy to 3 channels, values ``/255`` (our pixels already are in
  [0, 1], so no 8-bit round trip is needed unless ``quantize_8bit``).
- :data:`SQUARE_512`: the same at 512 pixels, foreground found above a small threshold.
- :data:`PHANTOM_128`: fast: no crop, longest side 128 with OpenCV area interpolation,
  1 channel, normalised to zero mean / unit SD per image (robust to exposure changes).
- :data:`PHANTOM_256`: the same at 256 pixels, fine enough to show physeal gaps and fusion
  (the shipped phantom ensemble's bone-age members).
- :data:`IMAGENET_224`: a typical ImageNet-pretrained classifier's input: no crop, longest
  side 224, padded, 3 channels, ImageNet mean and SD per channel.

Geometry (``fit``): ``"letterbox"`` keeps the aspect ratio (longest side to ``size``, zero
padding to a square), ``"squash"`` resizes straight to ``size x size``, ``"center-crop"``
resizes the shortest side to ``size`` and keeps the central square. Normalisation
(``normalize``): ``"none"`` (pixels in [0, 1], the study's ``/255``), ``"per-image"``,
``"fixed"`` (one mean and SD) or ``"imagenet"`` (per-channel ImageNet mean and SD, 3
channels).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from ..errors import InvalidInputError
from ..records import Case, Radiograph

__all__ = [
    "FITS",
    "IMAGENET_224",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "NORMALIZATIONS",
    "PHANTOM_128",
    "PHANTOM_256",
    "PRESETS",
    "SQUARE_512",
    "STUDY_320",
    "Preprocessing",
    "get_preprocessing",
]

_RESIZE_MODES = ("torch-area", "cv2-area", "cv2-linear")
_NORMALIZE = ("none", "per-image", "fixed", "imagenet")
NORMALIZATIONS: tuple[str, ...] = _NORMALIZE
"""The ``normalize`` values a :class:`Preprocessing` takes."""
FITS: tuple[str, ...] = ("letterbox", "squash", "center-crop")
"""The ``fit`` values (how the image is brought to a square)."""
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
"""Per-channel mean of ``normalize="imagenet"``."""
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
"""Per-channel SD of ``normalize="imagenet"``."""


def _positive(instance: object, attribute: attrs.Attribute, value: int) -> None:
    if int(value) < 1:
        raise InvalidInputError(f"preprocessing {attribute.name} must be >= 1, got {value}")


def _one_of(choices: tuple[str, ...]):
    def check(instance: object, attribute: attrs.Attribute, value: str) -> None:
        if value not in choices:
            raise InvalidInputError(
                f"unknown preprocessing {attribute.name} {value!r}", available=choices
            )

    return check


@attrs.frozen
class Preprocessing:
    """The steps from a radiograph to a ``(channels, size, size)`` float32 array.

    Attributes:
        name: a label for reports (the preset name, or ``"custom"``).
        size: side of the square output.
        channels: 1, or 3 (the grey image copied into each channel).
        crop_foreground: crop to the bounding box of pixels above ``crop_threshold`` first.
        crop_threshold: the foreground threshold, in [0, 1] pixel units (0 = the study's
            ``x > 0``).
        resize: ``"torch-area"`` (torch ``area`` = MONAI's default), ``"cv2-area"`` or
            ``"cv2-linear"``.
        normalize: ``"none"``, ``"per-image"`` (zero mean, unit SD), ``"fixed"``
            (``(x - mean) / std``) or ``"imagenet"`` (per channel, :data:`IMAGENET_MEAN`
            and :data:`IMAGENET_STD`; needs 3 channels).
        mean: the fixed mean (``normalize="fixed"``).
        std: the fixed SD (``normalize="fixed"``).
        quantize_8bit: round pixels to 8 bits first (replays pipelines that read 8-bit PNGs
            of higher-depth sources).
        fit: ``"letterbox"`` (longest side to ``size``, zero padding), ``"squash"`` (straight
            to ``size x size``) or ``"center-crop"`` (shortest side to ``size``, central
            square). Left out of :meth:`to_dict` at its default, so configs saved before it
            existed keep their fingerprints.
    """

    name: str = "custom"
    size: int = attrs.field(default=320, converter=int, validator=_positive)
    channels: int = attrs.field(default=3, converter=int)
    crop_foreground: bool = True
    crop_threshold: float = attrs.field(default=0.0, converter=float)
    resize: str = attrs.field(default="torch-area", validator=_one_of(_RESIZE_MODES))
    normalize: str = attrs.field(default="none", validator=_one_of(_NORMALIZE))
    mean: float = attrs.field(default=0.0, converter=float)
    std: float = attrs.field(default=1.0, converter=float)
    quantize_8bit: bool = False
    fit: str = attrs.field(default="letterbox", validator=_one_of(FITS))

    @channels.validator
    def _check_channels(self, attribute: attrs.Attribute, value: int) -> None:
        if value not in (1, 3):
            raise InvalidInputError(f"preprocessing channels must be 1 or 3, got {value}")

    def __attrs_post_init__(self) -> None:
        if self.normalize == "imagenet" and self.channels != 3:
            raise InvalidInputError(
                f"preprocessing {self.name!r}: normalize='imagenet' is per channel and needs "
                f"channels=3, got channels={self.channels}",
                fix="use channels=3, or normalize='fixed' with one mean and std for 1 channel",
            )
        if self.normalize == "fixed" and self.std == 0:
            raise InvalidInputError(
                f"preprocessing {self.name!r}: normalize='fixed' needs std != 0",
                fix="give the SD your model was trained with, e.g. std=0.25",
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (saved in member configs); ``fit`` only when not the default."""
        out = attrs.asdict(self)
        if out["fit"] == "letterbox":
            del out["fit"]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Preprocessing:
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        known = {f.name for f in attrs.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidInputError(
                f"unknown preprocessing field(s) {unknown}", available=sorted(known)
            )
        return cls(**dict(data))

    @property
    def key(self) -> tuple[Any, ...]:
        """Hashable identity: members with equal keys share one preprocessed batch."""
        return attrs.astuple(self)[1:]

    def input_shape(self) -> tuple[int, int, int]:
        """``(channels, size, size)``."""
        return (self.channels, self.size, self.size)

    def __call__(self, image: Radiograph | Case | np.ndarray) -> np.ndarray:
        """Preprocess one image into a ``(channels, size, size)`` float32 array."""
        return self.finish(self.geometry(image)[None])[0]

    def geometry(self, image: Radiograph | Case | np.ndarray) -> np.ndarray:
        """The geometric steps only (crop, resize, pad): a ``(size, size)`` float32 array.

        Training caches this and applies augmentation before :meth:`finish`.
        """
        if isinstance(image, Case):
            image = image.image
        pixels = image.pixels if isinstance(image, Radiograph) else _as_grey(image)
        if self.quantize_8bit:
            pixels = np.rint(pixels * 255.0).astype(np.float32) / np.float32(255.0)
        if self.crop_foreground:
            pixels = crop_foreground(pixels, self.crop_threshold)
        if self.fit == "squash":
            return resize_to(pixels, self.size, self.size, self.resize)
        if self.fit == "center-crop":
            h, w = pixels.shape
            scale = self.size / min(h, w)
            nh, nw = max(self.size, round(h * scale)), max(self.size, round(w * scale))
            resized = resize_to(pixels, nh, nw, self.resize)
            top, left = (nh - self.size) // 2, (nw - self.size) // 2
            return np.ascontiguousarray(
                resized[top : top + self.size, left : left + self.size], dtype=np.float32
            )
        return pad_square(resize_longest(pixels, self.size, self.resize), self.size)

    def finish(self, squares: Any) -> Any:
        """Normalisation and channels: ``(N, size, size)`` -> ``(N, channels, size, size)``.

        Works on numpy arrays and on torch tensors alike (training runs it on batches).
        """
        out = squares
        if self.normalize == "per-image":
            if isinstance(out, np.ndarray):
                mean = out.mean(axis=(-2, -1), keepdims=True)
                sd = out.std(axis=(-2, -1), keepdims=True)
            else:
                mean = out.mean(dim=(-2, -1), keepdim=True)
                sd = out.std(dim=(-2, -1), keepdim=True, unbiased=False)
            out = (out - mean) / (sd * (sd > 1e-6) + 1.0 * (sd <= 1e-6))
        elif self.normalize == "fixed":
            out = (out - self.mean) / self.std
        if isinstance(out, np.ndarray):
            out = out.astype(np.float32, copy=False)[:, None]
            out = np.repeat(out, 3, axis=1) if self.channels == 3 else out
            if self.normalize == "imagenet":
                mean = np.asarray(IMAGENET_MEAN, np.float32).reshape(1, 3, 1, 1)
                std = np.asarray(IMAGENET_STD, np.float32).reshape(1, 3, 1, 1)
                out = (out - mean) / std
            return out
        out = out[:, None]
        out = out.expand(-1, 3, -1, -1).contiguous() if self.channels == 3 else out
        if self.normalize == "imagenet":
            mean = out.new_tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1)
            std = out.new_tensor(IMAGENET_STD).reshape(1, 3, 1, 1)
            out = (out - mean) / std
        return out

    def batch(self, images: Sequence[Radiograph | Case | np.ndarray]) -> np.ndarray:
        """Preprocess several images into one ``(N, channels, size, size)`` array."""
        out = np.empty((len(images), *self.input_shape()), dtype=np.float32)
        for i, image in enumerate(images):
            out[i] = self(image)
        return out


def _as_grey(array: np.ndarray) -> np.ndarray:
    """Any array (grey or RGB(A), integer or float) as float32 grey in [0, 1]."""
    arr = np.asarray(array)
    if arr.ndim == 3 and arr.shape[-1] in (3, 4):
        arr = arr[..., :3].astype(np.float64).mean(axis=-1)
    if arr.ndim != 2 or arr.size == 0:
        raise InvalidInputError(f"cannot preprocess an array of shape {arr.shape}")
    if np.issubdtype(arr.dtype, np.integer) or arr.dtype == np.bool_:
        biggest = max(int(arr.max()), 0)
        depth = 8 if arr.dtype.itemsize == 1 else max(8, biggest.bit_length())
        return (np.clip(arr, 0, None).astype(np.float64) / ((1 << depth) - 1)).astype(np.float32)
    arr = arr.astype(np.float32)
    lo, hi = float(arr.min()), float(arr.max())
    if lo < 0.0 or hi > 1.0:
        arr = (arr - lo) / (hi - lo if hi > lo else 1.0)
    return np.nan_to_num(arr, nan=0.0).astype(np.float32)


def crop_foreground(pixels: np.ndarray, threshold: float = 0.0) -> np.ndarray:
    """Crop to the bounding box of pixels ``> threshold`` (the whole image if none is)."""
    fg = pixels > threshold
    rows = np.flatnonzero(fg.any(axis=1))
    if rows.size == 0:
        return pixels
    cols = np.flatnonzero(fg.any(axis=0))
    return pixels[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def resize_longest(pixels: np.ndarray, size: int, mode: str = "torch-area") -> np.ndarray:
    """Resize so the longest side is ``size``; each side becomes ``round(side * scale)``."""
    h, w = pixels.shape
    scale = size / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    return resize_to(pixels, nh, nw, mode)


def resize_to(pixels: np.ndarray, nh: int, nw: int, mode: str = "torch-area") -> np.ndarray:
    """Resize to ``nh x nw`` pixels with the ``resize`` mode of :class:`Preprocessing`."""
    h, w = pixels.shape
    if (nh, nw) == (h, w):
        return np.ascontiguousarray(pixels, dtype=np.float32)
    if mode == "torch-area":
        import torch
        import torch.nn.functional as F

        t = torch.from_numpy(np.array(pixels, dtype=np.float32, copy=True))[None, None]
        return F.adaptive_avg_pool2d(t, (nh, nw))[0, 0].numpy()
    import cv2

    interp = cv2.INTER_AREA if mode == "cv2-area" else cv2.INTER_LINEAR
    src = np.ascontiguousarray(pixels, dtype=np.float32)
    return cv2.resize(src, (nw, nh), interpolation=interp)


def pad_square(pixels: np.ndarray, size: int) -> np.ndarray:
    """Pad with zeros to ``size x size``, half before and half after (MONAI's symmetric)."""
    h, w = pixels.shape
    if (h, w) == (size, size):
        return pixels
    out = np.zeros((size, size), dtype=np.float32)
    top, left = (size - h) // 2, (size - w) // 2
    out[top : top + h, left : left + w] = pixels
    return out


STUDY_320 = Preprocessing(
    name="study-320", size=320, channels=3, crop_foreground=True, crop_threshold=0.0
)
"""The reference study's preprocessing (see module docs)."""

SQUARE_512 = Preprocessing(
    name="square-512", size=512, channels=3, crop_foreground=True, crop_threshold=0.02
)
"""Longest side 512 after cropping to pixels above 2% grey; 3 channels, no normalisation."""

PHANTOM_128 = Preprocessing(
    name="phantom-128",
    size=128,
    channels=1,
    crop_foreground=False,
    resize="cv2-area",
    normalize="per-image",
)
"""Small and fast: longest side 128, 1 channel, per-image standardisation."""

PHANTOM_256 = attrs.evolve(PHANTOM_128, name="phantom-256", size=256)
"""As :data:`PHANTOM_128` at 256 pixels: physeal gaps of a 512-px phantom stay visible."""

IMAGENET_224 = Preprocessing(
    name="imagenet-224", size=224, channels=3, crop_foreground=False, normalize="imagenet"
)
"""A typical ImageNet-pretrained classifier: longest side 224, padded, 3 channels, ImageNet
mean and SD per channel."""

PRESETS: dict[str, Preprocessing] = {
    p.name: p for p in (STUDY_320, SQUARE_512, PHANTOM_128, PHANTOM_256, IMAGENET_224)
}
"""The named presets."""


def get_preprocessing(spec: str | Preprocessing | Mapping[str, Any]) -> Preprocessing:
    """A preset by name, a :class:`Preprocessing` itself, or one built from a dict."""
    if isinstance(spec, Preprocessing):
        return spec
    if isinstance(spec, str):
        if spec not in PRESETS:
            raise InvalidInputError(f"unknown preprocessing {spec!r}", available=sorted(PRESETS))
        return PRESETS[spec]
    return Preprocessing.from_dict(spec)

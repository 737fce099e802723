"""The values radinpaint passes between its parts.

All records are frozen attrs classes, validated at construction. Pixel arrays are stored
read-only, so a record can be shared between threads and cached without defensive copies.

Pixels inside the library are ``float32``, shape ``(H, W)``, range ``[0, 1]``, together with
the bit depth of the source (8, 10, 12, 14 or 16). :meth:`Radiograph.to_uint` gives them back
at that depth, exactly: ``Radiograph.from_uint(a, 16).to_uint()`` equals ``a``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from .errors import InvalidInputError, MissingLabelError, ShapeMismatchError

if TYPE_CHECKING:
    from .inpainters.geometry import Placement

__all__ = [
    "PHOTOMETRICS",
    "SUPPORTED_BIT_DEPTHS",
    "Case",
    "InpaintFailure",
    "InpaintRequest",
    "InpaintResult",
    "Mask",
    "MaskComponent",
    "Predictions",
    "Radiograph",
    "check_same_shape",
    "parse_sex",
]

SUPPORTED_BIT_DEPTHS: tuple[int, ...] = (8, 10, 12, 14, 16)
"""Bit depths a :class:`Radiograph` can come from and be written back at."""

PHOTOMETRICS: tuple[str, ...] = ("MONOCHROME2", "MONOCHROME1")
"""How the source stored grey levels. Pixels in a Radiograph are always MONOCHROME2
(bright = dense); ``photometric`` records what the source file said."""


def _shareable(arr: np.ndarray, dtype: np.dtype | type | None) -> bool:
    """True when ``arr`` can be kept as is: nobody can write its memory through another name.

    That holds for a plain, C-contiguous, read-only array (of ``dtype`` when given) whose
    memory belongs to read-only arrays only: its own, or a chain of read-only bases. Memory
    owned by anything else (a ``bytearray``, an ``mmap``, a writable array) is not trusted.
    """
    if type(arr) is not np.ndarray or arr.flags.writeable or not arr.flags.c_contiguous:
        return False
    if dtype is not None and arr.dtype != dtype:
        return False
    base = arr.base
    while base is not None:
        if type(base) is not np.ndarray or base.flags.writeable:
            return False
        base = base.base
    return True


def _frozen_array(value: object, dtype: np.dtype | type | None = None) -> np.ndarray:
    """A read-only array of ``value``: the array itself when that is safe, else a copy."""
    if isinstance(value, np.ndarray) and _shareable(value, dtype):
        return value
    out = np.array(value, copy=True)
    out.setflags(write=False)
    return out


def _frozen_pixels(value: object) -> np.ndarray:
    return _frozen_array(value, np.float32)


def _sealed(array: np.ndarray) -> np.ndarray:
    """Mark an array this module just made read-only, so the record need not copy it."""
    array.setflags(write=False)
    return array


def _check_bit_depth(instance: object, attribute: attrs.Attribute, value: int) -> None:
    if value not in SUPPORTED_BIT_DEPTHS:
        source = instance.source if isinstance(instance, Radiograph) else None
        raise InvalidInputError(
            f"unsupported bit depth {value!r} for {type(instance).__name__}",
            input=source,
            available=[str(b) for b in SUPPORTED_BIT_DEPTHS],
            fix="pass the bit depth the image was stored at",
        )


def check_same_shape(image_shape: tuple[int, ...], mask_shape: tuple[int, ...], what: str) -> None:
    """Raise :class:`ShapeMismatchError` unless a mask's shape equals its image's shape.

    Masks are never resized silently: a mismatch means the mask belongs to another image.
    """
    if tuple(image_shape) != tuple(mask_shape):
        raise ShapeMismatchError(
            f"mask shape {tuple(mask_shape)} does not match image shape {tuple(image_shape)}",
            input=what,
            fix="give a mask made for this image (same height and width)",
        )


@attrs.frozen(eq=False, repr=False)
class Radiograph:
    """A grey radiograph: float32 pixels ``(H, W)`` in ``[0, 1]`` and how they were stored.

    Build one with :meth:`from_uint` (integer pixels) or :meth:`from_float`; the constructor
    itself validates strictly (2-D, finite, in range) and never clips.

    Attributes:
        pixels: read-only float32 array, 0 = black (no attenuation), 1 = white.
        bit_depth: the source depth (8, 10, 12, 14, 16); writers keep it.
        source: where the pixels came from (a path, ``"phantom:seed=3"``), or ``None``.
        photometric: what the source said (``MONOCHROME1`` sources are inverted on read).
    """

    pixels: np.ndarray = attrs.field(converter=_frozen_pixels)
    bit_depth: int = attrs.field(default=16, validator=_check_bit_depth)
    source: str | None = None
    photometric: str = attrs.field(default="MONOCHROME2")
    _hash: str | None = attrs.field(init=False, default=None, eq=False, repr=False)

    @pixels.validator
    def _check_pixels(self, attribute: attrs.Attribute, value: np.ndarray) -> None:
        if value.ndim != 2:
            raise InvalidInputError(
                f"a radiograph must be a 2-D grey array, got shape {value.shape}",
                input=self.source,
                fix="convert colour images to grey (e.g. radinpaint.io.read_image does)",
            )
        if value.shape[0] < 1 or value.shape[1] < 1:
            raise InvalidInputError(f"empty image of shape {value.shape}", input=self.source)
        if value.dtype != np.float32:
            raise InvalidInputError(
                f"radiograph pixels must be float32, got {value.dtype}",
                input=self.source,
                fix="use Radiograph.from_uint for integer pixels or Radiograph.from_float",
            )
        if not np.isfinite(value).all():
            raise InvalidInputError(
                "radiograph has NaN or infinite pixels",
                input=self.source,
                fix="replace non-finite values before building the Radiograph",
            )
        lo, hi = float(value.min()), float(value.max())
        if lo < 0.0 or hi > 1.0:
            raise InvalidInputError(
                f"radiograph pixels must lie in [0, 1], got [{lo:.4g}, {hi:.4g}]",
                input=self.source,
                fix="use Radiograph.from_float(..., clip=True) or rescale first",
            )

    @photometric.validator
    def _check_photometric(self, attribute: attrs.Attribute, value: str) -> None:
        if value not in PHOTOMETRICS:
            raise InvalidInputError(
                f"unknown photometric interpretation {value!r}",
                input=self.source,
                available=PHOTOMETRICS,
                fix="pass MONOCHROME2 (0 = black) or MONOCHROME1 (0 = white), as the file says",
            )

    @classmethod
    def from_uint(
        cls,
        array: np.ndarray,
        bit_depth: int | None = None,
        *,
        source: str | None = None,
        photometric: str = "MONOCHROME2",
    ) -> Radiograph:
        """Build from integer pixels stored at ``bit_depth`` (default: 8 for uint8, else 16).

        Values above ``2**bit_depth - 1`` are an error (the depth is wrong), never clipped.
        """
        arr = np.asarray(array)
        if not np.issubdtype(arr.dtype, np.integer) and arr.dtype != np.bool_:
            raise InvalidInputError(
                f"from_uint needs integer pixels, got {arr.dtype}",
                input=source,
                fix="use Radiograph.from_float for floating-point pixels",
            )
        if bit_depth is None:
            bit_depth = 8 if arr.dtype.itemsize == 1 else 16
        _check_bit_depth(cls, None, bit_depth)  # type: ignore[arg-type]
        top = (1 << bit_depth) - 1
        if arr.size and (int(arr.max()) > top or int(arr.min()) < 0):
            raise InvalidInputError(
                f"pixel values [{int(arr.min())}, {int(arr.max())}] do not fit {bit_depth} bits",
                input=source,
                fix="pass the bit depth the image was stored at",
            )
        pixels = _sealed((arr.astype(np.float64) / top).astype(np.float32))
        return cls(pixels, bit_depth, source, photometric)

    @classmethod
    def from_float(
        cls,
        array: np.ndarray,
        bit_depth: int = 16,
        *,
        source: str | None = None,
        clip: bool = False,
    ) -> Radiograph:
        """Build from floating-point pixels in ``[0, 1]`` (``clip=True`` clamps overshoot)."""
        arr = np.asarray(array, dtype=np.float32)
        if clip:
            arr = _sealed(np.clip(arr, 0.0, 1.0))
        return cls(arr, bit_depth, source)

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)``."""
        return self.pixels.shape

    @property
    def max_value(self) -> int:
        """The largest integer value at this bit depth (255, 4095, 65535, ...)."""
        return (1 << self.bit_depth) - 1

    def to_uint(self) -> np.ndarray:
        """Pixels as integers at the source bit depth (uint8 for 8 bits, else uint16)."""
        dtype = np.uint8 if self.bit_depth == 8 else np.uint16
        return np.rint(self.pixels.astype(np.float64) * self.max_value).astype(dtype)

    def with_pixels(self, pixels: np.ndarray, *, clip: bool = False) -> Radiograph:
        """A new radiograph with other pixels and the same depth, source and photometric.

        Read-only float32 pixels (another record's, for instance) are shared, not copied.
        """
        arr = np.asarray(pixels, dtype=np.float32)
        if clip:
            arr = _sealed(np.clip(arr, 0.0, 1.0))
        return Radiograph(arr, self.bit_depth, self.source, self.photometric)

    def quantized(self) -> Radiograph:
        """Pixels rounded to the nearest level of the bit depth (what a writer stores)."""
        levels = self.to_uint().astype(np.float32) / np.float32(self.max_value)
        return self.with_pixels(_sealed(levels))

    def content_hash(self) -> str:
        """SHA-256 of the quantized pixels, shape and bit depth (ignores ``source``).

        Computed on the first call and kept: the pixels are read-only, so it cannot change.
        """
        cached = self._hash
        if cached is None:
            h = hashlib.sha256()
            h.update(f"radiograph:{self.shape}:{self.bit_depth}:".encode())
            h.update(np.ascontiguousarray(self.to_uint()).tobytes())
            cached = h.hexdigest()
            object.__setattr__(self, "_hash", cached)  # the same value whoever sets it first
        return cached

    def __repr__(self) -> str:
        return f"Radiograph(shape={self.shape}, bit_depth={self.bit_depth}, source={self.source!r})"


@attrs.frozen
class MaskComponent:
    """One connected artifact a mask provider found, for a person to review.

    Attributes:
        box: ``(x0, y0, x1, y1)`` in pixels, end-exclusive.
        kind: what it is: ``"plate"``, ``"letter"``, ``"text"``, ``"ruler"``, ``"artifact"``.
        score: the provider's confidence in ``[0, 1]``.
    """

    box: tuple[int, int, int, int] = attrs.field(converter=lambda b: tuple(int(v) for v in b))
    kind: str = "artifact"
    score: float = attrs.field(default=1.0, converter=float)

    @box.validator
    def _check_box(self, attribute: attrs.Attribute, value: tuple[int, ...]) -> None:
        if len(value) != 4 or value[2] < value[0] or value[3] < value[1]:
            raise InvalidInputError(f"a box is (x0, y0, x1, y1) with x1>=x0, y1>=y0; got {value}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"box": list(self.box), "kind": self.kind, "score": self.score}


def _components(value: Iterable[MaskComponent]) -> tuple[MaskComponent, ...]:
    return tuple(value)


def _bool_array(value: np.ndarray) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype != np.bool_:
        raise InvalidInputError(
            f"a mask must be a boolean array, got {arr.dtype}",
            input="Mask(array)",
            fix="use Mask.from_array, which thresholds integer and float masks",
        )
    return _frozen_array(arr, np.bool_)


@attrs.frozen(eq=False, repr=False)
class Mask:
    """Boolean ``(H, W)`` mask: True marks artifact pixels to remove.

    Attributes:
        array: read-only boolean array.
        source: who made it (a provider name or a file path), or ``None``.
        components: the connected artifacts found, when the provider reports them.
    """

    array: np.ndarray = attrs.field(converter=_bool_array)
    source: str | None = None
    components: tuple[MaskComponent, ...] = attrs.field(default=(), converter=_components)
    _hash: str | None = attrs.field(init=False, default=None, eq=False, repr=False)

    @array.validator
    def _check_array(self, attribute: attrs.Attribute, value: np.ndarray) -> None:
        if value.ndim != 2:
            raise InvalidInputError(
                f"a mask must be 2-D, got shape {value.shape}",
                input=self.source or "Mask(array)",
                fix="give one (height, width) mask per image; Mask.from_array takes the "
                "first channel of an RGB(A) mask",
            )

    @classmethod
    def from_array(
        cls, array: np.ndarray, *, source: str | None = None, threshold: float | None = None
    ) -> Mask:
        """Build from a boolean, integer or float array.

        Without ``threshold``, non-zero is True (0/1, 0/255 and soft masks in ``[0, 1]``
        alike: any value above 0 marks the pixel); the values must then be ``>= 0``. With
        ``threshold``, a value is True when it is ``> threshold`` (signed values such as
        logits are fine). NaN and infinite values are refused: they say nothing about
        whether a pixel is an artifact. RGB(A) masks are reduced to their first channel.

        Raises:
            InvalidInputError: non-finite or (without a threshold) negative values, a
                non-numeric array, or a threshold that is not a finite number.
        """
        what = source or "Mask.from_array"
        arr = np.asarray(array)
        if arr.ndim == 3:
            arr = arr[..., 0]
        if arr.dtype == np.bool_:
            return cls(arr, source)
        if arr.dtype.kind not in "iuf":
            raise InvalidInputError(
                f"a mask must hold booleans or numbers, got dtype {arr.dtype}",
                input=what,
                fix="give a boolean array, or numbers where 0 keeps a pixel",
            )
        if arr.dtype.kind == "f":
            bad = int(np.count_nonzero(~np.isfinite(arr)))
            if bad:
                raise InvalidInputError(
                    f"the mask has {bad} NaN or infinite value(s) of {arr.size}; they do "
                    "not say whether a pixel is an artifact",
                    input=what,
                    fix="replace them first, e.g. np.nan_to_num(array, nan=0.0) to keep "
                    "those pixels or nan=1.0 to remove them",
                )
        if threshold is None:
            if arr.size and arr.dtype.kind != "u" and arr.min() < 0:
                raise InvalidInputError(
                    f"the mask has negative values (down to {arr.min()}); without a "
                    "threshold, non-zero means 'remove', which is unclear for them",
                    input=what,
                    fix="pass threshold= (True where the value is above it), or give "
                    "values >= 0 (0 keeps a pixel)",
                )
            return cls(arr != 0, source)
        if (
            isinstance(threshold, (bool, np.bool_))
            or not isinstance(threshold, (int, float, np.integer, np.floating))
            or not np.isfinite(threshold)
        ):
            raise InvalidInputError(
                f"a mask threshold must be a finite number, got {threshold!r}",
                input=what,
                fix="pass e.g. threshold=0.5, or threshold=None for 'non-zero is True'",
            )
        return cls(arr > threshold, source)

    @classmethod
    def empty(cls, shape: tuple[int, int]) -> Mask:
        """An all-False mask."""
        return cls(np.zeros(shape, dtype=bool), "empty")

    @classmethod
    def full(cls, shape: tuple[int, int]) -> Mask:
        """An all-True mask (edit everything)."""
        return cls(np.ones(shape, dtype=bool), "full")

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)``."""
        return self.array.shape

    @property
    def is_empty(self) -> bool:
        """True when no pixel is marked."""
        return not bool(self.array.any())

    @property
    def is_full(self) -> bool:
        """True when every pixel is marked."""
        return bool(self.array.all())

    @property
    def fraction(self) -> float:
        """Fraction of pixels marked."""
        return float(self.array.mean())

    def _other(self, other: Mask) -> np.ndarray:
        check_same_shape(self.shape, other.shape, f"combining masks from {other.source!r}")
        return other.array

    def __or__(self, other: Mask) -> Mask:
        src = f"({self.source} | {other.source})"
        comps = self.components + other.components
        return Mask(_sealed(self.array | self._other(other)), src, comps)

    def __and__(self, other: Mask) -> Mask:
        both = _sealed(self.array & self._other(other))
        return Mask(both, f"({self.source} & {other.source})")

    def __invert__(self) -> Mask:
        return Mask(_sealed(~self.array), f"~{self.source}")

    def dilate(self, pixels: int) -> Mask:
        """Grow the mask by ``pixels`` in every direction (a disc-shaped margin)."""
        if pixels < 0:
            raise InvalidInputError(
                f"dilation must be >= 0 pixels, got {pixels}",
                input=self.source or "Mask.dilate",
                fix="pass a margin of 0 or more pixels",
            )
        if pixels == 0 or self.is_empty:
            return self
        import cv2

        size = 2 * pixels + 1
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
        grown = cv2.dilate(self.array.astype(np.uint8), kernel) > 0
        return Mask(grown, f"{self.source}+{pixels}px", self.components)

    def content_hash(self) -> str:
        """SHA-256 of the mask bits and shape (computed on the first call and kept)."""
        cached = self._hash
        if cached is None:
            h = hashlib.sha256()
            h.update(f"mask:{self.shape}:".encode())
            h.update(np.packbits(self.array).tobytes())
            cached = h.hexdigest()
            object.__setattr__(self, "_hash", cached)  # the same value whoever sets it first
        return cached

    def __repr__(self) -> str:
        return f"Mask(shape={self.shape}, fraction={self.fraction:.4f}, source={self.source!r})"


def _optional_float(value: object) -> float | None:
    if value is None:
        return None
    out = float(value)  # type: ignore[arg-type]
    if not np.isfinite(out):
        raise InvalidInputError(f"label must be finite, got {value!r}")
    return out


_MALE = frozenset({"true", "t", "m", "male", "1", "1.0", "yes"})
_FEMALE = frozenset({"false", "f", "female", "0", "0.0", "no"})
_UNKNOWN = frozenset({"", "nan", "none", "na", "unknown"})


def parse_sex(value: object, *, where: str | None = None) -> bool | None:
    """Parse a sex label: True/False, M/F, male/female, 1/0 (True = male).

    ``None``, NaN and empty or "unknown" strings mean unknown and give ``None``; anything
    else raises :class:`InvalidInputError` naming ``where`` (a file and row, an option).
    """
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)) and int(value) in (0, 1):
        return bool(value)
    if isinstance(value, (float, np.floating)) and np.isnan(value):
        return None
    text = str(value).strip().lower()
    if text in _MALE:
        return True
    if text in _FEMALE:
        return False
    if text in _UNKNOWN:
        return None
    raise InvalidInputError(
        f"sex label {value!r} is not understood",
        input=where,
        fix="use True/False, M/F, male/female or 1/0",
    )


@attrs.frozen(eq=False)
class Case:
    """One radiograph with its labels and masks.

    Attributes:
        id: unique within its dataset.
        image: the radiograph.
        bone_age_months: ground-truth bone age, or ``None`` when unknown.
        male: ground-truth sex (True = male), or ``None`` when unknown.
        artifact_mask: the artifacts to remove, when known (phantoms, annotated data).
        anatomy_mask: the hand, when known.
        clean_image: the same radiograph without artifacts (phantoms only).
        metadata: anything else (acquisition parameters, dataset split).
    """

    id: str = attrs.field(converter=str)
    image: Radiograph
    bone_age_months: float | None = attrs.field(default=None, converter=_optional_float)
    male: bool | None = attrs.field(default=None, converter=parse_sex)
    artifact_mask: Mask | None = None
    anatomy_mask: Mask | None = None
    clean_image: Radiograph | None = None
    metadata: Mapping[str, Any] = attrs.field(factory=dict)

    def __attrs_post_init__(self) -> None:
        for name in ("artifact_mask", "anatomy_mask", "clean_image"):
            other = getattr(self, name)
            if other is not None:
                check_same_shape(self.image.shape, other.shape, f"case {self.id} {name}")

    def require_labels(self, *, bone_age: bool = True, sex: bool = True) -> None:
        """Raise :class:`MissingLabelError` if a needed label is absent."""
        missing = []
        if bone_age and self.bone_age_months is None:
            missing.append("bone_age_months")
        if sex and self.male is None:
            missing.append("male")
        if missing:
            raise MissingLabelError(
                f"case {self.id} has no {' and no '.join(missing)}",
                input=self.image.source or self.id,
                fix="add the label to the dataset's CSV, or drop the metric that needs it",
            )


def _non_negative_int(value: object, name: str) -> int:
    """``value`` as a Python int when it is an integer >= 0 (numpy ints too, bool not)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise InvalidInputError(
            f"an inpaint request's {name} must be an integer >= 0, got {value!r} "
            f"({type(value).__name__})",
            input=f"InpaintRequest.{name}",
            fix=f"pass {name}= a whole number such as 0 or 42",
        )
    if value < 0:
        raise InvalidInputError(
            f"an inpaint request's {name} must be >= 0, got {value}",
            input=f"InpaintRequest.{name}",
            fix=f"pass {name}= a whole number such as 0 or 42",
        )
    return int(value)


@attrs.frozen(eq=False)
class InpaintRequest:
    """One image to inpaint: the image, what to remove, the prompt and the seed.

    Attributes:
        image: the radiograph to edit.
        mask: True where the backend should replace pixels (same shape as ``image``).
        prompt: text for prompted backends; ``None`` lets the backend use its default.
        seed: the user's seed; variant ``k`` runs with ``derive_seed(seed, k)``.
        variant: which of the K variants this request is (0-based).
        case_id: the case this came from, for reports.
    """

    image: Radiograph
    mask: Mask
    prompt: str | None = None
    seed: int = attrs.field(default=0, converter=lambda v: _non_negative_int(v, "seed"))
    variant: int = attrs.field(default=0, converter=lambda v: _non_negative_int(v, "variant"))
    case_id: str | None = None

    def __attrs_post_init__(self) -> None:
        check_same_shape(
            self.image.shape, self.mask.shape, f"inpaint request for {self.case_id or self.image}"
        )

    @property
    def variant_seed(self) -> int:
        """The seed this variant runs with: ``derive_seed(seed, variant)``."""
        from .seeds import derive_seed

        return derive_seed(self.seed, self.variant)


def _scrubbed(options: Mapping[str, Any]) -> dict[str, Any]:
    from .scrub import scrub_options

    return scrub_options(options)


def _flags(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


@attrs.frozen(eq=False)
class InpaintResult:
    """What a backend produced for one request, and everything needed to replay it.

    Attributes:
        image: the output, same shape and bit depth as the request's image.
        backend: the registered backend name.
        options: the backend's options (JSON-serialisable). Secrets are scrubbed here, by
            the record itself (:func:`radinpaint.scrub.scrub_options`), whatever path built
            it: names that look like secrets are dropped, URL credentials cut.
        seed: the seed the output was generated with (``request.variant_seed``).
        prompt: the prompt actually sent, or ``None``.
        variant: the variant index.
        case_id: the case id, if known.
        seconds: wall time spent on this output.
        cost_usd: money spent on this output (API backends), else 0.
        compositing: ``"paste-back"``, ``"feather"``, ``"raw"`` or ``None`` (not applicable).
        flags: notes such as ``"empty-mask"`` (input returned) or ``"8-bit-roundtrip"``.
        extra: backend-specific facts (model version, usage, cache key).
        placement: how the backend saw the image
            (:class:`~radinpaint.inpainters.geometry.Placement`: the region it was given,
            resized how, padded how), or ``None`` when it worked on the image as it is, at
            its own size. The image above is always at the request's shape.
        returned: the output as the backend returned it, in its own frame, when that frame
            is the whole image at another size (the study's squashed 1024x1024 output, a
            letterboxed square); ``None`` otherwise (the image above is then what the
            backend returned, placed back). An evaluation scoring outputs ``"as-returned"``
            reads this one.
    """

    image: Radiograph
    backend: str
    options: Mapping[str, Any] = attrs.field(factory=dict, converter=_scrubbed)
    seed: int = 0
    prompt: str | None = None
    variant: int = 0
    case_id: str | None = None
    seconds: float = 0.0
    cost_usd: float = 0.0
    compositing: str | None = None
    flags: tuple[str, ...] = attrs.field(default=(), converter=_flags)
    extra: Mapping[str, Any] = attrs.field(factory=dict)
    placement: Placement | None = None
    returned: Radiograph | None = None

    def to_record(self) -> dict[str, Any]:
        """JSON-ready description of how this result was produced (no pixels)."""
        return {
            "backend": self.backend,
            "options": dict(self.options),
            "seed": self.seed,
            "prompt": self.prompt,
            "variant": self.variant,
            "case_id": self.case_id,
            "seconds": self.seconds,
            "cost_usd": self.cost_usd,
            "compositing": self.compositing,
            "flags": list(self.flags),
            "extra": dict(self.extra),
            "placement": None if self.placement is None else self.placement.to_dict(),
            "shape": list(self.image.shape),
            "bit_depth": self.image.bit_depth,
            "returned_shape": None if self.returned is None else list(self.returned.shape),
        }


@attrs.frozen
class InpaintFailure:
    """A request a backend could not answer, returned in its place by ``inpaint``.

    A backend that groups requests into calls reports each request's fate: the requests of
    a call that succeeded get an :class:`InpaintResult`, those of a call that failed get
    this record, so nothing already paid for is thrown away with its neighbours.

    Attributes:
        error: why, in one line (the input and, where known, the fix).
        case_id: the request's case id.
        variant: the request's variant index.
        retryable: whether sending the request again may succeed (a timeout, a 5xx); False
            for a refusal that would repeat (content policy, invalid input).
        fatal: every further call to this backend would fail too (budget spent, model gone,
            bad credentials): the caller stops calling it.
    """

    error: str
    case_id: str | None = None
    variant: int = 0
    retryable: bool = True
    fatal: bool = False

    @classmethod
    def for_request(
        cls, request: InpaintRequest, error: str, *, retryable: bool = True, fatal: bool = False
    ) -> InpaintFailure:
        """The failure record of ``request``."""
        return cls(error, request.case_id, request.variant, retryable, fatal)


def _failure_map(value: Mapping[Any, Any] | None) -> dict[int, str]:
    return {int(k): str(v) for k, v in (value or {}).items()}


def _optional_vector(value: object) -> np.ndarray | None:
    if value is None:
        return None
    return _frozen_array(np.asarray(value, dtype=np.float64))


@attrs.frozen(eq=False)
class Predictions:
    """What a predictor read from a batch of N images.

    Attributes:
        predictor: the registered predictor name.
        bone_age_months: ``(N,)`` aggregated bone age, or ``None`` if not predicted.
        p_male: ``(N,)`` aggregated probability of male, or ``None``.
        member_bone_age: ``(N, M)`` per-member bone age, for spread.
        member_p_male: ``(N, M)`` per-member probability of male.
        failures: images of the batch the predictor could not read (index -> reason); their
            values are NaN. A predictor reports a bad image here rather than failing the
            batch, so its neighbours' predictions are kept.
    """

    predictor: str
    bone_age_months: np.ndarray | None = attrs.field(default=None, converter=_optional_vector)
    p_male: np.ndarray | None = attrs.field(default=None, converter=_optional_vector)
    member_bone_age: np.ndarray | None = attrs.field(default=None, converter=_optional_vector)
    member_p_male: np.ndarray | None = attrs.field(default=None, converter=_optional_vector)
    failures: Mapping[int, str] = attrs.field(factory=dict, converter=_failure_map)

    def __attrs_post_init__(self) -> None:
        if self.bone_age_months is None and self.p_male is None:
            raise InvalidInputError("predictions need bone_age_months, p_male or both")
        n = len(self)
        outside = [i for i in self.failures if not 0 <= i < n]
        if outside:
            raise InvalidInputError(
                f"failures name image(s) {outside} of a batch of {n}",
                fix="key failures by the image's index in the batch",
            )
        for name in ("bone_age_months", "p_male"):
            arr = getattr(self, name)
            if arr is not None and arr.shape != (n,):
                raise InvalidInputError(f"{name} has shape {arr.shape}, expected ({n},)")
        for name in ("member_bone_age", "member_p_male"):
            arr = getattr(self, name)
            if arr is not None and (arr.ndim != 2 or arr.shape[0] != n):
                raise InvalidInputError(f"{name} has shape {arr.shape}, expected ({n}, M)")
        if self.p_male is not None and ((self.p_male < 0) | (self.p_male > 1)).any():
            raise InvalidInputError("p_male must lie in [0, 1]")

    def __len__(self) -> int:
        arr = self.bone_age_months if self.bone_age_months is not None else self.p_male
        return int(arr.shape[0])  # type: ignore[union-attr]

    @classmethod
    def concatenate(cls, parts: Sequence[Predictions]) -> Predictions:
        """Join predictions of consecutive batches from the same predictor."""
        if not parts:
            raise InvalidInputError("nothing to concatenate")

        def cat(name: str) -> np.ndarray | None:
            arrays = [getattr(p, name) for p in parts]
            return None if arrays[0] is None else np.concatenate(arrays, axis=0)

        failures: dict[int, str] = {}
        offset = 0
        for part in parts:
            failures.update({offset + i: why for i, why in part.failures.items()})
            offset += len(part)
        return cls(
            parts[0].predictor,
            cat("bone_age_months"),
            cat("p_male"),
            cat("member_bone_age"),
            cat("member_p_male"),
            failures,
        )

    def member_spread(self) -> dict[str, np.ndarray]:
        """Per-image standard deviation (ddof 0) across members, for each target predicted.

        Missing (NaN) members are skipped, as the ensemble's mean skips them; NaN for an
        image with fewer than 2 members left (one member has no spread); exactly 0 when
        the members agree. :func:`radinpaint.metrics.stats.finite_sd`, as the evaluation's
        ``member_sd_*`` columns.
        """
        from .metrics.stats import finite_sd

        out: dict[str, np.ndarray] = {}
        if self.member_bone_age is not None:
            out["bone_age_months"] = np.asarray(
                finite_sd(self.member_bone_age, min_count=2, axis=1)
            )
        if self.member_p_male is not None:
            out["p_male"] = np.asarray(finite_sd(self.member_p_male, min_count=2, axis=1))
        return out

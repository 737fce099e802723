"""Control backends: ``identity`` (negative), ``blur`` (positive), ``resample`` (geometry).

``identity`` returns its input: every effect measured on it must be exactly zero, which makes
it the first check of any evaluation pipeline.

``blur`` is a positive control: a known, deliberate damage. It blurs the image
(``region="image"``) or the mask only (``region="mask"``) with a Gaussian of ``sigma``
pixels, with no geometry. Fine bone detail is what a bone-age model reads, so a blur moves
its readings systematically (on the bundled phantoms, 512 pixels high, ``sigma=1.5``
makes the shipped ensemble read the bone age about 3 months younger); a pipeline that cannot
see that shift cannot be trusted to report a null effect.

``resample`` does what the reference study did to every radiograph, and nothing else:
squash to ``size`` x ``size`` (aspect ratio not kept) and round to ``bits`` bits (8: the RGB
PNG the study sent). Its result holds both frames: ``image`` resized back to the original
shape, and ``returned``, the squashed square itself. The study never resized back: its
predictors read the squashed 1024x1024 outputs. So the control offers both measurements:

- scored restored (the default), it measures the interpolation and 8-bit loss of a squash
  and back, which is what a pipeline that restores the geometry keeps of it;
- scored as returned (an evaluation with ``geometry="as-returned"``, as the study preset
  runs, or ``restore=False`` here in any evaluation), it is the study's geometry: the
  predictors read the squashed square, with the hand's aspect ratio changed.

It changes pixels everywhere on purpose, so its compositing is ``"raw"``. Like every
backend it returns an image with an empty mask unchanged (flagged ``"empty-mask"``): give it
the masks the edited run used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs
import numpy as np

from ..capabilities import Capabilities
from ..errors import InvalidInputError
from ..hookspecs import Register, hookimpl
from ..records import InpaintRequest
from .base import PerImageInpainter, options_declared

__all__ = ["CONTROL_CAPABILITIES", "BlurControl", "IdentityInpainter", "ResampleControl"]

if TYPE_CHECKING:
    from .geometry import Placement


@attrs.define
class IdentityInpainter(PerImageInpainter):
    """Returns every input unchanged (negative control)."""

    name = "identity"
    compositing = "paste-back"

    def inpaint_one(self, request: InpaintRequest) -> np.ndarray:
        """The request's own pixels."""
        return request.image.pixels


def _sigma(instance: object, attribute: attrs.Attribute, value: float) -> None:
    if not 0.0 < value <= 100.0:
        raise InvalidInputError(
            f"blur sigma must be a positive number of pixels (at most 100), got {value}",
            fix="use a small sigma such as 1.5 (pixels)",
        )


def _region(instance: object, attribute: attrs.Attribute, value: str) -> None:
    if value not in ("image", "mask"):
        raise InvalidInputError(
            f"blur region must be 'image' or 'mask', got {value!r}",
            fix="use region=image (the whole radiograph) or region=mask",
        )


@attrs.define
class BlurControl(PerImageInpainter):
    """Blurs the image or the mask with a Gaussian of ``sigma`` pixels (positive control).

    Args:
        sigma: the Gaussian's standard deviation in pixels.
        region: ``"image"`` (every pixel, so the change lies mostly outside the mask) or
            ``"mask"`` (the masked pixels only).
    """

    sigma: float = attrs.field(default=1.5, converter=float, validator=_sigma)
    region: str = attrs.field(default="image", validator=_region)

    name = "blur"
    compositing = "raw"

    def inpaint_one(self, request: InpaintRequest) -> np.ndarray:
        """The request's pixels blurred (where ``region`` says)."""
        import cv2

        pixels = request.image.pixels
        blurred = cv2.GaussianBlur(pixels, (0, 0), self.sigma, borderType=cv2.BORDER_REFLECT)
        if self.region == "mask":
            blurred = np.where(request.mask.array, blurred, pixels)
        return np.clip(blurred, 0.0, 1.0).astype(np.float32, copy=False)


def _size(instance: object, attribute: attrs.Attribute, value: int) -> None:
    if value < 8:
        raise InvalidInputError(f"resample size must be >= 8 pixels, got {value}")


def _bits(instance: object, attribute: attrs.Attribute, value: int | None) -> None:
    if value is not None and not 1 <= value <= 16:
        raise InvalidInputError(
            f"resample bits must be between 1 and 16 (or None to keep float), got {value}",
            fix="use bits=8 for the study's 8-bit PNG round trip",
        )


@attrs.define
class ResampleControl(PerImageInpainter):
    """The study's squash to ``size`` x ``size`` at ``bits`` bits, with no edit (geometry only).

    Args:
        size: the square side the image is squashed to (the study: 1024).
        bits: the bit depth of the intermediate image (the study: 8); ``None`` keeps float32.
        restore: ``True``: scored as the evaluation scores every output (restored by
            default: squash and back). ``False``: always scored as the squashed square the
            study's predictors read (flag ``"as-returned"``), also in an evaluation that
            restores the other backends' outputs.
    """

    size: int = attrs.field(default=1024, converter=int, validator=_size)
    bits: int | None = attrs.field(default=8, validator=_bits)
    restore: bool = attrs.field(default=True, converter=bool)

    name = "resample"
    compositing = "raw"

    def inpaint_one(self, request: InpaintRequest) -> np.ndarray:
        """Squash, quantize, resize back."""
        return self.inpaint_one_returned(request)[0]

    def inpaint_one_returned(self, request: InpaintRequest) -> tuple[np.ndarray, np.ndarray]:
        """Squash and quantize (the returned square), then resize back (the image)."""
        from .compositing import quantize
        from .geometry import plan

        placement = plan(request.image.shape, size=self.size, mode="squash")
        squashed = placement.to_backend(request.image.pixels)
        if self.bits is not None:
            squashed = quantize(squashed, self.bits)
        return placement.from_backend(squashed), squashed

    def result_placement(self, request: InpaintRequest) -> Placement:
        """The squash to ``size`` x ``size`` (and back) every output went through."""
        from .geometry import plan

        return plan(request.image.shape, size=self.size, mode="squash")

    def result_flags(self, request: InpaintRequest) -> tuple[str, ...]:
        """``"<bits>-bit-roundtrip"`` (e.g. ``"8-bit-roundtrip"``) when the intermediate
        image is rounded, ``"as-returned"`` with ``restore=False``."""
        flags: list[str] = []
        if self.bits is not None:
            flags.append(f"{self.bits}-bit-roundtrip")
        if not self.restore:
            flags.append("as-returned")
        return tuple(flags)


CONTROL_CAPABILITIES = Capabilities(
    deterministic=True, device="cpu", max_concurrency=2, batch_size=8
)
"""Both controls ignore the seed and are pure numpy/OpenCV functions of the request (no
state is written during ``inpaint``), so two threads may share one object."""


@hookimpl
def radinpaint_register_inpainters(register: Register) -> None:
    """Register the control backends."""
    register(
        "identity",
        IdentityInpainter,
        summary="Returns the input unchanged (negative control)",
        capabilities=options_declared(CONTROL_CAPABILITIES),
    )
    register(
        "blur",
        BlurControl,
        summary="Gaussian blur of sigma pixels (positive control: a known damage)",
        capabilities=options_declared(CONTROL_CAPABILITIES),
    )
    register(
        "resample",
        ResampleControl,
        summary="The study's squash to 1024x1024 8-bit and back, no edit (geometry only)",
        capabilities=options_declared(CONTROL_CAPABILITIES),
    )

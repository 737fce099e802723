"""Control backends: ``identity`` (the negative control) and ``resample`` (geometry only).

``identity`` returns its input: every effect measured on it must be exactly zero, which makes
it the first check of any evaluation pipeline.

``resample`` does what the reference study did to every radiograph before and after the
edit, and nothing else: squash to ``size`` x ``size`` (aspect ratio not kept), round to
``bits`` bits (8: the RGB PNG the study sent), and resize back to the original shape. The
difference between it and the original is the effect of the geometry alone. It changes
pixels everywhere on purpose, so its compositing is ``"raw"``. Like every backend it returns
an image with an empty mask unchanged (flagged ``"empty-mask"``): give it the masks the
edited run used (the study's protocol uses a full mask).
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

__all__ = ["CONTROL_CAPABILITIES", "IdentityInpainter", "ResampleControl"]

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
    """The study's squash-to-``size``, ``bits``-bit round trip with no edit (geometry only).

    Args:
        size: the square side the image is squashed to (the study: 1024).
        bits: the bit depth of the intermediate image (the study: 8); ``None`` keeps float32.
    """

    size: int = attrs.field(default=1024, converter=int, validator=_size)
    bits: int | None = attrs.field(default=8, validator=_bits)

    name = "resample"
    compositing = "raw"

    def inpaint_one(self, request: InpaintRequest) -> np.ndarray:
        """Squash, quantize, resize back."""
        from .compositing import quantize
        from .geometry import plan

        placement = plan(request.image.shape, size=self.size, mode="squash")
        squashed = placement.to_backend(request.image.pixels)
        if self.bits is not None:
            squashed = quantize(squashed, self.bits)
        return placement.from_backend(squashed)

    def result_placement(self, request: InpaintRequest) -> Placement:
        """The squash to ``size`` x ``size`` (and back) every output went through."""
        from .geometry import plan

        return plan(request.image.shape, size=self.size, mode="squash")

    def result_flags(self, request: InpaintRequest) -> tuple[str, ...]:
        """``"8-bit-roundtrip"`` when the intermediate image has 8 bits or fewer."""
        if self.bits is not None and self.bits <= 8:
            return ("8-bit-roundtrip",)
        return ()


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
        "resample",
        ResampleControl,
        summary="The study's squash to 1024x1024 8-bit and back, no edit (geometry only)",
        capabilities=options_declared(CONTROL_CAPABILITIES),
    )

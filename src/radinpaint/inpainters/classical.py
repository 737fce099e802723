"""Classical inpainting: ``telea``, ``navier-stokes`` (OpenCV) and ``biharmonic`` (scikit-image).

They need no training and no GPU, fill a marker-sized hole in milliseconds, and keep every
pixel outside the mask exactly (paste-back), which makes them the reference any generative
backend should beat.

Each works on the mask's bounding box grown by ``margin`` pixels, never on the whole image:
on a 2048x2048 radiograph with a lead marker this is what makes ``biharmonic`` usable.

Bit depth: OpenCV's ``cv2.inpaint`` takes 8-bit, 16-bit or float32 single-channel images.
Its Telea method adds an error of up to about 1.4 grey *units* whatever the range (a flat
8-bit region of 153 comes back as 152-155, a flat 16-bit one of 39321 as 39320-39323), so on
float32 pixels in ``[0, 1]`` it returns wrong values (negative ones in a flat grey region).
Both OpenCV methods therefore run on float32 pixels scaled to ``[0, 2**20]``: the error
falls to about 0.1 of a 16-bit level, below one level at every depth (measured in the
tests), and nothing is ever reduced to 8 bits. ``biharmonic`` runs in float64 on the float
pixels.

Real radiographs: every backend here (and the GAN) goes through the same two steps, each an
option that is on by default:

``edge_guard=True``
    Before filling, a hole that touches the image border is padded by reflection, and a
    minority bright or dark edge touching the hole (a collimator line, a black scanner
    border, a frame line) is left out of the fill's input, so the fill takes its content
    from the dominant surrounding region instead of smearing the edge into the hole; those
    pixels are put back exactly afterwards (:mod:`radinpaint.inpainters.edges`).
``grain=True``
    After filling, noise matched to the ring around the hole (its fine-detail SD per
    brightness and its grain size) is added inside the mask, seeded by the image's and the
    mask's content hashes, so the output stays independent of the variant seed
    (:mod:`radinpaint.inpainters.grain`).

``grain=False, edge_guard=False`` gives the plain method's output, as before these options.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

import attrs
import numpy as np

from ..capabilities import Capabilities
from ..errors import InvalidInputError
from ..hookspecs import Register, hookimpl
from ..records import InpaintRequest
from .base import PerImageInpainter, options_declared
from .compositing import COMPOSITING
from .grain import as_bool_option

if TYPE_CHECKING:
    from .geometry import Placement

__all__ = [
    "CLASSICAL_CAPABILITIES",
    "BiharmonicInpainter",
    "NavierStokesInpainter",
    "TeleaInpainter",
    "local_fill",
]

_CV_SCALE = float(2**20)
"""Pixels go to OpenCV as float32 in [0, 2**20], where its absolute error is negligible."""


def _check_not_full(request: InpaintRequest, backend: str) -> None:
    if request.mask.is_full:
        raise InvalidInputError(
            f"{backend}: the mask covers the whole image, so there is nothing to inpaint from",
            input=request.case_id or request.image.source,
            fix="use a mask that marks only the artifacts, or a generative backend "
            "(gan, diffusers, openai) to redraw a whole image",
        )


def _positive(instance: object, attribute: attrs.Attribute, value: float) -> None:
    if value <= 0:
        raise InvalidInputError(f"{attribute.name} must be > 0, got {value!r}")


def _margin(instance: object, attribute: attrs.Attribute, value: int) -> None:
    if value < 1:
        raise InvalidInputError(
            f"margin must be >= 1 pixel, got {value!r}",
            fix="the backend needs unmasked pixels around the mask to inpaint from",
        )


def _compositing_field() -> str:
    return attrs.field(default="paste-back", validator=attrs.validators.in_(COMPOSITING))


def _crop(request: InpaintRequest, margin: int) -> tuple[Placement, np.ndarray, np.ndarray]:
    """The mask's neighbourhood: its placement, the float pixels and the boolean mask."""
    from .geometry import plan

    placement = plan(request.image.shape, request.mask, margin=margin)
    crop = placement.to_backend(request.image.pixels)
    crop_mask = placement.mask_to_backend(request.mask)
    return placement, crop, crop_mask


def _bool_field() -> bool:
    return attrs.field(default=True, converter=as_bool_option)


def local_fill(
    request: InpaintRequest,
    fill: Callable[[np.ndarray, np.ndarray], np.ndarray],
    *,
    margin: int,
    grain: bool = True,
    edge_guard: bool = True,
) -> np.ndarray:
    """Run ``fill(pixels, mask)`` on the mask's neighbourhood, with the shared handling of
    real radiographs (edge guard before, grain after; see the module docs).

    ``fill`` takes float32 pixels in ``[0, 1]`` and a boolean mask of the same shape and
    returns the filled pixels in ``[0, 1]``. Returns the full-size output (pixels outside
    the crop are the original's).
    """
    from .edges import guard
    from .grain import add_grain

    placement, crop, crop_mask = _crop(request, margin)
    if edge_guard:
        guarded = guard(crop, crop_mask)
        out = guarded.finish(fill(guarded.pixels, guarded.mask))
    else:
        out = fill(crop, crop_mask)
    full = placement.from_backend(out, base=request.image.pixels)
    if grain:
        full = add_grain(full, request.image, request.mask)
    return full


@attrs.define
class _OpenCVInpainter(PerImageInpainter):
    """Shared body of the two OpenCV methods."""

    radius: float = attrs.field(default=3.0, converter=float, validator=_positive)
    margin: int = attrs.field(default=16, converter=int, validator=_margin)
    compositing: str = _compositing_field()  # type: ignore[misc]
    feather: int = attrs.field(default=4, converter=int)
    grain: bool = _bool_field()
    edge_guard: bool = _bool_field()

    _flag_name: ClassVar[str] = ""

    def _fill(self, crop: np.ndarray, crop_mask: np.ndarray) -> np.ndarray:
        import cv2

        scaled = (crop.astype(np.float64) * _CV_SCALE).astype(np.float32)
        flag = getattr(cv2, self._flag_name)
        filled = cv2.inpaint(scaled, crop_mask.astype(np.uint8), self.radius, flag)
        return np.clip(filled.astype(np.float64) / _CV_SCALE, 0.0, 1.0).astype(np.float32)

    def inpaint_one(self, request: InpaintRequest) -> np.ndarray:
        """Inpaint the mask's neighbourhood with ``cv2.inpaint`` on pixels scaled to 2**20."""
        _check_not_full(request, self.name)
        return local_fill(
            request, self._fill, margin=self.margin, grain=self.grain, edge_guard=self.edge_guard
        )


@attrs.define
class TeleaInpainter(_OpenCVInpainter):
    """Telea's fast-marching method (``cv2.INPAINT_TELEA``).

    Args:
        radius: neighbourhood radius in pixels each filled pixel is estimated from.
        margin: pixels of context kept around the mask's bounding box.
        compositing: ``"paste-back"`` (default), ``"feather"`` or ``"raw"``.
        feather: blend width in pixels for ``"feather"``.
        grain: add noise matched to the surroundings inside the mask (see the module docs).
        edge_guard: pad at the image border and fill from the dominant region only.
    """

    name = "telea"
    _flag_name = "INPAINT_TELEA"


@attrs.define
class NavierStokesInpainter(_OpenCVInpainter):
    """Bertalmio's Navier-Stokes based method (``cv2.INPAINT_NS``).

    Args:
        radius: neighbourhood radius in pixels each filled pixel is estimated from.
        margin: pixels of context kept around the mask's bounding box.
        compositing: ``"paste-back"`` (default), ``"feather"`` or ``"raw"``.
        feather: blend width in pixels for ``"feather"``.
        grain: add noise matched to the surroundings inside the mask (see the module docs).
        edge_guard: pad at the image border and fill from the dominant region only.
    """

    name = "navier-stokes"
    _flag_name = "INPAINT_NS"


@attrs.define
class BiharmonicInpainter(PerImageInpainter):
    """Biharmonic inpainting (``skimage.restoration.inpaint_biharmonic``), smooth fills.

    Args:
        margin: pixels of context kept around the mask's bounding box.
        split_into_regions: solve each connected hole separately (faster with many holes).
        compositing: ``"paste-back"`` (default), ``"feather"`` or ``"raw"``.
        feather: blend width in pixels for ``"feather"``.
        grain: add noise matched to the surroundings inside the mask (see the module docs).
        edge_guard: pad at the image border and fill from the dominant region only.
    """

    margin: int = attrs.field(default=8, converter=int, validator=_margin)
    split_into_regions: bool = True
    compositing: str = _compositing_field()  # type: ignore[misc]
    feather: int = attrs.field(default=4, converter=int)
    grain: bool = _bool_field()
    edge_guard: bool = _bool_field()

    name = "biharmonic"

    def _fill(self, crop: np.ndarray, crop_mask: np.ndarray) -> np.ndarray:
        from skimage.restoration import inpaint_biharmonic

        filled = inpaint_biharmonic(
            crop.astype(np.float64), crop_mask, split_into_regions=self.split_into_regions
        )
        return np.clip(filled, 0.0, 1.0).astype(np.float32)

    def inpaint_one(self, request: InpaintRequest) -> np.ndarray:
        """Solve the biharmonic equation over the mask's neighbourhood, in float64."""
        _check_not_full(request, self.name)
        return local_fill(
            request, self._fill, margin=self.margin, grain=self.grain, edge_guard=self.edge_guard
        )


CLASSICAL_CAPABILITIES = Capabilities(
    deterministic=True, device="cpu", max_concurrency=2, batch_size=8
)
"""The classical methods ignore the seed; ``cv2.inpaint`` and ``inpaint_biharmonic`` are pure
functions of their arguments, the grain is seeded by the image's and the mask's content
hashes (never by the variant seed), and ``inpaint`` writes no state of the backend or the module,
so two threads may share one object (OpenCV releases the GIL while it works)."""


@hookimpl
def radinpaint_register_inpainters(register: Register) -> None:
    """Register the classical backends."""
    register(
        "telea",
        TeleaInpainter,
        summary="OpenCV Telea fast marching (exact outside mask)",
        capabilities=options_declared(CLASSICAL_CAPABILITIES),
    )
    register(
        "navier-stokes",
        NavierStokesInpainter,
        summary="OpenCV Navier-Stokes inpainting (exact outside mask)",
        capabilities=options_declared(CLASSICAL_CAPABILITIES),
    )
    register(
        "biharmonic",
        BiharmonicInpainter,
        summary="scikit-image biharmonic inpainting (smooth fill, exact outside mask)",
        capabilities=options_declared(CLASSICAL_CAPABILITIES),
    )

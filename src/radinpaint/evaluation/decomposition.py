"""Effect decomposition: which part of an output changes what a model reads.

Three factors turn an original ``X`` with artifact mask ``M`` into the scored output ``O``:

- **geometry**: the backend's own placement round trip (resize or squash to its size,
  8-bit when its input was 8-bit, and back, composited as the backend composites), done
  to ``X`` with no edit. Exactly absent for a backend that never resamples nor quantizes.
- **redraw**: what the edit changed outside ``M``.
- **content**: what the edit put inside ``M``.

Each view is the original with a subset of the factors applied (``VIEW_FACTORS``):
``geometry`` ({geometry}), ``out-of-mask`` ({redraw}), ``in-mask`` ({content}), ``edit``
({redraw, content}), ``geometry+out-of-mask``, ``geometry+in-mask`` and ``total`` (all
three, the output itself). With ``G`` the geometry image and ``D = O - G`` the edit, the
views with geometry are composites of ``G`` and ``O`` split by the mask, and the views
without it add the edit's change to the untouched original, ``X + D`` inside or outside the
mask. The attribution over these views (:mod:`.attribution`) then adds up.

Frames: outputs are scored either restored to the original's shape (``"restored"``) or as
the backend returned them (``"as-returned"``: e.g. the study's squashed 1024x1024 images,
never resized back), when the backend returned a whole image at another size
(:attr:`~radinpaint.records.InpaintResult.returned`). In the returned frame the geometry
image is ``X`` placed into the backend's frame, and the mask is moved along.

Views often coincide and then need no prediction of their own: without geometry the
geometry views are the views without it, and a paste-back output equals ``X`` outside
``M``. :func:`decompose` returns aliases for those instead of images; views that are equal
for other reasons share their prediction anyway (images are predicted by content hash).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import attrs
import numpy as np

from ..errors import InvalidInputError
from ..records import InpaintResult, Mask, Radiograph
from .attribution import VIEW_FACTORS

if TYPE_CHECKING:
    from ..inpainters.geometry import Placement

__all__ = ["FRAMES", "VIEWS", "Decomposed", "decompose", "geometry_image", "scored_image"]

VIEWS: tuple[str, ...] = tuple(VIEW_FACTORS)
"""The views of an output scored against the original (see the module docs)."""

FRAMES: tuple[str, ...] = ("restored", "as-returned")
"""How outputs are scored: restored to the original's shape, or as the backend returned them."""

_NO_GEOMETRY = {
    "geometry": "original",
    "edit": "total",
    "geometry+in-mask": "in-mask",
    "geometry+out-of-mask": "out-of-mask",
}


@attrs.frozen(eq=False)
class Decomposed:
    """The views of one output.

    Attributes:
        images: view -> image, for views that need their own prediction.
        aliases: view -> ``"original"`` or a view of ``images``, for views equal to it.
        collapse: why views coincide: ``"unchanged"`` (output equals original),
            ``"paste-back"`` (equal outside the mask), ``"outside-only"`` (equal inside the
            mask), ``"geometry-only"`` (the output is the geometry round trip itself) or
            ``"none"``.
        frame: ``"restored"`` or ``"as-returned"``: the frame the views are in.
    """

    images: dict[str, Radiograph]
    aliases: dict[str, str]
    collapse: str
    frame: str = "restored"


def _check_frame(frame: str) -> str:
    if frame not in FRAMES:
        raise InvalidInputError(
            f"unknown geometry {frame!r}",
            available=list(FRAMES),
            fix="use 'restored' or 'as-returned'",
        )
    return frame


def _roundtrip_bits(result: InpaintResult) -> int | None:
    """The bit depth the backend's input was rounded to (flag ``"<n>-bit-roundtrip"``)."""
    for flag in result.flags:
        head, sep, tail = flag.partition("-bit-roundtrip")
        if sep and not tail and head.isdigit():
            return int(head)
    return None


def _has_geometry(result: InpaintResult) -> bool:
    p = result.placement
    return p is not None and (p.resamples or _roundtrip_bits(result) is not None)


def scores_returned(result: InpaintResult, frame: str = "restored") -> bool:
    """Whether ``result`` is scored in the backend's frame: it has a returned image and
    the evaluation scores ``"as-returned"`` (or the result itself asks to be, with the flag
    ``"as-returned"``, as ``resample:restore=false`` does)."""
    wanted = _check_frame(frame) == "as-returned" or "as-returned" in result.flags
    return wanted and result.returned is not None


def scored_image(result: InpaintResult, frame: str = "restored") -> Radiograph:
    """The image of ``result`` that is scored in ``frame``.

    ``"as-returned"`` gives :attr:`~radinpaint.records.InpaintResult.returned` when the
    backend returned a whole image at another size, else the (restored) image, which is then
    what it returned, placed back.
    """
    if scores_returned(result, frame) and result.returned is not None:
        return result.returned
    return result.image


def _round_trip(placement: Placement, pixels: np.ndarray, bits: int | None) -> np.ndarray:
    from ..inpainters.compositing import quantize

    moved = placement.to_backend(pixels)
    return moved if bits is None else quantize(moved, bits)


def geometry_image(
    original: Radiograph, result: InpaintResult, mask: Mask, frame: str = "restored"
) -> Radiograph | None:
    """``original`` put through ``result``'s geometry with no edit, in ``frame``; None when
    the backend neither resampled nor quantized (its geometry is exactly nothing).

    Restored: placed as the backend placed it, rounded as its input was, brought back and
    composited as the result was (paste-back keeps the original outside the mask). As
    returned: the backend-frame image it was sent.
    """
    if not _has_geometry(result):
        return None
    placement = result.placement
    assert placement is not None
    sent = _round_trip(placement, original.pixels, _roundtrip_bits(result))
    if scores_returned(result, frame) and result.returned is not None:
        return result.returned.with_pixels(sent, clip=True)
    return _placed_back(original, result, mask, sent)


def _restored_geometry(original: Radiograph, result: InpaintResult, mask: Mask) -> Radiograph:
    placement = result.placement
    assert placement is not None
    sent = _round_trip(placement, original.pixels, _roundtrip_bits(result))
    return _placed_back(original, result, mask, sent)


def _placed_back(
    original: Radiograph, result: InpaintResult, mask: Mask, sent: np.ndarray
) -> Radiograph:
    """The backend-frame ``sent`` brought back and composited as ``result`` was."""
    from ..inpainters.compositing import composite

    placement = result.placement
    assert placement is not None
    back = placement.from_backend(sent, base=original.pixels)
    if result.compositing is None:
        return original.with_pixels(back, clip=True)
    feather = int(result.options.get("feather", 4))
    return composite(original, back, mask, result.compositing, feather=feather)


def _without_geometry(original: Radiograph, output: Radiograph, mask: Mask) -> Decomposed:
    """Every view of an output whose backend has no geometry (views compose X and O)."""
    x, o, m = original.pixels, output.pixels, mask.array
    same_out = bool(np.array_equal(o[~m], x[~m]))
    same_in = bool(np.array_equal(o[m], x[m]))
    if same_out and same_in:
        return Decomposed({}, dict.fromkeys(VIEWS, "original"), "unchanged")
    images: dict[str, Radiograph] = {"total": output}
    aliases: dict[str, str] = {}
    if same_out:
        collapse = "paste-back"
        aliases = {"in-mask": "total", "out-of-mask": "original"}
    elif same_in:
        collapse = "outside-only"
        aliases = {"in-mask": "original", "out-of-mask": "total"}
    else:
        collapse = "none"
        images["in-mask"] = output.with_pixels(np.where(m, o, x))
        images["out-of-mask"] = output.with_pixels(np.where(m, x, o))
    for view, target in _NO_GEOMETRY.items():
        aliases[view] = aliases.get(target, target)
    return Decomposed(images, aliases, collapse)


def _select(d: Decomposed, views: Sequence[str]) -> Decomposed:
    """``d`` with only ``views``; an alias of a view left out gets that view's image."""
    images = {v: img for v, img in d.images.items() if v in views}
    aliases: dict[str, str] = {}
    for view, target in d.aliases.items():
        if view not in views:
            continue
        if target == "original" or target in views:
            aliases[view] = target
        else:
            images[view] = d.images[target]
    return Decomposed(images, aliases, d.collapse, d.frame)


def decompose(
    original: Radiograph,
    result: InpaintResult | Radiograph,
    mask: Mask,
    *,
    views: Sequence[str] = VIEWS,
    frame: str = "restored",
) -> Decomposed:
    """Build the requested views of ``result`` (see the module docs), aliasing equal ones.

    Args:
        original: the case's image.
        result: the backend's result (a bare output image is taken as a result with no
            geometry).
        mask: the artifact mask that splits redraw from content.
        views: which views to build (``"total"`` always).
        frame: ``"restored"`` or ``"as-returned"`` (see :data:`FRAMES`).
    """
    if "total" not in views or not set(views) <= set(VIEWS):
        raise InvalidInputError(
            f"views must include 'total' and come from {VIEWS}, got {tuple(views)}"
        )
    _check_frame(frame)
    if isinstance(result, Radiograph):
        return _select(_without_geometry(original, result, mask), views)
    geometry = geometry_image(original, result, mask, frame)
    if geometry is None:
        return _select(_without_geometry(original, result.image, mask), views)
    returned = scores_returned(result, frame)
    scored = scored_image(result, frame)
    placement = result.placement
    assert placement is not None
    scored_mask = placement.mask_to_backend(mask) if returned else mask.array
    g, o = geometry.pixels, scored.pixels
    if returned:
        restored_g = _restored_geometry(original, result, mask)
        edit = result.image.pixels - restored_g.pixels
    else:
        edit = o - g
    x, m = original.pixels, mask.array
    edited = np.clip(x + edit, 0.0, 1.0).astype(np.float32)
    candidates = {
        "total": lambda: scored,
        "geometry": lambda: geometry,
        "geometry+out-of-mask": lambda: scored.with_pixels(np.where(scored_mask, g, o)),
        "geometry+in-mask": lambda: scored.with_pixels(np.where(scored_mask, o, g)),
        "edit": lambda: original.with_pixels(edited),
        "out-of-mask": lambda: original.with_pixels(np.where(m, x, edited)),
        "in-mask": lambda: original.with_pixels(np.where(m, edited, x)),
    }
    images = {view: make() for view, make in candidates.items() if view in views}
    collapse = "geometry-only" if np.array_equal(o, g) else "none"
    return Decomposed(images, {}, collapse, "as-returned" if returned else "restored")

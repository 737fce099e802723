"""The ``markers`` provider: a classical detector of lead marker plates, letters and text.

Lead letters and burned-in text are the brightest, flattest and most sharply edged things in
a radiograph; bone is bright too, but textured, softer-edged and inside the hand. The
detector:

1. segments the hand (:func:`radinpaint.masks.anatomy.segment_hand`);
2. finds glyphs: bright components much brighter than their surroundings at the scale of a
   letter stroke, redrawn at the half-contrast level, and kept when they are sharp-edged,
   flat inside and (almost) off the hand;
3. groups nearby glyphs into markers (a plate's "L" and the technologist's initials, or a
   word of burned-in text);
4. grows the plate around each group: the grey level next to the letters, connected to them,
   stopping at the plate's edge; a rectangular region becomes the plate (rotated rectangle);
5. returns the union (plates, else letters with a small margin), with one component per
   marker (kind ``"plate"`` when a plate was found, ``"letter"`` for a lone glyph, else
   ``"text"``) for review.

It works at a longest side of at most 1024 px and maps the result back to the image's own
size. No model and no training: it does not depend on how radinpaint's phantoms look.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import numpy as np

from ..errors import InvalidInputError
from ..records import Case, Mask, MaskComponent, Radiograph
from ._base import (
    MIN_SIDE,
    as_bool,
    check_dilate,
    finish_mask,
    grow,
    radiographs,
    resize_to,
    working_scale,
)
from ._glyphs import Glyph, GlyphSettings, find_glyphs, noise_level
from ._plates import Marker, find_plate, find_ruler, glyph_mask, group_glyphs

__all__ = ["MarkerDetector", "detect_markers"]

_LONE_MIN_CONTRAST = 0.35
_LONE_MIN_SHARPNESS = 0.3


def _box_to_image(box: tuple[int, int, int, int], scale: float, shape: tuple[int, int]):
    h, w = shape
    x0, y0, x1, y1 = box
    return (
        max(0, int(np.floor(x0 / scale))),
        max(0, int(np.floor(y0 / scale))),
        min(w, int(np.ceil(x1 / scale))),
        min(h, int(np.ceil(y1 / scale))),
    )


def _believable(marker: Marker) -> bool:
    """A group without a plate must be strong on its own to count."""
    if marker.plate is not None:
        return True
    best = max(marker.glyphs, key=lambda g: g.score)
    return best.contrast >= _LONE_MIN_CONTRAST and best.sharpness >= _LONE_MIN_SHARPNESS


def _kind(marker: Marker) -> str:
    if marker.kind:
        return marker.kind
    return "letter" if len(marker.glyphs) == 1 else "text"


def _markers(
    small: np.ndarray, glyphs: list[Glyph], hand: np.ndarray | None, plates: bool
) -> list[Marker]:
    """Group glyphs into rulers, plates with their letters, and loose text."""
    noise = noise_level(small)
    found: list[Marker] = []
    for group in group_glyphs(glyphs):
        ruler = find_ruler(small.shape, group)
        if ruler is not None:
            found.append(ruler)
            continue
        marker = find_plate(small, group, hand, noise) if plates else Marker(group)
        loose: list[Marker] = []
        if marker.plate is not None:
            found.append(marker)
            taken = {id(g) for g in marker.glyphs}
            rest = [g for g in group if id(g) not in taken]
            loose = [Marker(sub) for sub in group_glyphs(rest)]
        else:
            loose = [marker]
        found.extend(m for m in loose if _believable(m))
    return found


def detect_markers(
    image: Radiograph,
    *,
    plates: bool = True,
    use_anatomy: bool = True,
    margin: int | None = None,
    max_side: int = 1024,
    settings: GlyphSettings | None = None,
) -> Mask:
    """Find lead marker plates, their letters and burned-in text in one radiograph.

    Args:
        image: the radiograph.
        plates: mask the whole plate around a marker's letters when one is found
            (default); ``False`` masks only the letters.
        use_anatomy: reject candidates on the hand (default). Switch off only for images
            with no anatomy.
        margin: pixels (image scale) added around letters that have no plate; default
            about a quarter of their stroke width.
        max_side: the detector's working resolution (longest side, px).
        settings: glyph thresholds (:class:`radinpaint.masks._glyphs.GlyphSettings`).

    Returns:
        A mask of the image's shape (source ``"markers"``) with one component per marker.
        An image smaller than 16 px a side, blank or uniform gives an empty mask.
    """
    import cv2

    from .anatomy import segment_hand

    if not isinstance(image, Radiograph):
        raise InvalidInputError(
            f"detect_markers takes a Radiograph, got {type(image).__name__}",
            fix="read the image with radinpaint.io.read_image first",
        )
    h, w = image.shape
    empty = Mask(np.zeros((h, w), dtype=bool), "markers")
    if min(h, w) < MIN_SIDE or float(np.ptp(image.pixels)) < 0.05:
        return empty
    settings = settings or GlyphSettings()
    scale = working_scale((h, w), max_side)
    small_shape = (max(1, round(h * scale)), max(1, round(w * scale)))
    small = resize_to(image.pixels, small_shape).astype(np.float32)
    scale = small_shape[0] / h
    hand = segment_hand(Radiograph.from_float(small, clip=True)).array if use_anatomy else None
    if hand is not None and hand.mean() > 0.9:
        hand = None  # the whole frame is "hand": the segmentation found no hand
    glyphs: list[Glyph] = find_glyphs(small, hand, settings)
    if not glyphs:
        return empty
    markers = _markers(small, glyphs, hand, plates)
    if not markers:
        return empty
    out_small = np.zeros(small_shape, dtype=bool)
    for marker in markers:
        if marker.plate is not None:
            out_small |= marker.plate
        else:
            letters = glyph_mask(small_shape, marker.glyphs)
            stroke = float(np.median([g.stroke for g in marker.glyphs]))
            r = round(margin * scale) if margin is not None else max(1, round(0.25 * stroke))
            out_small |= grow(letters, r)
    if scale < 1.0:
        big = cv2.resize(out_small.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
        out = big >= 0.5
    else:
        out = out_small
    components = []
    for marker in markers:
        if marker.plate is not None and marker.plate_box is not None:
            box = marker.plate_box
            score = 0.5 * (marker.score + marker.plate_score)
        else:
            box = marker.box
            score = marker.score
        components.append(MaskComponent(_box_to_image(box, scale, (h, w)), _kind(marker), score))
    return Mask(out, "markers", tuple(components))


@attrs.define
class MarkerDetector:
    """Mask provider ``markers``: lead marker plates, letters and burned-in text.

    Classical image analysis (see :mod:`radinpaint.masks.markers`); no model, no download.

    Args:
        dilate: margin in pixels added around everything found (default 0).
        plates: mask whole plates, not only their letters (default True).
        use_anatomy: reject candidates on the hand (default True).
        max_side: working resolution, longest side in px (default 1024).
    """

    dilate: int = 0
    plates: bool = True
    use_anatomy: bool = True
    max_side: int = 1024

    name = "markers"

    def __attrs_post_init__(self) -> None:
        self.dilate = check_dilate(self.dilate, self.name)
        self.plates = as_bool(self.plates, "plates")
        self.use_anatomy = as_bool(self.use_anatomy, "use_anatomy")
        try:
            self.max_side = int(self.max_side)
        except (TypeError, ValueError):
            self.max_side = -1
        if self.max_side < 64:
            raise InvalidInputError(
                f"max_side must be an integer >= 64, got {self.max_side!r}",
                input=self.name,
                fix="leave the default (1024) or pass a larger working size",
            )

    def masks(self, items: Sequence[Case | Radiograph]) -> list[Mask]:
        """One mask per item, in order (empty where nothing is found)."""
        out = []
        for image in radiographs(items):
            found = detect_markers(
                image, plates=self.plates, use_anatomy=self.use_anatomy, max_side=self.max_side
            )
            out.append(finish_mask(found.array, self.name, found.components, self.dilate))
        return out

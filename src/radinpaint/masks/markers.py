"""The ``markers`` provider: a classical detector of lead marker plates, letters and text.

Lead letters and burned-in text are the brightest, flattest and most sharply edged things in
a radiograph; bone is bright too, but textured, softer-edged and inside the hand. The
detector:

1. segments the hand (:func:`radinpaint.masks.anatomy.segment_hand`);
2. finds glyphs: bright components much brighter than their surroundings at the scale of a
   letter stroke, redrawn at the half-contrast level, and kept when they are sharp-edged,
   flat inside and (almost) off the hand;
3. groups nearby glyphs into markers (a plate's "L" and the technologist's initials, a line
   of burned-in text, a ruler's ticks); a group is a ruler when its glyphs are ticks, or
   of uneven heights (:mod:`._lines`);
4. grows the plate around each group: the grey level next to the letters, connected to them,
   stopping at the plate's edge; a rectangular region becomes the plate (rotated rectangle).
   When that region leaks (a faint plate at an angle, an outline with a gap), the plate is
   looked for in the letters' own frame instead: turned square by the letters' stroke
   directions, with each side's edge found on a profile averaged along that side
   (:mod:`._rotated`);
5. masks glyphs outside any plate as whole lines of text: the rotated rectangle around the
   line, after following it for characters the glyph finder missed (:mod:`._lines`);
6. grows every marker, at the image's own size, over its rim and blur halo until the grey
   level returns to the local background, with a cap, never into the hand
   (:mod:`._halo`): a mask that stops at the plate's flat face leaves its outline behind
   after inpainting;
7. returns the union, with one component per marker (kind ``"plate"``, ``"ruler"``,
   ``"text"``, or ``"letter"`` for a lone glyph) for review.

Steps 1 to 5 work at a longest side of at most 1024 px. No model and no training: it does
not depend on how radinpaint's phantoms look.
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
from ._halo import HaloSettings, grow_to_background
from ._lines import is_ruler, text_line
from ._plates import Marker, centre_in, find_plate, find_ruler, glyph_mask, group_glyphs
from ._rotated import find_rotated_plate

__all__ = ["MarkerDetector", "detect_markers"]

_LONE_MIN_CONTRAST = 0.35
_LONE_MIN_SHARPNESS = 0.3
_LINE_MIN_CONTRAST = 0.3  # two or more glyphs side by side: more likely text than bone
_LINE_MIN_SHARPNESS = 0.2


def _believable(marker: Marker) -> bool:
    """A group without a plate must be strong on its own to count."""
    if marker.plate is not None and marker.kind == "plate":
        return True
    best = max(marker.glyphs, key=lambda g: g.score)
    if len(marker.glyphs) >= 2:
        return best.contrast >= _LINE_MIN_CONTRAST and best.sharpness >= _LINE_MIN_SHARPNESS
    return best.contrast >= _LONE_MIN_CONTRAST and best.sharpness >= _LONE_MIN_SHARPNESS


def _kind(marker: Marker) -> str:
    if marker.kind:
        return marker.kind
    return "letter" if len(marker.glyphs) == 1 else "text"


def _rotated(
    small: np.ndarray, group: Sequence[Glyph], hand: np.ndarray | None, noise: float
) -> Marker | None:
    """The plate found in the letters' own frame (any angle), as a marker, or None."""
    found = find_rotated_plate(small, group, hand, noise)
    if found is None:
        return None
    mask, _, fill = found
    members = tuple(g for g in group if centre_in(g, mask))
    if not members:
        return None
    ys, xs = np.nonzero(mask)
    box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    return Marker(members, mask, box, float(np.clip((fill - 0.7) / 0.25, 0, 1)), kind="plate")


def _line(small: np.ndarray, marker: Marker, hand: np.ndarray | None) -> Marker:
    """A loose group of glyphs masked as the whole line of text it belongs to."""
    region, box = text_line(small, marker.glyphs, hand)
    letters = glyph_mask(small.shape, marker.glyphs)
    kind = "letter" if len(marker.glyphs) == 1 and region.sum() < 3 * letters.sum() else "text"
    return attrs.evolve(marker, plate=region, plate_box=box, plate_score=marker.score, kind=kind)


def _markers(
    small: np.ndarray, glyphs: list[Glyph], hand: np.ndarray | None, plates: bool
) -> list[Marker]:
    """Group glyphs into rulers, plates with their letters, and lines of loose text.

    A group is a ruler when most of its glyphs are tick marks along a line; else its plate
    is grown from the letters (:func:`find_plate`), else looked for in the letters' own
    frame (:func:`find_rotated_plate`, any angle); glyphs outside any plate are masked as
    whole lines of text (with ``plates=False``, as the letters alone).
    """
    noise = noise_level(small)
    found: list[Marker] = []
    for group in group_glyphs(glyphs):
        if is_ruler(group):
            ruler = find_ruler(small.shape, group)
            if ruler is not None:
                found.append(ruler)
                continue
        if not plates:
            found.extend(m for m in [Marker(group)] if _believable(m))
            continue
        marker = find_plate(small, group, hand, noise)
        if marker.plate is None:
            marker = _rotated(small, group, hand, noise) or marker
        loose: list[Marker] = []
        if marker.plate is not None:
            found.append(marker)
            taken = {id(g) for g in marker.glyphs}
            rest = [g for g in group if id(g) not in taken]
            loose = [Marker(sub) for sub in group_glyphs(rest)]
        else:
            loose = [marker]
        found.extend(_line(small, m, hand) for m in loose if _believable(m))
    return found


def _to_image(region: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A working-scale region at the image's own size (linear, cut at one half)."""
    import cv2

    if region.shape == tuple(shape):
        return region
    h, w = shape
    big = cv2.resize(region.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    return big >= 0.5


def detect_markers(
    image: Radiograph,
    *,
    plates: bool = True,
    halo: bool = True,
    use_anatomy: bool = True,
    margin: int | None = None,
    max_side: int = 1024,
    settings: GlyphSettings | None = None,
    halo_settings: HaloSettings | None = None,
) -> Mask:
    """Find lead marker plates, their letters and burned-in text in one radiograph.

    Args:
        image: the radiograph.
        plates: mask the whole plate around a marker's letters when one is found, and
            whole lines of text (default); ``False`` masks only the letters.
        halo: grow each marker over its rim and blur halo until the background comes back
            (default; :mod:`radinpaint.masks._halo`), never into the hand. ``False`` stops
            at the plate's flat face, which leaves a faint outline after inpainting.
        use_anatomy: reject candidates on the hand (default). Switch off only for images
            with no anatomy.
        margin: pixels (image scale) added around letters that have no plate, with
            ``plates=False``; default about a quarter of their stroke width.
        max_side: the detector's working resolution (longest side, px).
        settings: glyph thresholds (:class:`radinpaint.masks._glyphs.GlyphSettings`).
        halo_settings: how far the halo may grow
            (:class:`radinpaint.masks._halo.HaloSettings`).

    Returns:
        A mask of the image's shape (source ``"markers"``) with one component per marker.
        An image smaller than 16 px a side, blank or uniform gives an empty mask.
    """
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
    regions = []
    for marker in markers:
        if marker.plate is not None:
            region = marker.plate
        else:
            letters = glyph_mask(small_shape, marker.glyphs)
            stroke = float(np.median([g.stroke for g in marker.glyphs]))
            r = round(margin * scale) if margin is not None else max(1, round(0.25 * stroke))
            region = grow(letters, r)
        regions.append(_to_image(region, (h, w)))
    if halo:
        keep_out = _to_image(hand, (h, w)) if hand is not None else None
        union = np.logical_or.reduce(regions)
        regions = [
            grow_to_background(
                image.pixels, r, keep_out=keep_out, avoid=union & ~r, settings=halo_settings
            )
            for r in regions
        ]
    out = np.logical_or.reduce(regions)
    components = []
    for marker, region in zip(markers, regions, strict=True):
        ys, xs = np.nonzero(region)
        if ys.size == 0:
            continue
        box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        score = marker.score
        if marker.plate is not None:
            score = 0.5 * (marker.score + marker.plate_score)
        components.append(MaskComponent(box, _kind(marker), score))
    return Mask(out, "markers", tuple(components))


@attrs.define
class MarkerDetector:
    """Mask provider ``markers``: lead marker plates, letters and burned-in text.

    Classical image analysis (see :mod:`radinpaint.masks.markers`); no model, no download.

    Args:
        dilate: margin in pixels added around everything found (default 0). Rarely
            needed: the halo growth already takes each marker's rim and blur.
        plates: mask whole plates and whole text lines, not only letters (default True).
        halo: grow each marker until the background comes back, never into the hand
            (default True).
        use_anatomy: reject candidates on the hand (default True).
        max_side: working resolution, longest side in px (default 1024).
    """

    dilate: int = 0
    plates: bool = True
    halo: bool = True
    use_anatomy: bool = True
    max_side: int = 1024

    name = "markers"

    def __attrs_post_init__(self) -> None:
        self.dilate = check_dilate(self.dilate, self.name)
        self.plates = as_bool(self.plates, "plates")
        self.halo = as_bool(self.halo, "halo")
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
                image,
                plates=self.plates,
                halo=self.halo,
                use_anatomy=self.use_anatomy,
                max_side=self.max_side,
            )
            out.append(finish_mask(found.array, self.name, found.components, self.dilate))
        return out

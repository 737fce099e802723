"""Random training holes: free-form strokes and marker-shaped regions.

The generator learns to fill holes shaped like what it will be asked to remove. Each call of
:func:`random_holes` draws one to three shapes of these kinds (sizes relative to the crop):

``"free-form"``
    Brush strokes of random vertices, lengths and widths (as in DeepFill v2's training).
``"plate"``
    A rotated filled rectangle: a lead marker plate or label sticker.
``"letters"``
    One to three thick capital letters (``L``, ``R``, initials) drawn with OpenCV's Hershey
    font, slightly dilated: a marker whose mask follows the glyphs.
``"text"``
    A line of small text (digits, letters, dates), dilated into a band of glyphs.
``"ruler"``
    A long thin rotated band with tick marks along one side.

The kinds above are the default (:data:`HOLE_KINDS`). :data:`MARKER_HOLE_KINDS` mimic what the
``markers`` mask provider (:mod:`radinpaint.masks.markers`) outputs on real radiographs:
a rounded lead plate grown over its rim and blur halo by an uneven margin, since the
provider grows each piece of the outline until the grey level returns to the background.
Measured with ``benchmarks/measure_real_appearance.py`` on the 8 marked RSNA samples
(``markers`` masks against the hand-drawn references in ``tests/data/marker-references``):

- every component the provider returns there is a plate (letters and text lie inside it);
  the plate's minimum-area rectangle has a shorter side of 0.07-0.23 (median 0.18) of the
  image's shorter side and a longer side of 0.075-0.39 (median 0.32); aspect 1.07-2.05
  (median 1.83); angle off the image axes median 4.3 degrees, at most 34;
- 3 of the 8 plates touch or cross the image border;
- the mask reaches 1-6.4 px (median 4) beyond the reference outline, which is itself the
  plate's edge grown by 2 px: a rim and halo of about 3-8 px at the image's own size;
- the mask covers 0.4-7.1 % (median 5.2 %) of the image.

The GAN fills a tile made of the mask's box grown by a 48 px margin (see
:class:`~radinpaint.inpainters.gan.inference.GanInpainter`), at the image's own size when
it fits, so a plate of 0.07-0.23 of a 400-1500 px image fills about 0.2-0.75 of the tile's
side; the sizes below are relative to the training crop on that basis.

``"lead-plate"``
    A rounded rectangle (corner radius 10-35 % of its shorter side; shorter side 0.2-0.55
    of the crop, aspect 1.05-2.1, angle normal with SD 5 degrees), grown by a halo of 2-8 px
    whose width varies smoothly along the outline.
``"rotated-plate"``
    The same plate at any angle.
``"border-plate"``
    The same plate with its centre within half its size of a crop side, so that it touches
    or crosses the border (as three of the eight real plates do).
``"marker-text"``
    A rotated band around a line of text (the provider masks lines of text outside plates
    as their rotated rectangle): height 0.04-0.1 of the crop, aspect 3-12, with a 1-4 px halo.
``"collimation-edge"``
    A straight strip 0.02-0.08 of the crop wide, within 0.3 of the crop from one side,
    nearly parallel to it (SD 4 degrees), across the whole crop: a bright collimation
    edge or border strip.

Everything is drawn from the numpy ``Generator`` passed in, so the same seed gives the same
holes (:func:`holes_for_batch` derives one generator per sample from a seed and a step).
"""

from __future__ import annotations

import math
import string
from collections.abc import Sequence

import numpy as np

from ...errors import InvalidInputError
from ...seeds import derive_seed

__all__ = [
    "ALL_HOLE_KINDS",
    "HOLE_KINDS",
    "HOLE_PRESETS",
    "MARKER_HOLE_KINDS",
    "holes_for_batch",
    "random_holes",
    "resolve_hole_kinds",
]

HOLE_KINDS: tuple[str, ...] = ("free-form", "plate", "letters", "text", "ruler")
"""The kinds of shape :func:`random_holes` draws by default."""

MARKER_HOLE_KINDS: tuple[str, ...] = (
    "lead-plate",
    "rotated-plate",
    "border-plate",
    "marker-text",
    "collimation-edge",
)
"""Kinds shaped like the ``markers`` provider's masks on real radiographs."""

ALL_HOLE_KINDS: tuple[str, ...] = HOLE_KINDS + MARKER_HOLE_KINDS
"""Every kind :func:`random_holes` knows."""

HOLE_PRESETS: dict[str, tuple[str, ...]] = {
    "default": HOLE_KINDS,
    "markers": (*MARKER_HOLE_KINDS, "letters", "free-form"),
    "all": ALL_HOLE_KINDS,
}
"""Named sets of kinds (``radinpaint train-gan --holes``): ``default`` (the original five),
``markers`` (the marker-shaped kinds, plus glyphs and free-form strokes), ``all``."""

_DEFAULT_WEIGHTS = {
    "free-form": 0.3,
    "plate": 0.2,
    "letters": 0.2,
    "text": 0.15,
    "ruler": 0.15,
    "lead-plate": 0.3,
    "rotated-plate": 0.15,
    "border-plate": 0.2,
    "marker-text": 0.1,
    "collimation-edge": 0.1,
}


def resolve_hole_kinds(spec: str | Sequence[str]) -> tuple[str, ...]:
    """The kinds named by ``spec``: a preset of :data:`HOLE_PRESETS`, a comma-separated
    list of kinds (presets allowed among them), or a sequence of kinds.

    Raises:
        InvalidInputError: an unknown name, or nothing named.
    """
    names = [n.strip() for n in spec.split(",")] if isinstance(spec, str) else list(spec)
    kinds: list[str] = []
    for name in (n for n in names if n):
        for kind in HOLE_PRESETS.get(name, (name,)):
            if kind not in ALL_HOLE_KINDS:
                raise InvalidInputError(
                    f"unknown hole kind {kind!r}",
                    input=f"{spec!r}",
                    available=sorted(HOLE_PRESETS) + list(ALL_HOLE_KINDS),
                    fix="name a preset or one or more of the available kinds",
                )
            if kind not in kinds:
                kinds.append(kind)
    if not kinds:
        raise InvalidInputError(
            "no hole kinds to draw from", input=f"{spec!r}", available=sorted(HOLE_PRESETS)
        )
    return tuple(kinds)


def _rotated_rect(
    mask: np.ndarray, centre: tuple[float, float], size: tuple[float, float], angle: float
) -> None:
    import cv2

    box = cv2.boxPoints((centre, size, angle))
    cv2.fillPoly(mask, [np.round(box).astype(np.int32)], 1)


def _free_form(mask: np.ndarray, rng: np.random.Generator) -> None:
    import cv2

    h, w = mask.shape
    side = min(h, w)
    for _ in range(int(rng.integers(1, 4))):
        x, y = float(rng.uniform(0, w)), float(rng.uniform(0, h))
        width = int(rng.uniform(0.04, 0.14) * side) + 1
        angle = float(rng.uniform(0, 2 * math.pi))
        for _ in range(int(rng.integers(2, 7))):
            angle += float(rng.uniform(-0.8, 0.8))
            length = float(rng.uniform(0.08, 0.3) * side)
            nx = float(np.clip(x + length * math.cos(angle), 0, w - 1))
            ny = float(np.clip(y + length * math.sin(angle), 0, h - 1))
            cv2.line(mask, (round(x), round(y)), (round(nx), round(ny)), 1, width)
            cv2.circle(mask, (round(nx), round(ny)), width // 2, 1, -1)
            x, y = nx, ny


def _plate(mask: np.ndarray, rng: np.random.Generator) -> None:
    h, w = mask.shape
    side = min(h, w)
    size = (float(rng.uniform(0.12, 0.6) * side), float(rng.uniform(0.12, 0.6) * side))
    angle = float(rng.normal(0, 8)) if rng.random() < 0.6 else float(rng.uniform(0, 90))
    _rotated_rect(mask, (float(rng.uniform(0, w)), float(rng.uniform(0, h))), size, angle)


def _text(mask: np.ndarray, rng: np.random.Generator, *, big: bool) -> None:
    import cv2

    h, w = mask.shape
    side = min(h, w)
    if big:
        text = "".join(rng.choice(list("LRLRABCDEFGHJKMNPST"), size=int(rng.integers(1, 4))))
        height = float(rng.uniform(0.12, 0.35) * side)
        thickness = max(1, int(height / 6))
    else:
        chars = list(string.ascii_uppercase + string.digits + "/-:. ")
        text = "".join(rng.choice(chars, size=int(rng.integers(4, 14))))
        height = float(rng.uniform(0.04, 0.1) * side)
        thickness = max(1, int(height / 8))
    scale = height / 22.0  # FONT_HERSHEY_SIMPLEX capitals are about 22 px tall at scale 1
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    canvas: np.ndarray = np.zeros((th + base + 2 * thickness + 4, tw + 2 * thickness + 4), np.uint8)
    cv2.putText(
        canvas,
        text,
        (thickness + 2, th + thickness + 2),
        cv2.FONT_HERSHEY_SIMPLEX,
        scale,
        1,
        thickness,
        cv2.LINE_8,
    )
    grow = max(1, int(height / 10))
    canvas = cv2.dilate(canvas, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8))
    angle = float(rng.normal(0, 6)) if rng.random() < 0.8 else float(rng.choice([90.0, -90.0]))
    big_canvas = _rotate_stamp(canvas, angle)
    diag = big_canvas.shape[0]
    cy, cx = int(rng.integers(0, h)), int(rng.integers(0, w))
    _paste_or(mask, big_canvas, cy - diag // 2, cx - diag // 2)


def _paste_or(mask: np.ndarray, stamp: np.ndarray, top: int, left: int) -> None:
    h, w = mask.shape
    sh, sw = stamp.shape
    y0, x0 = max(0, top), max(0, left)
    y1, x1 = min(h, top + sh), min(w, left + sw)
    if y1 <= y0 or x1 <= x0:
        return
    mask[y0:y1, x0:x1] |= stamp[y0 - top : y1 - top, x0 - left : x1 - left]


def _ruler(mask: np.ndarray, rng: np.random.Generator) -> None:
    import cv2

    h, w = mask.shape
    side = min(h, w)
    length = float(rng.uniform(0.5, 1.2) * side)
    band = float(rng.uniform(0.03, 0.08) * side)
    angle = float(rng.choice([0.0, 90.0])) + float(rng.normal(0, 4))
    cx, cy = float(rng.uniform(0, w)), float(rng.uniform(0, h))
    _rotated_rect(mask, (cx, cy), (length, band), angle)
    # tick marks on one side of the band
    theta = math.radians(angle)
    ux, uy = math.cos(theta), math.sin(theta)
    nx, ny = -uy, ux
    spacing = max(3.0, float(rng.uniform(0.03, 0.06) * side))
    n = int(length / spacing)
    for i in range(n + 1):
        t = -length / 2 + i * spacing
        tick = band * (1.6 if i % 5 == 0 else 1.0)
        x0, y0 = cx + t * ux + nx * band / 2, cy + t * uy + ny * band / 2
        x1, y1 = x0 + nx * tick, y0 + ny * tick
        cv2.line(mask, (round(x0), round(y0)), (round(x1), round(y1)), 1, max(1, int(band / 4)))


def _halo(stamp: np.ndarray, rng: np.random.Generator, low: float, high: float) -> np.ndarray:
    """``stamp`` grown by a margin between ``low`` and ``high`` px that varies smoothly
    around it (the provider grows each piece of a marker's outline by its own distance)."""
    import cv2

    h, w = stamp.shape
    dist = cv2.distanceTransform((stamp == 0).astype(np.uint8), cv2.DIST_L2, 3)
    grid = rng.uniform(low, high, size=(3, 3)).astype(np.float32)
    width = cv2.resize(grid, (w, h), interpolation=cv2.INTER_LINEAR)
    out: np.ndarray = (dist <= width).astype(np.uint8)
    return out


def _rounded_plate_stamp(
    rng: np.random.Generator, side: int, angle: float, halo: tuple[float, float]
) -> np.ndarray:
    """A rotated rounded rectangle with its uneven halo, on a square canvas."""
    import cv2

    short = float(rng.uniform(0.2, 0.55) * side)
    aspect = float(rng.uniform(1.05, 2.1))
    long_ = min(short * aspect, 0.95 * side)
    radius = float(rng.uniform(0.1, 0.35) * short)
    pad = math.ceil(halo[1]) + 2
    ch, cw = round(short) + 2 * pad, round(long_) + 2 * pad
    canvas: np.ndarray = np.zeros((ch, cw), np.uint8)
    r = max(1, round(radius))
    x0, y0, x1, y1 = pad, pad, pad + round(long_) - 1, pad + round(short) - 1
    cv2.rectangle(canvas, (x0 + r, y0), (x1 - r, y1), 1, -1)
    cv2.rectangle(canvas, (x0, y0 + r), (x1, y1 - r), 1, -1)
    for cx, cy in ((x0 + r, y0 + r), (x1 - r, y0 + r), (x0 + r, y1 - r), (x1 - r, y1 - r)):
        cv2.circle(canvas, (cx, cy), r, 1, -1)
    canvas = _halo(canvas, rng, *halo)
    return _rotate_stamp(canvas, angle)


def _rotate_stamp(canvas: np.ndarray, angle: float) -> np.ndarray:
    import cv2

    ch, cw = canvas.shape
    diag = math.ceil(math.hypot(ch, cw)) + 2
    big: np.ndarray = np.zeros((diag, diag), np.uint8)
    y0, x0 = (diag - ch) // 2, (diag - cw) // 2
    big[y0 : y0 + ch, x0 : x0 + cw] = canvas
    rot = cv2.getRotationMatrix2D((diag / 2, diag / 2), angle, 1.0)
    out: np.ndarray = cv2.warpAffine(big, rot, (diag, diag), flags=cv2.INTER_NEAREST)
    return out


def _lead_plate(mask: np.ndarray, rng: np.random.Generator, placement: str) -> None:
    h, w = mask.shape
    side = min(h, w)
    angle = float(rng.uniform(0, 180)) if placement == "rotated" else float(rng.normal(0, 5))
    stamp = _rounded_plate_stamp(rng, side, angle, (2.0, 8.0))
    ys, xs = np.nonzero(stamp)
    half_h = (int(ys.max()) - int(ys.min())) / 2
    half_w = (int(xs.max()) - int(xs.min())) / 2
    cy_s, cx_s = (int(ys.max()) + int(ys.min())) / 2, (int(xs.max()) + int(xs.min())) / 2
    if placement == "border":
        edge = int(rng.integers(0, 4))
        along_y, along_x = float(rng.uniform(0, h)), float(rng.uniform(0, w))
        if edge == 0:
            cy, cx = float(rng.uniform(-half_h, half_h)), along_x
        elif edge == 1:
            cy, cx = h - 1 + float(rng.uniform(-half_h, half_h)), along_x
        elif edge == 2:
            cy, cx = along_y, float(rng.uniform(-half_w, half_w))
        else:
            cy, cx = along_y, w - 1 + float(rng.uniform(-half_w, half_w))
    else:
        cy, cx = float(rng.uniform(0, h)), float(rng.uniform(0, w))
    _paste_or(mask, stamp, round(cy - cy_s), round(cx - cx_s))


def _marker_text(mask: np.ndarray, rng: np.random.Generator) -> None:
    h, w = mask.shape
    side = min(h, w)
    height = float(rng.uniform(0.04, 0.1) * side)
    length = min(height * float(rng.uniform(3, 12)), 1.2 * side)
    pad = 6
    canvas: np.ndarray = np.zeros((round(height) + 2 * pad, round(length) + 2 * pad), np.uint8)
    canvas[pad : pad + round(height), pad : pad + round(length)] = 1
    canvas = _halo(canvas, rng, 1.0, 4.0)
    angle = float(rng.normal(0, 5)) if rng.random() < 0.8 else float(rng.choice([90.0, -90.0]))
    stamp = _rotate_stamp(canvas, angle)
    cy, cx = int(rng.integers(0, h)), int(rng.integers(0, w))
    _paste_or(mask, stamp, cy - stamp.shape[0] // 2, cx - stamp.shape[1] // 2)


def _collimation_edge(mask: np.ndarray, rng: np.random.Generator) -> None:
    h, w = mask.shape
    side = min(h, w)
    width = float(rng.uniform(0.02, 0.08) * side)
    inset = float(rng.uniform(0.0, 0.3) * side)
    edge = int(rng.integers(0, 4))
    tilt = float(rng.normal(0, 4))
    length = 2.0 * math.hypot(h, w)
    if edge in (0, 1):  # along the top or bottom side
        cy = inset + width / 2 if edge == 0 else h - 1 - inset - width / 2
        _rotated_rect(mask, (w / 2, cy), (length, width), tilt)
    else:
        cx = inset + width / 2 if edge == 2 else w - 1 - inset - width / 2
        _rotated_rect(mask, (cx, h / 2), (width, length), tilt)


def random_holes(
    shape: tuple[int, int],
    rng: np.random.Generator,
    *,
    kinds: Sequence[str] = HOLE_KINDS,
    max_fraction: float = 0.5,
) -> np.ndarray:
    """A boolean hole mask of ``shape`` with one to three random shapes of ``kinds``.

    Args:
        shape: ``(h, w)`` of the crop.
        rng: the random generator (all randomness comes from it).
        kinds: which of :data:`ALL_HOLE_KINDS` may be drawn (default: :data:`HOLE_KINDS`).
        max_fraction: shapes are redrawn (up to 5 times) while the hole covers more than
            this fraction of the crop; the last draw is kept regardless.

    Returns:
        Boolean ``(h, w)`` array with at least one True pixel.
    """
    unknown = sorted(set(kinds) - set(ALL_HOLE_KINDS))
    if unknown or not kinds:
        raise InvalidInputError(
            f"unknown hole kinds {unknown}" if unknown else "no hole kinds to draw from",
            input=f"kinds={tuple(kinds)!r}",
            available=ALL_HOLE_KINDS,
            fix="name one or more of the available kinds",
        )
    weights = np.array([_DEFAULT_WEIGHTS[k] for k in kinds], dtype=np.float64)
    weights /= weights.sum()
    h, w = int(shape[0]), int(shape[1])
    mask = np.zeros((h, w), np.uint8)
    for _attempt in range(5):
        mask[:] = 0
        for _ in range(int(rng.choice([1, 1, 2, 3]))):
            kind = str(rng.choice(list(kinds), p=weights))
            if kind == "free-form":
                _free_form(mask, rng)
            elif kind == "plate":
                _plate(mask, rng)
            elif kind == "letters":
                _text(mask, rng, big=True)
            elif kind == "text":
                _text(mask, rng, big=False)
            elif kind == "ruler":
                _ruler(mask, rng)
            elif kind == "lead-plate":
                _lead_plate(mask, rng, "upright")
            elif kind == "rotated-plate":
                _lead_plate(mask, rng, "rotated")
            elif kind == "border-plate":
                _lead_plate(mask, rng, "border")
            elif kind == "marker-text":
                _marker_text(mask, rng)
            else:
                _collimation_edge(mask, rng)
        frac = float(mask.mean())
        if 0.0 < frac <= max_fraction:
            break
    if not mask.any():  # every shape fell outside: a small centred square
        s = max(1, min(h, w) // 6)
        mask[h // 2 - s // 2 : h // 2 - s // 2 + s, w // 2 - s // 2 : w // 2 - s // 2 + s] = 1
    return mask.astype(bool)


def holes_for_batch(
    batch: int,
    shape: tuple[int, int],
    seed: int,
    step: int,
    *,
    kinds: Sequence[str] = HOLE_KINDS,
) -> np.ndarray:
    """``(batch, h, w)`` boolean holes for training step ``step``: the same seed and step
    always give the same holes, whatever happened before (resumable training)."""
    return np.stack(
        [
            random_holes(
                shape, np.random.default_rng(derive_seed(seed, "holes", step, i)), kinds=kinds
            )
            for i in range(batch)
        ]
    )

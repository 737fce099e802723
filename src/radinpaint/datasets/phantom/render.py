"""Rendering a subject into a radiograph: soft tissue, bones, then the acquisition.

The image is built as an attenuation map (soft-tissue thickness plus bone density, with a
trabecular texture), blurred by the system, log-compressed into grey levels with an exposure
and a gamma, given quantum-like noise that grows with density, and optionally collimated.
Everything is drawn with OpenCV polygon fills at the output resolution, so a 512x512 phantom
takes a few tens of milliseconds on one core.

Images are ``height x width``. Generator version 1 draws squares only and frames the hand in
them as it always has; version 2 passes a width of its own (mostly portrait) and the hand is
framed to fit: :func:`hand_frame` gives the side of the square the hand is scaled to, and the
extra height goes partly above the fingertips and partly to the forearm.
"""

from __future__ import annotations

import math
from typing import Any, cast

import attrs
import cv2
import numpy as np

from .anatomy import Shape, Subject

__all__ = ["Acquisition", "Geometry", "hand_frame", "render_clean", "sample_acquisition"]

_SHIFT = 4
_ONE = float(1 << _SHIFT)

FIT_WIDTH = 1.1
"""(Version 2) The hand's frame may be this much wider than the image: the hand with its
soft tissue spans about 0.62 of the frame's side, so it still fits the width."""
HAND_OFFSET = 0.023
"""(Version 2) Shift of the hand to the left, in frames: centres the hand's median extent."""
DROP = 0.3
"""(Version 2) Share of the height beyond the frame that goes above the fingertips."""
_FOREARM_CUT = 2.4
"""The drawn forearm ends this far (units of M) below the distal radius and ulna."""


def hand_frame(height: int, width: int | None = None) -> float:
    """The side (pixels) of the square the hand is scaled to in a ``height x width`` image.

    ``width=None`` is the version-1 square framing (the frame is the image); otherwise the
    frame is ``min(height, FIT_WIDTH * width)``, so a narrow portrait image still holds the
    whole hand.
    """
    if width is None:
        return float(height)
    return min(float(height), FIT_WIDTH * width)


@attrs.frozen
class Geometry:
    """Maps hand units to pixels: ``p = centre + scale * R(angle) @ (x, -y)``."""

    height: int
    width: int
    scale: float
    angle_deg: float
    centre: tuple[float, float]

    def to_px(self, pts: np.ndarray) -> np.ndarray:
        """Hand coordinates ``(N, 2)`` to pixel coordinates ``(N, 2)``."""
        a = math.radians(self.angle_deg)
        ca, sa = math.cos(a), math.sin(a)
        x = pts[..., 0]
        y = -pts[..., 1]
        px = self.centre[0] + self.scale * (ca * x - sa * y)
        py = self.centre[1] + self.scale * (sa * x + ca * y)
        return np.stack([px, py], axis=-1)


@attrs.frozen
class Acquisition:
    """How the radiograph was taken and processed (all values recorded in metadata)."""

    geometry: Geometry
    pixels_per_mm: float
    exposure: float
    gamma: float
    peak: float
    background: float
    noise: float
    blur: float
    gradient: tuple[float, float, float]
    collimation: dict[str, Any] | None
    frame: float
    """Side of the square the hand is scaled to (:func:`hand_frame`); artifacts scale to it."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description."""
        g = self.geometry
        return {
            "rotation_deg": round(g.angle_deg, 4),
            "scale_px_per_hand_unit": round(g.scale, 4),
            "centre_px": [round(g.centre[0], 3), round(g.centre[1], 3)],
            "pixels_per_mm": round(self.pixels_per_mm, 5),
            "exposure": round(self.exposure, 5),
            "gamma": round(self.gamma, 5),
            "peak": round(self.peak, 5),
            "background": round(self.background, 5),
            "noise_sigma": round(self.noise, 6),
            "blur_sigma_px": round(self.blur, 5),
            "gradient": [round(v, 5) for v in self.gradient],
            "collimation": self.collimation,
        }


def sample_acquisition(
    rng: np.random.Generator,
    subject: Subject,
    size: int,
    width: int | None = None,
    *,
    marks: dict[str, np.ndarray] | None = None,
) -> Acquisition:
    """Draw exposure, noise, blur, pose, zoom and collimation for one radiograph.

    Args:
        rng: the acquisition stream (the same draws whatever the image shape).
        subject: the subject (hand size sets the zoom in part).
        size: the image height.
        width: ``None`` for a ``size x size`` image framed as generator version 1 does;
            otherwise the image width, and the hand is framed to fit (version 2).
        marks: the skeleton's landmarks; with ``width``, a small hand in a tall image is
            moved down until its forearm leaves the image at the bottom, as in a real
            radiograph (the drawn forearm is finite).
    """
    height = int(size)
    wide = height if width is None else int(width)
    frame = hand_frame(height, width)
    # Units: the hand from wrist crease to fingertip spans about 2.95 units of M.
    unit_mm = subject.hand_length_mm / 2.95
    zoom = math.exp(rng.normal(0.0, 0.08))
    # Technologists frame the hand: the field follows hand size only partly.
    scale = frame * 0.228 * zoom * (subject.hand_length_mm / 150.0) ** 0.3
    angle = float(rng.normal(0.0, 6.0)) if rng.random() < 0.85 else float(rng.normal(0.0, 14.0))
    if width is None:  # version 1: exactly the square framing it always had
        cx = size * (0.5 + rng.normal(0.0, 0.035))
        cy = size * (0.46 + rng.normal(0.0, 0.025))
    else:  # the hand centred across the width, the spare height shared out
        cx = wide * 0.5 + frame * (rng.normal(0.0, 0.035) - HAND_OFFSET)
        cy = frame * (0.46 + rng.normal(0.0, 0.025)) + (height - frame) * DROP
    # (cx, cy) is where hand point (0.1, 0.95) lands.
    geo0 = Geometry(height, wide, scale, angle, (0.0, 0.0))
    off = geo0.to_px(np.array([0.1, 0.95]))
    geometry = Geometry(height, wide, scale, angle, (float(cx - off[0]), float(cy - off[1])))
    if width is not None and marks is not None:
        geometry = _forearm_out(geometry, marks)
    bright_bg = rng.random() < 0.15
    background = float(rng.uniform(0.25, 0.5) if bright_bg else rng.uniform(0.0, 0.12))
    collimation = None
    if rng.random() < 0.35:
        margin = rng.uniform(0.02, 0.12, size=4)
        collimation = {
            "box_fraction": [round(float(v), 4) for v in margin],
            "angle_deg": round(float(angle * rng.uniform(0.6, 1.0)), 4),
            "outside": "bright" if rng.random() < 0.4 else "black",
            "level": round(float(rng.uniform(0.55, 0.85)), 4),
        }
    return Acquisition(
        geometry=geometry,
        pixels_per_mm=scale / unit_mm,
        exposure=float(rng.uniform(1.0, 1.7)),
        gamma=float(math.exp(rng.normal(0.0, 0.15))),
        peak=float(rng.uniform(0.82, 0.97)),
        background=background,
        noise=float(math.exp(rng.uniform(math.log(0.004), math.log(0.022)))),
        blur=float(rng.uniform(0.35, 1.1) * frame / 512.0),
        gradient=(float(rng.normal(0, 0.04)), float(rng.normal(0, 0.04)), float(rng.random())),
        collimation=collimation,
        frame=frame,
    )


def _forearm_out(geo: Geometry, marks: dict[str, np.ndarray]) -> Geometry:
    """``geo`` moved down, if need be, so the end of the drawn forearm lies below the image."""
    ends = np.array(
        [
            marks["radius_end"] + np.array([0.45, -_FOREARM_CUT]),
            marks["ulna_end"] + np.array([-0.45, -_FOREARM_CUT]),
        ]
    )
    lowest = float(geo.to_px(ends)[:, 1].min())
    short = geo.height + 2.0 + 0.05 * geo.scale - lowest
    if short <= 0.0:
        return geo
    return attrs.evolve(geo, centre=(geo.centre[0], geo.centre[1] + short))


def _poly(pts: np.ndarray) -> np.ndarray:
    return np.rint(pts * _ONE).astype(np.int32).reshape(-1, 1, 2)


def _soft_tissue(subject: Subject, marks: dict[str, np.ndarray], geo: Geometry) -> np.ndarray:
    """Soft-tissue thickness in [0, ~1]: a filled silhouette, blurred into a rounded profile."""
    canvas = np.zeros((geo.height, geo.width), np.float32)
    young = 1.0 + 0.35 * (1.0 - min(1.0, subject.maturity / 120.0))  # chubby infants
    tissue = subject.soft_tissue * young
    widths = {1: 0.36, 2: 0.32, 3: 0.33, 4: 0.31, 5: 0.28}
    for ray in range(1, 6):
        head = marks[f"mc{ray}_head"]
        tip = marks[f"tip{ray}"]
        w = widths[ray] * tissue * (0.85 + 0.15 * subject.shaft)
        n = 4
        w_tip = w * 0.75
        axis = tip - head
        axis_len = float(np.hypot(*axis)) or 1.0
        # The round cap of the last segment ends just past the distal phalanx.
        end = tip - axis / axis_len * (0.5 * w_tip - 0.01)
        for k in range(n):
            p0 = head + (end - head) * (k / n)
            p1 = head + (end - head) * ((k + 1) / n)
            thick = max(1, round(geo.scale * w * (1.0 - 0.25 * (k + 1) / n)))
            a, b = geo.to_px(np.stack([p0, p1]))
            cv2.line(canvas, _pt(a), _pt(b), 1.0, thick, cv2.LINE_8, _SHIFT)
    m = marks
    e = 0.07 * tissue
    palm = np.array(
        [
            m["mc5_base"] + np.array([-0.12 - e, -0.05]),
            m["mc5_head"] + np.array([-0.07 - e, 0.0]),
            m["mc4_head"] + np.array([0.0, 0.1]),
            m["mc3_head"] + np.array([0.0, 0.1]),
            m["mc2_head"] + np.array([0.06, 0.08]),
            m["mc2_head"] * 0.6 + m["mc1_head"] * 0.4 + np.array([0.0, -0.12]),
            m["mc1_head"] + np.array([0.06, -0.02]),
            m["mc1_base"] + np.array([0.14 + e, -0.05]),
            m["radius_end"] + np.array([0.22 + e, -0.05]),
            m["ulna_end"] + np.array([-0.2 - e, 0.0]),
        ]
    )
    forearm = np.array(
        [
            m["radius_end"] + np.array([0.22 + e, -0.05]),
            m["radius_end"] + np.array([0.3 + e, -_FOREARM_CUT]),
            m["ulna_end"] + np.array([-0.28 - e, -_FOREARM_CUT]),
            m["ulna_end"] + np.array([-0.2 - e, 0.0]),
        ]
    )
    cv2.fillPoly(
        canvas, [_poly(geo.to_px(palm)), _poly(geo.to_px(forearm))], 1.0, cv2.LINE_8, _SHIFT
    )
    # A rounded (cylinder-like) thickness profile from the distance to the skin edge.
    dist = cv2.distanceTransform((canvas > 0.5).astype(np.uint8), cv2.DIST_L2, 3)
    reach = max(1.5, 0.11 * geo.scale * tissue)
    depth = np.minimum(dist * np.float32(1.0 / reach), 1.0)
    thick = np.sqrt(depth * (2.0 - depth))
    return cv2.GaussianBlur(thick, (0, 0), max(0.6, 0.008 * geo.scale))


def _pt(p: np.ndarray) -> tuple[int, int]:
    return round(p[0] * _ONE), round(p[1] * _ONE)


def _bones(shapes: list[Shape], geo: Geometry) -> np.ndarray:
    """Bone density: each group drawn into its own patch, patches added (overlaps add)."""
    acc = np.zeros((geo.height, geo.width), np.float32)
    groups: dict[int, list[tuple[Shape, np.ndarray, np.ndarray | None]]] = {}
    for s in shapes:
        outer = geo.to_px(s.outer)
        inner = geo.to_px(s.inner) if s.inner is not None else None
        groups.setdefault(s.group, []).append((s, outer, inner))
    soft = max(0.7, 0.025 * geo.scale)
    for items in groups.values():
        allpts = np.vstack([o for _, o, _ in items])
        x0 = max(math.floor(allpts[:, 0].min()) - 3, 0)
        y0 = max(math.floor(allpts[:, 1].min()) - 3, 0)
        x1 = min(math.ceil(allpts[:, 0].max()) + 4, geo.width)
        y1 = min(math.ceil(allpts[:, 1].max()) + 4, geo.height)
        if x1 <= x0 or y1 <= y0:
            continue
        patch = np.zeros((y1 - y0, x1 - x0), np.float32)
        hollow = np.zeros_like(patch)
        off = np.array([x0, y0], np.float64)
        for s, outer, inner in items:
            if s.kind == "line":
                thick = max(1, round(geo.scale * 0.012))
                cv2.line(
                    patch,
                    _pt(outer[0] - off),
                    _pt(outer[1] - off),
                    float(s.density),
                    thick,
                    cv2.LINE_8,
                    _SHIFT,
                )
                continue
            cv2.fillPoly(patch, [_poly(outer - off)], float(s.density), cv2.LINE_8, _SHIFT)
            if inner is not None:
                cv2.fillPoly(
                    hollow,
                    [_poly(inner - off)],
                    float(s.density - s.inner_density),
                    cv2.LINE_8,
                    _SHIFT,
                )
        # The medulla fades smoothly into the cortex, as through a hollow cylinder.
        hollow = cv2.GaussianBlur(hollow, (0, 0), soft)
        patch = np.where(patch > 0, np.maximum(patch - hollow, 0.0), patch)
        acc[y0:y1, x0:x1] += patch
    return acc


def _texture(rng: np.random.Generator, height: int, width: int, scale: float) -> np.ndarray:
    """Band-pass noise with a grain of about 1 % of the hand: trabecular hints."""
    small = max(16, height // 2)
    n = rng.standard_normal((small, max(16, width // 2)), dtype=np.float32)
    grain = max(0.6, 0.012 * scale * small / height)
    # cv2's stubs do not carry the dtype through: a float32 image blurs to float32
    n = cast("np.ndarray[Any, np.dtype[np.float32]]", cv2.GaussianBlur(n, (0, 0), grain))
    n *= 1.0 / (float(n.std()) + 1e-6)
    return cv2.resize(n, (width, height), interpolation=cv2.INTER_LINEAR)


def _field(acq: Acquisition) -> np.ndarray | None:
    """Soft-edged exposed field (1 inside the collimator, 0 outside), or None."""
    c = acq.collimation
    if c is None:
        return None
    height, width = acq.geometry.height, acq.geometry.width
    left, top, right, bottom = c["box_fraction"]
    left, right = left * width, right * width
    top, bottom = top * height, bottom * height
    w = width - left - right
    h = height - top - bottom
    centre = (left + w / 2.0, top + h / 2.0)
    box = cv2.boxPoints((centre, (w, h), c["angle_deg"]))
    field = np.zeros((height, width), np.float32)
    cv2.fillPoly(field, [_poly(box)], 1.0, cv2.LINE_8, _SHIFT)
    return cv2.GaussianBlur(field, (0, 0), max(0.6, height / 512.0))


def render_clean(
    subject: Subject,
    shapes: list[Shape],
    marks: dict[str, np.ndarray],
    acq: Acquisition,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render the artifact-free radiograph.

    Returns:
        ``(image, anatomy, bone)``: float32 grey levels in [0, 1], the hand mask (soft tissue
        included, inside the exposed field), and the bone mask.
    """
    geo = acq.geometry
    height, width = geo.height, geo.width
    tissue = _soft_tissue(subject, marks, geo)
    bone = _bones(shapes, geo)
    bone_mask = bone > 0.05
    anatomy = tissue > 0.06
    # In-place arithmetic below keeps every operation (and so every bit) of the plain
    # expressions in the comments, with fewer temporary images.
    tex = _texture(rng, height, width, geo.scale)
    tex *= 0.07
    tex += 1.0
    bone *= tex  # bone *= 1 + 0.07 * tex
    tissue *= 0.21
    bone *= 0.47
    att = np.add(tissue, bone, out=tissue)  # 0.21 * tissue + 0.47 * bone
    if acq.blur > 0.05:
        att = cv2.GaussianBlur(att, (0, 0), acq.blur)
    k = acq.exposure
    v = np.multiply(att, -k, out=att)
    np.exp(v, out=v)
    np.subtract(1.0, v, out=v)
    v *= np.float32(1.0 / (1.0 - math.exp(-k * 0.9)))  # (1 - exp(-k att)) / (1 - exp(-0.9 k))
    np.clip(v, 0.0, 1.0, out=v)
    np.power(v, np.float32(acq.gamma), out=v)
    v *= acq.peak - acq.background
    img = np.add(v, acq.background, out=v)  # background + (peak - background) * v
    gx, gy, _ = acq.gradient
    ramp_x = np.linspace(-0.5, 0.5, width, dtype=np.float32)
    ramp_y = np.linspace(-0.5, 0.5, height, dtype=np.float32)
    img += gx * ramp_x[None, :] + gy * ramp_y[:, None]
    noise = rng.standard_normal((height, width), dtype=np.float32)
    spread = np.clip(img, 0.0, 1.0)
    spread += 0.15
    np.sqrt(spread, out=spread)
    spread *= acq.noise
    spread *= noise
    img += spread  # img += noise_sigma * sqrt(0.15 + clip(img)) * noise
    field = _field(acq)
    if field is not None:
        c = acq.collimation or {}
        if c.get("outside") == "bright":
            outside = c["level"] + acq.noise * noise * 0.8
        else:
            outside = np.float32(0.0)
        img = field * img + (1.0 - field) * outside
        anatomy &= field > 0.5
        bone_mask &= field > 0.5
    np.clip(img, 0.0, 1.0, out=img)
    return img.astype(np.float32, copy=False), anatomy, bone_mask

"""Burned-in artifacts with exact masks: lead L/R plates with initials, free text, rulers.

Each artifact is drawn into a small canvas of its own as two coverage layers: ``body``
(a plastic holder or ruler strip, which adds a little density and keeps the noise below it)
and ``ink`` (lead letters and ticks, which saturate towards white). The canvas is rotated and
placed into the frame, mostly where it does not touch the hand. Compositing changes a pixel
only where the summed coverage exceeds a small threshold, and exactly those pixels form the
mask, so the clean image and the image agree bit for bit everywhere else.

Images may be any ``height x width``; artifact sizes follow a reference length (the image
side for square phantoms, the hand's frame otherwise), and every artifact is placed wholly
inside the given field box, so it lies inside the image whatever its shape.
"""

from __future__ import annotations

import math
import string
from typing import Any

import cv2
import numpy as np

__all__ = ["burn_in"]

_TEXTS = (
    "PORT 1800",
    "PORTABLE",
    "L HAND",
    "LEFT",
    "PA",
    "ER",
    "OPD",
    "BONE AGE",
    "L PA",
    "WRIST",
    "HAND PA",
    "PORT",
    "STANDING",
    "2 VIEWS",
    "ROOM 3",
)
_FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_PLAIN)
_THRESHOLD = 0.04


def _initials(rng: np.random.Generator) -> str:
    n = int(rng.choice([2, 2, 3, 3, 1]))
    return "".join(rng.choice(list(string.ascii_uppercase), size=n))


def _text_size(text: str, font: int, height: float, thick: int) -> tuple[float, int, int]:
    (w, h), _ = cv2.getTextSize(text, font, 1.0, thick)
    scale = height / max(h, 1)
    (w, h), _base = cv2.getTextSize(text, font, scale, thick)
    return scale, w, h


def _plate(rng: np.random.Generator, size: float) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """A lead marker: a rounded plastic plate with a big L or R and the initials."""
    letter = "L" if rng.random() < 0.85 else "R"
    initials = _initials(rng)
    unit = size * rng.uniform(0.055, 0.095)  # height of the big letter
    style = int(rng.integers(0, 4))
    font = cv2.FONT_HERSHEY_SIMPLEX if rng.random() < 0.8 else cv2.FONT_HERSHEY_DUPLEX
    thick = max(2, round(unit * rng.uniform(0.16, 0.22)))
    small = unit * rng.uniform(0.45, 0.65)
    sthick = max(1, round(thick * 0.6))
    pad = round(unit * 0.45)
    if style == 3:  # bare serif letter, no plate (as on some older frames)
        font = cv2.FONT_HERSHEY_TRIPLEX
        scale, w, h = _text_size(letter, font, unit * 0.6, max(1, thick // 2))
        canvas_w, canvas_h = w + 4, h + 6
        body = np.zeros((canvas_h, canvas_w), np.uint8)
        ink = np.zeros_like(body)
        cv2.putText(ink, letter, (2, h + 2), font, scale, 255, max(1, thick // 2), cv2.LINE_AA)
        return body, ink, {"kind": "letter", "text": letter}
    scale, w, h = _text_size(letter, font, unit, thick)
    s_scale, sw, sh = _text_size(initials, font, small, sthick)
    if style == 1:  # initials stacked to the right of the letter
        col = max(_text_size(c, font, small, sthick)[1] for c in initials)
        canvas_w = pad * 2 + w + int(unit * 0.25) + col
        canvas_h = pad * 2 + max(h, int(len(initials) * sh * 1.35)) + int(unit * 0.8)
    else:  # initials under the letter
        canvas_w = pad * 2 + max(w, sw)
        canvas_h = pad * 2 + h + int(sh * 1.6) + int(unit * 0.8)
    body = np.zeros((canvas_h, canvas_w), np.uint8)
    ink = np.zeros_like(body)
    radius = int(pad * 0.8)
    cv2.rectangle(body, (radius, 0), (canvas_w - 1 - radius, canvas_h - 1), 255, -1)
    cv2.rectangle(body, (0, radius), (canvas_w - 1, canvas_h - 1 - radius), 255, -1)
    for cx in (radius, canvas_w - 1 - radius):
        for cy in (radius, canvas_h - 1 - radius):
            cv2.circle(body, (cx, cy), radius, 255, -1, cv2.LINE_AA)
    top = int(unit * 0.8)
    if rng.random() < 0.7:  # the hanging hole or slot
        hole_r = max(2, int(unit * 0.14))
        if rng.random() < 0.6:
            cv2.circle(body, (canvas_w // 2, top // 2 + 1), hole_r, 0, -1, cv2.LINE_AA)
        else:
            cv2.rectangle(
                body,
                (canvas_w // 4, top // 2 - hole_r // 2),
                (3 * canvas_w // 4, top // 2 + hole_r // 2),
                0,
                -1,
            )
    y = top + pad + h
    cv2.putText(ink, letter, (pad, y), font, scale, 255, thick, cv2.LINE_AA)
    if style == 1:
        x = pad + w + int(unit * 0.25)
        yy = top + pad + sh
        for c in initials:
            cv2.putText(ink, c, (x, yy), font, s_scale, 255, sthick, cv2.LINE_AA)
            yy += int(sh * 1.35)
    else:
        x = pad + max(0, (w - sw) // 2) if style == 0 else pad
        cv2.putText(ink, initials, (x, y + int(sh * 1.5)), font, s_scale, 255, sthick, cv2.LINE_AA)
    return body, ink, {"kind": "plate", "text": f"{letter} {initials}"}


def _text(rng: np.random.Generator, size: float) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Free text such as ``PORT 1800``."""
    text = (
        str(rng.choice(_TEXTS))
        if rng.random() < 0.8
        else f"{int(rng.integers(0, 24)):02d}:{int(rng.integers(0, 60)):02d}"
    )
    font = int(rng.choice(_FONTS))
    height = size * rng.uniform(0.02, 0.04)
    thick = max(1, round(height * rng.uniform(0.08, 0.16)))
    scale, w, h = _text_size(text, font, height, thick)
    ink = np.zeros((h + 2 * thick + 8, w + 2 * thick + 4), np.uint8)
    cv2.putText(ink, text, (thick + 2, h + thick + 3), font, scale, 255, thick, cv2.LINE_AA)
    return np.zeros_like(ink), ink, {"kind": "text", "text": text}


def _ruler(rng: np.random.Generator, size: float) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """A radiopaque ruler: a faint strip with millimetre ticks and numbers."""
    length = int(size * rng.uniform(0.25, 0.5))
    width = max(8, int(size * rng.uniform(0.03, 0.045)))
    body = np.full((width, length), 255, np.uint8)
    ink = np.zeros_like(body)
    step = max(3.0, size * rng.uniform(0.008, 0.014))
    n = int((length - 4) / step)
    for i in range(n + 1):
        x = round(2 + i * step)
        tick = width * (0.7 if i % 10 == 0 else 0.45 if i % 5 == 0 else 0.25)
        cv2.line(ink, (x, 0), (x, int(tick)), 255, 1, cv2.LINE_AA)
        if i % 10 == 0 and i > 0 and width >= 12:
            cv2.putText(
                ink,
                str(i // 10),
                (x - 3, width - 2),
                cv2.FONT_HERSHEY_PLAIN,
                width / 28.0,
                255,
                1,
                cv2.LINE_AA,
            )
    return body, ink, {"kind": "ruler", "text": ""}


def _warp(
    layer: np.ndarray, angle: float, centre: tuple[float, float], shape: tuple[int, int]
) -> np.ndarray:
    """``layer`` rotated by ``angle`` and centred at ``centre`` in a frame of ``shape``."""
    h, w = layer.shape
    m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle, 1.0)
    m[0, 2] += centre[0] - w / 2.0
    m[1, 2] += centre[1] - h / 2.0
    out = cv2.warpAffine(
        layer,
        m,
        (shape[1], shape[0]),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    return out


def _place(
    rng: np.random.Generator,
    shape: tuple[int, int],
    angle: float,
    anatomy: np.ndarray,
    bone: np.ndarray,
    field: tuple[int, int, int, int],
    soft_ok: bool,
    attempts: int,
) -> tuple[float, float] | None:
    h, w = shape
    a = math.radians(angle)
    bw = abs(w * math.cos(a)) + abs(h * math.sin(a))
    bh = abs(w * math.sin(a)) + abs(h * math.cos(a))
    fx0, fy0, fx1, fy1 = field
    if fx1 - fx0 <= bw + 2 or fy1 - fy0 <= bh + 2:
        return None
    for _ in range(attempts):
        cx = rng.uniform(fx0 + bw / 2 + 1, fx1 - bw / 2 - 1)
        cy = rng.uniform(fy0 + bh / 2 + 1, fy1 - bh / 2 - 1)
        x0, y0 = int(cx - bw / 2), int(cy - bh / 2)
        x1, y1 = math.ceil(cx + bw / 2), math.ceil(cy + bh / 2)
        if soft_ok:
            if not bone[y0:y1, x0:x1].any():
                return cx, cy
        elif not anatomy[y0:y1, x0:x1].any():
            return cx, cy
    return None


def burn_in(
    clean: np.ndarray,
    anatomy: np.ndarray,
    bone: np.ndarray,
    rng: np.random.Generator,
    *,
    angle_deg: float,
    field: tuple[int, int, int, int],
    blur: float,
    size: float | None = None,
    attempts: int = 40,
) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
    """Burn artifacts into ``clean``.

    Args:
        clean: the artifact-free grey levels, ``height x width``.
        anatomy: the hand mask (artifacts mostly avoid it).
        bone: the bone mask (artifacts never cover it unless there is no room elsewhere).
        rng: the artifact stream.
        angle_deg: the image's rotation; artifacts mostly follow it.
        field: ``(x0, y0, x1, y1)``, the box artifacts must lie in (inside the image).
        blur: the system blur sigma in pixels.
        size: the length artifact sizes scale with (``None``: the image height).
        attempts: random positions tried for an artifact before it is made smaller (tall,
            narrow images leave less room beside the hand and need more).

    Returns:
        ``(image, mask, components)``: the image equals ``clean`` wherever ``mask`` is False;
        components are ``{"kind", "box", "score", "text"}`` dicts, boxes end-exclusive.
    """
    height, width = clean.shape
    if size is None:
        size = height
    makers = [_plate]
    if rng.random() < 0.45:
        makers.append(_text)
    if rng.random() < 0.2:
        makers.append(_ruler)
    if rng.random() < 0.15:
        makers.append(_text)
    body_all = np.zeros(clean.shape, np.float32)
    ink_all = np.zeros(clean.shape, np.float32)
    comps: list[dict[str, Any]] = []
    ink_level = float(rng.uniform(0.93, 1.0))
    for maker in makers:
        body, ink, info = maker(rng, size)
        if rng.random() < 0.9:
            angle = angle_deg + float(rng.normal(0.0, 8.0))
        else:
            angle = float(rng.uniform(-180.0, 180.0))
        if info["kind"] == "ruler" and rng.random() < 0.5:
            angle += 90.0
        soft_ok = rng.random() < 0.15
        where = _place(rng, ink.shape, angle, anatomy, bone, field, soft_ok, attempts)
        for shrink in (0.75, 0.55):
            if where is not None:
                break
            # No room beside the hand: a smaller marker, then over soft tissue too.
            small = (max(4, int(ink.shape[1] * shrink)), max(4, int(ink.shape[0] * shrink)))
            ink = cv2.resize(ink, small, interpolation=cv2.INTER_AREA)
            body = cv2.resize(body, small, interpolation=cv2.INTER_AREA)
            where = _place(rng, ink.shape, angle, anatomy, bone, field, shrink < 0.6, attempts)
        if where is None:
            continue
        # Work inside the box the rotated canvas can reach, with room for the blur: the
        # values are the same as over the whole frame, at a fraction of the cost.
        sigma = blur * 0.8
        margin = 3 + (math.ceil(4.0 * sigma) + 2 if blur > 0.3 else 0)
        half = 0.5 * math.hypot(*ink.shape)
        x0 = max(int(where[0] - half) - margin, 0)
        y0 = max(int(where[1] - half) - margin, 0)
        x1 = min(math.ceil(where[0] + half) + margin, width)
        y1 = min(math.ceil(where[1] + half) + margin, height)
        roi = (slice(y0, y1), slice(x0, x1))
        layer_ink: np.ndarray  # float32 (cv2's stubs widen what it returns)
        layer_body: np.ndarray | None
        shape = (height, width)
        layer_ink = _warp(ink, angle, where, shape)[roi].astype(np.float32) * np.float32(1 / 255)
        layer_body = (
            _warp(body, angle, where, shape)[roi].astype(np.float32) * np.float32(1 / 255)
            if body.any()
            else None
        )
        if blur > 0.3:
            layer_ink = cv2.GaussianBlur(layer_ink, (0, 0), sigma)
            if layer_body is not None:
                layer_body = cv2.GaussianBlur(layer_body, (0, 0), sigma)
        level_body = float(rng.uniform(0.04, 0.11))
        touched = layer_ink > _THRESHOLD
        if layer_body is not None:
            touched |= layer_body > _THRESHOLD
            np.maximum(body_all[roi], layer_body * level_body, out=body_all[roi])
        np.maximum(ink_all[roi], layer_ink, out=ink_all[roi])
        ys, xs = np.nonzero(touched)
        if ys.size == 0:
            continue
        comps.append(
            {
                "kind": info["kind"],
                "box": [
                    int(xs.min()) + x0,
                    int(ys.min()) + y0,
                    int(xs.max()) + 1 + x0,
                    int(ys.max()) + 1 + y0,
                ],
                "score": 1.0,
                "text": info["text"],
                "over_anatomy": bool(anatomy[roi][touched].any()),
            }
        )
    coverage = np.maximum(body_all * 10.0, ink_all)
    mask = coverage > _THRESHOLD
    image = clean.copy()
    if mask.any():
        idx = np.nonzero(mask)
        base = clean[idx] + body_all[idx]
        alpha = ink_all[idx]
        ink_value = ink_level + rng.normal(0.0, 0.004, size=alpha.size)
        out = base * (1.0 - alpha) + ink_value * alpha
        image[idx] = np.clip(out, 0.0, 1.0).astype(np.float32)
    return image, mask, comps

"""Drawing a lead plate or a text line, rotated, into a radiograph, with its exact mask.

Uses the phantom generator's own artifact drawing (:mod:`radinpaint.datasets.phantom.artifacts`)
so that the shapes are those the benchmark knows; the centre is the point farthest from
everything listed in ``keep_off`` (the hand, other markers) and from the image border.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def draw_artifact(
    clean: np.ndarray,
    kind: str,
    *,
    seed: int,
    angle: float,
    size: float,
    keep_off: np.ndarray | None = None,
    ink: float = 0.97,
    body: float = 0.08,
    blur: float = 1.0,
    gap: int = 25,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """``clean`` with a ``"plate"``, ``"text"`` or ``"ruler"`` drawn at ``angle`` degrees.

    The angle turns counter-clockwise on screen, as the phantoms' own drawing does.

    Returns ``(pixels, mask, info)``: float32 pixels in [0, 1], the artifact's exact mask
    (coverage above 0.04, as the phantoms define it) and the drawing's facts (``text``,
    ``centre``, ``size``). The artifact is shrunk until it stays ``gap`` pixels away from
    ``keep_off`` and the border.
    """
    import cv2

    from radinpaint.datasets.phantom import artifacts

    maker = {"plate": artifacts._plate, "text": artifacts._text, "ruler": artifacts._ruler}[kind]
    h, w = clean.shape
    free = np.ones((h, w), np.uint8)
    if keep_off is not None:
        free[keep_off] = 0
    free[0, :] = free[-1, :] = free[:, 0] = free[:, -1] = 0
    dist = cv2.distanceTransform(free, cv2.DIST_L2, 5)
    cy, cx = np.unravel_index(int(np.argmax(dist)), dist.shape)
    for _ in range(12):
        body_layer, ink_layer, info = maker(np.random.default_rng(seed), size)
        layers = [
            artifacts._warp(layer, angle, (float(cx), float(cy)), (h, w)).astype(np.float32) / 255
            for layer in (body_layer, ink_layer)
        ]
        if blur > 0.3:
            layers = [cv2.GaussianBlur(layer, (0, 0), blur) for layer in layers]
        lb, li = layers
        mask = np.maximum(lb * 10.0, li) > 0.04
        if mask.any() and float(dist[mask].min()) >= gap:
            out = (clean + lb * body) * (1.0 - li) + ink * li
            info = {**info, "centre": (int(cx), int(cy)), "size": size}
            return np.clip(out, 0.0, 1.0).astype(np.float32), mask, info
        size *= 0.85
    raise AssertionError(f"no room for a {kind} in an image of shape {clean.shape}")

"""Rated outputs and what the reward model sees of them.

A :class:`RatedSample` is one inpainted output with its original, its artifact mask and a
rater's verdict (acceptable or not). The reward model never reads a whole radiograph: it
reads two fixed-size views of the three images, stacked as channels
(:func:`sample_views`):

- **detail view**: :data:`VIEW` x :data:`VIEW` pixels at the image's own resolution,
  centred on the mask's largest connected component (moved inside the image; an image
  smaller than that is resized up), so grain and outlines keep their scale;
- **local view**: a square window centred on the mask's bounding box, its side twice the
  box's longer side (at least :data:`MIN_WINDOW` pixels, at most the image's shorter
  side, moved inside the image), resized to :data:`VIEW` x :data:`VIEW`;
- **global view**: the whole image resized to :data:`VIEW` x :data:`VIEW` (aspect ratio not
  kept: the view is an overview, not an input to a bone-age model).

Each view has four channels: the output and the original (minus the original's mean over
its SD outside the mask), the mask, and the output's fine detail (the output minus its
Gaussian blur of sigma 1 px, over the SD of the original's fine detail outside the mask),
so grain and outlines read on one scale whatever the exposure. The input is a
``(12, VIEW, VIEW)`` float32 tensor. Resizing is bilinear with antialiasing (torch's
``interpolate``), written in torch so the same function is differentiable for the GAN's
reward-weighted fine-tuning.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from ..errors import InvalidInputError

if TYPE_CHECKING:
    import torch

__all__ = [
    "CHANNELS",
    "MIN_WINDOW",
    "VIEW",
    "RatedSample",
    "check_rated",
    "detail_window",
    "mask_window",
    "sample_views",
    "views_tensor",
    "windows_of",
]

VIEW = 64
"""Side of both views, in pixels."""

MIN_WINDOW = 32
"""Smallest side of the local window, in image pixels."""

MIN_SD = 0.01
"""Smallest SD a view is divided by (see :func:`views_tensor`)."""

VIEW_CHANNELS = 4
"""Channels per view: output, original, mask, the output's fine detail."""

CHANNELS = 12
"""Input channels: output, original, mask and the output's fine detail of the detail view,
the local view, then the global view."""


def _pixels(value: Any) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float32)
    arr.setflags(write=False)
    return arr


def _bool(value: Any) -> np.ndarray:
    arr = np.asarray(value, dtype=bool)
    arr.setflags(write=False)
    return arr


@attrs.frozen(eq=False)
class RatedSample:
    """One output, its original and mask, and (when rated) whether it is acceptable.

    Attributes:
        output: the inpainted image, float ``(H, W)`` in ``[0, 1]``.
        original: the image before inpainting, same shape.
        mask: boolean ``(H, W)``, True where the artifact was.
        accepted: the rater's verdict; ``None`` for an output that is only to be scored.
        case_id: the case the output belongs to (cross-validation keeps a case's outputs
            on one side).
        inpainter: the backend (or label) that made it.
        variant: the variant number.
    """

    output: np.ndarray = attrs.field(converter=_pixels)
    original: np.ndarray = attrs.field(converter=_pixels)
    mask: np.ndarray = attrs.field(converter=_bool)
    accepted: bool | None = None
    case_id: str = ""
    inpainter: str = ""
    variant: int = 0

    def __attrs_post_init__(self) -> None:
        if self.output.ndim != 2 or self.output.shape != self.original.shape:
            raise InvalidInputError(
                f"output {self.output.shape} and original {self.original.shape} must be "
                "2-D images of one shape",
                input=self._where(),
                fix="pass the output at the original's shape (a restored output)",
            )
        if self.mask.shape != self.output.shape:
            raise InvalidInputError(
                f"mask {self.mask.shape} does not match the image {self.output.shape}",
                input=self._where(),
            )
        if not self.mask.any():
            raise InvalidInputError(
                "the mask is empty: there is nothing the rater judged",
                input=self._where(),
                fix="leave outputs of empty masks out of the ratings",
            )

    def _where(self) -> str:
        return f"case {self.case_id or '?'}, {self.inpainter or '?'}, variant {self.variant}"


def mask_window(mask: np.ndarray) -> tuple[int, int, int]:
    """The local view's square window ``(top, left, side)`` for a non-empty mask."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    h, w = mask.shape
    box = max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1)
    side = int(min(max(2 * box, MIN_WINDOW), h, w))
    cy = (rows[0] + rows[-1] + 1) / 2.0
    cx = (cols[0] + cols[-1] + 1) / 2.0
    top = int(np.clip(round(cy - side / 2.0), 0, h - side))
    left = int(np.clip(round(cx - side / 2.0), 0, w - side))
    return top, left, side


def detail_window(mask: np.ndarray) -> tuple[int, int, int]:
    """The detail view's square window ``(top, left, side)``: :data:`VIEW` pixels (or the
    image's shorter side) centred on the largest connected component of a non-empty mask."""
    import cv2

    h, w = mask.shape
    n, _, stats, centroids = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n < 2:
        raise InvalidInputError("the mask is empty: there is no detail view")
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    cx, cy = centroids[largest]
    side = int(min(VIEW, h, w))
    top = int(np.clip(round(cy - side / 2.0), 0, h - side))
    left = int(np.clip(round(cx - side / 2.0), 0, w - side))
    return top, left, side


def _resize(x: torch.Tensor) -> torch.Tensor:
    import torch.nn.functional as F

    if x.shape[-2:] == (VIEW, VIEW):
        return x
    return F.interpolate(x, size=(VIEW, VIEW), mode="bilinear", antialias=True, align_corners=False)


def views_tensor(
    output: torch.Tensor,
    original: torch.Tensor,
    mask: torch.Tensor,
    windows: tuple[tuple[int, int, int], tuple[int, int, int]],
) -> torch.Tensor:
    """The ``(12, VIEW, VIEW)`` input of one sample from ``(H, W)`` tensors (differentiable in
    ``output``); ``windows``: :func:`detail_window` and :func:`mask_window` of the mask."""
    import torch

    stack = torch.stack([output, original, mask.to(output.dtype)])[None]
    views = []
    for top, left, side in windows:
        views.append(_standardised(_resize(stack[..., top : top + side, left : left + side])))
    views.append(_standardised(_resize(stack)))
    return torch.cat(views, dim=1)[0]


def windows_of(mask: np.ndarray) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """The detail and local windows of a non-empty mask."""
    return detail_window(mask), mask_window(mask)


def _standardised(view: torch.Tensor) -> torch.Tensor:
    """A ``(1, 3, V, V)`` view (output, original, mask) as four channels: output and original
    minus the original's mean over its SD outside the mask, the mask, and the output's fine
    detail (minus its Gaussian blur, sigma 1 px) over the SD of the original's fine detail
    outside the mask (each SD at least :data:`MIN_SD`); the scaled channels pass through
    ``asinh``, so a bright marker stays large without reaching hundreds."""
    import torch

    outside = 1.0 - view[:, 2:3]
    weight = outside.sum(dim=(2, 3), keepdim=True).clamp_min(1.0)

    def mean_sd(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean = (x * outside).sum(dim=(2, 3), keepdim=True) / weight
        var = (((x - mean) * outside) ** 2).sum(dim=(2, 3), keepdim=True) / weight
        return mean, var.clamp_min(MIN_SD**2).sqrt()

    mean, sd = mean_sd(view[:, 1:2])
    detail = view[:, 0:1] - _blur(view[:, 0:1])
    _, detail_sd = mean_sd(view[:, 1:2] - _blur(view[:, 1:2]))
    scaled = torch.cat([(view[:, :2] - mean) / sd, detail / detail_sd], dim=1)
    squashed = torch.asinh(scaled)  # a bright marker stays large, but not hundreds
    return torch.cat([squashed[:, :2], view[:, 2:3], squashed[:, 2:]], dim=1)


def _blur(x: torch.Tensor) -> torch.Tensor:
    """Gaussian blur, sigma 1 px, 5x5, reflected at the border."""
    import torch
    import torch.nn.functional as F

    g = torch.exp(-((torch.arange(5, dtype=x.dtype) - 2.0) ** 2) / 2.0)
    g = g / g.sum()
    kernel = (g[:, None] * g[None, :])[None, None]
    return F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), kernel)


def sample_views(samples: Sequence[RatedSample]) -> np.ndarray:
    """The ``(N, 12, VIEW, VIEW)`` float32 inputs of ``samples`` (see the module docs)."""
    import torch

    out = np.empty((len(samples), CHANNELS, VIEW, VIEW), dtype=np.float32)
    with torch.no_grad():
        for i, s in enumerate(samples):
            out[i] = views_tensor(
                torch.from_numpy(np.array(s.output)),
                torch.from_numpy(np.array(s.original)),
                torch.from_numpy(np.array(s.mask)),
                windows_of(s.mask),
            ).numpy()
    return out


def check_rated(samples: Sequence[RatedSample], *, folds: int | None = None) -> np.ndarray:
    """The labels of ``samples`` as 0/1, after checking they can train a model.

    Raises:
        InvalidInputError: no samples, an unrated sample, a single class, or (with ``folds``)
            fewer cases than folds.
    """
    if not samples:
        raise InvalidInputError(
            "no rated outputs: a reward model needs ratings to learn from",
            fix="rate some outputs first (both acceptable and unacceptable ones)",
        )
    unrated = [s for s in samples if s.accepted is None]
    if unrated:
        raise InvalidInputError(
            f"{len(unrated)} of {len(samples)} samples have no rating",
            input=unrated[0]._where(),
            fix="pass only rated outputs for training",
        )
    y = np.array([1.0 if s.accepted else 0.0 for s in samples], dtype=np.float32)
    if y.min() == y.max():
        which = "acceptable" if y[0] else "unacceptable"
        raise InvalidInputError(
            f"all {len(y)} ratings say {which}: a reward model needs both classes",
            fix="rate outputs of both kinds (several backends: a classical fill, a control)",
        )
    if folds is not None:
        cases = {s.case_id for s in samples}
        if len(cases) < folds:
            raise InvalidInputError(
                f"cross-validation by case needs at least {folds} cases, got {len(cases)}",
                fix=f"rate outputs of more cases, or use folds <= {len(cases)}",
            )
    return y

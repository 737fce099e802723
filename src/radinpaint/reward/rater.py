"""A simulated rater: a fixed, stated rule standing in for an expert, for tests and figures.

:class:`SimulatedRater` rejects an output when either of two things a radiologist notices
first is off:

1. **texture**: the fine detail inside the mask does not match the film around it. Fine
   detail is the image minus its Gaussian blur (``sigma`` pixels); its standard deviation is
   taken over the mask eroded by 2 pixels (``sd_in``) and over a ring 3 to ``ring`` pixels
   outside the mask (``sd_ring``). Rejected when ``sd_in / sd_ring`` lies outside
   ``[1 / detail_factor, detail_factor]``: a smooth patch (too little grain) or a noisy one.
2. **outline**: the marker's outline is still visible. The outline contrast is the absolute
   difference, in grey levels of 8 bits (x255), between the output's mean over the mask's
   inner band (the outer 3 pixels of the mask) and over the ring 1 to 4 pixels outside it.
   Rejected when it exceeds ``outline_levels``.

Defaults: ``detail_factor=2``, ``outline_levels=10``, ``sigma=1.5``, ``ring=12``. The rule
reads only the output and the mask (and the original for nothing): the reward model, which
also sees the original, must learn it from the verdicts alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs
import numpy as np

from ..errors import InvalidInputError
from ..records import Case
from .samples import RatedSample

__all__ = ["SimulatedRater", "simulated_samples"]


def _positive(instance: object, attribute: attrs.Attribute, value: float) -> None:
    if not value > 0:
        raise InvalidInputError(f"simulated rater {attribute.name} must be > 0, got {value}")


@attrs.frozen
class SimulatedRater:
    """The fixed rule of the module docs.

    Attributes:
        detail_factor: the largest accepted ratio (either way) of in-mask to ring fine-detail
            SD (must be > 1).
        outline_levels: the largest accepted outline contrast, in 8-bit grey levels.
        sigma: the Gaussian blur (pixels) whose residual is the fine detail.
        ring: the outer radius (pixels) of the ring the texture is compared with.
    """

    detail_factor: float = attrs.field(default=2.0, converter=float, validator=_positive)
    outline_levels: float = attrs.field(default=10.0, converter=float, validator=_positive)
    sigma: float = attrs.field(default=1.5, converter=float, validator=_positive)
    ring: int = attrs.field(default=12, converter=int, validator=_positive)

    def __attrs_post_init__(self) -> None:
        if self.detail_factor <= 1.0:
            raise InvalidInputError(
                f"detail_factor must be > 1, got {self.detail_factor}", fix="use e.g. 2"
            )
        if self.ring < 5:
            raise InvalidInputError(f"ring must be >= 5 pixels, got {self.ring}")

    def measure(self, output: np.ndarray, mask: np.ndarray) -> dict[str, float]:
        """The rule's measurements: ``detail_ratio`` and ``outline_levels``."""
        import cv2

        out = np.asarray(output, dtype=np.float32)
        m = np.asarray(mask, dtype=bool)
        if not m.any():
            raise InvalidInputError("the simulated rater needs a non-empty mask")
        m8 = m.astype(np.uint8)

        def grow(r: int) -> np.ndarray:
            k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
            return cv2.dilate(m8, k).astype(bool)

        def shrink(r: int) -> np.ndarray:
            k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
            return cv2.erode(m8, k, borderType=cv2.BORDER_CONSTANT, borderValue=1).astype(bool)

        detail = out - cv2.GaussianBlur(out, (0, 0), self.sigma, borderType=cv2.BORDER_REFLECT)
        inner = shrink(2)
        if not inner.any():
            inner = m
        ring = grow(self.ring) & ~grow(3)
        sd_in = float(detail[inner].std())
        sd_ring = float(detail[ring].std()) if ring.any() else float("nan")
        ratio = sd_in / sd_ring if sd_ring > 0 else float("inf")
        band_in = m & ~shrink(3)
        band_out = grow(4) & ~grow(1)
        outline = abs(float(out[band_in].mean()) - float(out[band_out].mean())) * 255.0
        return {"detail_ratio": ratio, "outline_levels": outline}

    def accepts(self, output: np.ndarray, mask: np.ndarray) -> bool:
        """The rule's verdict on one output."""
        f = self.measure(output, mask)
        r = f["detail_ratio"]
        texture_ok = 1.0 / self.detail_factor <= r <= self.detail_factor
        return bool(texture_ok and f["outline_levels"] <= self.outline_levels)

    def rate(self, samples: Iterable[RatedSample]) -> list[RatedSample]:
        """``samples`` with ``accepted`` set by the rule."""
        return [attrs.evolve(s, accepted=self.accepts(s.output, s.mask)) for s in samples]

    def describe(self) -> dict[str, Any]:
        """The rule and its parameters, for a training record."""
        return {"rule": "simulated", **attrs.asdict(self)}


def simulated_samples(
    cases: Iterable[Case],
    inpainters: Mapping[str, Any],
    rater: SimulatedRater,
    *,
    variants: int = 1,
    seed: int = 0,
) -> list[RatedSample]:
    """Outputs of ``inpainters`` (label -> inpainter object) on ``cases`` (each with an
    ``artifact_mask``), rated by ``rater``: a ratings set made without a review, for tests
    and benchmarks. Failed outputs are left out."""
    from ..records import InpaintRequest, InpaintResult

    todo = [c for c in cases if c.artifact_mask is not None and not c.artifact_mask.is_empty]
    if not todo:
        raise InvalidInputError("no case has a non-empty artifact mask to inpaint")
    out = []
    for label, inpainter in inpainters.items():
        requests = [
            InpaintRequest(image=c.image, mask=c.artifact_mask, seed=seed, variant=v, case_id=c.id)
            for c in todo
            for v in range(variants)
            if c.artifact_mask is not None
        ]
        for request, result in zip(requests, inpainter.inpaint(requests), strict=True):
            if not isinstance(result, InpaintResult):
                continue
            mask = request.mask.array
            out.append(
                RatedSample(
                    output=result.image.pixels,
                    original=request.image.pixels,
                    mask=mask,
                    accepted=rater.accepts(result.image.pixels, mask),
                    case_id=str(request.case_id),
                    inpainter=label,
                    variant=request.variant,
                )
            )
    return out

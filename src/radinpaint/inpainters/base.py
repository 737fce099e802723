"""A base class for backends that work on one request at a time.

:class:`PerImageInpainter` implements the parts of the :class:`~radinpaint.protocols.Inpainter`
contract every such backend shares: empty masks return the input flagged ``"empty-mask"``,
timing, the result record. A subclass implements :meth:`PerImageInpainter.inpaint_one`.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import attrs
import numpy as np

from ..records import InpaintRequest, InpaintResult

__all__ = ["PerImageInpainter", "unchanged_result"]


def unchanged_result(
    request: InpaintRequest, backend: str, options: dict[str, Any], flag: str
) -> InpaintResult:
    """The request's own image as a result, flagged with ``flag`` (e.g. ``"empty-mask"``)."""
    return InpaintResult(
        image=request.image,
        backend=backend,
        options=options,
        seed=request.variant_seed,
        prompt=request.prompt,
        variant=request.variant,
        case_id=request.case_id,
        compositing=None,
        flags=(flag,),
    )


class PerImageInpainter(ABC):
    """Base for inpainters that handle one request at a time.

    Subclasses set ``name`` and ``compositing`` and implement :meth:`inpaint_one`. Options are
    the subclass's attrs fields (so subclasses should be ``@attrs.define`` classes).
    """

    name: ClassVar[str]
    compositing: ClassVar[str | None] = "paste-back"

    def options(self) -> dict[str, Any]:
        """The backend's options as JSON-ready values (attrs fields not starting with ``_``)."""
        if not attrs.has(type(self)):
            return {}
        return {k: v for k, v in attrs.asdict(self, recurse=False).items() if not k.startswith("_")}

    @abstractmethod
    def inpaint_one(self, request: InpaintRequest) -> np.ndarray:
        """Return float pixels in [0, 1], same shape as the request image."""

    def inpaint(self, requests: Sequence[InpaintRequest]) -> list[InpaintResult]:
        """Inpaint each request in turn (see the Inpainter contract)."""
        options = self.options()
        results = []
        for request in requests:
            if request.mask.is_empty:
                results.append(unchanged_result(request, self.name, options, "empty-mask"))
                continue
            start = time.perf_counter()
            pixels = self.inpaint_one(request)
            image = request.image.with_pixels(pixels, clip=True)
            results.append(
                InpaintResult(
                    image=image,
                    backend=self.name,
                    options=options,
                    seed=request.variant_seed,
                    prompt=request.prompt,
                    variant=request.variant,
                    case_id=request.case_id,
                    seconds=time.perf_counter() - start,
                    compositing=self.compositing,
                )
            )
        return results

"""Control backends: ``identity`` (the negative control).

``identity`` returns its input: every effect measured on it must be exactly zero, which makes
it the first check of any evaluation pipeline.
"""

from __future__ import annotations

import attrs
import numpy as np

from ..hookspecs import Register, hookimpl
from ..records import InpaintRequest
from .base import PerImageInpainter

__all__ = ["IdentityInpainter"]


@attrs.define
class IdentityInpainter(PerImageInpainter):
    """Returns every input unchanged (negative control)."""

    name = "identity"
    compositing = "paste-back"

    def inpaint_one(self, request: InpaintRequest) -> np.ndarray:
        """The request's own pixels."""
        return request.image.pixels


@hookimpl
def radinpaint_register_inpainters(register: Register) -> None:
    """Register the control backends."""
    register(
        "identity", IdentityInpainter, summary="Returns the input unchanged (negative control)"
    )

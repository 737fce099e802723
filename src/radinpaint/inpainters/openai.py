"""Plugin module of the ``openai`` inpainter (OpenAI image edits).

Importing this module is cheap: the openai SDK is imported only when a backend sends
something (see :mod:`radinpaint.inpainters.openai_backend`).
"""

from __future__ import annotations

from ..hookspecs import Register, hookimpl
from .openai_backend import OpenAIInpainter

__all__ = ["OpenAIInpainter"]


@hookimpl
def radinpaint_register_inpainters(register: Register) -> None:
    """Register the ``openai`` inpainter."""
    register(
        "openai",
        OpenAIInpainter,
        summary="OpenAI image edits (gpt-image-*); study preset replays the reference study",
    )

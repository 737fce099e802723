"""Plugin module of the ``openai`` inpainter (OpenAI image edits).

Importing this module is cheap: the openai SDK is imported only when a backend sends
something (see :mod:`radinpaint.inpainters.openai.backend`). The built backend declares its
capabilities (connection limit, images per call, secret options, spend ledger) with its
``capabilities()``.
"""

from __future__ import annotations

from ...hookspecs import Register, hookimpl
from .backend import OpenAIInpainter

__all__ = ["OpenAIInpainter"]


@hookimpl
def radinpaint_register_inpainters(register: Register) -> None:
    """Register the ``openai`` inpainter."""
    register(
        "openai",
        OpenAIInpainter,
        summary="OpenAI image edits (gpt-image-*); study preset replays the reference study",
        capabilities=lambda backend: backend.capabilities(),
    )

"""Registers the ``gan`` inpainter."""

from __future__ import annotations

from ...hookspecs import Register, hookimpl


@hookimpl
def radinpaint_register_inpainters(register: Register) -> None:
    """Register the GAN backend."""

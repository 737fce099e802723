"""The diffusers inpainting backends (registered by this plugin module)."""

from __future__ import annotations

from ..hookspecs import Register, hookimpl


@hookimpl
def radinpaint_register_inpainters(register: Register) -> None:
    """Register this module's backends."""

"""Registers the built-in metrics."""

from __future__ import annotations

from ..hookspecs import Register, hookimpl


@hookimpl
def radinpaint_register_metrics(register: Register) -> None:
    """Register the built-in metrics."""

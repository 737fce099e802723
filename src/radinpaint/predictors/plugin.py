"""Registers the built-in predictors."""

from __future__ import annotations

from ..hookspecs import Register, hookimpl


@hookimpl
def radinpaint_register_predictors(register: Register) -> None:
    """Register the built-in predictors."""

"""The plugin contract: one ``radinpaint_register_*`` hook per kind of backend.

A plugin is a module (or package) with functions marked ``@hookimpl``. Each hook receives a
``register`` callback and calls it once per backend it provides::

    from radinpaint import Capabilities, hookimpl

    @hookimpl
    def radinpaint_register_inpainters(register):
        register(
            "my-backend",
            MyInpainter,
            summary="What it does in one line",
            capabilities=Capabilities(deterministic=True, max_concurrency=4),
        )

``register(name, factory, *, summary="", capabilities=None)`` takes the name users type, a
factory that builds the backend from keyword options (a class or a function), a one-line
summary, and what the backend declares about itself
(:class:`~radinpaint.capabilities.Capabilities`): a record, a function of the built backend
returning one (when it depends on the options), or None for the safe defaults. The
evaluation reads that record and nothing else about a backend.

The factory's keyword parameters are its options: an option it does not declare is refused
before the factory runs. A factory taking ``**options`` is called with whatever is given.
Factories are called only when the backend is asked for, so a plugin module stays cheap to
import: import heavy libraries inside the factory, never at module level.

Hooks take only the ``register`` argument today. Future arguments are added, never removed,
and pluggy lets an implementation declare only the arguments it uses (every hook is called
through pluggy's hook caller), so old plugins keep working. An implementation whose name
matches no hook (``radinpaint_register_inpainter``) is reported by
:func:`radinpaint.plugins.plugin_errors` with the closest real name.

Third-party plugins advertise themselves with an entry point in the ``radinpaint`` group::

    [project.entry-points.radinpaint]
    my_plugin = "my_package.plugin"
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import pluggy

from .capabilities import CapabilitiesSource

__all__ = ["Register", "hookimpl", "hookspec"]

hookspec = pluggy.HookspecMarker("radinpaint")
hookimpl = pluggy.HookimplMarker("radinpaint")


class Register(Protocol):
    """The callback a registration hook receives."""

    def __call__(
        self,
        name: str,
        factory: Callable[..., Any],
        *,
        summary: str = "",
        capabilities: CapabilitiesSource = None,
    ) -> None:
        """Register ``factory`` under ``name``, with what the backend declares about itself."""
        ...


@hookspec
def radinpaint_register_inpainters(register: Register) -> None:
    """Register :class:`~radinpaint.protocols.Inpainter` factories."""


@hookspec
def radinpaint_register_predictors(register: Register) -> None:
    """Register :class:`~radinpaint.protocols.Predictor` factories."""


@hookspec
def radinpaint_register_mask_providers(register: Register) -> None:
    """Register :class:`~radinpaint.protocols.MaskProvider` factories."""


@hookspec
def radinpaint_register_metrics(register: Register) -> None:
    """Register :class:`~radinpaint.protocols.Metric` factories."""

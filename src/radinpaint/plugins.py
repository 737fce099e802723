"""Plugin loading: built-ins and third-party packages go through the same pluggy manager.

Built-in backends live in :data:`DEFAULT_PLUGINS`, modules registered exactly as an entry
point would be. Third-party packages declare an entry point in the ``radinpaint`` group.

The environment variable ``RADINPAINT_PLUGINS`` restricts which third-party plugins load:

- unset: every installed plugin loads;
- empty string: none loads (the test suite runs this way);
- ``name1,name2``: only the entry points (or distributions) with those names load.

A plugin that fails to import is reported by :func:`plugin_errors` (and a warning) and the
others still load.
"""

from __future__ import annotations

import importlib
import os
import threading
import warnings
from importlib.metadata import entry_points

import attrs
import pluggy

from . import hookspecs
from .errors import PluginLoadError

__all__ = [
    "DEFAULT_PLUGINS",
    "ENTRY_POINT_GROUP",
    "PLUGINS_ENV",
    "PluginFailure",
    "get_plugin_manager",
    "plugin_errors",
    "reset_plugins",
]

ENTRY_POINT_GROUP = "radinpaint"
"""Entry-point group third-party plugins declare."""

PLUGINS_ENV = "RADINPAINT_PLUGINS"
"""Environment variable restricting which third-party plugins load (see module docs)."""

DEFAULT_PLUGINS: tuple[str, ...] = (
    "radinpaint.inpainters.controls",
    "radinpaint.inpainters.classical",
    "radinpaint.inpainters.gan.plugin",
    "radinpaint.inpainters.diffusers",
    "radinpaint.inpainters.openai",
    "radinpaint.predictors.plugin",
    "radinpaint.masks.plugin",
    "radinpaint.metrics.plugin",
)
"""Modules of the built-in backends, loaded like any plugin."""


@attrs.frozen
class PluginFailure:
    """A plugin that could not be loaded: its name and the error."""

    plugin: str
    error: str


_lock = threading.RLock()
_manager: pluggy.PluginManager | None = None
_failures: list[PluginFailure] = []


def _allowed_third_party() -> set[str] | None:
    value = os.environ.get(PLUGINS_ENV)
    if value is None:
        return None
    return {part.strip() for part in value.split(",") if part.strip()}


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    allowed = _allowed_third_party()
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(getattr(ep, "dist", None), "name", None)
        if allowed is not None and ep.name not in allowed and dist not in allowed:
            continue
        label = f"{ep.name} ({dist})" if dist else ep.name
        try:
            module = ep.load()
            if pm.is_registered(module):
                continue
            pm.register(module, name=ep.name)
        except Exception as exc:  # a broken plugin must not take the others down
            _record_failure(label, exc)


def _record_failure(plugin: str, exc: BaseException) -> None:
    failure = PluginFailure(plugin, f"{type(exc).__name__}: {exc}")
    _failures.append(failure)
    warnings.warn(
        f"radinpaint plugin {plugin} failed to load and was skipped: {failure.error}",
        RuntimeWarning,
        stacklevel=3,
    )


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, built on first use (thread-safe)."""
    global _manager
    with _lock:
        if _manager is None:
            pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
            pm.add_hookspecs(hookspecs)
            for name in DEFAULT_PLUGINS:
                try:
                    pm.register(importlib.import_module(name), name=name)
                except Exception as exc:
                    raise PluginLoadError(
                        f"built-in plugin {name} failed to import: {exc}",
                        fix="reinstall radinpaint; this is a packaging bug",
                    ) from exc
            _load_entry_points(pm)
            _manager = pm
        return _manager


def plugin_errors() -> list[PluginFailure]:
    """Plugins that failed to load in this process, with their errors."""
    get_plugin_manager()
    return list(_failures)


def reset_plugins() -> None:
    """Forget the loaded plugins; the next lookup loads them again (for tests)."""
    global _manager
    with _lock:
        _manager = None
        _failures.clear()
        from . import registry

        registry._clear_cache()

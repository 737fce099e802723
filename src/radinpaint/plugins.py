"""Plugin loading: built-ins and third-party packages go through the same pluggy manager.

Built-in backends live in :data:`DEFAULT_PLUGINS`, modules registered exactly as an entry
point would be. Third-party packages declare an entry point in the ``radinpaint`` group.

The environment variable ``RADINPAINT_PLUGINS`` restricts which third-party plugins load:

- unset: every installed plugin loads;
- empty string: none loads (the test suite runs this way);
- ``name1,name2``: only the entry points (or distributions) with those names load.

A plugin that fails to import is reported by :func:`plugin_errors` (and a warning) and the
others still load. So is a hook implementation pluggy cannot match to a hook specification
(a misspelt ``radinpaint_register_inpainter``, which would otherwise never be called): the
failure names the plugin, the hook and the closest real hook name.

:func:`plugin_versions` says which plugins were loaded, from which distribution and at which
version, for the manifest of a run.
"""

from __future__ import annotations

import difflib
import importlib
import os
import threading
import warnings
from importlib.metadata import entry_points
from typing import Any

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
    "plugin_versions",
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
    "radinpaint.inpainters.diffusion.plugin",
    "radinpaint.inpainters.diffusers",
    "radinpaint.inpainters.openai",
    "radinpaint.predictors.plugin",
    "radinpaint.masks.plugin",
    "radinpaint.metrics.plugin",
    "radinpaint.reward.plugin",
)
"""Modules of the built-in backends, loaded like any plugin."""


@attrs.frozen
class PluginFailure:
    """A plugin that could not be loaded: its name and the error."""

    plugin: str
    error: str


@attrs.frozen
class _Origin:
    """Where a loaded plugin came from (for :func:`plugin_versions` and failure labels)."""

    name: str
    label: str
    distribution: str | None
    version: str | None
    module: str | None


_lock = threading.RLock()
_manager: pluggy.PluginManager | None = None
_failures: list[PluginFailure] = []
_origins: dict[str, _Origin] = {}
_validated: set[str] = set()


def _allowed_third_party() -> set[str] | None:
    value = os.environ.get(PLUGINS_ENV)
    if value is None:
        return None
    return {part.strip() for part in value.split(",") if part.strip()}


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    allowed = _allowed_third_party()
    found: set[str] = set()
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(getattr(ep, "dist", None), "name", None)
        found.update(n for n in (ep.name, dist) if n)
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
            continue
        version = getattr(getattr(ep, "dist", None), "version", None)
        _origins[ep.name] = _Origin(
            ep.name, label, dist, version, getattr(module, "__name__", None) or ep.value
        )
    for name in sorted((allowed or set()) - found):
        close = difflib.get_close_matches(name, sorted(found), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        _record_failure(
            name,
            LookupError(
                f"{PLUGINS_ENV} names {name!r}, but no installed plugin has that name{hint}; "
                f"installed: {', '.join(sorted(found)) or 'none'}"
            ),
        )


def _record_failure(plugin: str, exc: BaseException) -> None:
    failure = PluginFailure(plugin, f"{type(exc).__name__}: {exc}")
    _failures.append(failure)
    warnings.warn(
        f"radinpaint plugin {plugin} failed to load and was skipped: {failure.error}",
        RuntimeWarning,
        stacklevel=3,
    )


def _hook_names() -> list[str]:
    return sorted(n for n in vars(hookspecs) if n.startswith(f"{ENTRY_POINT_GROUP}_"))


def _suggest(name: str) -> str:
    close = difflib.get_close_matches(name, _hook_names(), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _hook_failure(plugin: str, error: str) -> None:
    _failures.append(PluginFailure(plugin, error))
    warnings.warn(f"radinpaint plugin {plugin}: {error}", RuntimeWarning, stacklevel=4)


def _validate(pm: pluggy.PluginManager) -> None:
    """Report hooks that would never be called, for every plugin not yet checked.

    This is pluggy's :meth:`~pluggy.PluginManager.check_pending` (a hook implementation
    without a hook specification, not marked ``optionalhook``), extended to every such
    implementation rather than the first, plus functions named like a hook that lack the
    ``@hookimpl`` marker. Each becomes a :class:`PluginFailure`; nothing is raised.
    """
    known = _hook_names()
    for name, plugin in pm.list_name_plugin():
        if name in _validated or plugin is None:
            continue
        _validated.add(name)
        label = _origins[name].label if name in _origins else name
        for caller in pm.get_hookcallers(plugin) or []:
            if caller.has_spec():
                continue
            if any(i.plugin is plugin and not i.optionalhook for i in caller.get_hookimpls()):
                _hook_failure(
                    label,
                    f"unknown hook {caller.name!r}, so it is never called{_suggest(caller.name)} "
                    f"(the hooks are {', '.join(known)})",
                )
        for attr in known:
            value = getattr(plugin, attr, None)
            if callable(value) and pm.parse_hookimpl_opts(plugin, attr) is None:
                _hook_failure(
                    label,
                    f"{attr} is not marked @hookimpl, so it is never called "
                    "(decorate it with radinpaint.hookimpl)",
                )


def _radinpaint_version() -> str:
    from . import __version__

    return __version__


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, built on first use (thread-safe)."""
    global _manager
    with _lock:
        if _manager is None:
            pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
            pm.add_hookspecs(hookspecs)
            version = _radinpaint_version()
            for name in DEFAULT_PLUGINS:
                try:
                    pm.register(importlib.import_module(name), name=name)
                except Exception as exc:
                    raise PluginLoadError(
                        f"built-in plugin {name} failed to import: {exc}",
                        fix="reinstall radinpaint; this is a packaging bug",
                    ) from exc
                _origins[name] = _Origin(name, name, "radinpaint", version, name)
            _load_entry_points(pm)
            _validate(pm)
            _manager = pm
        return _manager


def plugin_errors() -> list[PluginFailure]:
    """Plugins that failed to load in this process, and hooks that would never be called.

    Each :class:`PluginFailure` names the plugin (entry point and distribution) and says what
    went wrong: an import error, or a hook implementation that matches no hook (a misspelt
    name, with the closest real one suggested) or lacks the ``@hookimpl`` marker.
    """
    with _lock:
        _validate(get_plugin_manager())
        return list(_failures)


def plugin_versions() -> list[dict[str, Any]]:
    """Every loaded plugin, in registration order, for the manifest of a run.

    Returns:
        One dict per plugin: ``name`` (the entry-point or module name backends report as
        their plugin), ``distribution`` and ``version`` (from the installed package's
        metadata; ``"radinpaint"`` and radinpaint's version for the built-ins; None for a
        plugin registered by hand) and ``module`` (the module holding the hooks).
    """
    with _lock:
        pm = get_plugin_manager()
        out = []
        for name, plugin in pm.list_name_plugin():
            if plugin is None:
                continue
            origin = _origins.get(name)
            out.append(
                {
                    "name": name,
                    "distribution": origin.distribution if origin else None,
                    "version": origin.version if origin else None,
                    "module": (origin.module if origin else None)
                    or getattr(plugin, "__name__", None),
                }
            )
        return out


def reset_plugins() -> None:
    """Forget the loaded plugins; the next lookup loads them again (for tests)."""
    global _manager
    with _lock:
        _manager = None
        _failures.clear()
        _origins.clear()
        _validated.clear()
        from . import registry

        registry._clear_cache()

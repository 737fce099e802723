"""Look up backends by the names users type.

``get_inpainter("telea")`` builds the backend registered under that name, passing keyword
options to its factory; ``list_inpainters()`` says what exists. The same pair exists for
predictors, mask providers and metrics.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from typing import Any, Literal

import attrs

from .errors import DuplicatePluginError, UnknownOptionError, UnknownPluginError
from .plugins import get_plugin_manager, plugin_errors

__all__ = [
    "KINDS",
    "PluginEntry",
    "get_backend",
    "get_inpainter",
    "get_mask_provider",
    "get_metric",
    "get_predictor",
    "list_backends",
    "list_inpainters",
    "list_mask_providers",
    "list_metrics",
    "list_predictors",
]

Kind = Literal["inpainter", "predictor", "mask_provider", "metric"]
KINDS: dict[str, str] = {
    "inpainter": "radinpaint_register_inpainters",
    "predictor": "radinpaint_register_predictors",
    "mask_provider": "radinpaint_register_mask_providers",
    "metric": "radinpaint_register_metrics",
}
"""Each kind of backend and the hook that registers it."""


@attrs.frozen
class PluginEntry:
    """A registered backend: its kind, name, factory, the plugin it came from, a summary."""

    kind: str
    name: str
    factory: Callable[..., Any] = attrs.field(repr=False)
    plugin: str
    summary: str = ""


_lock = threading.RLock()
_cache: dict[str, dict[str, PluginEntry]] = {}


def _clear_cache() -> None:
    with _lock:
        _cache.clear()


def _entries(kind: str) -> dict[str, PluginEntry]:
    if kind not in KINDS:
        raise UnknownPluginError(f"unknown backend kind {kind!r}", available=list(KINDS))
    with _lock:
        if kind in _cache:
            return _cache[kind]
        pm = get_plugin_manager()
        found: dict[str, PluginEntry] = {}
        caller = getattr(pm.hook, KINDS[kind])
        for impl in reversed(caller.get_hookimpls()):  # registration order
            plugin = pm.get_name(impl.plugin) or repr(impl.plugin)

            def register(
                name: str,
                factory: Callable[..., Any],
                *,
                summary: str = "",
                _plugin: str = plugin,
            ) -> None:
                if name in found:
                    raise DuplicatePluginError(
                        f"{kind} name {name!r} is registered twice: by {found[name].plugin} "
                        f"and by {_plugin}",
                        fix=f"uninstall one of the plugins or restrict them with "
                        f"RADINPAINT_PLUGINS; or rename the {kind} in one of them",
                    )
                found[name] = PluginEntry(kind, name, factory, _plugin, summary)

            impl.function(register=register)
        _cache[kind] = found
        return found


def list_backends(kind: str) -> list[PluginEntry]:
    """Every registered backend of ``kind``, sorted by name."""
    return sorted(_entries(kind).values(), key=lambda e: e.name)


def _check_options(entry: PluginEntry, options: dict[str, Any]) -> None:
    try:
        sig = inspect.signature(entry.factory)
    except (TypeError, ValueError):
        return
    params = sig.parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return
    accepted = [
        p.name
        for p in params
        if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        and not p.name.startswith("_")
    ]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise UnknownOptionError(
            f"{entry.kind} {entry.name!r} does not accept option(s) {', '.join(unknown)}",
            available=accepted,
            fix="check the option names (radinpaint plugins lists backends)",
        )


def get_backend(kind: str, name: str, **options: Any) -> Any:
    """Build the ``kind`` backend registered as ``name`` with ``options``."""
    entries = _entries(kind)
    if name not in entries:
        failures = plugin_errors()
        hint = "pip install the package that provides it, or check the spelling"
        if failures:
            hint += "; plugins that failed to load: " + "; ".join(
                f"{f.plugin} ({f.error})" for f in failures
            )
        raise UnknownPluginError(
            f"no {kind.replace('_', ' ')} named {name!r}",
            available=sorted(entries),
            fix=hint,
        )
    entry = entries[name]
    _check_options(entry, options)
    return entry.factory(**options)


def get_inpainter(name: str, **options: Any) -> Any:
    """Build the inpainter registered as ``name`` (e.g. ``"telea"``) with ``options``."""
    return get_backend("inpainter", name, **options)


def get_predictor(name: str, **options: Any) -> Any:
    """Build the predictor registered as ``name`` (e.g. ``"phantom-ensemble"``)."""
    return get_backend("predictor", name, **options)


def get_mask_provider(name: str, **options: Any) -> Any:
    """Build the mask provider registered as ``name`` (e.g. ``"ground-truth"``)."""
    return get_backend("mask_provider", name, **options)


def get_metric(name: str, **options: Any) -> Any:
    """Build the metric registered as ``name``."""
    return get_backend("metric", name, **options)


def list_inpainters() -> list[PluginEntry]:
    """Registered inpainters, sorted by name."""
    return list_backends("inpainter")


def list_predictors() -> list[PluginEntry]:
    """Registered predictors, sorted by name."""
    return list_backends("predictor")


def list_mask_providers() -> list[PluginEntry]:
    """Registered mask providers, sorted by name."""
    return list_backends("mask_provider")


def list_metrics() -> list[PluginEntry]:
    """Registered metrics, sorted by name."""
    return list_backends("metric")

"""Look up backends by the names users type.

``get_inpainter("telea")`` builds the backend registered under that name, passing keyword
options to its factory; ``list_inpainters()`` says what exists. The same pair exists for
predictors, mask providers and metrics.

Every backend declares a :class:`~radinpaint.capabilities.Capabilities` record when it is
registered (:data:`~radinpaint.capabilities.SAFE_DEFAULTS` when it declares none), and the
evaluation reads that record and nothing else. ``build_backend(kind, name, **options)``
builds a backend together with its record (a :class:`Built`); ``capabilities_of(kind,
backend)`` finds the record of a backend built elsewhere (an object handed in by a user).

Each plugin's hook is called through pluggy's hook caller, one plugin at a time, so a hook
implementation may declare fewer arguments than the hook specification offers, and a name
registered twice is attributed to both plugins.
"""

from __future__ import annotations

import difflib
import inspect
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, overload

import attrs

from .capabilities import SAFE_DEFAULTS, Capabilities, CapabilitiesSource
from .errors import (
    DuplicatePluginError,
    InvalidInputError,
    PluginLoadError,
    RadinpaintError,
    UnknownOptionError,
    UnknownPluginError,
)
from .plugins import get_plugin_manager, plugin_errors

if TYPE_CHECKING:
    from .protocols import Inpainter, MaskProvider, Metric, Predictor

__all__ = [
    "KINDS",
    "Built",
    "PluginEntry",
    "build_backend",
    "capabilities_of",
    "check_spec",
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

_BackendT = TypeVar("_BackendT")


def _check_source(value: object, what: str) -> None:
    if value is not None and not isinstance(value, Capabilities) and not callable(value):
        raise PluginLoadError(
            f"{what} declares capabilities of type {type(value).__name__}",
            fix="pass capabilities=Capabilities(...), a function of the built backend that "
            "returns one, or nothing (the safe defaults)",
        )


@attrs.frozen
class PluginEntry:
    """A registered backend: its kind, name, factory, the plugin it came from, a summary.

    Attributes:
        kind: ``"inpainter"``, ``"predictor"``, ``"mask_provider"`` or ``"metric"``.
        name: the name users type.
        factory: builds the backend from keyword options.
        plugin: the name of the plugin that registered it.
        summary: one line for ``radinpaint plugins``.
        capabilities: what the backend declares: a :class:`Capabilities`, a function of the
            built backend returning one, or None (:data:`SAFE_DEFAULTS`); read it with
            :meth:`capabilities_for`.
    """

    kind: str
    name: str
    factory: Callable[..., Any] = attrs.field(repr=False)
    plugin: str
    summary: str = ""
    capabilities: CapabilitiesSource = attrs.field(default=None, repr=False, eq=False)

    def capabilities_for(self, backend: Any) -> Capabilities:
        """The record this entry declares for ``backend`` (built by its factory).

        Raises:
            PluginLoadError: the declared function failed or returned something other than
                a :class:`Capabilities`; the message names the plugin.
        """
        source = self.capabilities
        if source is None:
            return SAFE_DEFAULTS
        if isinstance(source, Capabilities):
            return source
        what = f"{self.kind} {self.name!r} (plugin {self.plugin})"
        try:
            declared = source(backend)
        except RadinpaintError:
            raise
        except Exception as exc:
            raise PluginLoadError(
                f"the capabilities function of {what} failed on a "
                f"{type(backend).__name__}: {type(exc).__name__}: {exc}",
                fix="fix the plugin's capabilities declaration, or report it to its authors",
            ) from exc
        if not isinstance(declared, Capabilities):
            raise PluginLoadError(
                f"the capabilities function of {what} returned a "
                f"{type(declared).__name__}, not a Capabilities record",
                fix="return radinpaint.Capabilities(...) from the function passed as "
                "register(..., capabilities=...)",
            )
        return declared


@attrs.frozen
class Built(Generic[_BackendT]):
    """A backend built from the registry, with the capabilities its plugin declares for it.

    ``Built[Inpainter]`` (and so on) names one whose backend is of a known kind.

    Attributes:
        backend: the backend object (an Inpainter, Predictor, MaskProvider or Metric).
        capabilities: what it declares (the only thing the evaluation reads about it).
        entry: the registry entry it was built from; None for an object built elsewhere.
    """

    backend: _BackendT
    capabilities: Capabilities = attrs.field(validator=attrs.validators.instance_of(Capabilities))
    entry: PluginEntry | None = None


_lock = threading.RLock()
_cache: dict[str, dict[str, PluginEntry]] = {}


def _clear_cache() -> None:
    with _lock:
        _cache.clear()


def _plugins_implementing(pm: Any, hookname: str) -> list[tuple[str, Any]]:
    """(name, plugin) of every plugin implementing ``hookname``, in registration order."""
    implementing = {id(impl.plugin) for impl in getattr(pm.hook, hookname).get_hookimpls()}
    return [(n, p) for n, p in pm.list_name_plugin() if p is not None and id(p) in implementing]


def _entries(kind: str) -> dict[str, PluginEntry]:
    if kind not in KINDS:
        raise UnknownPluginError(f"unknown backend kind {kind!r}", available=list(KINDS))
    with _lock:
        if kind in _cache:
            return _cache[kind]
        pm = get_plugin_manager()
        hookname = KINDS[kind]
        found: dict[str, PluginEntry] = {}
        plugins = _plugins_implementing(pm, hookname)
        for plugin_name, plugin in plugins:

            def register(
                name: str,
                factory: Callable[..., Any],
                *,
                summary: str = "",
                capabilities: CapabilitiesSource = None,
                _plugin: str = plugin_name,
            ) -> None:
                what = f"plugin {_plugin} registering {kind} {name!r}"
                if not isinstance(name, str) or not name:
                    raise PluginLoadError(
                        f"plugin {_plugin} registered a {kind} with the name {name!r}",
                        fix="register(name, factory) takes a non-empty string name",
                    )
                if not callable(factory):
                    raise PluginLoadError(
                        f"{what} gave a factory of type {type(factory).__name__}",
                        fix="pass a class or function that builds the backend from options",
                    )
                _check_source(capabilities, what)
                if name in found:
                    raise DuplicatePluginError(
                        f"{kind} name {name!r} is registered twice: by {found[name].plugin} "
                        f"and by {_plugin}",
                        fix=f"uninstall one of the plugins or restrict them with "
                        f"RADINPAINT_PLUGINS; or rename the {kind} in one of them",
                    )
                found[name] = PluginEntry(
                    kind, name, factory, _plugin, summary, capabilities=capabilities
                )

            others = [p for _, p in plugins if p is not plugin]
            caller = pm.subset_hook_caller(hookname, remove_plugins=others)
            try:
                caller(register=register)
            except RadinpaintError:
                raise
            except Exception as exc:
                raise PluginLoadError(
                    f"plugin {plugin_name} failed in {hookname}: {type(exc).__name__}: {exc}",
                    fix="fix or uninstall the plugin, or leave it out with RADINPAINT_PLUGINS",
                ) from exc
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


def check_spec(kind: str, name: str, options: Mapping[str, Any] | None = None) -> PluginEntry:
    """The registration of backend ``name`` of ``kind``, after checking that it exists and
    accepts ``options`` by name; nothing is built (no weights read, no key needed).

    Raises:
        UnknownPluginError: no such backend (the error lists the names available).
        UnknownOptionError: an option its factory does not take.
    """
    entry = _entry(kind, name)
    _check_options(entry, dict(options or {}))
    return entry


def _entry(kind: str, name: str) -> PluginEntry:
    entries = _entries(kind)
    if name not in entries:
        failures = plugin_errors()
        close = difflib.get_close_matches(name, sorted(entries), n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}? " if close else ""
        hint += "pip install the package that provides it, or check the spelling"
        if failures:
            hint += "; plugins that failed to load: " + "; ".join(
                f"{f.plugin} ({f.error})" for f in failures
            )
        raise UnknownPluginError(
            f"no {kind.replace('_', ' ')} named {name!r}",
            available=sorted(entries),
            fix=hint,
        )
    return entries[name]


@overload
def get_backend(kind: Literal["inpainter"], name: str, /, **options: Any) -> Inpainter: ...
@overload
def get_backend(kind: Literal["predictor"], name: str, /, **options: Any) -> Predictor: ...
@overload
def get_backend(kind: Literal["mask_provider"], name: str, /, **options: Any) -> MaskProvider: ...
@overload
def get_backend(kind: Literal["metric"], name: str, /, **options: Any) -> Metric: ...
@overload
def get_backend(kind: str, name: str, /, **options: Any) -> Any: ...
def get_backend(kind: str, name: str, /, **options: Any) -> Any:
    """Build the ``kind`` backend registered as ``name`` with ``options``.

    Options are checked against the factory's keyword parameters before it is called, so
    a misspelt option fails before anything heavy loads (a factory taking ``**options``
    is called as is). ``kind`` and ``name`` are positional, so a backend may have options
    called ``name`` or ``kind``.

    Raises:
        UnknownPluginError: no backend of that kind has that name.
        UnknownOptionError: the factory does not accept an option.
        InvalidInputError: the factory refused an option's value (a ``ValueError`` or
            ``TypeError`` of its own is reported with the backend and its options).
    """
    return _make(_entry(kind, name), options)


def _make(entry: PluginEntry, options: dict[str, Any]) -> Any:
    """``entry``'s factory called with ``options``, checked by name first; a ``ValueError``
    or ``TypeError`` of the factory's own becomes an :class:`InvalidInputError`."""
    kind, name = entry.kind, entry.name
    _check_options(entry, options)
    try:
        return entry.factory(**options)
    except RadinpaintError:
        raise
    except (ValueError, TypeError) as exc:
        from .scrub import scrub_options

        shown = ", ".join(f"{k}={v!r}" for k, v in scrub_options(options).items())
        # attrs validators put the readable message first, then the attribute's repr
        why = exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)
        raise InvalidInputError(
            f"{kind.replace('_', ' ')} {name!r} refused its options ({shown}): {why}",
            input=f"{name}:{shown}" if shown else name,
            fix=f"check the option values of {name!r} (its docstring and docs/ list them)",
        ) from exc


@overload
def build_backend(kind: Literal["inpainter"], name: str, /, **options: Any) -> Built[Inpainter]: ...
@overload
def build_backend(kind: Literal["predictor"], name: str, /, **options: Any) -> Built[Predictor]: ...
@overload
def build_backend(
    kind: Literal["mask_provider"], name: str, /, **options: Any
) -> Built[MaskProvider]: ...
@overload
def build_backend(kind: Literal["metric"], name: str, /, **options: Any) -> Built[Metric]: ...
@overload
def build_backend(kind: str, name: str, /, **options: Any) -> Built[Any]: ...
def build_backend(kind: str, name: str, /, **options: Any) -> Built[Any]:
    """Build the ``kind`` backend registered as ``name``, with its declared capabilities.

    Like :func:`get_backend`, and the record comes from the registration: a fixed
    :class:`Capabilities`, the declared function applied to the built backend, or
    :data:`SAFE_DEFAULTS`.

    Raises:
        UnknownPluginError: no backend of that kind has that name.
        UnknownOptionError: the factory does not accept an option.
        InvalidInputError: the factory refused an option's value.
        PluginLoadError: the plugin's capabilities function failed or returned no record.
    """
    entry = _entry(kind, name)
    backend = _make(entry, options)
    return Built(backend, entry.capabilities_for(backend), entry)


def _made_by(entry: PluginEntry, backend: Any) -> bool:
    factory = entry.factory
    return not inspect.isclass(factory) or isinstance(backend, factory)


def capabilities_of(kind: str, backend: Any) -> Capabilities:
    """The capabilities of a backend built elsewhere (an object handed in by a user).

    A :class:`Built` gives its own record. Otherwise the backend's ``name`` is looked up
    among the registered backends of ``kind`` and that registration's declaration is used
    (when the registered factory is a class, only for instances of it); a backend whose
    name is not registered gets :data:`SAFE_DEFAULTS` (correct, only slower). To declare
    the capabilities of an unregistered object, wrap it: ``Built(obj, Capabilities(...))``.

    Raises:
        UnknownPluginError: ``kind`` is not a kind of backend.
        PluginLoadError: the registered capabilities function failed or returned no record.
    """
    if isinstance(backend, Built):
        return backend.capabilities
    entries = _entries(kind)
    name = getattr(backend, "name", None)
    entry = entries.get(name) if isinstance(name, str) else None
    if entry is None or not _made_by(entry, backend):
        return SAFE_DEFAULTS
    return entry.capabilities_for(backend)


def get_inpainter(name: str, /, **options: Any) -> Inpainter:
    """Build the inpainter registered as ``name`` (e.g. ``"telea"``) with ``options``."""
    return get_backend("inpainter", name, **options)


def get_predictor(name: str, /, **options: Any) -> Predictor:
    """Build the predictor registered as ``name`` (e.g. ``"phantom-ensemble"``)."""
    return get_backend("predictor", name, **options)


def get_mask_provider(name: str, /, **options: Any) -> MaskProvider:
    """Build the mask provider registered as ``name`` (e.g. ``"ground-truth"``)."""
    return get_backend("mask_provider", name, **options)


def get_metric(name: str, /, **options: Any) -> Metric:
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

"""Errors raised by radinpaint.

Every error says what failed, for which input, what is available and how to fix it. All of
them derive from :class:`RadinpaintError`, so ``except RadinpaintError`` catches anything the
library raises on purpose.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from types import ModuleType

__all__ = [
    "BackendError",
    "BatchFailedError",
    "BudgetExceededError",
    "CheckpointError",
    "DuplicatePluginError",
    "ExternalUploadNotAllowedError",
    "ImageReadError",
    "InvalidInputError",
    "MissingDependencyError",
    "MissingLabelError",
    "ModelUnavailableError",
    "PluginLoadError",
    "RadinpaintError",
    "ShapeMismatchError",
    "UnknownOptionError",
    "UnknownPluginError",
    "error_text",
    "is_fatal",
]


class RadinpaintError(Exception):
    """Base class of every error radinpaint raises on purpose.

    Args:
        what: one sentence saying what failed.
        input: the input concerned (a path, a case id, a backend name), if any.
        fix: how the user can fix it, if known.
        available: the valid choices, listed in the message when given.
    """

    def __init__(
        self,
        what: str,
        *,
        input: object | None = None,
        fix: str | None = None,
        available: Iterable[str] | None = None,
    ) -> None:
        self.what = what
        self.input = input
        self.fix = fix
        self.available = tuple(available) if available is not None else None
        super().__init__(self._compose())

    def _compose(self) -> str:
        parts = [self.what.rstrip(".") + "."]
        if self.input is not None:
            parts.append(f"Input: {self.input}.")
        if self.available is not None:
            listed = ", ".join(self.available) if self.available else "(none)"
            parts.append(f"Available: {listed}.")
        if self.fix:
            parts.append(f"Fix: {self.fix.rstrip('.')}.")
        return " ".join(parts)


class InvalidInputError(RadinpaintError, ValueError):
    """An image, mask, label or option value is not acceptable."""


class ShapeMismatchError(InvalidInputError):
    """Two arrays that must share a shape (image and mask) do not."""


class ImageReadError(InvalidInputError):
    """A file could not be read as an image: corrupt, truncated or unsupported."""


class MissingLabelError(InvalidInputError):
    """A case lacks a label (bone age, sex) that the computation needs."""


class UnknownPluginError(RadinpaintError, KeyError):
    """No backend of that kind is registered under that name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0] if self.args else ""


class UnknownOptionError(RadinpaintError, TypeError):
    """A backend was given an option it does not accept."""


class DuplicatePluginError(RadinpaintError):
    """Two plugins registered the same name for the same kind of backend."""


class PluginLoadError(RadinpaintError):
    """A plugin could not be imported or its registration hook failed."""


class MissingDependencyError(RadinpaintError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""


class BackendError(RadinpaintError):
    """A backend failed while working on an input.

    ``fatal=True`` says every further call to the backend would fail too (no credentials,
    an account without access): a caller stops calling it instead of trying each request.
    """

    def __init__(self, what: str, *, fatal: bool = False, **kwargs: Any) -> None:
        self.fatal = bool(fatal)
        super().__init__(what, **kwargs)


class BatchFailedError(BackendError):
    """Some requests of a batch failed; ``outcomes`` holds every request's outcome.

    The successes among them are kept (and cached when a cache is used): only the failed
    requests need to be sent again.
    """

    def __init__(self, what: str, *, outcomes: Sequence[Any] = (), **kwargs: Any) -> None:
        self.outcomes: tuple[Any, ...] = tuple(outcomes)
        super().__init__(what, **kwargs)


class ModelUnavailableError(BackendError):
    """A model (weights, hub id, API model name) cannot be found or has been retired."""


class BudgetExceededError(BackendError):
    """Going on would spend more than the budget the user set."""


class ExternalUploadNotAllowedError(RadinpaintError, PermissionError):
    """Sending images to an outside service needs an explicit opt-in."""


class CheckpointError(RadinpaintError):
    """A checkpoint does not match its declared configuration."""


def require(module: str, *, extra: str, purpose: str) -> ModuleType:
    """Import an optional dependency or raise :class:`MissingDependencyError`.

    Args:
        module: the module to import, e.g. ``"openai"``.
        extra: the radinpaint extra that installs it, e.g. ``"openai"``.
        purpose: what needs it, e.g. ``"the openai inpainter"``.
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{purpose} needs the package '{module}', which is not installed ({exc})",
            fix=f"pip install 'radinpaint[{extra}]'",
        ) from exc


def error_text(exc: BaseException) -> str:
    """A one-line reason for a failure (the class name added for unexpected errors)."""
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, RadinpaintError) else f"{type(exc).__name__}: {text}"


def is_fatal(exc: BaseException) -> bool:
    """Whether an error means every further call to a backend would fail too: a spent
    budget, a model that is gone, no opt-in to upload, a missing package, or a
    :class:`BackendError` raised with ``fatal=True`` (no credentials)."""
    fatal = (
        BudgetExceededError,
        ModelUnavailableError,
        ExternalUploadNotAllowedError,
        MissingDependencyError,
    )
    return isinstance(exc, fatal) or (isinstance(exc, BackendError) and exc.fatal)

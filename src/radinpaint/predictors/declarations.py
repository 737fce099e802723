"""What a model of your own declares, shared by every adapter and the models ensemble.

The options are written once, as typed dicts (:class:`EnsembleSettings`,
:class:`DeclarationOptions`, :class:`ModelOptions`); :func:`takes_options` gives each loader
the explicit keyword signature built from them, so a misspelt option is refused by name
before anything loads (by the registry, and by a direct call), and :func:`member_spec` turns
the given options into the member's spec.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypedDict, TypeVar

import attrs

from ..errors import InvalidInputError
from .members import ADAPTER_PREFIX, TARGETS, MemberSpec
from .preprocessing import PRESETS, Preprocessing, get_preprocessing

__all__ = [
    "AGE_UNITS",
    "SEX_OUTPUTS",
    "DeclarationOptions",
    "EnsembleSettings",
    "ModelOptions",
    "declared_preprocessing",
    "ensemble_settings",
    "member_spec",
    "takes_options",
]

SEX_OUTPUTS: tuple[str, ...] = ("logit", "probability")
"""What a sex output is: the logit of P(male), or P(male) itself."""

AGE_UNITS: tuple[str, ...] = ("months", "years")
"""The unit of the bone-age output after ``age_scale``/``age_offset``."""


class EnsembleSettings(TypedDict, total=False):
    """The :class:`~radinpaint.predictors.EnsemblePredictor` settings a loader passes on."""

    device: str | None
    batch_size: int | None
    amp: str | None
    channels_last: bool | str | None
    stack: str | None
    prefetch: bool | None
    sex_from_prediction: bool | None
    progress: bool | None


class _Declared(TypedDict, total=False):
    """What a model declares: outputs, preprocessing, scaling, provenance."""

    targets: str | Sequence[str] | None
    preprocessing: str | Preprocessing | Mapping[str, Any] | None
    size: int | None
    channels: int | None
    fit: str | None
    crop: bool | None
    normalize: str | None
    mean: float | None
    std: float | None
    age_scale: float
    age_offset: float
    age_unit: str
    sex_output: str
    sex_subset: str | None
    trained_on: str
    name: str | None


class DeclarationOptions(_Declared, EnsembleSettings, total=False):
    """What a model declares (outputs, preprocessing, scaling, provenance) and the ensemble
    settings; the docs of :mod:`radinpaint.predictors.adapters` describe each option."""

    aggregation: str | None


class ModelOptions(DeclarationOptions, total=False):
    """:class:`DeclarationOptions` and ``sex_input`` (the model takes the sex as input 1)."""

    sex_input: bool


_DEFAULTS: dict[str, Any] = {
    "age_scale": 1.0,
    "age_offset": 0.0,
    "age_unit": "months",
    "sex_output": "logit",
    "sex_input": False,
    "trained_on": "unknown",
}
"""The defaults of the options that are not ``None`` unless given."""

_SETTINGS = ("aggregation", *EnsembleSettings.__annotations__)
"""The :class:`~radinpaint.predictors.EnsemblePredictor` settings among the options."""

_PREP = ("size", "channels", "fit", "crop", "normalize", "mean", "std")
"""The options that adjust the declared preprocessing."""

_NORMALIZE_ALIASES = {"raw": "none", "/255": "none", "standardize": "per-image"}

F = TypeVar("F", bound=Callable[..., Any])


def _annotation(ref: Any) -> Any:
    return getattr(ref, "__forward_arg__", ref)


def takes_options(options: type) -> Callable[[F], F]:
    """Give a loader ``def f(..., **options: Unpack[T])`` the explicit keyword parameters of
    the typed dict ``T`` (``options``), after its own.

    The signature lists every option by name with its default, so the registry (and
    ``radinpaint plugins``) sees them, and a call with an option the loader does not take
    raises ``TypeError`` before the loader runs.
    """
    names = list(options.__annotations__)

    def decorate(fn: F) -> F:
        own = inspect.signature(fn)
        params = [p for p in own.parameters.values() if p.kind is not p.VAR_KEYWORD]
        taken = {p.name for p in params}
        params += [
            inspect.Parameter(
                n,
                inspect.Parameter.KEYWORD_ONLY,
                default=_DEFAULTS.get(n),
                annotation=_annotation(options.__annotations__[n]),
            )
            for n in names
            if n not in taken
        ]
        signature = own.replace(parameters=params)

        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> Any:
            signature.bind(*args, **kwargs)  # TypeError names an option it does not take
            return fn(*args, **kwargs)

        call.__signature__ = signature  # type: ignore[attr-defined]
        return call  # type: ignore[return-value]

    return decorate


def ensemble_settings(options: Mapping[str, Any]) -> dict[str, Any]:
    """The ensemble settings among a loader's options that were given (not None)."""
    return {k: options[k] for k in _SETTINGS if options.get(k) is not None}


def _targets(value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        raise InvalidInputError(
            "declare what the model outputs: targets=bone_age, targets=male, or "
            "targets=bone_age+male (in the order of its outputs)",
            available=TARGETS,
            fix="add targets=... (CLI: torchscript:path=m.pt,targets=bone_age,...)",
        )
    if isinstance(value, str):
        parts = [p.strip() for p in value.replace("+", " ").replace("/", " ").split()]
    else:
        parts = [str(p).strip() for p in value]
    return tuple(parts)


def declared_preprocessing(
    preprocessing: str | Preprocessing | Mapping[str, Any] | None = None,
    *,
    size: int | None = None,
    channels: int | None = None,
    fit: str | None = None,
    crop: bool | None = None,
    normalize: str | None = None,
    mean: float | None = None,
    std: float | None = None,
    resize: str | None = None,
) -> Preprocessing:
    """The preprocessing a model declares: a preset (or a :class:`Preprocessing`), adjusted.

    Args:
        preprocessing: a preset name (``study-320``, ``imagenet-224``, ``phantom-256``...),
            a :class:`Preprocessing` or its dict; ``None`` starts from the study's
            ``study-320`` steps, and then at least one of the other fields must be given.
        size, channels, fit, resize: as in :class:`Preprocessing`.
        crop: crop to the foreground first (``crop_foreground``).
        normalize: ``none`` (alias ``raw``: pixels in [0, 1], the study's ``/255``),
            ``per-image``, ``fixed`` (with ``mean``/``std``) or ``imagenet``.
        mean, std: for ``normalize=fixed``.

    Raises:
        InvalidInputError: nothing declared, an unknown preset or value.
    """
    changes: dict[str, Any] = {
        k: v
        for k, v in {
            "size": size,
            "channels": channels,
            "fit": fit,
            "crop_foreground": crop,
            "normalize": _NORMALIZE_ALIASES.get(str(normalize), normalize),
            "mean": mean,
            "std": std,
            "resize": resize,
        }.items()
        if v is not None
    }
    if preprocessing is None and not changes:
        raise InvalidInputError(
            "declare how the model's input is prepared: preprocessing=<preset> and/or size, "
            "channels, fit, crop, normalize",
            available=sorted(PRESETS),
            fix="e.g. preprocessing=study-320 (the study's crop, 320 px letterbox, 3 channels, "
            "/255) or preprocessing=imagenet-224, or size=256,channels=1,normalize=per-image",
        )
    base = get_preprocessing(preprocessing if preprocessing is not None else "study-320")
    if not changes:
        return base
    return attrs.evolve(base, name="custom", **changes)


def _choice(value: str, choices: tuple[str, ...], option: str) -> str:
    if value not in choices:
        raise InvalidInputError(f"unknown {option} {value!r}", input=option, available=choices)
    return value


def member_spec(
    kind: str, name: str, options: Mapping[str, Any], extra: Mapping[str, Any] | None = None
) -> MemberSpec:
    """The member spec of an adapter of ``kind`` from its given ``options`` (a
    :class:`ModelOptions` dict, defaults filled in here); everything the outputs depend on
    goes into it (and so into the fingerprint)."""
    given = {**_DEFAULTS, **{k: v for k, v in options.items() if v is not None}}
    age_unit = _choice(str(given["age_unit"]), AGE_UNITS, "age_unit")
    sex_output = _choice(str(given["sex_output"]), SEX_OUTPUTS, "sex_output")
    factor = 12.0 if age_unit == "years" else 1.0
    prep = {k: given.get(k) for k in _PREP}
    return MemberSpec(
        name=name,
        architecture=ADAPTER_PREFIX + kind,
        targets=_targets(given.get("targets")),
        preprocessing=declared_preprocessing(given.get("preprocessing"), **prep),
        arch_options={"sex_output": sex_output, **dict(extra or {})},
        sex_input=bool(given["sex_input"]),
        sex_subset=given.get("sex_subset"),
        age_scale=float(given["age_scale"]) * factor,
        age_offset=float(given["age_offset"]) * factor,
    )

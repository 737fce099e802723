"""Combining mask providers: union, intersection, and a margin around any of them.

Python::

    from radinpaint.masks.combine import union, intersection, dilated
    from radinpaint.registry import get_mask_provider

    both = union(get_mask_provider("markers"), get_mask_provider("ocr"))
    masks = both.masks(cases)

By name (what the CLI and :class:`~radinpaint.evaluation.Evaluation` use)::

    get_mask_provider("union", providers=["markers", "ocr"], dilate=4)

``providers`` takes names (built with their defaults), ``"name:key=value,key=value"``
strings, ``{"name": ..., "options": {...}}`` mappings, or provider objects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from ..capabilities import Capabilities
from ..errors import InvalidInputError
from ..protocols import MaskProvider
from ..records import Case, Mask, Radiograph, check_same_shape
from ._base import check_dilate, finish_mask, radiographs

__all__ = [
    "DilatedMasks",
    "IntersectionMasks",
    "UnionMasks",
    "combined_capabilities",
    "dilated",
    "intersection",
    "parse_provider_spec",
    "union",
]


def parse_provider_spec(spec: object) -> MaskProvider:
    """Build a provider from a name, ``"name:key=value,..."``, a mapping or an object."""
    from ..registry import get_mask_provider

    if isinstance(spec, str):
        name, _, rest = spec.partition(":")
        options: dict[str, Any] = {}
        for part in filter(None, (p.strip() for p in rest.split(","))):
            key, eq, value = part.partition("=")
            if not eq:
                raise InvalidInputError(
                    f"provider option {part!r} has no value",
                    input=spec,
                    fix="write options as name:key=value,key=value",
                )
            options[key.strip()] = value.strip()
        return get_mask_provider(name.strip(), **options)
    if isinstance(spec, Mapping):
        if "name" not in spec:
            raise InvalidInputError(
                "a provider mapping needs a 'name'", input=dict(spec), fix="{'name': 'markers'}"
            )
        return get_mask_provider(str(spec["name"]), **dict(spec.get("options") or {}))
    if hasattr(spec, "masks"):
        return spec  # type: ignore[return-value]
    raise InvalidInputError(
        f"cannot build a mask provider from {spec!r}",
        fix="give a provider name, 'name:key=value', a mapping or a provider object",
    )


def combined_capabilities(provider: Any) -> Capabilities:
    """What a combination of providers (``union``, ``intersection``) may declare.

    Deterministic when every provider is; as many concurrent calls and as large batches as
    the most limited provider allows; the first device other than the CPU any provider
    uses; a fingerprint over the providers' own fingerprints (empty when none has one).
    """
    import hashlib
    import json

    from ..registry import capabilities_of

    parts = [(p, capabilities_of("mask_provider", p)) for p in provider.providers]
    if not parts:
        return Capabilities(deterministic=True)
    devices = [c.device for _, c in parts if c.device != "cpu"]
    fingerprint = ""
    if any(c.fingerprint for _, c in parts):
        named = [[str(getattr(p, "name", "")), c.fingerprint] for p, c in parts]
        fingerprint = hashlib.sha256(json.dumps(named).encode()).hexdigest()
    return Capabilities(
        deterministic=all(c.deterministic for _, c in parts),
        max_concurrency=min(c.max_concurrency for _, c in parts),
        batch_size=min(c.batch_size for _, c in parts),
        device=devices[0] if devices else "cpu",
        fingerprint=fingerprint,
        secret_options=frozenset().union(*(c.secret_options for _, c in parts)),
    )


def _build(providers: object, what: str) -> tuple[MaskProvider, ...]:
    if isinstance(providers, str):
        providers = [p for p in providers.replace(";", "+").split("+") if p.strip()]
    if not isinstance(providers, Sequence) or len(providers) == 0:
        raise InvalidInputError(
            f"{what} needs at least one provider",
            fix="e.g. providers=['markers', 'ocr'] (or 'markers+ocr' on the command line)",
        )
    return tuple(parse_provider_spec(p) for p in providers)


def _per_item(providers: Sequence[MaskProvider], items: Sequence[Case | Radiograph], what: str):
    """Per item: its shape and every provider's mask for it (counts and shapes checked)."""
    images = radiographs(items)
    results = [p.masks(items) for p in providers]
    for masks, provider in zip(results, providers, strict=True):
        if len(masks) != len(items):
            raise InvalidInputError(
                f"provider {getattr(provider, 'name', provider)!r} returned {len(masks)} masks "
                f"for {len(items)} items"
            )
    for i, image in enumerate(images):
        for masks in results:
            check_same_shape(image.shape, masks[i].shape, f"{what} of {masks[i].source}")
        yield image.shape, [masks[i] for masks in results]


@attrs.define
class UnionMasks:
    """Mask provider ``union``: a pixel is masked when any provider masks it.

    Components of all providers are kept, each tagged with its provider's kind.

    Args:
        providers: the providers to combine (names, specs or objects; see the module docs).
        dilate: margin in pixels added to the union (default 0).
    """

    providers: tuple[MaskProvider, ...] = attrs.field(converter=lambda p: _build(p, "union"))
    dilate: int = 0

    name = "union"

    def __attrs_post_init__(self) -> None:
        self.dilate = check_dilate(self.dilate, self.name)

    def masks(self, items: Sequence[Case | Radiograph]) -> list[Mask]:
        """One mask per item: the union of every provider's mask."""
        out = []
        for shape, masks in _per_item(self.providers, items, "union"):
            acc = np.zeros(shape, dtype=bool)
            for m in masks:
                acc |= m.array
            comps = [c for m in masks for c in m.components]
            out.append(finish_mask(acc, self.name, comps, self.dilate))
        return out


@attrs.define
class IntersectionMasks:
    """Mask provider ``intersection``: a pixel is masked when every provider masks it.

    A component is kept when its box overlaps the intersection.

    Args:
        providers: the providers to combine.
        dilate: margin in pixels added to the intersection (default 0).
    """

    providers: tuple[MaskProvider, ...] = attrs.field(converter=lambda p: _build(p, "intersection"))
    dilate: int = 0

    name = "intersection"

    def __attrs_post_init__(self) -> None:
        self.dilate = check_dilate(self.dilate, self.name)

    def masks(self, items: Sequence[Case | Radiograph]) -> list[Mask]:
        """One mask per item: the intersection of every provider's mask."""
        out = []
        for shape, masks in _per_item(self.providers, items, "intersection"):
            acc = np.ones(shape, dtype=bool)
            for m in masks:
                acc &= m.array
            comps = [
                c
                for m in masks
                for c in m.components
                if acc[c.box[1] : c.box[3], c.box[0] : c.box[2]].any()
            ]
            out.append(finish_mask(acc, self.name, comps, self.dilate))
        return out


@attrs.define
class DilatedMasks:
    """Any provider with a margin: each of its masks grown by ``pixels``."""

    provider: MaskProvider = attrs.field(converter=parse_provider_spec)
    pixels: int = 0

    @property
    def name(self) -> str:
        """``<provider>+<pixels>px``."""
        return f"{getattr(self.provider, 'name', 'provider')}+{self.pixels}px"

    def __attrs_post_init__(self) -> None:
        self.pixels = check_dilate(self.pixels, "dilated")

    def masks(self, items: Sequence[Case | Radiograph]) -> list[Mask]:
        """The provider's masks, each grown by ``pixels``."""
        return [
            finish_mask(m.array, self.name, m.components, self.pixels)
            for m in self.provider.masks(items)
        ]


def union(*providers: object, dilate: int = 0) -> UnionMasks:
    """A provider whose masks are the union of ``providers``' masks."""
    return UnionMasks(list(providers), dilate)


def intersection(*providers: object, dilate: int = 0) -> IntersectionMasks:
    """A provider whose masks are the intersection of ``providers``' masks."""
    return IntersectionMasks(list(providers), dilate)


def dilated(provider: object, pixels: int) -> DilatedMasks:
    """``provider`` with every mask grown by ``pixels`` (a disc-shaped margin)."""
    return DilatedMasks(provider, pixels)

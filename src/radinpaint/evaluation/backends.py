"""The backends of one run, built once, each with the capabilities it declared.

The evaluation reads a backend's :class:`~radinpaint.capabilities.Capabilities` and nothing
else: whether variants can be reused (``deterministic``), how many calls may run at once
(``max_concurrency``), the batch size, the sex input, the fingerprint its caches key on.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from ..cache import ResultCache, canonical_json, public_options
from ..capabilities import Capabilities
from ..errors import error_text
from ..inpaint_calls import InpaintCalls
from ..ledger import SpendTotals
from ..records import Predictions, Radiograph
from .predcache import PredictionCache
from .specs import BackendSpec

__all__ = ["InpainterSlot", "PredictorSlot", "build_inpainters", "build_predictors"]


@attrs.define(eq=False)
class InpainterSlot:
    """One inpainter of the run: its spec, the backend, what it declared, its calls."""

    spec: BackendSpec
    backend: Any = None
    capabilities: Capabilities = attrs.field(factory=Capabilities)
    calls: InpaintCalls | None = None
    error: str | None = None
    replicate: bool = True
    ledger_start: SpendTotals = attrs.field(factory=SpendTotals)

    @property
    def label(self) -> str:
        """The label its rows carry."""
        return self.spec.label

    @property
    def deterministic(self) -> bool:
        """Whether one variant is computed and reused for the others."""
        return self.replicate and self.capabilities.deterministic

    def spent(self) -> SpendTotals | None:
        """What the backend's ledger booked during this run (None: it keeps no ledger)."""
        ledger = self.capabilities.ledger
        return None if ledger is None else ledger.totals() - self.ledger_start

    def record(self) -> dict[str, Any]:
        """What this backend was, for the manifest."""
        rec = _spec_record(self.spec, self.backend, self.capabilities)
        if self.backend is not None:
            rec["capabilities"] = self.capabilities.to_dict()
            rec["deterministic"] = self.deterministic
        rec["error"] = self.error
        return rec


def _spec_record(spec: BackendSpec, backend: Any, capabilities: Capabilities) -> dict[str, Any]:
    """A spec for the manifest. A backend that was never built declared no secret names,
    so only its option names are recorded, not their values."""
    rec = spec.to_dict(capabilities.secret_options)
    if backend is None:
        rec["options"] = sorted(rec["options"])
    return rec


def predictor_fingerprint(name: str, options: Any, declared: str = "") -> str:
    """A short hash naming a predictor configuration: name, options, declared fingerprint."""
    recipe = {"name": name, "options": public_options(options), "fingerprint": declared}
    return hashlib.sha256(canonical_json(recipe).encode("utf-8")).hexdigest()[:20]


@attrs.define(eq=False)
class PredictorSlot:
    """One predictor of the run, its declaration, and its prediction cache."""

    spec: BackendSpec
    backend: Any = None
    capabilities: Capabilities = attrs.field(factory=Capabilities)
    cache: PredictionCache = attrs.field(factory=PredictionCache)
    fingerprint: str = ""
    error: str | None = None
    _slots: threading.BoundedSemaphore = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._slots = threading.BoundedSemaphore(self.capabilities.max_concurrency)

    @property
    def label(self) -> str:
        """The label its rows carry."""
        return self.spec.label

    def predict(self, images: Sequence[Radiograph], male: Sequence[bool | None] | None) -> Any:
        """Call the predictor, never more often at once than it declared."""
        with self._slots:
            if self.capabilities.needs_sex:
                return self.backend.predict(images, male=male)
            return self.backend.predict(images)

    def record(self) -> dict[str, Any]:
        """What this predictor was, for the manifest."""
        rec = _spec_record(self.spec, self.backend, self.capabilities)
        rec["fingerprint"] = self.fingerprint
        if self.backend is not None:
            rec["capabilities"] = self.capabilities.to_dict()
        rec["error"] = self.error
        return rec


def build_inpainters(
    specs: Sequence[BackendSpec],
    cache: ResultCache | None,
    *,
    replicate: bool,
    batch_size: int | None,
) -> list[InpainterSlot]:
    """Build every inpainter; a failure is recorded on its slot and the others go on."""
    slots = []
    for spec in specs:
        try:
            built = spec.build_declared("inpainter")
        except Exception as exc:
            slots.append(InpainterSlot(spec, error=error_text(exc), replicate=replicate))
            continue
        caps = built.capabilities
        calls = InpaintCalls(
            built.backend, caps, cache, dict(spec.options), batch_size=batch_size, spec=spec
        )
        start = caps.ledger.totals() if caps.ledger is not None else SpendTotals()
        slots.append(InpainterSlot(spec, built.backend, caps, calls, None, replicate, start))
    return slots


def build_predictors(specs: Sequence[BackendSpec], root: Path | None) -> list[PredictorSlot]:
    """Build every predictor with its prediction cache (under ``root`` when given)."""
    slots = []
    for spec in specs:
        try:
            built = spec.build_declared("predictor")
            fp = predictor_fingerprint(spec.name, spec.options, built.capabilities.fingerprint)
            path = None if root is None else root / f"{fp}.jsonl"
            slots.append(
                PredictorSlot(spec, built.backend, built.capabilities, PredictionCache(path), fp)
            )
        except Exception as exc:
            slots.append(PredictorSlot(spec, error=error_text(exc)))
    return slots


def check_predictions(slot: PredictorSlot, result: Any, n: int) -> Predictions:
    """``result`` if it is Predictions for ``n`` images, else a clear error."""
    from ..errors import RadinpaintError

    if not isinstance(result, Predictions):
        raise RadinpaintError(
            f"predictor {slot.label} returned {type(result).__name__}, not Predictions",
            fix="a predictor's predict() returns radinpaint.records.Predictions",
        )
    if len(result) != n:
        raise RadinpaintError(
            f"predictor {slot.label} returned {len(result)} predictions for {n} images"
        )
    return result

"""What a backend declares about itself. The evaluation reads this record and nothing else.

Every backend kind (inpainter, predictor, mask provider, metric) declares a
:class:`Capabilities` record when it is registered::

    @hookimpl
    def radinpaint_register_inpainters(register):
        register(
            "my-backend",
            MyInpainter,
            summary="...",
            capabilities=Capabilities(deterministic=True, max_concurrency=4, batch_size=16),
        )

When a value depends on the options a backend was built with (a device, a concurrency
option, the weights it loaded), ``capabilities`` may instead be a function taking the built
backend and returning the record; it must not load anything heavy (it is called on every
run, also when everything is cached).

A backend registered without a record gets :data:`SAFE_DEFAULTS`: seed-dependent, one call
at a time, batches of 8, no fingerprint. That is always correct, only slower.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Union

import attrs

from .errors import InvalidInputError

if TYPE_CHECKING:
    from .ledger import SpendLedger

__all__ = ["SAFE_DEFAULTS", "Capabilities", "CapabilitiesSource"]


def _at_least_one(instance: object, attribute: attrs.Attribute, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidInputError(
            f"capabilities {attribute.name} must be an integer >= 1, got {value!r}",
            fix="declare 1 for a backend that must be called one call at a time",
        )


def _names(value: Any) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset({value})
    return frozenset(str(v) for v in value)


@attrs.frozen
class Capabilities:
    """A backend's declared behaviour.

    Attributes:
        deterministic: the output never depends on the request's seed (inpainters) or on
            anything but the input (every predictor and mask provider must be). An evaluation
            computes one variant of a deterministic inpainter and reuses it for the others;
            :mod:`radinpaint.testing` checks the claim with two seeds.
        max_concurrency: how many calls one backend object accepts at the same time.
            ``1`` (the default) means "not thread-safe": the evaluation never enters it from
            two threads. Device models (GPU pipelines, torch modules) declare 1 and get their
            parallelism from batching; an API client declares its connection limit.
        batch_size: how many requests (images) to hand over per call. API backends declare
            the images per call (``n``) so that each call's results are cached as it returns.
        device: where the work runs: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"`` or
            ``"api"`` (an outside service; results cost money and are never recomputed).
        needs_sex: a predictor that takes the sex as an input.
        infers_sex: a predictor that needs sex but fills an unknown one from its own sex
            prediction.
        edits_whole_image: an inpainter that redraws the whole image whatever the mask (the
            mask is not sent), so an empty mask is edited too, not returned unchanged: the
            declared exception to the empty-mask rule of
            :class:`~radinpaint.protocols.Inpainter`. Its answer to an empty mask is never
            flagged ``"empty-mask"``; :mod:`radinpaint.testing` checks that instead.
        fingerprint: a hash of what the output depends on beyond the options, above all the
            weight files (hashed from the files, without loading a model). Caches key on it,
            so retrained weights under the same name never serve stale results.
        secret_options: option names that must never be recorded (API keys, tokens); names
            that look like secrets (``api_key``, ``token``, ...) and credentials inside URLs
            are scrubbed in any case.
        operational_options: option names that do not change what an output looks like
            (concurrency, timeouts, retries, budgets, device, batch size): they are left out
            of cache keys, so a rerun with a larger budget or more threads finds what the
            last run paid for.
        ledger: the backend's own record of what it spent (images generated, US dollars,
            billed failures included), for backends that cost money; the evaluation reports
            cost from it.
        trained_on: what a predictor's weights were trained on: ``"phantoms"`` (radinpaint's
            synthetic hands: meaningless on real radiographs), ``"real"`` (radiographs), a
            free description, or ``"unknown"``. The command line and the report warn when a
            phantom-trained predictor reads real data.
        reads_images: a metric that also reads the images (an
            :class:`~radinpaint.protocols.ImageMetric`): the evaluation hands it each chunk's
            originals and outputs through its ``observe`` before ``compute``.
        reads_predictors: a metric that also uses the evaluation's built predictors (a
            :class:`~radinpaint.protocols.PredictorMetric`): the evaluation hands them to its
            ``use_predictors`` before the first chunk.
    """

    deterministic: bool = False
    max_concurrency: int = attrs.field(default=1, validator=_at_least_one)
    batch_size: int = attrs.field(default=8, validator=_at_least_one)
    device: str = "cpu"
    needs_sex: bool = False
    infers_sex: bool = False
    edits_whole_image: bool = False
    fingerprint: str = ""
    secret_options: frozenset[str] = attrs.field(default=frozenset(), converter=_names)
    operational_options: frozenset[str] = attrs.field(default=frozenset(), converter=_names)
    ledger: SpendLedger | None = attrs.field(default=None, eq=False, repr=False)
    trained_on: str = attrs.field(default="unknown", converter=lambda v: str(v or "unknown"))
    reads_images: bool = False
    reads_predictors: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for the manifest (the ledger's totals rather than the object)."""
        out: dict[str, Any] = {
            "deterministic": self.deterministic,
            "max_concurrency": self.max_concurrency,
            "batch_size": self.batch_size,
            "device": self.device,
            "needs_sex": self.needs_sex,
            "infers_sex": self.infers_sex,
            "edits_whole_image": self.edits_whole_image,
            "fingerprint": self.fingerprint,
            "secret_options": sorted(self.secret_options),
            "operational_options": sorted(self.operational_options),
            "trained_on": self.trained_on,
            "reads_images": self.reads_images,
            "reads_predictors": self.reads_predictors,
        }
        if self.ledger is not None:
            out["ledger"] = self.ledger.totals().to_dict()
        return out


SAFE_DEFAULTS = Capabilities()
"""What a backend registered without a record gets: nothing assumed, one call at a time."""

CapabilitiesSource = Union[Capabilities, Callable[[Any], Capabilities], None]  # noqa: UP007
"""What ``register(..., capabilities=...)`` takes: a record, a function of the built backend
that returns one, or None (:data:`SAFE_DEFAULTS`)."""

"""The four contracts a backend fulfils. Built-in and third-party backends are equal here.

A backend is any object with a ``name`` and the method below; it is registered through a
``radinpaint_register_*`` hook (see :mod:`radinpaint.hookspecs`) as a factory that builds
it from keyword options, together with a :class:`~radinpaint.capabilities.Capabilities`
record that declares how it may be called:

- ``deterministic``: the output depends on nothing but the input (for an inpainter: not on
  the request's seed);
- ``max_concurrency``: how many calls one object accepts at the same time (1: never
  entered from two threads);
- ``batch_size``: how many requests or images to hand over per call;
- ``device``: where the work runs (``"cpu"``, ``"cuda"``, ``"mps"``, ``"api"``);
- ``needs_sex`` / ``infers_sex``: a predictor that takes the sex as an input, and one that
  fills an unknown sex from its own prediction;
- ``edits_whole_image``: an inpainter that redraws the whole image whatever the mask, so
  that an empty mask is edited too (the one exception to the empty-mask rule below);
- ``fingerprint``: a hash of what the output depends on beyond the options (the weights),
  which caches key on;
- ``secret_options``: option names never to record; ``ledger``: what a paid backend spent.

The evaluation reads that record and nothing else: attributes of the backend object that
look like capabilities are never probed. A backend registered without a record gets
:data:`~radinpaint.capabilities.SAFE_DEFAULTS` (seed-dependent, one call at a time),
which is always correct, only slower. :mod:`radinpaint.testing` checks a backend against
its contract and its declared capabilities.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

from .errors import InvalidInputError
from .records import (
    Case,
    InpaintFailure,
    InpaintRequest,
    InpaintResult,
    Mask,
    Predictions,
    Radiograph,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ImageMetric",
    "Inpainter",
    "MaskProvider",
    "Metric",
    "MetricResult",
    "Predictor",
    "PredictorMetric",
    "ScoredImage",
]


@runtime_checkable
class Inpainter(Protocol):
    """Removes what a mask marks from radiographs.

    Contract of :meth:`inpaint`:

    - Takes a sequence of :class:`~radinpaint.records.InpaintRequest` (each one image, one
      mask, prompt, seed and variant index) and returns one
      :class:`~radinpaint.records.InpaintResult` per request, **in the same order**. A backend
      may group requests into fewer calls (a GPU batch, an API call with ``n`` variants).
    - Each result's image has the request image's shape and bit depth.
    - A backend whose output never depends on the seed declares ``deterministic=True`` in
      its :class:`~radinpaint.capabilities.Capabilities`; an evaluation then computes one
      variant and reuses it for the others (the conformance kit checks the claim by running
      two seeds). It declares ``batch_size`` (requests per call: the GPU batch, the images
      per API call) and ``max_concurrency`` (calls it accepts at once) the same way.
    - Randomness comes only from ``request.variant_seed``: the same request gives the same
      output (bit for bit on the same machine for local backends).
    - An empty mask returns the input unchanged with the flag ``"empty-mask"``. The one
      exception is declared: a backend that redraws the whole image whatever the mask (the
      mask is not sent, as in the ``openai`` backend's ``study`` preset) declares
      ``edits_whole_image=True``; it edits an empty mask like any other and does not flag
      that answer ``"empty-mask"``. The conformance kit checks whichever applies.
    - A backend that pastes back keeps every pixel outside the mask exactly (its
      ``compositing`` is ``"paste-back"``); one that does not says ``"raw"``.
    - Each result records the backend name, its options (never secrets: no option named
      like a secret or declared in ``secret_options``, no credentials in a URL), the seed,
      the prompt sent, the seconds spent and the cost.
    - A request the backend could not answer may get a per-request failure record
      (:class:`~radinpaint.records.InpaintFailure`: the error, whether a retry may help,
      whether every further call would fail) in its place, so that the results of the
      other requests, perhaps already paid for, are kept. An exception from
      :meth:`inpaint` (:class:`~radinpaint.errors.BackendError` naming the case) fails every
      request of that call.
    """

    @property
    def name(self) -> str:
        """The backend's name (an instance or class attribute, or a property)."""
        ...

    def inpaint(
        self, requests: Sequence[InpaintRequest]
    ) -> Sequence[InpaintResult | InpaintFailure]:
        """Inpaint every request; one result (or failure record) per request, in order."""
        ...


@runtime_checkable
class Predictor(Protocol):
    """Reads bone age and/or sex from radiographs.

    Contract of :meth:`predict`:

    - Takes N radiographs of any size and bit depth (the predictor preprocesses them itself)
      and, optionally, the N known sexes for models that use sex as an input.
    - Returns :class:`~radinpaint.records.Predictions` of length N in input order, with
      per-member outputs when the predictor is an ensemble.
    - Reports per image: an image it cannot read goes in ``Predictions.failures`` (index ->
      reason, its values NaN) and its neighbours are predicted; raising fails the whole call
      (the evaluation then retries its images one by one to find the bad ones).
    - Is deterministic: no dropout or augmentation at prediction time.
    - Declares in its :class:`~radinpaint.capabilities.Capabilities` whether it takes the
      sex as an input (``needs_sex``) and whether it fills an unknown one from its own sex
      prediction (``infers_sex``); the evaluation passes ``male`` according to that record
      only. It also declares its ``device``, ``batch_size`` (images per call),
      ``max_concurrency`` and a ``fingerprint`` of its weights.
    - A model that needs sex, called without it (and not inferring it), raises
      :class:`~radinpaint.errors.InvalidInputError`.
    """

    @property
    def name(self) -> str:
        """The backend's name (an instance or class attribute, or a property)."""
        ...

    def predict(
        self, images: Sequence[Radiograph], male: Sequence[bool] | None = None
    ) -> Predictions:
        """Predict for every image, in order."""
        ...


@runtime_checkable
class MaskProvider(Protocol):
    """Finds the artifacts that inpainting should remove.

    Contract of :meth:`masks`:

    - Takes cases or bare radiographs and returns one :class:`~radinpaint.records.Mask` per
      item, in order, with the item's shape. Cases rather than bare images are accepted
      because some providers need more than pixels (``ground-truth`` reads the case's own
      mask, or a mask file beside the image's source path).
    - A mask may carry the components found (box, kind, score) for review.
    - Finding nothing is not an error: the mask is empty.
    - Deterministic for the same input, and declared so (``deterministic=True`` in its
      :class:`~radinpaint.capabilities.Capabilities`), with the calls it accepts at once
      (``max_concurrency``), ``device``, ``batch_size`` and, for a learned provider, the
      ``fingerprint`` of its weights.
    - Takes a ``dilate`` option (a margin in pixels added around what it finds).
    """

    @property
    def name(self) -> str:
        """The backend's name (an instance or class attribute, or a property)."""
        ...

    def masks(self, items: Sequence[Case | Radiograph]) -> list[Mask]:
        """One mask per item, in order."""
        ...


@attrs.frozen
class MetricResult:
    """What a metric computed.

    Attributes:
        name: the metric's registered name.
        values: headline numbers by key (``"mae"``, ``"mae_ci_low"``, ...).
        table: a tidy table of detailed results (per inpainter, per predictor, ...), or None.
        details: anything else JSON-serialisable for ``results.json``.
        samples: small in-memory data the report draws figures from (downsampled images
            and maps of a few cases); never written to ``results.json``.
    """

    name: str
    values: Mapping[str, float] = attrs.field(factory=dict)
    table: pd.DataFrame | None = None
    details: Mapping[str, Any] = attrs.field(factory=dict)
    samples: Sequence[Any] = attrs.field(default=(), eq=False, repr=False)


@runtime_checkable
class Metric(Protocol):
    """Scores an evaluation's tidy prediction table.

    Contract of :meth:`compute`: takes the tidy table (one row per case x inpainter x
    variant x predictor, with the original image's prediction in the same row) and returns a
    :class:`MetricResult`. Metrics never mutate the table and are deterministic given their
    ``seed`` option (bootstrap resampling), which they declare (``deterministic=True`` in
    their :class:`~radinpaint.capabilities.Capabilities`).
    """

    @property
    def name(self) -> str:
        """The backend's name (an instance or class attribute, or a property)."""
        ...

    def compute(self, table: pd.DataFrame) -> MetricResult:
        """Compute the metric over the table."""
        ...


@attrs.frozen
class ScoredImage:
    """One image an evaluation scored, as an :class:`ImageMetric` observes it.

    Attributes:
        case_id: the case.
        inpainter: the inpainter's label, or ``"original"`` for the case's own image.
        backend: the inpainter's registered name (``"original"`` for the original).
        variant: the variant number (0 for the original).
        image: the image the predictors read: the original, or the output's ``total`` view
            in the evaluation's scoring frame.
        content_hash: the image's :meth:`~radinpaint.records.Radiograph.content_hash`.
        case: the case itself (its sex, anatomy mask and metadata), on originals; ``None``
            on outputs and outside an evaluation.
        mask: the artifact mask the evaluation inpainted (the original's frame), on
            originals and outputs; ``None`` outside an evaluation.
    """

    case_id: str
    inpainter: str
    backend: str
    variant: int
    image: Radiograph
    content_hash: str
    case: Case | None = None
    mask: Mask | None = None


@runtime_checkable
class ImageMetric(Metric, Protocol):
    """A metric that also reads the images (declared ``reads_images=True`` in its
    :class:`~radinpaint.capabilities.Capabilities`).

    The evaluation calls :meth:`observe` once per chunk of cases, from one thread, with the
    chunk's originals and every computed output (a deterministic backend's variant 0 only:
    its other variants are copies), then :meth:`~Metric.compute` with the tidy table.
    Images are not kept by the evaluation: a metric keeps what it needs (features, not
    pixels).
    """

    def observe(self, images: Sequence[ScoredImage]) -> None:
        """Take note of one chunk's images."""
        ...


@runtime_checkable
class PredictorMetric(Metric, Protocol):
    """A metric that also uses the evaluation's predictors (declared
    ``reads_predictors=True`` in its :class:`~radinpaint.capabilities.Capabilities`).

    The evaluation calls :meth:`use_predictors` once, before the first chunk, with every
    predictor it built (label -> backend); an error raised there is reported as the
    metric's error and the metric is not run.
    """

    def use_predictors(self, predictors: Mapping[str, Predictor]) -> None:
        """Take the evaluation's built predictors, by label."""
        ...


def as_case(item: Case | Radiograph, index: int = 0) -> Case:
    """Wrap a bare radiograph in an unlabeled :class:`Case` (id from its source or index)."""
    if isinstance(item, Case):
        return item
    if isinstance(item, Radiograph):
        return Case(id=item.source or str(index), image=item)
    raise InvalidInputError(
        f"expected a Case or Radiograph, got {type(item).__name__}",
        input=f"item {index}",
        fix="load images with radinpaint.io.read_image or a dataset, which give Radiographs",
    )


def as_radiograph(item: Case | Radiograph) -> Radiograph:
    """The radiograph of a case, or the radiograph itself."""
    return item.image if isinstance(item, Case) else item

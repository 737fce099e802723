"""The :class:`Evaluation`: dataset x masks x inpainters x variants x predictors x metrics.

Work is streamed over chunks of cases, so memory holds one chunk's images at a time:

1. the mask provider marks each case's artifacts;
2. every inpainter runs on every case and variant, call by call through
   :class:`~radinpaint.inpaint_calls.InpaintCalls` and the shared
   :class:`~radinpaint.cache.ResultCache`: each call's results are cached as it returns,
   only failed requests are sent again, nothing is computed or paid for twice, and a rerun
   after a kill resumes where it stopped;
3. each output is decomposed into its views (:mod:`.decomposition`); views equal to the
   original or to the output are aliased, not predicted again;
4. every predictor reads the originals and every distinct view image, in batches, through a
   prediction cache keyed by predictor and image content;
5. rows of the tidy table are written; a failure is recorded in the row's ``error`` column
   and the run goes on.

Then the metric plugins score the table, the decomposition is summarised, and an
:class:`~radinpaint.evaluation.result.EvaluationResult` holds everything for the report.

The evaluation reads what each backend declared at registration
(:class:`~radinpaint.capabilities.Capabilities`) and nothing else. Backends whose output
does not depend on the seed (``deterministic=True``, as the built-in controls, classical
algorithms and ``gan`` declare) run variant 0 only; the other variants reuse that output
(``replicated`` is True in their rows). Without this, each variant would be a separate cache
entry, because the cache key holds the seed and variant (it must: a generative backend's
output depends on them), and identical work would be done K times.
``replicate_seed_independent=False`` runs every variant anyway (to check a backend's claim:
the consistency metric then shows zero spread).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from ..errors import InvalidInputError
from ..metrics.tables import TABLE_COLUMNS
from ..records import Case
from ..seeds import derive_seed
from .decomposition import FRAMES, VIEWS
from .executor import Executor, LocalExecutor
from .presets import Preset, get_preset
from .specs import BackendSpec, parse_specs

if TYPE_CHECKING:
    from .result import EvaluationResult

__all__ = ["TABLE_COLUMNS", "Evaluation", "case_seed", "chunks"]


def _positive(instance: object, attribute: attrs.Attribute, value: int) -> None:
    if value < 1:
        raise InvalidInputError(f"{attribute.name} must be >= 1, got {value}")


def _positive_or_none(instance: object, attribute: attrs.Attribute, value: int | None) -> None:
    if value is not None:
        _positive(instance, attribute, value)


def _preset(value: str | Preset) -> Preset:
    return value if isinstance(value, Preset) else get_preset(value)


@attrs.define
class Evaluation:
    """Measures how inpainting changes what predictors read.

    Args:
        dataset: the cases (any sequence of :class:`~radinpaint.records.Case`, read lazily).
        inpainters: backends to compare (names, specs or objects; see
            :class:`~radinpaint.evaluation.specs.BackendSpec`). Include ``identity`` (must
            change nothing) and ``resample`` (the geometry effect alone) as controls.
        predictors: models that read bone age and/or sex.
        mask_provider: what marks the artifacts (default ``ground-truth``).
        variants: outputs per case and inpainter (the study made 3).
        preset: ``"recommended"`` or ``"study"`` (see :mod:`.presets`): which metrics with
            which options, and whether variants are averaged per case before scoring.
        metrics: metric specs overriding the preset's list (names or specs with options).
        seed: the run's seed; case ``c`` is inpainted with ``derive_seed(seed, c.id)``.
        prompt: the prompt for prompted backends (``None``: each backend's default).
        cache_dir: where inpainting results and predictions are cached (``None``: memory
            only, nothing survives the process).
        executor: runs calls (default :class:`LocalExecutor` with up to 8 threads; each
            backend gets at most its declared ``max_concurrency`` of them).
        views: the decomposition views scored (``"total"`` always).
        geometry: how outputs are scored: ``"restored"`` (resized back to the original's
            shape) or ``"as-returned"`` (as the backend returned a whole image at another
            size, e.g. the study's squashed 1024x1024 outputs, never restored); ``None``:
            the preset's (the study preset: as returned; recommended: restored). Outputs
            of a region, or at the image's own size, are scored placed back either way.
        chunk_size: cases held in memory at once.
        inpaint_batch_size: requests per inpainting call (default: the backend's declared
            ``batch_size``); the variants of a case stay in one call.
        predict_batch_size: images per prediction call (default: the predictor's declared
            ``batch_size``).
        progress: show tqdm progress bars.
        n_samples: candidate cases kept for the report's image grid, which shows those
            with the largest and the median bone-age shifts (0: no grid).
        pixel_detail_cases: for the first N cases, each output also gets the leakage
            (SSIM/PSNR outside the mask) and per-region KS/Wasserstein distances of
            :mod:`radinpaint.metrics` (about a second per 512x512 output); every output
            gets the cheap change statistics and enters the pooled histograms.
        replicate_seed_independent: run backends that declare ``deterministic=True`` for
            variant 0 only and reuse that output for the other variants; False runs every
            variant.
        add_metrics: metric specs run in addition to :attr:`metrics` (or the preset's list),
            e.g. ``["generative"]`` for FID, KID and precision/recall/density/coverage.
    """

    dataset: Sequence[Case]
    inpainters: list[BackendSpec] = attrs.field(converter=lambda v: parse_specs(v, "inpainters"))
    predictors: list[BackendSpec] = attrs.field(converter=lambda v: parse_specs(v, "predictors"))
    mask_provider: BackendSpec = attrs.field(
        default=attrs.Factory(lambda: BackendSpec.parse("ground-truth")),
        converter=lambda v: BackendSpec.parse(v),
    )
    variants: int = attrs.field(default=3, validator=_positive)
    preset: Preset = attrs.field(
        default=attrs.Factory(lambda: get_preset("recommended")), converter=_preset
    )
    metrics: list[BackendSpec] | None = attrs.field(
        default=None, converter=lambda v: None if v is None else parse_specs(v, "metrics")
    )
    seed: int = 0
    prompt: str | None = None
    cache_dir: Path | None = attrs.field(
        default=None, converter=lambda p: None if p is None else Path(p).expanduser()
    )
    executor: Executor = attrs.field(factory=LocalExecutor)
    views: tuple[str, ...] = attrs.field(default=VIEWS, converter=tuple)
    geometry: str | None = None
    chunk_size: int = attrs.field(default=16, validator=_positive)
    inpaint_batch_size: int | None = attrs.field(default=None, validator=_positive_or_none)
    predict_batch_size: int | None = attrs.field(default=None, validator=_positive_or_none)
    progress: bool = True
    n_samples: int = 12
    pixel_detail_cases: int = 3
    replicate_seed_independent: bool = True
    add_metrics: list[BackendSpec] = attrs.field(
        factory=list, converter=lambda v: parse_specs(v, "metrics")
    )

    def __attrs_post_init__(self) -> None:
        if not self.inpainters:
            raise InvalidInputError("an evaluation needs at least one inpainter")
        if not self.predictors:
            raise InvalidInputError("an evaluation needs at least one predictor")
        if "total" not in self.views or not set(self.views) <= set(VIEWS):
            raise InvalidInputError(
                f"views must include 'total' and come from {VIEWS}, got {self.views}"
            )
        labels = [s.label for s in self.metric_specs()]
        repeated = sorted({lb for lb in labels if labels.count(lb) > 1})
        if repeated:
            raise InvalidInputError(
                f"metric label(s) {repeated} appear twice (add_metrics repeats a metric "
                "already run)",
                fix="give the added metric its own label (LABEL=NAME:OPTIONS) or leave it out",
            )
        if self.geometry is not None and self.geometry not in FRAMES:
            raise InvalidInputError(
                f"unknown geometry {self.geometry!r}",
                available=list(FRAMES),
                fix="use 'restored' (resized back) or 'as-returned' (as the study scored them)",
            )

    @property
    def scoring_frame(self) -> str:
        """The frame outputs are scored in: :attr:`geometry`, else the preset's."""
        return self.geometry if self.geometry is not None else self.preset.geometry

    @classmethod
    def from_config(cls, config: dict[str, Any], **overrides: Any) -> Evaluation:
        """Build from a JSON-style mapping (see :func:`.config.evaluation_from_config`)."""
        from .config import evaluation_from_config

        return evaluation_from_config(config, **overrides)

    def metric_specs(self) -> list[BackendSpec]:
        """The metrics that will run: the explicit list, else the preset's; then
        :attr:`add_metrics`."""
        if self.metrics is not None:
            return [*self.metrics, *self.add_metrics]
        preset = [BackendSpec(name, opts, label) for label, name, opts in self.preset.metrics]
        return [*preset, *self.add_metrics]

    def run(self) -> EvaluationResult:
        """Run everything and return an :class:`~.result.EvaluationResult`."""
        from .runner import Runner

        return Runner(self).run()


def case_seed(seed: int, case: Case) -> int:
    """The seed a case's inpainting requests carry."""
    return derive_seed(seed, "case", case.id)


def chunks(n: int, size: int) -> Iterator[range]:
    """Consecutive ranges of ``size`` covering ``range(n)``."""
    for start in range(0, n, size):
        yield range(start, min(n, start + size))

"""The ``generative`` metric: FID, KID and precision/recall/density/coverage per inpainter.

A metric that reads images (it declares ``reads_images=True``): during an evaluation it is
handed every original and every computed output (the image the predictors read: the
``total`` view in the scoring frame) chunk by chunk, turns each distinct image into a feature
vector once (:mod:`radinpaint.metrics.features`) and keeps only the vectors. ``compute``
then compares, for each inpainter, the originals' features with its outputs' features
(:mod:`radinpaint.metrics.generative`): all variants pooled (``variant="pooled"``), and each
variant on its own when the backend made more than one. A deterministic backend made one
output per case (its other variants are copies), so it gets the pooled row only.

The tidy table has one row per inpainter x variant x statistic: ``inpainter`` (label),
``backend`` (registered name), ``variant``, ``metric`` (``fid``, ``kid``, ``precision``,
``recall``, ``density``, ``coverage``), ``value``, ``ci_low``, ``ci_high`` (bootstrap over
cases), ``n_cases``, ``n_outputs``, ``features`` (what the vectors are) and ``note``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import attrs
import numpy as np

from ..errors import InvalidInputError
from ..protocols import MetricResult, ScoredImage
from ._common import check_confidence, check_resamples
from .generative import SCORES, check_interval

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["COLUMNS", "POOLED", "GenerativeMetric"]

POOLED = "pooled"
"""``variant`` of the rows that pool every variant of an inpainter."""

COLUMNS: tuple[str, ...] = (
    "inpainter",
    "backend",
    "variant",
    "metric",
    "value",
    "ci_low",
    "ci_high",
    "n_cases",
    "n_outputs",
    "features",
    "note",
)
"""The columns of the metric's table, in order."""


def _at_least(minimum: int) -> Any:
    def check(instance: object, attribute: attrs.Attribute, value: int) -> None:
        if int(value) < minimum:
            raise InvalidInputError(
                f"generative option {attribute.name} must be >= {minimum}, got {value!r}",
                input=attribute.name,
            )

    return check


@attrs.define(kw_only=True)
class GenerativeMetric:
    """Generative quality of each inpainter's outputs against the originals.

    Attributes:
        features: ``"phantom-ensemble"`` (default: the shipped predictor's penultimate
            features), any ensemble predictor spec, or ``"inception"`` (with ``weights``).
        weights: the local InceptionV3 weights file for ``features="inception"``.
        k: the nearest neighbour defining the PRDC radii (Naeem et al.: 5).
        kid_subset_size: cases per KID subset (``min(n, kid_subset_size)`` used).
        kid_subsets: KID subsets averaged when a subset holds fewer than all cases.
        n_resamples: bootstrap resamples of cases.
        confidence: level of the intervals.
        method: ``"basic"`` (default), ``"percentile"`` or ``"bca"``
            (see :func:`~radinpaint.metrics.generative.generative_scores`).
        seed: bootstrap and KID-subset seed (every inpainter gets the same resamples).
        per_variant: also score each variant of a backend that made several.
    """

    name: ClassVar[str] = "generative"
    features: str = "phantom-ensemble"
    weights: str | None = None
    k: int = attrs.field(default=5, converter=int, validator=_at_least(1))
    kid_subset_size: int = attrs.field(default=1000, converter=int, validator=_at_least(2))
    kid_subsets: int = attrs.field(default=100, converter=int, validator=_at_least(1))
    n_resamples: int = attrs.field(default=1000, converter=check_resamples)
    confidence: float = attrs.field(default=0.95, converter=check_confidence)
    method: str = attrs.field(default="basic", converter=check_interval)
    seed: int = attrs.field(default=0, converter=int)
    per_variant: bool = True
    _extractor: Any = attrs.field(default=None, init=False, repr=False)
    _vectors: dict[str, np.ndarray] = attrs.field(factory=dict, init=False, repr=False)
    _originals: dict[str, str] = attrs.field(factory=dict, init=False, repr=False)
    _outputs: dict[str, dict[tuple[str, int], str]] = attrs.field(
        factory=dict, init=False, repr=False
    )
    _backends: dict[str, str] = attrs.field(factory=dict, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        from .features import feature_extractor

        self._extractor = feature_extractor(self.features, self.weights)

    # -- reading images ------------------------------------------------------------------

    def observe(self, images: Sequence[ScoredImage]) -> None:
        """Compute the features of the images not seen yet (by content) and note whose
        original or output each one is."""
        new: dict[str, Any] = {}
        for item in images:
            if item.content_hash not in self._vectors:
                new.setdefault(item.content_hash, item.image)
        if new:
            vectors = np.asarray(self._extractor(list(new.values())), dtype=np.float64)
            for h, v in zip(new, vectors, strict=True):
                self._vectors[h] = v
        for item in images:
            if item.inpainter == "original" and item.backend == "original":
                self._originals[item.case_id] = item.content_hash
            else:
                self._backends.setdefault(item.inpainter, item.backend)
                key = (item.case_id, int(item.variant))
                self._outputs.setdefault(item.inpainter, {})[key] = item.content_hash

    def add(
        self,
        originals: dict[str, Any],
        outputs: dict[str, dict[tuple[str, int], Any]],
        backends: dict[str, str] | None = None,
    ) -> None:
        """Observe images outside an evaluation: ``originals`` case id -> radiograph,
        ``outputs`` inpainter -> (case id, variant) -> radiograph."""
        items = [ScoredImage(c, "original", "original", 0, im, im.content_hash())
                 for c, im in originals.items()]  # fmt: skip
        for label, by_key in outputs.items():
            backend = (backends or {}).get(label, label)
            items += [ScoredImage(c, label, backend, v, im, im.content_hash())
                      for (c, v), im in by_key.items()]  # fmt: skip
        self.observe(items)

    # -- scoring -------------------------------------------------------------------------

    def _sets(self, label: str) -> list[tuple[str, list[str], list[list[str]], str]]:
        """``(variant, cases, per-case output hashes, note)`` of each scored set."""
        outs = self._outputs[label]
        variants = sorted({v for _, v in outs})
        by_case: dict[str, dict[int, str]] = {}
        for (c, v), h in outs.items():
            if c in self._originals:
                by_case.setdefault(c, {})[v] = h
        note = ""
        if len(variants) > 1 and all(len(set(vs.values())) == 1 for vs in by_case.values()):
            # every variant of every case is the same image (a seed-independent backend run
            # for every variant): scored once, as a replicated backend is
            variants = variants[:1]
            by_case = {c: {variants[0]: next(iter(vs.values()))} for c, vs in by_case.items()}
            note = "every variant is the same image: scored once"
        complete = [c for c, vs in by_case.items() if len(vs) == len(variants)]
        if len(complete) < len(by_case):
            note = (f"{len(by_case) - len(complete)} case(s) without every variant left out "
                    "of the pooled set")  # fmt: skip
        sets = [(POOLED, complete, [[by_case[c][v] for v in variants] for c in complete], note)]
        if self.per_variant and len(variants) > 1:
            for v in variants:
                cases = [c for c, vs in by_case.items() if v in vs]
                sets.append((str(v), cases, [[by_case[c][v]] for c in cases], ""))
        return sets

    def compute(self, table: pd.DataFrame | None = None) -> MetricResult:
        """Score every inpainter observed (in the table's order of inpainters, when given).

        Raises:
            InvalidInputError: nothing was observed (the metric reads images: run it in an
                :class:`~radinpaint.evaluation.Evaluation`, or call :meth:`add` first).
        """
        import pandas as pd

        from .generative import PairedFeatures, generative_scores

        if not self._originals or not self._outputs:
            raise InvalidInputError(
                "the generative metric has seen no images: it compares originals with "
                "outputs by their features, which the tidy table does not hold",
                fix="run it in an Evaluation (metrics or add_metrics), which hands it the "
                "images, or call GenerativeMetric.add(originals, outputs) before compute()",
            )
        order = list(self._outputs)
        if table is not None and "inpainter" in table.columns:
            seen = [str(v) for v in table["inpainter"].dropna().unique()]
            order = [lb for lb in seen if lb in self._outputs] + [
                lb for lb in order if lb not in seen
            ]
        description = self._extractor.description
        rows: list[dict[str, Any]] = []
        notes: list[str] = []
        for label in order:
            for variant, cases, hashes, note in self._sets(label):
                x = np.stack([self._vectors[self._originals[c]] for c in cases]) if cases else None
                n_outputs = sum(len(h) for h in hashes)
                if x is None or len(cases) < 2:
                    ests = {}
                    note = "; ".join(filter(None, [note, f"{len(cases)} case(s): too few"]))
                else:
                    y = np.stack([[self._vectors[h] for h in hs] for hs in hashes])
                    paired = PairedFeatures.from_arrays(
                        x, y, k=self.k, kid_subset_size=self.kid_subset_size,
                        kid_subsets=self.kid_subsets, seed=self.seed,
                    )  # fmt: skip
                    ests = generative_scores(
                        paired,
                        n_resamples=self.n_resamples,
                        confidence=self.confidence,
                        method=self.method,
                        seed=self.seed,
                    )
                if note:
                    notes.append(f"{label}/{variant}: {note}")
                for stat in SCORES:
                    est = ests.get(stat)
                    text = "; ".join(filter(None, [note, est.note if est else ""]))
                    rows.append({
                        "inpainter": label,
                        "backend": self._backends.get(label, label),
                        "variant": variant,
                        "metric": stat,
                        "value": est.value if est else math.nan,
                        "ci_low": est.ci_low if est else math.nan,
                        "ci_high": est.ci_high if est else math.nan,
                        "n_cases": len(cases),
                        "n_outputs": n_outputs,
                        "features": description,
                        "note": text,
                    })  # fmt: skip
        frame = pd.DataFrame(rows, columns=list(COLUMNS))
        values = {f"{r['inpainter']}/{r['variant']}/{r['metric']}": float(r["value"]) for r in rows}
        details = {
            "features": description,
            "feature_dim": len(next(iter(self._vectors.values()))),
            "n_originals": len(self._originals),
            "notes": notes,
            "options": {
                "features": self.features,
                "k": self.k,
                "kid_subset_size": self.kid_subset_size,
                "kid_subsets": self.kid_subsets,
                "n_resamples": self.n_resamples,
                "confidence": self.confidence,
                "method": self.method,
                "seed": self.seed,
                "per_variant": self.per_variant,
            },
        }
        return MetricResult(name=self.name, values=values, table=frame, details=details)

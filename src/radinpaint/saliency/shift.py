"""How far inpainting moved where a model looks: per-case saliency shift and its metric.

For one case, the saliency map of the original ``a`` and that of the output ``b`` (both from
:func:`~radinpaint.saliency.explain`, the output's map brought to the original's frame when
a backend changed the shape) are compared by :func:`map_shift`:

- ``spearman``: Spearman's rank correlation of the two maps, and ``rank_shift = 1 - rho``
  (0: the same ranking of pixels);
- ``emd``: the earth mover's (Wasserstein-1) distance between the maps normalised to sum 1,
  in units of the image's longest side. Computed as the sliced Wasserstein distance
  (Rabin et al. 2011): the mean over :data:`DIRECTIONS` evenly spaced directions of the
  exact 1-D Wasserstein distance between the maps projected on that direction. It bounds
  the 2-D distance from below and, unlike a histogram or optimal-transport solver on 10^5
  pixels, costs a sort per direction; every 1-D distance is the integral of the absolute
  difference of the two cumulative masses, computed for all directions at once (numpy)
  rather than one ``scipy.stats.wasserstein_distance`` call per direction;
- ``tv``: total variation, half the L1 distance between the normalised maps (the share of
  saliency that moved, 0 to 1);
- ``share_<region>_original``, ``share_<region>_output`` and ``delta_share_<region>``: the
  share of saliency inside the artifact mask (``artifact``), over the hand (``hand``, the
  anatomy mask), and on the ``growth_plates`` and ``carpals`` of phantom cases
  (:func:`~radinpaint.saliency.phantom_regions`); nan where a case lacks the region.

Rank correlation and EMD are computed on maps pooled (area) to at most :data:`POOL_SIDE`
pixels on the longest side, shares on full-size maps. Identical maps give exactly 0 for
every shift (and rho = 1): equal maps are short-circuited, and the full computation gives
the same numbers (the tests check both).

:func:`saliency_shift_table` builds the per-case table for an ensemble, a set of cases and
each backend's outputs; the ``saliency-shift`` metric (:class:`SaliencyShiftMetric`)
averages it per inpainter x predictor x target x method with bootstrap CIs. Inside an
evaluation (``add_metrics=["saliency-shift"]``) the metric builds the same per-case rows
itself, chunk by chunk, from the images and predictors the evaluation hands it.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import attrs
import numpy as np

from ..errors import InvalidInputError
from ..metrics.tables import MetricBase
from ..protocols import MetricResult, ScoredImage, as_case
from ..records import Case, InpaintResult, Radiograph

if TYPE_CHECKING:
    import pandas as pd

    from ..predictors.ensemble import EnsemblePredictor

__all__ = [
    "DIRECTIONS",
    "PANEL_SIDE",
    "POOL_SIDE",
    "REGIONS",
    "SHIFT_COLUMNS",
    "SUMMARY_STATISTICS",
    "TARGETS",
    "SaliencyShiftMetric",
    "map_shift",
    "saliency_shift_table",
    "sliced_wasserstein",
    "spearman",
]

DIRECTIONS = 64
"""Projection directions of the sliced Wasserstein distance."""

POOL_SIDE = 128
"""Longest side of the pooled maps the rank correlation and EMD use."""

REGIONS: tuple[str, ...] = ("artifact", "hand", "growth_plates", "carpals")
"""Regions whose share of saliency is reported."""

SHIFT_COLUMNS: tuple[str, ...] = (
    "spearman",
    "rank_shift",
    "emd",
    "tv",
    *(f"{k}_{r}{s}" for r in REGIONS for k, s in
      (("share", "_original"), ("share", "_output"), ("delta_share", ""))),
)  # fmt: skip
"""The per-case numbers :func:`map_shift` returns."""

SUMMARY_STATISTICS: tuple[str, ...] = (
    "rank_shift",
    "emd",
    "tv",
    *(f"delta_share_{r}" for r in REGIONS),
)
"""The per-case numbers the metric averages (each with a bootstrap CI)."""

KEY_COLUMNS: tuple[str, ...] = ("inpainter", "predictor", "target", "saliency", "member")
"""The metric reports one row per combination of these."""


def _pool(saliency: np.ndarray, side: int = POOL_SIDE) -> np.ndarray:
    """Sum-preserving area pooling to at most ``side`` pixels on the longest side."""
    import cv2

    h, w = saliency.shape
    scale = side / max(h, w)
    if scale >= 1.0:
        return saliency.astype(np.float64)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    pooled = cv2.resize(saliency.astype(np.float64), (nw, nh), interpolation=cv2.INTER_AREA)
    return pooled * (h * w) / (nh * nw)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rho of two maps of one shape (1.0 for equal maps; nan for a constant one)."""
    from scipy.stats import rankdata

    x, y = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    if x.shape != y.shape:
        raise InvalidInputError(f"maps of different shapes {a.shape} and {b.shape}")
    if np.array_equal(x, y):
        return 1.0 if np.ptp(x) > 0 else math.nan
    rx, ry = rankdata(x), rankdata(y)
    rx -= rx.mean()
    ry -= ry.mean()
    denom = math.sqrt(float(rx @ rx) * float(ry @ ry))
    return float(rx @ ry) / denom if denom > 0 else math.nan


def sliced_wasserstein(a: np.ndarray, b: np.ndarray, directions: int = DIRECTIONS) -> float:
    """Sliced Wasserstein-1 distance of two non-negative maps of one shape, each normalised
    to sum 1, in units of the longest side (see the module docs); nan for an empty map."""
    wa, wb = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if wa.shape != wb.shape:
        raise InvalidInputError(f"maps of different shapes {a.shape} and {b.shape}")
    sa, sb = wa.sum(), wb.sum()
    if not (sa > 0 and sb > 0):
        return math.nan
    diff = (wa / sa - wb / sb).ravel()
    h, w = wa.shape
    side = float(max(h, w))
    yy, xx = np.mgrid[0:h, 0:w]
    pts = np.stack([xx.ravel() / side, yy.ravel() / side])  # (2, N)
    angles = np.pi * np.arange(directions) / directions
    proj = np.stack([np.cos(angles), np.sin(angles)], axis=1) @ pts  # (K, N)
    order = np.argsort(proj, axis=1, kind="stable")
    xs = np.take_along_axis(proj, order, axis=1)
    cdf = np.cumsum(diff[order], axis=1)[:, :-1]
    return float(np.mean(np.sum(np.abs(cdf) * np.diff(xs, axis=1), axis=1)))


def _share(saliency: np.ndarray, region: np.ndarray | None) -> float:
    if region is None or not region.any():
        return math.nan
    return float(saliency[region].sum())


def map_shift(
    original: np.ndarray,
    output: np.ndarray,
    *,
    artifact_mask: np.ndarray | None = None,
    anatomy_mask: np.ndarray | None = None,
    regions: Mapping[str, np.ndarray] | None = None,
) -> dict[str, float]:
    """How far the map moved from ``original`` to ``output`` (see the module docs).

    Args:
        original: the original image's map (>= 0).
        output: the output's map; resized (area) to the original's shape when it differs.
        artifact_mask: the case's artifact mask (True = artifact), in the original's frame.
        anatomy_mask: the hand.
        regions: more regions by name (``growth_plates``, ``carpals``).

    Returns:
        A dict with :data:`SHIFT_COLUMNS`; all nan when either map has no mass.
    """
    import cv2

    from .maps import normalise

    a = np.asarray(original, np.float64)
    b: np.ndarray = np.asarray(output, np.float64)
    if b.shape != a.shape:
        b = cv2.resize(b, (a.shape[1], a.shape[0]), interpolation=cv2.INTER_AREA)
    pa, pb = normalise(a), normalise(b)
    out: dict[str, float] = dict.fromkeys(SHIFT_COLUMNS, math.nan)
    if not (pa.any() and pb.any()):
        return out
    masks = {"artifact": artifact_mask, "hand": anatomy_mask, **dict(regions or {})}
    for name in REGIONS:
        m = masks.get(name)
        if m is not None and m.shape != a.shape:
            raise InvalidInputError(
                f"the {name} mask has shape {m.shape}, the map {a.shape}",
                fix="give masks in the original image's frame",
            )
        so, sn = _share(pa, m), _share(pb, m)
        out[f"share_{name}_original"], out[f"share_{name}_output"] = so, sn
        out[f"delta_share_{name}"] = sn - so
    if np.array_equal(pa, pb):  # short-circuit: the computation below gives the same
        out.update(spearman=1.0, rank_shift=0.0, emd=0.0, tv=0.0)
        return out
    qa, qb = _pool(pa), _pool(pb)
    rho = spearman(qa, qb)
    out.update(
        spearman=rho,
        rank_shift=1.0 - rho,
        emd=sliced_wasserstein(qa, qb),
        tv=0.5 * float(np.abs(pa - pb).sum()),
    )
    return out


def _image(output: Radiograph | InpaintResult | Case) -> Radiograph:
    if isinstance(output, InpaintResult):
        return output.image
    if isinstance(output, Case):
        return output.image
    return output


def saliency_shift_table(
    predictor: EnsemblePredictor,
    cases: Sequence[Case | Radiograph],
    outputs: Mapping[str, Sequence[Radiograph | InpaintResult]],
    *,
    targets: Sequence[str] | None = None,
    methods: Sequence[str] = ("grad-cam",),
    members: bool = False,
    batch_size: int = 16,
    chunk: int = 64,
    regions: bool = True,
) -> pd.DataFrame:
    """The per-case saliency shift of every output, as a tidy table.

    Args:
        predictor: the ensemble whose maps are compared.
        cases: the originals (cases give the masks and the sex; bare radiographs have no
            regions).
        outputs: inpainter name -> one output per case, in the order of ``cases``.
        targets: ``"bone_age"`` and/or ``"male"`` (default: every target the ensemble has).
        methods: saliency methods (:data:`~radinpaint.saliency.METHODS`).
        members: also one row per member (``member`` = its name), beside the ensemble's
            (``member="ensemble"``).
        batch_size: images per saliency pass.
        chunk: cases explained at a time (bounds memory).
        regions: add phantom growth plates and carpals (:func:`phantom_regions`).

    Returns:
        One row per case x inpainter x target x method (x member): ``case_id`` and
        :data:`KEY_COLUMNS` and :data:`SHIFT_COLUMNS`, plus ``identical`` (the output's
        pixels equal the original's: its maps are the original's, which is what computing
        them again gives).
    """
    import pandas as pd

    from .maps import explain
    from .regions import phantom_regions

    items = [as_case(c, i) for i, c in enumerate(cases)]
    for name, outs in outputs.items():
        if len(outs) != len(items):
            raise InvalidInputError(
                f"inpainter {name!r} has {len(outs)} outputs for {len(items)} cases",
                input=name,
                fix="give one output per case, in the order of the cases",
            )
    targets = tuple(targets) if targets is not None else predictor.targets
    male = [c.male for c in items]
    rows: list[dict[str, Any]] = []
    for start in range(0, len(items), max(1, int(chunk))):
        idx = range(start, min(start + int(chunk), len(items)))
        batch = [items[i] for i in idx]
        sexes = [male[i] for i in idx]
        found = [phantom_regions(c) if regions else {} for c in batch]
        for target in targets:
            for method in methods:
                orig = explain(predictor, batch, male=sexes, target=target, method=method,
                               batch_size=batch_size)  # fmt: skip
                for name, outs in outputs.items():
                    images = [_image(outs[i]) for i in idx]
                    same = [
                        o.pixels.shape == c.image.pixels.shape
                        and np.array_equal(o.pixels, c.image.pixels)
                        for o, c in zip(images, batch, strict=True)
                    ]
                    todo = [k for k, s in enumerate(same) if not s]
                    new = explain(
                        predictor, [images[k] for k in todo],
                        male=[sexes[k] for k in todo], target=target,
                        method=method, batch_size=batch_size,
                    )  # fmt: skip
                    pos = {k: j for j, k in enumerate(todo)}
                    keys: dict[str, tuple[Sequence[np.ndarray | None], ...]] = {
                        "ensemble": (orig.ensemble, new.ensemble)
                    }
                    if members:
                        for m in orig.members:
                            keys[m] = (orig.members[m], new.members[m])
                    for k, case in enumerate(batch):
                        for member, (before, after) in keys.items():
                            a = before[k]
                            if a is None:
                                continue
                            b = a if same[k] else after[pos[k]]
                            if b is None:  # not reached: the same sex, the same members
                                continue
                            shift = map_shift(
                                a, b,
                                artifact_mask=None if case.artifact_mask is None
                                else case.artifact_mask.array,
                                anatomy_mask=None if case.anatomy_mask is None
                                else case.anatomy_mask.array,
                                regions=found[k],
                            )  # fmt: skip
                            rows.append({
                                "case_id": case.id, "inpainter": name,
                                "predictor": predictor.name, "target": target,
                                "saliency": method, "member": member,
                                "identical": bool(same[k]), **shift,
                            })  # fmt: skip
    columns = ["case_id", *KEY_COLUMNS, "identical", *SHIFT_COLUMNS]
    return pd.DataFrame(rows, columns=columns)


def _mean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis)


PANEL_SIDE = 128
"""Longest side (pixels) of the images and maps the metric keeps for the report's figure."""

TARGETS: tuple[str, ...] = ("bone_age", "male")
"""The targets a saliency map can explain."""


def _names(value: Any) -> tuple[str, ...] | None:
    """Option values given as a list, or as text separated by ``+`` (commas separate the
    options of a spec): ``"bone_age+male"``."""
    if value is None:
        return None
    if isinstance(value, str):
        parts = [p.strip() for p in value.replace(",", "+").split("+")]
    else:
        parts = [str(p).strip() for p in value]
    parts = [p for p in parts if p]
    return tuple(dict.fromkeys(parts)) or None


def _check_choices(allowed: tuple[str, ...]) -> Any:
    def check(instance: object, attribute: attrs.Attribute, value: Any) -> None:
        bad = [v for v in value or () if v not in allowed]
        if bad:
            raise InvalidInputError(
                f"saliency-shift option {attribute.name}={'+'.join(bad)} is not one of "
                f"{', '.join(allowed)}",
                input=f"saliency-shift:{attribute.name}",
                fix=f"give some of {', '.join(allowed)}, joined by '+' "
                f"(saliency-shift:{attribute.name}={'+'.join(allowed[:2])})",
            )

    return check


def _at_least(minimum: int) -> Any:
    def check(instance: object, attribute: attrs.Attribute, value: int) -> None:
        if value < minimum:
            raise InvalidInputError(
                f"saliency-shift option {attribute.name} must be >= {minimum}, got {value!r}",
                input=f"saliency-shift:{attribute.name}",
            )

    return check


def _methods(value: Any) -> tuple[str, ...]:
    return _names(value) or ("grad-cam",)


def _method_choices() -> tuple[str, ...]:
    from .maps import METHODS

    return METHODS


def _shrink(a: np.ndarray, side: int = PANEL_SIDE) -> np.ndarray:
    """``a`` (area) resized to at most ``side`` pixels on the longest side, for display."""
    import cv2

    arr = np.asarray(a)
    h, w = arr.shape[:2]
    scale = side / max(h, w)
    if scale >= 1.0:
        return arr.copy()
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if arr.dtype == bool:
        return cv2.resize(arr.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0.5
    return cv2.resize(arr.astype(np.float32), size, interpolation=cv2.INTER_AREA)


@attrs.define(kw_only=True)
class SaliencyShiftMetric(MetricBase):
    """The ``saliency-shift`` metric: mean per-case saliency shift with bootstrap CIs.

    Two ways to feed it:

    - **Inside an evaluation** (``add_metrics=["saliency-shift"]``, ``radinpaint bench
      --add-metrics saliency-shift``): it declares ``reads_images`` and
      ``reads_predictors``, so the evaluation hands it its built predictors
      (:meth:`use_predictors`) and then, chunk by chunk, each original (with its case and
      artifact mask) and every computed output (:meth:`observe`). Per chunk it explains the
      originals and the outputs with every chosen predictor, target and method
      (:func:`~radinpaint.saliency.explain`), compares each output's map with its original's
      (:func:`map_shift`; an output whose pixels equal the original's is not explained again
      and gives exactly 0) and keeps only the per-case numbers, plus the downsampled images
      and maps (at most :data:`PANEL_SIDE` pixels) of each inpainter's ``n_panels`` cases
      whose map moved most (largest total variation) for the report's figure.
      :meth:`compute` then summarises those rows; the prediction table it is given is not
      read.
    - **On a table** :func:`saliency_shift_table` built (one row per case x inpainter x
      predictor x target x method x member, optionally per ``variant``), passed to
      :meth:`compute`.

    A case's variants are averaged first (``aggregate_variants="mean"``) or scored as
    separate rows (``"none"``). Per inpainter x predictor x target x method x member, each of
    :data:`SUMMARY_STATISTICS` gets its mean over cases and a bootstrap CI
    (:func:`radinpaint.metrics.bootstrap_ci`, ``n_resamples``, ``confidence``, ``method``,
    ``seed``), plus the mean of every share. Cases where a statistic is nan (no region,
    a map without mass) are left out of that statistic and counted in ``n_<stat>``.

    Attributes:
        predictors: labels of the evaluation's predictors to explain (a list, or text
            joined by ``+``); default: every predictor of the evaluation that is an
            :class:`~radinpaint.predictors.EnsemblePredictor` (saliency maps need its torch
            members; others are left out with a note).
        targets: ``"bone_age"`` and/or ``"male"``; default: every target each predictor has.
        saliency: saliency methods (:data:`~radinpaint.saliency.METHODS`); default
            ``grad-cam``.
        members: also one row per ensemble member beside the ensemble's.
        n_panels: per inpainter, the cases whose map moved most (largest ``tv``; the first
            cases on ties) keep downsampled images and maps for the report's figure (first
            predictor, target and method; variant 0).
        batch_size: images per saliency pass.
        regions: add the phantom growth plates and carpals (:func:`phantom_regions`).
    """

    name: ClassVar[str] = "saliency-shift"
    predictors: tuple[str, ...] | None = attrs.field(default=None, converter=_names)
    targets: tuple[str, ...] | None = attrs.field(
        default=None, converter=_names, validator=_check_choices(TARGETS)
    )
    saliency: tuple[str, ...] = attrs.field(default=("grad-cam",), converter=_methods)
    members: bool = attrs.field(default=False, converter=bool)
    n_panels: int = attrs.field(default=4, converter=int, validator=_at_least(0))
    batch_size: int = attrs.field(default=16, converter=int, validator=_at_least(1))
    regions: bool = attrs.field(default=True, converter=bool)
    _explained: dict[str, Any] = attrs.field(factory=dict, init=False, repr=False)
    _rows: list[dict[str, Any]] = attrs.field(factory=list, init=False, repr=False)
    _panels: dict[str, list[tuple[float, int, Any]]] = attrs.field(
        factory=dict, init=False, repr=False
    )  # inpainter -> min-heap of (tv, -arrival, panel), at most n_panels long
    _arrivals: int = attrs.field(default=0, init=False, repr=False)
    _notes: list[str] = attrs.field(factory=list, init=False, repr=False)
    _observed: int = attrs.field(default=0, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        _check_choices(_method_choices())(self, attrs.fields(type(self)).saliency, self.saliency)

    # -- inside an evaluation ------------------------------------------------------------

    def use_predictors(self, predictors: Mapping[str, Any]) -> None:
        """Choose the predictors to explain among the evaluation's (label -> backend).

        Raises:
            InvalidInputError: a predictor named in ``predictors`` is not in the evaluation
                or is not an ensemble; none of the evaluation's predictors is an ensemble;
                a chosen predictor has none of the chosen targets.
        """
        from ..predictors.ensemble import EnsemblePredictor

        ensembles = {k: p for k, p in predictors.items() if isinstance(p, EnsemblePredictor)}
        if self.predictors is not None:
            unknown = [k for k in self.predictors if k not in predictors]
            if unknown:
                raise InvalidInputError(
                    f"saliency-shift option predictors names {unknown}, which the "
                    "evaluation does not have",
                    input="saliency-shift:predictors",
                    available=tuple(predictors),
                    fix="name predictor labels of the evaluation, joined by '+'",
                )
            other = [k for k in self.predictors if k not in ensembles]
            if other:
                raise InvalidInputError(
                    f"predictor(s) {other} are not ensembles of torch members: saliency maps "
                    "need their gradients",
                    input="saliency-shift:predictors",
                    available=tuple(ensembles),
                    fix="choose ensemble predictors (e.g. phantom-ensemble, ensemble:path=...)",
                )
            chosen = {k: ensembles[k] for k in self.predictors}
        else:
            chosen = ensembles
            left = [k for k in predictors if k not in ensembles]
            if left:
                self._notes.append(f"not ensembles, not explained: {', '.join(left)}")
        if not chosen:
            raise InvalidInputError(
                "the saliency-shift metric explains ensemble predictors, and the evaluation "
                f"has none (predictors: {', '.join(predictors) or 'none built'})",
                input="saliency-shift",
                fix="add an ensemble predictor (phantom-ensemble, ensemble:path=...) to the "
                "evaluation's predictors",
            )
        for label, pred in chosen.items():
            targets = self._targets(pred)
            if not targets:
                raise InvalidInputError(
                    f"predictor {label!r} predicts none of the targets {list(self.targets or ())}",
                    input="saliency-shift:targets",
                    available=pred.targets,
                )
        self._explained = dict(chosen)

    def _targets(self, predictor: Any) -> list[str]:
        """The chosen targets ``predictor`` has, in order."""
        return [t for t in (self.targets or predictor.targets) if t in predictor.targets]

    def observe(self, images: Sequence[ScoredImage]) -> None:
        """Explain one chunk's originals and outputs and keep the per-case shifts (and the
        downsampled panels of each inpainter's largest shifts); see the class docstring."""
        from .maps import explain
        from .regions import phantom_regions

        if not self._explained:
            raise InvalidInputError(
                "the saliency-shift metric has no predictor to explain",
                input="saliency-shift",
                fix="run it in an Evaluation, which hands it its predictors, or call "
                "use_predictors({label: ensemble}) first",
            )
        originals: dict[str, ScoredImage] = {}
        outputs: list[ScoredImage] = []
        for item in images:
            if item.inpainter == "original" and item.backend == "original":
                originals[item.case_id] = item
            else:
                outputs.append(item)
        outputs = [o for o in outputs if o.case_id in originals]
        if not originals:
            return
        ids = list(originals)
        cases = [o.case if o.case is not None else Case(id=o.case_id, image=o.image)
                 for o in originals.values()]  # fmt: skip
        by_id = dict(zip(ids, cases, strict=True))
        male = {c.id: c.male for c in cases}
        found = {c.id: phantom_regions(c) if self.regions else {} for c in cases}
        artifact: dict[str, np.ndarray | None] = {}
        for cid, o in originals.items():  # the mask the evaluation inpainted, else the case's
            mask = o.mask if o.mask is not None else by_id[cid].artifact_mask
            artifact[cid] = None if mask is None else mask.array
        hand = {c.id: None if c.anatomy_mask is None else c.anatomy_mask.array for c in cases}
        same = [
            o.content_hash == originals[o.case_id].content_hash
            or (o.image.shape == originals[o.case_id].image.shape
                and np.array_equal(o.image.pixels, originals[o.case_id].image.pixels))
            for o in outputs
        ]  # fmt: skip
        todo = [k for k, s in enumerate(same) if not s]
        pos = {k: j for j, k in enumerate(todo)}
        first = True
        for plabel, pred in self._explained.items():
            for target in self._targets(pred):
                for method in self.saliency:
                    orig = explain(pred, [originals[c].image for c in ids],
                                   male=[male[c] for c in ids], target=target,
                                   method=method, batch_size=self.batch_size)  # fmt: skip
                    new = explain(pred, [outputs[k].image for k in todo],
                                  male=[male[outputs[k].case_id] for k in todo],
                                  target=target, method=method,
                                  batch_size=self.batch_size)  # fmt: skip
                    index = {c: i for i, c in enumerate(ids)}
                    keys: dict[str, tuple[Sequence[np.ndarray | None], ...]] = {
                        "ensemble": (orig.ensemble, new.ensemble)
                    }
                    if self.members:
                        for m in orig.members:
                            keys[m] = (orig.members[m], new.members[m])
                    for k, out in enumerate(outputs):
                        i = index[out.case_id]
                        for member, (before, after) in keys.items():
                            a = before[i]
                            b = a if same[k] else after[pos[k]]
                            if a is None or b is None:
                                continue
                            shift = map_shift(a, b, artifact_mask=artifact[out.case_id],
                                              anatomy_mask=hand[out.case_id],
                                              regions=found[out.case_id])  # fmt: skip
                            self._rows.append({
                                "case_id": out.case_id, "inpainter": out.inpainter,
                                "predictor": plabel, "target": target, "saliency": method,
                                "member": member, "variant": int(out.variant),
                                "identical": bool(same[k]), **shift,
                            })  # fmt: skip
                            if first and member == "ensemble" and out.variant == 0:
                                self._offer_panel(out, originals[out.case_id], a, b,
                                                 artifact[out.case_id], shift)  # fmt: skip
                    first = False
        self._observed += len(ids)

    def _offer_panel(
        self,
        output: ScoredImage,
        original: ScoredImage,
        map_original: np.ndarray,
        map_output: np.ndarray,
        mask: np.ndarray | None,
        shift: Mapping[str, float],
    ) -> None:
        from ..report.saliency import SaliencyPanel

        tv = float(shift.get("tv", math.nan))
        key = (tv if math.isfinite(tv) else -1.0, -self._arrivals)
        self._arrivals += 1
        heap = self._panels.setdefault(output.inpainter, [])
        if self.n_panels == 0 or (len(heap) >= self.n_panels and key <= heap[0][:2]):
            return
        panel = SaliencyPanel(
            output.case_id,
            output.inpainter,
            _shrink(original.image.pixels),
            _shrink(output.image.pixels),
            _shrink(map_original),
            _shrink(map_output),
            None if mask is None else _shrink(mask),
            dict(shift),
        )
        if len(heap) < self.n_panels:
            heapq.heappush(heap, (*key, panel))
        else:
            heapq.heapreplace(heap, (*key, panel))

    def observed_table(self) -> pd.DataFrame:
        """The per-case rows observed so far (:func:`saliency_shift_table`'s columns and
        ``variant``)."""
        import pandas as pd

        columns = ["case_id", *KEY_COLUMNS, "variant", "identical", *SHIFT_COLUMNS]
        return pd.DataFrame(self._rows, columns=columns)

    # -- scoring -------------------------------------------------------------------------

    def compute(self, table: pd.DataFrame | None = None) -> MetricResult:
        """Summarise the observed rows (inside an evaluation) or a saliency-shift table.

        Raises:
            InvalidInputError: nothing was observed and ``table`` is not a saliency-shift
                table.
        """
        needed = ["case_id", *KEY_COLUMNS, *SHIFT_COLUMNS]
        given = table is not None and all(c in table.columns for c in needed)
        if given and table is not None:
            result = self._summarise(table)
            return result
        if self._observed:
            result = self._summarise(self.observed_table())
            first = next(iter(self._explained.items()))
            details = {
                **result.details,
                "predictors": list(self._explained),
                "saliency": list(self.saliency),
                "n_cases": self._observed,
                "notes": list(self._notes),
                "panel_map": {
                    "predictor": first[0],
                    "target": self._targets(first[1])[0],
                    "method": self.saliency[0],
                },
            }
            panels = [  # per inpainter, in the order they came, the largest shifts first
                entry[2]
                for heap in self._panels.values()
                for entry in sorted(heap, key=lambda e: e[:2], reverse=True)
            ]
            return attrs.evolve(result, details=details, samples=tuple(panels))
        missing = [c for c in needed if table is None or c not in table.columns]
        raise InvalidInputError(
            f"the saliency-shift metric needs a saliency-shift table; columns "
            f"{missing} are missing",
            input="saliency-shift",
            fix="run it in an Evaluation (add_metrics=['saliency-shift'], or "
            "--add-metrics saliency-shift), which hands it the images and predictors, or "
            "build the table with radinpaint.saliency.saliency_shift_table(predictor, "
            "cases, outputs) and pass it to compute()",
        )

    def _summarise(self, table: pd.DataFrame) -> MetricResult:
        import pandas as pd

        from ..metrics.bootstrap import bootstrap_ci

        frame = table
        if self.aggregation == "mean" and not table.empty:
            frame = table.groupby(["case_id", *KEY_COLUMNS], sort=False, as_index=False)[
                list(SHIFT_COLUMNS)
            ].mean()
        rows: list[dict[str, Any]] = []
        values: dict[str, float] = {}
        for key_values, group in frame.groupby(list(KEY_COLUMNS), sort=False):
            key = dict(zip(KEY_COLUMNS, key_values, strict=True))
            row: dict[str, Any] = {**key, "n": int(group["case_id"].nunique())}
            notes = []
            for stat in SUMMARY_STATISTICS:
                v = group[stat].to_numpy(np.float64)
                v = v[np.isfinite(v)]
                row[f"n_{stat}"] = int(v.size)
                if v.size == 0:
                    row.update({stat: math.nan, f"{stat}_ci_low": math.nan,
                                f"{stat}_ci_high": math.nan})  # fmt: skip
                    continue
                if v.size < 2:
                    row.update({stat: float(v.mean()), f"{stat}_ci_low": math.nan,
                                f"{stat}_ci_high": math.nan})  # fmt: skip
                    notes.append(f"{stat}: one case, no interval")
                    continue
                est = bootstrap_ci(v, statistic=_mean, **self.boot_options())
                row.update({stat: est.value, f"{stat}_ci_low": est.ci_low,
                            f"{stat}_ci_high": est.ci_high})  # fmt: skip
            for region in REGIONS:
                for side in ("original", "output"):
                    col = f"share_{region}_{side}"
                    v = group[col].to_numpy(np.float64)
                    v = v[np.isfinite(v)]
                    row[col] = float(v.mean()) if v.size else math.nan
            row["note"] = "; ".join(notes)
            rows.append(row)
            label = "/".join(str(key[c]) for c in KEY_COLUMNS)
            for stat in ("rank_shift", "emd", "tv", "delta_share_artifact"):
                values[f"{label}/{stat}"] = float(row[stat])
        details = {"options": dict(self.boot_options()), "aggregate_variants": self.aggregation}
        return MetricResult(
            name=self.name, values=values, table=pd.DataFrame(rows), details=details
        )

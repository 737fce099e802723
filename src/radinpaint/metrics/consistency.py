"""Agreement of a predictor with itself across the variants of one case.

Generative inpainting is random: the same radiograph edited three times (the study's
``n=3``) gives three images, and a model may read three different bone ages and even
different sexes from them. The study reported a mean per-case bone-age SD of 8.77 months
across its 3 variants and sex calls that flipped between variants for 29.5 % of cases.
"""

from __future__ import annotations

import math

import attrs
import numpy as np

from ..errors import InvalidInputError
from . import stats
from ._common import as_vector

__all__ = ["VariantConsistency", "variant_consistency"]


@attrs.frozen(eq=False)
class VariantConsistency:
    """Per-case spread across variants and its summary.

    Attributes:
        case_ids: the cases, in first-seen order.
        n_variants: variants per case.
        sd: per-case bone-age SD across variants (``ddof`` as asked; nan with one variant).
        range: per-case bone-age range (max - min) across variants.
        flipped: per case, whether the sex calls (``p >= threshold``) disagree.
        mean_sd, median_sd: over cases with an SD.
        mean_range: over cases with at least one variant.
        flip_rate: fraction of cases (with >= 2 variants) whose sex calls disagree.
        n_cases: number of cases.
        n_flipped: cases whose sex calls disagree.
        ddof: the SD's delta degrees of freedom.
        threshold: the probability from which a case is called male.
    """

    case_ids: np.ndarray
    n_variants: np.ndarray
    sd: np.ndarray
    range: np.ndarray
    flipped: np.ndarray
    mean_sd: float
    median_sd: float
    mean_range: float
    flip_rate: float
    n_cases: int
    n_flipped: int
    ddof: int
    threshold: float

    def summary(self) -> dict[str, float]:
        """The headline numbers as a flat dict."""
        return {
            "n_cases": float(self.n_cases),
            "mean_sd": self.mean_sd,
            "median_sd": self.median_sd,
            "mean_range": self.mean_range,
            "flip_rate": self.flip_rate,
            "n_flipped": float(self.n_flipped),
        }


def variant_consistency(
    case_ids: object,
    bone_age: object | None = None,
    p_male: object | None = None,
    *,
    threshold: float = 0.5,
    ddof: int = 1,
) -> VariantConsistency:
    """Bone-age SD and range across each case's variants, and the rate of sex flips.

    Method: rows are grouped by case id; for each case the SD (``ddof=1``, the sample SD
    as pandas computes it, by default) and the range of the predicted bone ages, and
    whether the sex calls ``p_male >= threshold`` of its variants are not all equal. The
    summary averages over cases; cases with a single variant have no SD and cannot flip,
    and are left out of those averages. Missing predictions (nan) are ignored. The SD is
    :func:`radinpaint.metrics.stats.finite_sd` (exactly 0 for equal values).

    Args:
        case_ids: one case id per row (a row is one variant of one case).
        bone_age: predicted bone age per row, or None.
        p_male: predicted probability of male per row, or None.
        threshold: the study's 0.5.
        ddof: 1 for the sample SD, 0 for the population SD.
    """
    ids = np.asarray(case_ids)
    if ids.ndim != 1:
        raise InvalidInputError(f"case_ids must be one-dimensional, got shape {ids.shape}")
    n = ids.size
    ba = (
        as_vector(bone_age, "bone_age", allow_nan=True)
        if bone_age is not None
        else np.full(n, np.nan)
    )
    pm = as_vector(p_male, "p_male", allow_nan=True) if p_male is not None else np.full(n, np.nan)
    if ba.size != n or pm.size != n:
        raise InvalidInputError(
            f"case_ids, bone_age and p_male must have one value per row; got {n}, "
            f"{ba.size}, {pm.size}"
        )
    _, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
    order = np.argsort(first)  # groups in first-seen order
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    group = rank[inverse.reshape(-1)]
    k = order.size
    sd = np.full(k, np.nan)
    rng_ = np.full(k, np.nan)
    flipped = np.zeros(k, dtype=bool)
    can_flip = np.zeros(k, dtype=bool)
    counts = np.bincount(group, minlength=k)
    sorted_rows = np.argsort(group, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(counts)])
    for g in range(k):
        rows = sorted_rows[bounds[g] : bounds[g + 1]]
        b = ba[rows]
        sd[g] = stats.finite_sd(b, ddof=ddof)
        b = b[np.isfinite(b)]
        if b.size:
            rng_[g] = float(b.max() - b.min())
        p = pm[rows]
        p = p[np.isfinite(p)]
        if p.size >= 2:
            calls = p >= threshold
            can_flip[g] = True
            flipped[g] = bool(calls.any() and not calls.all())
    finite_sd = sd[np.isfinite(sd)]
    n_can = int(can_flip.sum())
    return VariantConsistency(
        case_ids=ids[np.sort(first)],
        n_variants=counts,
        sd=sd,
        range=rng_,
        flipped=flipped,
        mean_sd=stats.finite_mean(sd),
        median_sd=float(np.median(finite_sd)) if finite_sd.size else math.nan,
        mean_range=stats.finite_mean(rng_),
        flip_rate=float(flipped[can_flip].mean()) if n_can else math.nan,
        n_cases=int(k),
        n_flipped=int(flipped.sum()),
        ddof=int(ddof),
        threshold=float(threshold),
    )

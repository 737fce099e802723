"""Pixel-level facts about each output: where it changed, and pooled intensity histograms.

Per output (one row each): the mean absolute change inside the artifact mask, outside it
(leakage: exactly 0 for a paste-back backend), over the hand (the anatomy mask minus the
artifact mask, when the case has one), the fraction of outside pixels changed, and the
per-image pixel standard deviation of original and output (the study's "per-image pixel SD").

Pooled histograms (256 bins over [0, 1], the study's binning) are accumulated per inpainter
and region (``image``, ``in-mask``, ``out-of-mask``, ``hand``) as integer counts, so a run
of any size needs memory for the counts only. The original images are pooled under the
inpainter name ``"original"``; :meth:`PixelStats.summary` adds each inpainter's pooled KS and
Wasserstein distances from the originals (whole image and hand).
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import attrs
import numpy as np
import pandas as pd

from ..records import Case, Mask, Radiograph

__all__ = ["BINS", "REGIONS", "PixelStats", "detail_row", "pixel_row", "pooled_distances"]

BINS = 256
"""Histogram bins over [0, 1] (the study used 256)."""

REGIONS: tuple[str, ...] = ("image", "in-mask", "out-of-mask", "hand")
"""Regions histograms are pooled over."""


def _counts(values: np.ndarray) -> np.ndarray:
    idx = np.minimum((values * BINS).astype(np.int64), BINS - 1)
    return np.bincount(idx.ravel(), minlength=BINS)


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else math.nan


def _regions(case: Case, mask: Mask) -> dict[str, np.ndarray | None]:
    m = mask.array
    hand = None
    if case.anatomy_mask is not None:
        hand = case.anatomy_mask.array & ~m
    return {"image": None, "in-mask": m, "out-of-mask": ~m, "hand": hand}


def pixel_row(case: Case, mask: Mask, output: Radiograph) -> dict[str, Any]:
    """The per-output pixel facts described in the module docs.

    The pixel SDs are :func:`radinpaint.metrics.pixel_sd` (float64, ``ddof=0``), the same
    per-image SD :func:`radinpaint.metrics.study_histograms` reports.
    """
    from ..metrics.intensity import pixel_sd

    x, o, m = case.image.pixels, output.pixels, mask.array
    diff = np.abs(o.astype(np.float64) - x)
    out = diff[~m]
    hand = None if case.anatomy_mask is None else case.anatomy_mask.array & ~m
    return {
        "mask_fraction": float(m.mean()),
        "change_in_mask": _mean(diff[m]),
        "change_out_of_mask": _mean(out),
        "max_change_out_of_mask": float(out.max()) if out.size else math.nan,
        "changed_fraction_out_of_mask": float((out > 0).mean()) if out.size else math.nan,
        "change_hand": math.nan if hand is None else _mean(diff[hand]),
        "sd_original": pixel_sd(x),
        "sd_output": pixel_sd(o),
        "mean_original": float(x.mean()),
        "mean_output": float(o.mean()),
    }


def detail_row(case: Case, mask: Mask, output: Radiograph) -> dict[str, Any]:
    """Leakage and intensity distances from :mod:`radinpaint.metrics` for one output."""
    from ..metrics.intensity import intensity_distances
    from ..metrics.leakage import leakage

    leak = leakage(case.image, output, mask)
    row: dict[str, Any] = {
        "leak_changed_fraction": leak.changed_fraction,
        "leak_ssim": leak.ssim,
        "leak_psnr": leak.psnr,
    }
    anatomy = None if case.anatomy_mask is None else case.anatomy_mask.array
    for region, d in intensity_distances(case.image, output, mask.array, anatomy).items():
        row[f"ks_{region}"] = d.ks
        row[f"wasserstein_{region}"] = d.wasserstein
    return row


def pooled_distances(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Distances between two pooled histograms (counts over the same bins).

    ``ks``: the largest difference of their cumulative distributions; ``wasserstein``: the
    1-Wasserstein distance between the binned distributions (bin centres weighted by
    counts, :func:`scipy.stats.wasserstein_distance`), in intensity units.
    """
    from scipy.stats import wasserstein_distance

    if a.sum() == 0 or b.sum() == 0:
        return {"ks": math.nan, "wasserstein": math.nan}
    ca, cb = np.cumsum(a) / a.sum(), np.cumsum(b) / b.sum()
    centres = (np.arange(a.size) + 0.5) / a.size
    return {
        "ks": float(np.abs(ca - cb).max()),
        "wasserstein": float(wasserstein_distance(centres, centres, a, b)),
    }


@attrs.define
class PixelStats:
    """Accumulates per-output rows and pooled histograms over a run."""

    rows: list[dict[str, Any]] = attrs.field(factory=list)
    histograms: dict[tuple[str, str], np.ndarray] = attrs.field(
        factory=lambda: defaultdict(lambda: np.zeros(BINS, dtype=np.int64))
    )

    def add_original(self, case: Case, mask: Mask) -> None:
        """Pool an original image's pixels under ``"original"``."""
        self._pool("original", case, mask, case.image)

    def add_output(
        self,
        label: str,
        variant: int,
        case: Case,
        mask: Mask,
        output: Radiograph,
        *,
        detail: bool = False,
    ) -> None:
        """Record one output's row and pool its pixels under ``label``.

        With ``detail``, the row also gets :func:`radinpaint.metrics.leakage` (changed
        fraction, SSIM and PSNR outside the mask, at the image's bit depth) and
        :func:`radinpaint.metrics.intensity_distances` (KS and Wasserstein by region). They
        cost about a second per 512x512 output, so the evaluation asks for them on a few
        cases only (``Evaluation.pixel_detail_cases``).
        """
        row = {"case_id": case.id, "inpainter": label, "variant": variant}
        row |= pixel_row(case, mask, output)
        if detail:
            row |= detail_row(case, mask, output)
        self.rows.append(row)
        self._pool(label, case, mask, output)

    def _pool(self, label: str, case: Case, mask: Mask, image: Radiograph) -> None:
        for region, sel in _regions(case, mask).items():
            values = image.pixels if sel is None else image.pixels[sel]
            if values.size:
                self.histograms[(label, region)] += _counts(values)

    def table(self) -> pd.DataFrame:
        """The per-output rows."""
        return pd.DataFrame(self.rows)

    def summary(self) -> pd.DataFrame:
        """Per-inpainter means of the per-output rows."""
        df = self.table()
        if df.empty:
            return df
        cols = [c for c in df.columns if c not in ("case_id", "inpainter", "variant")]
        out = df.groupby("inpainter", sort=False)[cols].mean()
        out.insert(0, "n_outputs", df.groupby("inpainter", sort=False).size())
        for region in ("image", "hand"):
            ref = self.histograms.get(("original", region))
            if ref is None:
                continue
            for label in out.index:
                counts = self.histograms.get((str(label), region))
                if counts is not None:
                    d = pooled_distances(ref, counts)
                    out.loc[label, f"pooled_ks_{region}"] = d["ks"]
                    out.loc[label, f"pooled_wasserstein_{region}"] = d["wasserstein"]
        return out.reset_index()

    def histogram_table(self) -> pd.DataFrame:
        """Pooled counts as a long table: inpainter, region, bin, count."""
        rows = [
            {"inpainter": label, "region": region, "bin": i, "count": int(c)}
            for (label, region), counts in self.histograms.items()
            for i, c in enumerate(counts)
        ]
        return pd.DataFrame(rows)

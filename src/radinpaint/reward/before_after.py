"""Plausibility of a generator before and after fine-tuning, on held-out cases.

``radinpaint finetune-gan`` and ``finetune-diffusion`` both end by inpainting the same
held-out cases with the base and the tuned weights (same seeds, one output per case) and
scoring each output with the reward model: :func:`plausibility_before_after` does that for
any two inpainters, and :func:`print_tuned` prints what the commands print at the end.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..protocols import Inpainter
from ..records import Case, InpaintRequest, InpaintResult, Mask

__all__ = ["plausibility_before_after", "print_before_after", "print_tuned"]


def plausibility_before_after(
    reward: str | Path,
    cases: Sequence[Case],
    masks: Sequence[Mask],
    inpainters: Mapping[str, Inpainter],
    *,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """Mean P(acceptable) with its bootstrap CI for each of ``inpainters`` (label ->
    inpainter, e.g. ``{"before": base, "after": tuned}``) on ``cases`` with ``masks``
    (cases with an empty mask are left out), one output per case with ``seed``.

    Returns label -> ``{"plausibility", "ci_low", "ci_high", "cases"}``.
    """
    import pandas as pd

    from .model import load_reward
    from .plausibility import plausibility_table
    from .samples import RatedSample

    model = load_reward(reward)
    requests = [
        InpaintRequest(image=c.image, mask=m, seed=seed, case_id=c.id)
        for c, m in zip(cases, masks, strict=True)
        if not m.is_empty
    ]
    rows = []
    for label, inpainter in inpainters.items():
        samples = [
            RatedSample(
                output=r.image.pixels,
                original=q.image.pixels,
                mask=q.mask.array,
                case_id=str(q.case_id),
                inpainter=label,
            )
            for q, r in zip(requests, inpainter.inpaint(requests), strict=True)
            if isinstance(r, InpaintResult)
        ]
        p = model.predict(samples)
        rows += [
            {"case_id": s.case_id, "inpainter": label, "variant": 0, "p_acceptable": v}
            for s, v in zip(samples, p, strict=True)
        ]
    summary = plausibility_table(pd.DataFrame(rows), seed=seed)
    return {
        str(r["inpainter"]): {k: r[k] for k in ("plausibility", "ci_low", "ci_high", "cases")}
        for r in summary.to_dict("records")
    }


def print_before_after(figures: Mapping[str, Mapping[str, Any]]) -> None:
    """One line per label (plausibility and its CI), then the figures as one JSON line."""
    for label, row in figures.items():
        print(
            f"plausibility {label}: {row['plausibility']:.3f} "
            f"[{row['ci_low']:.3f}, {row['ci_high']:.3f}] over {row['cases']} cases"
        )
    print(json.dumps(figures))


def print_tuned(path: Path, figures: Mapping[str, Mapping[str, Any]] | None) -> None:
    """The tuned weights and their config, then the before/after figures if any."""
    print(f"weights: {path}")
    print(f"config:  {path.with_suffix('.json')}")
    if figures is not None:
        print_before_after(figures)

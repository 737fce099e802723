"""From the review page's ratings and a results folder to rated samples.

Ratings (:class:`radinpaint.review.ratings.Rating`, read by
:func:`radinpaint.review.ratings.read_ratings` from ``ratings.sqlite`` or its CSV export)
name an output by its content hash. :func:`samples_from_ratings` opens the results folder
with :class:`radinpaint.review.store.ReviewStore`, which finds each output in the run's
cache and rebuilds its original and mask (checked against the run's content hashes), and
pairs them with the verdict.

Several raters may rate one output: by default their verdicts are combined by majority
(``combine="majority"``; a tie counts as not acceptable, the cautious reading); with
``combine="each"`` every rating is a sample of its own.
"""

from __future__ import annotations

import os
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInputError
from .samples import RatedSample

if TYPE_CHECKING:
    from ..review.ratings import Rating

__all__ = ["COMBINE", "samples_from_ratings", "simulated_ratings"]

COMBINE = ("majority", "each")
"""How several raters' verdicts on one output are used."""


def samples_from_ratings(
    ratings: str | os.PathLike[str] | Sequence[Rating],
    results: str | Path,
    *,
    data: str | None = None,
    cache: str | Path | None = None,
    combine: str = "majority",
) -> list[RatedSample]:
    """The rated outputs of ``results`` with their originals, masks and verdicts.

    Args:
        ratings: a ratings database or CSV export, or the ratings themselves.
        results: the results folder the ratings were given on.
        data: the dataset the run used (as ``radinpaint run --data`` takes it); not needed
            for phantoms.
        cache: the run's cache folder, when it has moved.
        combine: ``"majority"`` or ``"each"`` (see the module docs).

    Raises:
        InvalidInputError: no ratings, an unknown ``combine``, or ratings of outputs the
            results folder does not hold (the message names them).
    """
    from ..review.ratings import read_ratings
    from ..review.store import ReviewStore

    if combine not in COMBINE:
        raise InvalidInputError(f"unknown combine {combine!r}", available=COMBINE)
    source = None
    if isinstance(ratings, (str, os.PathLike)):
        source = Path(ratings).expanduser()
        if source.is_dir():
            source = source / "review" / "ratings.sqlite"
        rated = read_ratings(source)
    else:
        rated = list(ratings)
    if not rated:
        raise InvalidInputError(
            "no ratings to learn from",
            input=None if source is None else str(source),
            fix="rate outputs with `radinpaint review` first (both verdicts)",
        )
    with tempfile.TemporaryDirectory(prefix="radinpaint-reward-") as tmp:
        # a ratings database is opened where it is; otherwise the store's own database
        # (which it creates) goes to a temporary folder, leaving the results folder alone
        db: Any = source if source is not None and _is_sqlite(source) else Path(tmp) / "db"
        store = ReviewStore.open(results, data=data, cache=cache, db=db)
        unknown = [r for r in rated if r.output_hash not in store.by_hash]
        if unknown:
            first = ", ".join(f"{r.case_id}/{r.inpainter}/v{r.variant}" for r in unknown[:5])
            raise InvalidInputError(
                f"{len(unknown)} of {len(rated)} ratings name outputs this results folder "
                f"does not hold ({first})",
                input=str(results),
                fix="train on the results folder the ratings were given on",
            )
        verdicts: dict[str, list[bool]] = defaultdict(list)
        for r in rated:
            verdicts[r.output_hash].append(bool(r.acceptable))
        samples = []
        for output_hash, votes in verdicts.items():
            item = store.item(output_hash)
            case, mask = store.case_and_mask(item.case_id)
            output = store.output(output_hash)
            decided = [sum(votes) * 2 > len(votes)] if combine == "majority" else votes
            for verdict in decided:
                samples.append(
                    RatedSample(
                        output=output.pixels,
                        original=case.image.pixels,
                        mask=mask.array,
                        accepted=verdict,
                        case_id=item.case_id,
                        inpainter=item.inpainter,
                        variant=item.variant,
                    )
                )
    return samples


def simulated_ratings(
    results: str | Path,
    rater: Any,
    *,
    data: str | None = None,
    cache: str | Path | None = None,
    rater_id: str = "simulated",
) -> list[Rating]:
    """Ratings of every output of ``results`` by a simulated rater (e.g.
    :class:`~radinpaint.reward.rater.SimulatedRater`: anything with
    ``accepts(output, mask) -> bool``), as the review page would store them."""
    from ..review.ratings import Rating
    from ..review.store import ReviewStore

    with tempfile.TemporaryDirectory(prefix="radinpaint-reward-") as tmp:
        store = ReviewStore.open(results, data=data, cache=cache, db=Path(tmp) / "db")
        out = []
        for item in store.items:
            _, mask = store.case_and_mask(item.case_id)
            verdict = bool(rater.accepts(store.output(item.output_hash).pixels, mask.array))
            out.append(
                Rating(
                    rater=rater_id,
                    output_hash=item.output_hash,
                    case_id=item.case_id,
                    inpainter=item.inpainter,
                    backend=item.backend,
                    variant=item.variant,
                    acceptable=verdict,
                )
            )
    return out


def _is_sqlite(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(16) == b"SQLite format 3\x00"

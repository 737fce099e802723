"""Stage 4 of a run: every distinct image of a chunk through every predictor, cache first."""

from __future__ import annotations

import time
from collections.abc import Sequence

from ..errors import MissingLabelError, error_text
from ..records import Predictions, Radiograph
from .backends import PredictorSlot, check_predictions
from .chunk import Chunk, PredictionKey, stored_prediction
from .executor import Executor
from .predcache import PredictionCache
from .tally import Tally

__all__ = ["predict_chunk"]


def predict_chunk(
    chunk: Chunk,
    preds: Sequence[PredictorSlot],
    executor: Executor,
    batch_size: int | None,
    tally: Tally,
) -> None:
    """Predict every original and view image of ``chunk`` that no prediction cache holds.

    An image is predicted once per predictor however many outputs share it (identity's
    output is the original). A sex-conditioned predictor gets the case's sex; without one
    it is reported, unless it infers the sex itself.
    """
    t = time.perf_counter()
    male_of = {c.id: c.male for c in chunk.cases}
    users: dict[str, str] = {}  # image hash -> one case id using it (for its sex)
    for case in chunk.cases:
        users.setdefault(chunk.original_hash[case.id], case.id)
    for (_, cid, _), out in chunk.outputs.items():
        for h in out.view_hashes.values():
            users.setdefault(h, cid)
    for pred in preds:
        if pred.error is not None:
            continue
        caps = pred.capabilities
        todo: dict[PredictionKey, Radiograph] = {}
        for h, cid in users.items():
            male = male_of[cid] if caps.needs_sex else None
            if male is None and caps.needs_sex and not caps.infers_sex:
                chunk.prediction_errors[(pred.label, h)] = error_text(
                    MissingLabelError(
                        f"predictor {pred.label} needs the sex of case {cid}, which is unknown",
                        fix="add the sex to the labels or use a predictor that needs none",
                    )
                )
                continue
            if PredictionCache.key(h, male) in pred.cache:
                tally.count("predict_cached")
            else:
                todo.setdefault((h, male), chunk.images[h])
        _predict_batches(pred, todo, chunk, executor, batch_size or caps.batch_size, tally)
    tally.timed("predict_s", t)


def _predict_batches(
    pred: PredictorSlot,
    todo: dict[PredictionKey, Radiograph],
    chunk: Chunk,
    executor: Executor,
    size: int,
    tally: Tally,
) -> None:
    """Predict ``todo`` in batches, caching each batch's predictions as it returns.

    An image the predictor reports as failed (``Predictions.failures``) is reported and its
    neighbours kept; a batch that raises is retried image by image to find the bad ones.
    """
    keys = list(todo)
    batches = [keys[i : i + size] for i in range(0, len(keys), size)]

    def work(batch: list[PredictionKey]) -> Predictions:
        male = [m for _, m in batch] if pred.capabilities.needs_sex else None
        result = pred.predict([todo[k] for k in batch], male)
        return check_predictions(pred, result, len(batch))

    workers = pred.capabilities.max_concurrency
    retry: list[list[PredictionKey]] = []
    for round_items in (batches, retry):
        for batch, outcome in executor.map(work, round_items, workers=workers):
            if isinstance(outcome, BaseException):
                if round_items is batches and len(batch) > 1:
                    retry.extend([k] for k in batch)  # find the failing image(s)
                    continue
                for h, _ in batch:
                    chunk.prediction_errors[(pred.label, h)] = error_text(outcome)
                    tally.fail(
                        "predict", predictor=pred.label, image=h[:12], error=error_text(outcome)
                    )
                continue
            done = []
            for i, (h, m) in enumerate(batch):
                why = outcome.failures.get(i)
                if why is None:
                    done.append((PredictionCache.key(h, m), stored_prediction(outcome, i)))
                    continue
                chunk.prediction_errors[(pred.label, h)] = why  # the image, not its batch
                tally.fail("predict", predictor=pred.label, image=h[:12], error=why)
            pred.cache.put_many(done)
            tally.count("predict_computed", len(done))
            tally.advance("predict", len(batch))

"""Stage 4 of a run: every distinct image of a chunk through every predictor, cache first."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import attrs

from ..errors import MissingLabelError, error_text
from ..records import Predictions, Radiograph
from .backends import PredictorSlot, check_predictions
from .chunk import Chunk, PredictionKey, stored_prediction
from .executor import Executor
from .predcache import PredictionCache
from .tally import Tally

__all__ = ["PredictTask", "error_key", "predict_chunk"]


def error_key(label: str, image_hash: str, male: bool | None) -> tuple[str, str]:
    """The :attr:`~.chunk.Chunk.prediction_errors` key of one prediction.

    (predictor label, prediction-cache key of the image and the sex passed): a failure for
    one sex says nothing about the same pixels predicted with the other.
    """
    return label, PredictionCache.key(image_hash, male)


def _use(users: dict[str, dict[str, None]], image_hash: str, case_id: str) -> None:
    """Note that ``case_id`` uses image ``image_hash`` (each case once, in order)."""
    users.setdefault(image_hash, {})[case_id] = None


@attrs.frozen(eq=False)
class PredictTask:
    """What the prediction stage hands an executor: ``task(batch)`` predicts one batch.

    A local executor just calls it. An executor that predicts on other machines reads
    :meth:`inputs` (the images and sexes of a batch), runs the predictor built from
    ``slot.spec`` there, and hands the answer to :meth:`finish` here.

    Attributes:
        slot: the predictor of the run.
        images: the image of every (image hash, sex) key of the chunk still to predict.
    """

    slot: PredictorSlot
    images: Mapping[PredictionKey, Radiograph]

    def inputs(
        self, batch: Sequence[PredictionKey]
    ) -> tuple[list[Radiograph], list[bool | None] | None]:
        """The batch's images, and the sexes passed (None: the predictor takes none)."""
        male = [m for _, m in batch] if self.slot.capabilities.needs_sex else None
        return [self.images[k] for k in batch], male

    def finish(self, batch: Sequence[PredictionKey], result: object) -> Predictions:
        """``result`` checked to be Predictions for every image of ``batch``."""
        return check_predictions(self.slot, result, len(batch))

    def __call__(self, batch: Sequence[PredictionKey]) -> Predictions:
        """Predict ``batch`` here (at most the declared number of calls at once)."""
        images, male = self.inputs(batch)
        return self.finish(batch, self.slot.predict(images, male))


def predict_chunk(
    chunk: Chunk,
    preds: Sequence[PredictorSlot],
    executor: Executor,
    batch_size: int | None,
    tally: Tally,
) -> None:
    """Predict every original and view image of ``chunk`` that no prediction cache holds.

    An image is predicted once per predictor and sex passed, however many outputs share it
    (identity's output is the original). A sex-conditioned predictor gets the case's sex, so
    identical pixels in cases of different sex are predicted once for each; a case without
    one is reported (in its rows and in the failures), unless the predictor infers the sex.
    """
    t = time.perf_counter()
    male_of = {c.id: c.male for c in chunk.cases}
    users: dict[str, dict[str, None]] = {}  # image hash -> the cases using it (their sex)
    for case in chunk.cases:
        _use(users, chunk.original_hash[case.id], case.id)
    for (_, cid, _), out in chunk.outputs.items():
        for h in out.view_hashes.values():
            _use(users, h, cid)
    for pred in preds:
        if pred.error is not None:
            continue
        caps = pred.capabilities
        todo: dict[PredictionKey, Radiograph] = {}
        for h, cids in users.items():
            # one prediction per (image, sex passed): identical pixels in cases of different
            # sex are different inputs to a model that takes the sex
            sexes = dict.fromkeys(male_of[c] if caps.needs_sex else None for c in cids)
            for male in sexes:
                if male is None and caps.needs_sex and not caps.infers_sex:
                    cid = next(c for c in cids if male_of[c] is None)
                    why = error_text(
                        MissingLabelError(
                            f"predictor {pred.label} needs the sex of case {cid}, which is unknown",
                            input=cid,
                            fix="add the sex to the labels or use a predictor that needs none",
                        )
                    )
                    chunk.prediction_errors[error_key(pred.label, h, male)] = why
                    tally.fail(
                        "predict", predictor=pred.label, case_id=cid, image=h[:12], error=why
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
    work = PredictTask(pred, todo)
    workers = pred.capabilities.max_concurrency
    retry: list[list[PredictionKey]] = []
    for round_items in (batches, retry):
        for batch, outcome in executor.map(work, round_items, workers=workers):
            if isinstance(outcome, BaseException):
                if round_items is batches and len(batch) > 1:
                    retry.extend([k] for k in batch)  # find the failing image(s)
                    continue
                for h, m in batch:
                    chunk.prediction_errors[error_key(pred.label, h, m)] = error_text(outcome)
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
                chunk.prediction_errors[error_key(pred.label, h, m)] = why  # not its batch
                tally.fail("predict", predictor=pred.label, image=h[:12], error=why)
            pred.cache.put_many(done)
            tally.count("predict_computed", len(done))
            tally.advance("predict", len(batch))

"""Runs an :class:`~radinpaint.evaluation.core.Evaluation` as a chain of explicit stages.

Per chunk of cases, each stage takes and fills a typed :class:`~.chunk.Chunk`:

1. :meth:`Runner.load` and :meth:`Runner.mask`: the cases and their artifact masks;
2. :meth:`Runner.inpaint`: every inpainter through its
   :class:`~radinpaint.inpaint_calls.InpaintCalls` (cache first, results cached as each
   call returns, only failed requests retried);
3. :meth:`Runner.views`: each output's decomposition views and pixel statistics;
4. :meth:`Runner.predict`: every distinct image through every predictor (prediction cache
   first);
5. :meth:`Runner.rows`: the tidy table's rows.

Then the metric plugins score the table and the result is assembled.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pandas as pd

from ..cache import ResultCache
from ..errors import InvalidInputError, MissingLabelError
from ..inpaint_calls import error_text
from ..records import Case, InpaintRequest, Mask, Radiograph, check_same_shape
from .backends import (
    InpainterSlot,
    PredictorSlot,
    build_inpainters,
    build_predictors,
    check_predictions,
)
from .chunk import Chunk, Output, PredictionKey, base_row, stored_prediction
from .core import Evaluation, case_seed, chunks
from .decomposition import decompose, decomposition_table
from .pixels import PixelStats
from .predcache import PredictionCache, StoredPrediction

__all__ = ["Runner"]

COUNTS = (
    "inpaint_computed",
    "inpaint_cached",
    "inpaint_failed",
    "inpaint_replicated",
    "predict_computed",
    "predict_cached",
    "images_paid",
    "cost_usd_spent",
    "cost_usd_billed_failures",
    "cost_usd_total",
    "inpaint_seconds_spent",
)
"""What the manifest counts (see docs/evaluation.md)."""


class Runner:
    """Carries one run's accumulators; :meth:`run` returns the result."""

    def __init__(self, evaluation: Evaluation) -> None:
        ev = evaluation
        self.ev = ev
        self.rows_out: list[dict[str, Any]] = []
        self.failures: list[dict[str, Any]] = []
        self.pixels = PixelStats()
        self.samples: list[dict[str, Any]] = []
        self.input_hashes: dict[str, dict[str, str]] = {}
        self.counts: dict[str, float] = dict.fromkeys(COUNTS, 0)
        self.timings: dict[str, float] = {}
        self.case_index: dict[str, int] = {}
        self.prompts: set[str] = set()
        self._lock = threading.Lock()  # stages of two chunks run at once
        cache = None if ev.cache_dir is None else ResultCache(ev.cache_dir / "inpaint")
        self.mask_provider: Any = ev.mask_provider.build_declared("mask_provider").backend
        self.inps: list[InpainterSlot] = build_inpainters(
            ev.inpainters,
            cache,
            replicate=ev.replicate_seed_independent,
            batch_size=ev.inpaint_batch_size,
        )
        pred_root = None if ev.cache_dir is None else ev.cache_dir / "predictions"
        self.preds: list[PredictorSlot] = build_predictors(ev.predictors, pred_root)

    def _fail(self, stage: str, *, error: str, **where: Any) -> None:
        with self._lock:
            self.failures.append({"stage": stage, **where, "error": error})

    def _count(self, key: str, amount: float) -> None:
        with self._lock:
            self.counts[key] += amount

    def _timed(self, key: str, start: float) -> None:
        with self._lock:
            self.timings[key] = self.timings.get(key, 0.0) + time.perf_counter() - start

    # -- the run -------------------------------------------------------------------------

    def run(self) -> Any:
        """Every stage over every chunk, then metrics; returns the EvaluationResult."""
        from tqdm.auto import tqdm

        from .manifest import build_manifest
        from .result import EvaluationResult

        ev = self.ev
        start = time.perf_counter()
        for inp in self.inps:
            if inp.error is not None:
                self._fail("build", inpainter=inp.label, error=inp.error)
        for pred in self.preds:
            if pred.error is not None:
                self._fail("build", predictor=pred.label, error=pred.error)
        n = len(ev.dataset)
        per_case = sum(1 if i.deterministic else ev.variants for i in self.inps if not i.error)
        self.bar_inp = tqdm(total=n * per_case, desc="inpaint", unit="img", disable=not ev.progress)
        self.bar_pred = tqdm(desc="predict", unit="img", disable=not ev.progress)
        try:
            for chunk in self.inpainted_chunks():
                self.views(chunk)
                self.predict(chunk)
                self.rows(chunk)
                self.keep_samples(chunk)
        finally:
            self.bar_inp.close()
            self.bar_pred.close()
        self.account()
        self.timings["inpaint_and_predict_s"] = time.perf_counter() - start
        table = pd.DataFrame(self.rows_out)
        t = time.perf_counter()
        metrics, metric_errors = self.metrics(table)
        self.timings["metrics_s"] = time.perf_counter() - t
        t = time.perf_counter()
        decomposition = decomposition_table(table, aggregate_variants=ev.preset.aggregate_variants)
        self.timings["decomposition_s"] = time.perf_counter() - t
        self.timings["total_s"] = time.perf_counter() - start
        return EvaluationResult(
            table=table,
            metrics=metrics,
            metric_errors=metric_errors,
            decomposition=decomposition,
            pixels=self.pixels,
            failures=pd.DataFrame(self.failures),
            manifest=build_manifest(self, table),
            samples=self.samples,
            preset=ev.preset,
        )

    def inpainted_chunks(self) -> Iterator[Chunk]:
        """Chunks with their masks and inpainting done, one chunk ahead of the consumer.

        Stages 1-2 run in background threads while the caller works through stages 3-5
        of the previous chunk, and the next chunk's calls start while the last calls of a
        chunk are still out, so a slow backend (an API) always has its declared
        ``max_concurrency`` calls in flight (its guard keeps it at that, whatever the
        number of chunks). At most four chunks are in memory: two being inpainted, one
        waiting, one being consumed. An error in the background stages is raised here.
        """
        done = object()
        ahead: queue.Queue[Any] = queue.Queue(maxsize=1)
        stop = threading.Event()

        def hand_over(item: Any) -> bool:
            while not stop.is_set():
                try:
                    ahead.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def produce() -> None:
            try:
                with ThreadPoolExecutor(2, thread_name_prefix="radinpaint-chunk") as pool:
                    pending: deque[tuple[Chunk, Future[None]]] = deque()
                    for chunk in self.chunks():
                        pending.append((chunk, pool.submit(self.inpaint, chunk)))
                        while len(pending) >= 2 or (pending and pending[0][1].done()):
                            ready, future = pending.popleft()
                            future.result()
                            if not hand_over(ready):
                                return
                    while pending:
                        ready, future = pending.popleft()
                        future.result()
                        if not hand_over(ready):
                            return
                hand_over(done)
            except BaseException as exc:  # handed to the consumer
                hand_over(exc)

        thread = threading.Thread(target=produce, name="radinpaint-inpaint", daemon=True)
        thread.start()
        try:
            while True:
                item = ahead.get()
                if item is done:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            thread.join()

    # -- stage 1: cases and masks --------------------------------------------------------

    def chunks(self) -> Iterator[Chunk]:
        """Each chunk of cases with their masks (cases without a usable mask are reported)."""
        for rng in chunks(len(self.ev.dataset), self.ev.chunk_size):
            t = time.perf_counter()
            chunk = Chunk()
            cases = self.load(rng)
            chunk.masks = self.mask(cases)
            chunk.cases = [c for c in cases if c.id in chunk.masks]
            for case in chunk.cases:
                h = case.image.content_hash()
                chunk.original_hash[case.id] = h
                chunk.images[h] = case.image
                self.input_hashes[case.id] = {
                    "image": h,
                    "mask": chunk.masks[case.id].content_hash(),
                }
            self._timed("load_and_mask_s", t)
            yield chunk

    def load(self, rng: range) -> list[Case]:
        """The cases of ``rng``; unreadable or repeated ones are reported and skipped."""
        cases = []
        for i in rng:
            try:
                case = self.ev.dataset[i]
            except Exception as exc:
                self._fail("load", case_id=f"#{i}", error=error_text(exc))
                continue
            if case.id in self.case_index:
                self._fail(
                    "load",
                    case_id=case.id,
                    error=f"case id {case.id!r} repeats (item {i} and item "
                    f"{self.case_index[case.id]}); the repeat is skipped",
                )
                continue
            self.case_index[case.id] = i
            cases.append(case)
        return cases

    def mask(self, cases: list[Case]) -> dict[str, Mask]:
        """Each case's mask; a case whose mask fails gets error rows and is left out."""
        try:
            found: list[Any] = list(self.mask_provider.masks(cases))
        except Exception:
            found = []
            for case in cases:  # isolate the failing case(s)
                try:
                    found.append(self.mask_provider.masks([case])[0])
                except Exception as exc:
                    found.append(exc)
        out: dict[str, Mask] = {}
        for case, mask in zip(cases, found, strict=True):
            if not isinstance(mask, BaseException):
                try:
                    if not isinstance(mask, Mask):
                        raise InvalidInputError(
                            f"mask provider returned {type(mask).__name__}, not a Mask"
                        )
                    check_same_shape(case.image.shape, mask.shape, f"mask of case {case.id}")
                except InvalidInputError as exc:
                    mask = exc
            if isinstance(mask, BaseException):
                self._fail("mask", case_id=case.id, error=error_text(mask))
                self.error_rows(case, f"mask: {error_text(mask)}")
            else:
                out[case.id] = mask
        return out

    # -- stage 2: inpainting -------------------------------------------------------------

    def inpaint(self, chunk: Chunk) -> None:
        """Every inpainter on every case (and variant) of the chunk."""
        for inp in self.inps:
            if inp.error is None and inp.calls is not None:
                t = time.perf_counter()
                self.inpaint_one(inp, chunk)
                self._timed(f"inpaint[{inp.label}]_s", t)
            chunk.inpainter_errors[inp.label] = inp.error

    def inpaint_one(self, inp: InpainterSlot, chunk: Chunk) -> None:
        """One inpainter over the chunk; stops the backend when every request fails."""
        assert inp.calls is not None
        ev = self.ev
        k = 1 if inp.deterministic else ev.variants
        requests = [
            InpaintRequest(
                case.image,
                chunk.masks[case.id],
                prompt=ev.prompt,
                seed=case_seed(ev.seed, case),
                variant=v,
                case_id=case.id,
            )
            for case in chunk.cases
            for v in range(k)
        ]
        ok = 0
        for _, outcome in inp.calls.stream(requests, ev.executor):
            request = outcome.request
            key = (inp.label, str(request.case_id), request.variant)
            self.bar_inp.update(1)
            if outcome.result is None:
                error = outcome.failure.error if outcome.failure else "no result"
                chunk.outputs[key] = Output(error=error)
                self._count("inpaint_failed", 1)
                self._fail(
                    "inpaint",
                    case_id=request.case_id,
                    inpainter=inp.label,
                    variant=request.variant,
                    error=error,
                )
                continue
            ok += 1
            res = outcome.result
            self._count("inpaint_cached" if outcome.cached else "inpaint_computed", 1)
            self._count("cost_usd_total", res.cost_usd)
            if not outcome.cached:
                self._count("inpaint_seconds_spent", res.seconds)
                if inp.capabilities.ledger is None:
                    self._count("cost_usd_spent", res.cost_usd)
            if res.prompt:
                self.prompts.add(res.prompt)
            chunk.outputs[key] = Output(res, cached=outcome.cached)
        stopped = inp.calls.stopped
        if requests and (ok == 0 or stopped):
            # Every request failed, or a failure means every further call would too
            # (missing weights, no key, budget spent): stop calling it; a rerun retries.
            reason = stopped or next(
                (o.error for o in chunk.outputs.values() if o.error), "unknown"
            )
            inp.error = f"backend stopped: {reason}"
            self._fail("backend", inpainter=inp.label, error=inp.error)

    def account(self) -> None:
        """Cost and images paid from each paid backend's own ledger (billed failures too)."""
        for inp in self.inps:
            spent = inp.spent()
            if spent is None:
                continue
            self._count("images_paid", spent.images)
            self._count("cost_usd_spent", spent.usd)
            self._count("cost_usd_billed_failures", spent.failed_usd)

    # -- stage 3: views ------------------------------------------------------------------

    def views(self, chunk: Chunk) -> None:
        """Each output's decomposition view images, and its pixel statistics."""
        t = time.perf_counter()
        for case in chunk.cases:
            self.pixels.add_original(case, chunk.masks[case.id])
        by_case = {c.id: c for c in chunk.cases}
        for (label, cid, variant), out in chunk.outputs.items():
            if out.result is None:
                continue
            case = by_case[cid]
            mask = chunk.masks[cid]
            try:
                d = decompose(case.image, out.result.image, mask, views=self.ev.views)
            except Exception as exc:
                out.error = f"decompose: {error_text(exc)}"
                continue
            out.collapse = d.collapse
            for view, image in d.images.items():
                h = image.content_hash()
                chunk.images.setdefault(h, image)
                out.view_hashes[view] = h
            for view, alias in d.aliases.items():
                out.view_hashes[view] = (
                    chunk.original_hash[cid] if alias == "original" else out.view_hashes["total"]
                )
            detail = self.case_index.get(cid, 1 << 30) < self.ev.pixel_detail_cases
            try:
                self.pixels.add_output(label, variant, case, mask, out.result.image, detail=detail)
            except Exception as exc:  # pixel facts must not lose the predictions
                self._fail("pixels", case_id=cid, inpainter=label, error=error_text(exc))
        self._timed("views_and_pixels_s", t)

    # -- stage 4: predictions ------------------------------------------------------------

    def predict(self, chunk: Chunk) -> None:
        """Every distinct image of the chunk through every predictor, cache first."""
        t = time.perf_counter()
        male_of = {c.id: c.male for c in chunk.cases}
        users: dict[str, str] = {}  # image hash -> one case id using it (for its sex)
        for case in chunk.cases:
            users.setdefault(chunk.original_hash[case.id], case.id)
        for (_, cid, _), out in chunk.outputs.items():
            for h in out.view_hashes.values():
                users.setdefault(h, cid)
        for pred in self.preds:
            if pred.error is not None:
                continue
            todo: dict[PredictionKey, Radiograph] = {}
            for h, cid in users.items():
                male = male_of[cid] if pred.capabilities.needs_sex else None
                caps = pred.capabilities
                if male is None and caps.needs_sex and not caps.infers_sex:
                    chunk.prediction_errors[(pred.label, h)] = error_text(
                        MissingLabelError(
                            f"predictor {pred.label} needs the sex of case {cid}, which is unknown",
                            fix="add the sex to the labels or use a predictor that needs none",
                        )
                    )
                    continue
                if PredictionCache.key(h, male) in pred.cache:
                    self._count("predict_cached", 1)
                else:
                    todo.setdefault((h, male), chunk.images[h])
            self.predict_batches(pred, todo, chunk)
        self._timed("predict_s", t)

    def predict_batches(
        self, pred: PredictorSlot, todo: dict[PredictionKey, Radiograph], chunk: Chunk
    ) -> None:
        """Predict ``todo`` in batches; a failing batch is retried image by image."""
        keys = list(todo)
        size = self.ev.predict_batch_size or pred.capabilities.batch_size
        batches = [keys[i : i + size] for i in range(0, len(keys), size)]

        def work(batch: list[PredictionKey]) -> Any:
            male = [m for _, m in batch] if pred.capabilities.needs_sex else None
            result = pred.predict([todo[k] for k in batch], male)
            return check_predictions(pred, result, len(batch))

        workers = pred.capabilities.max_concurrency
        retry: list[list[PredictionKey]] = []
        for round_items in (batches, retry):
            for batch, outcome in self.ev.executor.map(work, round_items, workers=workers):
                if isinstance(outcome, BaseException):
                    if round_items is batches and len(batch) > 1:
                        retry.extend([k] for k in batch)  # find the failing image(s)
                        continue
                    for h, _ in batch:
                        chunk.prediction_errors[(pred.label, h)] = error_text(outcome)
                        self._fail(
                            "predict", predictor=pred.label, image=h[:12], error=error_text(outcome)
                        )
                    continue
                pred.cache.put_many(
                    [
                        (PredictionCache.key(h, m), stored_prediction(outcome, i))
                        for i, (h, m) in enumerate(batch)
                    ]
                )
                self._count("predict_computed", len(batch))
                self.bar_pred.update(len(batch))

    # -- stage 5: rows -------------------------------------------------------------------

    def lookup(
        self, pred: PredictorSlot, case: Case, h: str, chunk: Chunk
    ) -> tuple[StoredPrediction | None, str]:
        """The prediction for image ``h`` of ``case``, or why there is none."""
        err = chunk.prediction_errors.get((pred.label, h))
        if err:
            return None, err
        male = case.male if pred.capabilities.needs_sex else None
        got = pred.cache.get(PredictionCache.key(h, male))
        return got, ("" if got is not None else "prediction missing")

    def error_rows(self, case: Case, error: str) -> None:
        """Rows saying that nothing could be done for ``case``."""
        for inp in self.ev.inpainters:
            for pred in self.ev.predictors:
                self.rows_out.append(
                    base_row(case, inp.label, 0, pred.label, "total") | {"error": error}
                )

    def rows(self, chunk: Chunk) -> None:
        """The tidy table's rows for the chunk."""
        t = time.perf_counter()
        ev = self.ev
        for inp in self.inps:
            if chunk.inpainter_errors.get(inp.label) is None and inp.deterministic:
                self._count("inpaint_replicated", len(chunk.cases) * (ev.variants - 1))
        for case in chunk.cases:
            for pred in self.preds:
                if pred.error:
                    orig, orig_err = None, pred.error
                else:
                    orig, orig_err = self.lookup(pred, case, chunk.original_hash[case.id], chunk)
                for inp in self.inps:
                    for v in range(ev.variants):
                        src = 0 if inp.deterministic else v
                        out = chunk.outputs.get((inp.label, case.id, src))
                        self.row_set(case, inp, v, src, pred, out, (orig, orig_err), chunk)
        self._timed("rows_s", t)

    def row_set(
        self,
        case: Case,
        inp: InpainterSlot,
        v: int,
        src: int,
        pred: PredictorSlot,
        out: Output | None,
        original: tuple[StoredPrediction | None, str],
        chunk: Chunk,
    ) -> None:
        """One row per view for (case, inpainter, variant, predictor)."""
        orig, orig_err = original
        res = out.result if out is not None else None
        replicated = src != v
        for view in self.ev.views:
            spread = (float("nan"), float("nan"))
            row = base_row(case, inp.label, v, pred.label, view)
            stopped = chunk.inpainter_errors.get(inp.label)
            error = (stopped or "not run") if out is None else (out.error or "")
            if orig is not None:
                row["orig_pred_bone_age"] = orig.bone_age
                row["orig_pred_p_male"] = orig.p_male
            elif not error:
                error = f"original: {orig_err}"
            if not error and out is not None:
                got, err = self.lookup(pred, case, out.view_hashes[view], chunk)
                if got is None:
                    error = err
                else:
                    row["pred_bone_age"] = got.bone_age
                    row["pred_p_male"] = got.p_male
                    spread = got.spread()
            row.update(
                {
                    "backend": inp.spec.name,
                    "seed": res.seed if res else float("nan"),
                    "compositing": res.compositing if res else None,
                    "collapse": out.collapse if out is not None else "",
                    "cached": bool(out.cached) if out is not None else False,
                    "replicated": replicated,
                    "seconds": 0.0 if (res is None or replicated) else res.seconds,
                    "cost_usd": 0.0 if (res is None or replicated) else res.cost_usd,
                    "inpaint_flags": ",".join(res.flags) if res else "",
                    "member_sd_bone_age": spread[0],
                    "member_sd_p_male": spread[1],
                    "error": error or None,
                }
            )
            self.rows_out.append(row)

    def keep_samples(self, chunk: Chunk) -> None:
        """The first cases' images for the report's grid."""
        for case in chunk.cases:
            if len(self.samples) >= self.ev.n_samples:
                return
            entry: dict[str, Any] = {
                "case_id": case.id,
                "original": case.image.pixels,
                "mask": chunk.masks[case.id].array,
                "outputs": {},
            }
            for inp in self.inps:
                out = chunk.outputs.get((inp.label, case.id, 0))
                if out is not None and out.result is not None:
                    entry["outputs"][inp.label] = out.result.image.pixels
            self.samples.append(entry)

    # -- metrics -------------------------------------------------------------------------

    def metrics(self, table: pd.DataFrame) -> tuple[dict[str, Any], dict[str, str]]:
        """Every metric plugin over the error-free rows."""
        results: dict[str, Any] = {}
        errors: dict[str, str] = {}
        if table.empty:
            return results, errors
        ok = table[table["error"].isna()].reset_index(drop=True)
        for spec in self.ev.metric_specs():
            try:
                metric = spec.build_declared("metric").backend
                results[spec.label] = metric.compute(ok)
            except Exception as exc:
                errors[spec.label] = error_text(exc)
                self._fail("metric", metric=spec.label, error=error_text(exc))
        return results, errors

    def backend_records(self) -> dict[str, Any]:
        """What each backend was, for the manifest."""
        return {
            "inpainters": [inp.record() for inp in self.inps],
            "predictors": [pred.record() for pred in self.preds],
        }

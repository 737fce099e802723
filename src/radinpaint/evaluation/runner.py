"""Runs an :class:`~radinpaint.evaluation.core.Evaluation` as a chain of explicit stages.

Per chunk of cases, each stage takes and fills a typed :class:`~.chunk.Chunk`:

1. :meth:`Runner.chunks`: the cases and their artifact masks;
2. :func:`~.inpaint_stage.inpaint_chunk`: every inpainter through its
   :class:`~radinpaint.inpaint_calls.InpaintCalls` (cache first, results cached as each
   call returns, only failed requests retried);
3. :meth:`Runner.views`: each output's decomposition views and pixel statistics;
4. :func:`~.predict_stage.predict_chunk`: every distinct image through every predictor
   (prediction cache first);
5. :func:`~.rows.chunk_rows`: the tidy table's rows.

When an inpainter works elsewhere (an API, a GPU), stages 1-2 of the next chunks run ahead
in the background (:func:`~.ahead.run_ahead`) while stages 3-5 work on the previous one.
Then the metric plugins score the table and the result is assembled. Counts, failures and
timings go to a thread-safe :class:`~.tally.Tally`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pandas as pd

from ..cache import ResultCache
from ..errors import InvalidInputError, error_text
from ..records import Case, Mask, check_same_shape
from .ahead import run_ahead
from .attribution import decomposition_table, views_table
from .backends import InpainterSlot, PredictorSlot, build_inpainters, build_predictors
from .chunk import Chunk
from .core import Evaluation, chunks
from .decomposition import decompose
from .inpaint_stage import inpaint_chunk
from .pixels import PixelStats
from .predict_stage import predict_chunk
from .rows import chunk_rows, error_rows
from .tally import Tally

__all__ = ["Runner"]


class Runner:
    """One run: the built backends and what the stages accumulate; :meth:`run` runs it."""

    def __init__(self, evaluation: Evaluation) -> None:
        ev = evaluation
        self.ev = ev
        self.frame = ev.scoring_frame
        self.tally = Tally()
        self.rows: list[dict[str, Any]] = []
        self.pixels = PixelStats()
        self.samples: list[dict[str, Any]] = []
        self.input_hashes: dict[str, dict[str, str]] = {}
        self.case_index: dict[str, int] = {}
        cache = None if ev.cache_dir is None else ResultCache(ev.cache_dir / "inpaint")
        masks = ev.mask_provider.build_declared("mask_provider")
        self.mask_provider: Any = masks.backend
        self.mask_secrets = masks.capabilities.secret_options
        self.inps: list[InpainterSlot] = build_inpainters(
            ev.inpainters,
            cache,
            replicate=ev.replicate_seed_independent,
            batch_size=ev.inpaint_batch_size,
        )
        pred_root = None if ev.cache_dir is None else ev.cache_dir / "predictions"
        self.preds: list[PredictorSlot] = build_predictors(ev.predictors, pred_root)
        self.built_metrics: dict[str, Any] = {}
        self.metric_build_errors: dict[str, str] = {}
        self.image_metrics: dict[str, Any] = {}

    # -- the run -------------------------------------------------------------------------

    def run(self) -> Any:
        """Every stage over every chunk, then metrics; returns the EvaluationResult."""
        from .manifest import build_manifest
        from .result import EvaluationResult

        ev, tally = self.ev, self.tally
        start = time.perf_counter()
        for inp in self.inps:
            if inp.error is not None:
                tally.fail("build", inpainter=inp.label, error=inp.error)
        for pred in self.preds:
            if pred.error is not None:
                tally.fail("build", predictor=pred.label, error=pred.error)
        self.build_metrics()
        per_case = sum(1 if i.deterministic else ev.variants for i in self.inps if not i.error)
        tally.open_progress(len(ev.dataset) * per_case, enabled=ev.progress)
        try:
            chunks_ready = run_ahead(
                self.chunks(), self.inpaint, depth=self.look_ahead(), on_stop=self.cancel
            )
            for chunk in chunks_ready:
                self.rows += chunk.error_rows
                self.views(chunk)
                self.observe(chunk)
                predict_chunk(chunk, self.preds, ev.executor, ev.predict_batch_size, tally)
                t = time.perf_counter()
                self.rows += chunk_rows(
                    chunk, self.inps, self.preds, ev.views, ev.variants, tally=tally
                )
                self.replicated(chunk)
                self.keep_samples(chunk)
                tally.timed("rows_s", t)
        finally:
            tally.close_progress()
        self.account()
        tally.timings["inpaint_and_predict_s"] = time.perf_counter() - start
        table = pd.DataFrame(self.rows)
        t = time.perf_counter()
        metrics, metric_errors = self.metrics(table)
        tally.timings["metrics_s"] = time.perf_counter() - t
        t = time.perf_counter()
        decomposition = decomposition_table(
            table,
            aggregate_variants=ev.preset.aggregate_variants,
            n_resamples=ev.preset.n_resamples,
            seed=ev.seed,
        )
        views = views_table(table, aggregate_variants=ev.preset.aggregate_variants)
        tally.timings["decomposition_s"] = time.perf_counter() - t
        tally.timings["total_s"] = time.perf_counter() - start
        return EvaluationResult(
            table=table,
            metrics=metrics,
            metric_errors=metric_errors,
            decomposition=decomposition,
            views=views,
            pixels=self.pixels,
            failures=pd.DataFrame(tally.failures),
            manifest=build_manifest(self, table),
            samples=self.samples,
            preset=ev.preset,
        )

    def look_ahead(self) -> int:
        """How many chunks to inpaint ahead of the predictors.

        Two when an inpainter works elsewhere (declared ``device`` ``"api"``, ``"cuda..."``
        or ``"mps"``), so that its calls go on while this machine's CPU predicts; none when
        every inpainter runs on the CPU (or declares ``"auto"``), which the predictors need
        too: overlapping them only adds contention.
        """
        elsewhere = any(
            i.error is None and i.capabilities.device.startswith(("api", "cuda", "mps"))
            for i in self.inps
        )
        return 2 if elsewhere else 0

    # -- stage 1: cases and masks --------------------------------------------------------

    def chunks(self) -> Iterator[Chunk]:
        """Each chunk of cases with their masks (cases without a usable mask are reported)."""
        for rng in chunks(len(self.ev.dataset), self.ev.chunk_size):
            t = time.perf_counter()
            chunk = Chunk()
            cases = self.load(rng)
            chunk.masks = self.mask(cases, chunk)
            chunk.cases = [c for c in cases if c.id in chunk.masks]
            for case in chunk.cases:
                h = case.image.content_hash()
                chunk.original_hash[case.id] = h
                chunk.images[h] = case.image
                self.input_hashes[case.id] = {
                    "image": h,
                    "mask": chunk.masks[case.id].content_hash(),
                }
            self.tally.timed("load_and_mask_s", t)
            yield chunk

    def load(self, rng: range) -> list[Case]:
        """The cases of ``rng``; unreadable or repeated ones are reported and skipped."""
        cases = []
        for i in rng:
            try:
                case = self.ev.dataset[i]
            except Exception as exc:
                self.tally.fail("load", case_id=f"#{i}", error=error_text(exc))
                continue
            if case.id in self.case_index:
                self.tally.fail(
                    "load",
                    case_id=case.id,
                    error=f"case id {case.id!r} repeats (item {i} and item "
                    f"{self.case_index[case.id]}); the repeat is skipped",
                )
                continue
            self.case_index[case.id] = i
            cases.append(case)
        return cases

    def mask(self, cases: list[Case], chunk: Chunk) -> dict[str, Mask]:
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
                self.tally.fail("mask", case_id=case.id, error=error_text(mask))
                chunk.error_rows += error_rows(
                    case,
                    [s.label for s in self.ev.inpainters],
                    [s.label for s in self.ev.predictors],
                    f"mask: {error_text(mask)}",
                )
            else:
                out[case.id] = mask
        return out

    # -- stage 2: inpainting -------------------------------------------------------------

    def inpaint(self, chunk: Chunk) -> None:
        """Every inpainter over the chunk (see :func:`~.inpaint_stage.inpaint_chunk`)."""
        ev = self.ev
        inpaint_chunk(
            chunk,
            self.inps,
            variants=ev.variants,
            seed=ev.seed,
            prompt=ev.prompt,
            executor=ev.executor,
            tally=self.tally,
        )

    def cancel(self) -> None:
        """Send no further inpainting calls (the run is stopping early: Ctrl-C, an error)."""
        for inp in self.inps:
            if inp.calls is not None:
                inp.calls.cancel()

    def account(self) -> None:
        """Cost and images paid from each paid backend's own ledger (billed failures too)."""
        for inp in self.inps:
            spent = inp.spent()
            if spent is None:
                continue
            self.tally.count("images_paid", spent.images)
            self.tally.count("cost_usd_spent", spent.usd)
            self.tally.count("cost_usd_billed_failures", spent.failed_usd)

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
                d = decompose(case.image, out.result, mask, views=self.ev.views, frame=self.frame)
            except Exception as exc:
                out.error = f"decompose: {error_text(exc)}"
                self.tally.fail(
                    "decompose", case_id=cid, inpainter=label, variant=variant, error=out.error
                )
                continue
            out.collapse = d.collapse
            for view, image in d.images.items():
                h = image.content_hash()
                chunk.images.setdefault(h, image)
                out.view_hashes[view] = h
            for view, alias in d.aliases.items():
                out.view_hashes[view] = (
                    chunk.original_hash[cid] if alias == "original" else out.view_hashes[alias]
                )
            out.frame = d.frame
            detail = self.case_index.get(cid, 1 << 30) < self.ev.pixel_detail_cases
            try:
                self.pixels.add_output(label, variant, case, mask, out.result.image, detail=detail)
            except Exception as exc:  # pixel facts must not lose the predictions
                self.tally.fail("pixels", case_id=cid, inpainter=label, error=error_text(exc))
        self.tally.timed("views_and_pixels_s", t)

    # -- after the rows ------------------------------------------------------------------

    def replicated(self, chunk: Chunk) -> None:
        """Count the outputs a deterministic inpainter reused for its other variants (only
        variant 0 outputs that exist: a failed one is reused as a failure, not counted)."""
        for inp in self.inps:
            if not inp.deterministic:
                continue
            reused = sum(
                1
                for case in chunk.cases
                if (out := chunk.outputs.get((inp.label, case.id, 0))) is not None
                and out.result is not None
            )
            self.tally.count("inpaint_replicated", reused * (self.ev.variants - 1))

    def keep_samples(self, chunk: Chunk) -> None:
        """Candidate cases for the report's image grid (original, mask, variant-0 outputs).

        At most :attr:`~.core.Evaluation.n_samples` are held (images larger than 512 pixels
        are kept shrunk to 512, for display). Each chunk's cases join the candidates, which
        are then cut back, round by round, to those whose variant-0 bone-age shift (total
        view, mean over predictors) is the largest and the closest to the median of every
        case so far, for each inpainter: the edits first (inpainters that are not the
        ``identity``, ``blur`` and ``resample`` controls), each by its mean absolute shift,
        largest first. The report picks the cases it shows among them.
        """
        import math

        import numpy as np

        limit = self.ev.n_samples
        if limit <= 0:
            return

        def shrunk(a: Any) -> Any:
            a = np.asarray(a)
            side = max(a.shape[:2]) if a.ndim >= 2 else 0
            if side <= 512:
                return a
            import cv2

            h, w = (max(1, round(n * 512 / side)) for n in a.shape[:2])
            if a.dtype == bool:
                return cv2.resize(a.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA) > 0.5
            return cv2.resize(a.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)

        for case in chunk.cases:
            entry: dict[str, Any] = {
                "case_id": case.id,
                "original": shrunk(case.image.pixels),
                "mask": shrunk(chunk.masks[case.id].array),
                "outputs": {},
            }
            for inp in self.inps:
                out = chunk.outputs.get((inp.label, case.id, 0))
                if out is not None and out.result is not None:
                    entry["outputs"][inp.label] = shrunk(out.result.image.pixels)
            self.samples.append(entry)
        # every case's shift so far, per inpainter (mean over predictors): this chunk's rows
        # are the last ones of the table
        if not hasattr(self, "_sample_shifts"):
            self._sample_shifts: dict[str, dict[str, float]] = {}
        shifts = self._sample_shifts
        ids = {case.id for case in chunk.cases}
        sums: dict[tuple[str, str], list[float]] = {}
        for row in reversed(self.rows):
            if row.get("case_id") not in ids:
                break
            error = row.get("error")
            if row.get("view") != "total" or row.get("variant") != 0 or isinstance(error, str):
                continue
            a, b = row.get("pred_bone_age"), row.get("orig_pred_bone_age")
            if a is None or b is None or math.isnan(a) or math.isnan(b):
                continue
            sums.setdefault((str(row["inpainter"]), str(row["case_id"])), []).append(a - b)
        for (label, cid), values in sums.items():
            shifts.setdefault(label, {})[cid] = sum(values) / len(values)
        if len(self.samples) <= limit:
            return
        controls = {"identity", "blur", "resample"}
        names = {inp.label: inp.spec.name for inp in self.inps}

        def priority(label: str) -> tuple[bool, float]:
            values = list(shifts[label].values())
            return names.get(label) in controls, -sum(abs(v) for v in values) / len(values)

        held = {str(e["case_id"]): e for e in self.samples}
        rankings = []
        for label in sorted(shifts, key=priority):
            mine = {cid: shifts[label][cid] for cid in held if cid in shifts[label]}
            median = float(np.median(list(shifts[label].values())))
            rankings.append(sorted(mine, key=lambda c: -abs(mine[c])))
            rankings.append(sorted(mine, key=lambda c: abs(mine[c] - median)))
        kept: list[str] = []
        depth = 0
        while len(kept) < limit and any(depth < len(r) for r in rankings):
            for ranking in rankings:
                if depth < len(ranking) and ranking[depth] not in kept and len(kept) < limit:
                    kept.append(ranking[depth])
            depth += 1
        for cid in held:  # cases without a shift (failed outputs), if room is left
            if len(kept) < limit and cid not in kept:
                kept.append(cid)
        order = {cid: i for i, cid in enumerate(held)}
        self.samples[:] = [held[c] for c in sorted(kept, key=order.__getitem__)]

    # -- metrics -------------------------------------------------------------------------

    def build_metrics(self) -> None:
        """Build every metric before the run; those declaring ``reads_images`` are handed
        each chunk's images (:meth:`observe`), those declaring ``reads_predictors`` the
        built predictors (label -> backend; those that failed to build left out). A metric
        that cannot be built is reported with the others' results."""
        for spec in self.ev.metric_specs():
            try:
                built = spec.build_declared("metric")
                if built.capabilities.reads_predictors:
                    built.backend.use_predictors(
                        {p.label: p.backend for p in self.preds if p.error is None}
                    )
            except Exception as exc:
                self.metric_build_errors[spec.label] = error_text(exc)
                continue
            self.built_metrics[spec.label] = built.backend
            if built.capabilities.reads_images:
                self.image_metrics[spec.label] = built.backend

    def observe(self, chunk: Chunk) -> None:
        """Hand the chunk's originals (with their case and mask) and every output's scored
        (``total``) image (with the case's mask) to the metrics that read images; one that
        fails is reported and not called again."""
        if not self.image_metrics:
            return
        from ..protocols import ScoredImage

        t = time.perf_counter()
        originals = chunk.original_hash
        images = [
            ScoredImage(
                case.id,
                "original",
                "original",
                0,
                case.image,
                originals[case.id],
                case=case,
                mask=chunk.masks[case.id],
            )
            for case in chunk.cases
        ]
        names = {inp.label: inp.spec.name for inp in self.inps}
        for (label, cid, variant), out in chunk.outputs.items():
            total = out.view_hashes.get("total")
            if out.result is None or out.error is not None or total is None:
                continue
            image = chunk.images[total]
            images.append(
                ScoredImage(cid, label, names[label], variant, image, total, mask=chunk.masks[cid])
            )
        for label, metric in list(self.image_metrics.items()):
            try:
                metric.observe(images)
            except Exception as exc:
                self.metric_build_errors[label] = f"observe: {error_text(exc)}"
                del self.image_metrics[label]
        self.tally.timed("metric_images_s", t)

    def metrics(self, table: pd.DataFrame) -> tuple[dict[str, Any], dict[str, str]]:
        """Every metric plugin over the error-free rows."""
        results: dict[str, Any] = {}
        errors: dict[str, str] = {}
        if table.empty:
            return results, errors
        ok = table[table["error"].isna()].reset_index(drop=True)
        for spec in self.ev.metric_specs():
            failed = self.metric_build_errors.get(spec.label)
            if failed is not None:
                errors[spec.label] = failed
                self.tally.fail("metric", metric=spec.label, error=failed)
                continue
            try:
                metric = self.built_metrics[spec.label]
                results[spec.label] = metric.compute(ok)
            except Exception as exc:
                errors[spec.label] = error_text(exc)
                self.tally.fail("metric", metric=spec.label, error=error_text(exc))
        return results, errors

    def backend_records(self) -> dict[str, Any]:
        """What each backend was, for the manifest."""
        return {
            "inpainters": [inp.record() for inp in self.inps],
            "predictors": [pred.record() for pred in self.preds],
        }

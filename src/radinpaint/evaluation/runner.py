"""Runs an :class:`~radinpaint.evaluation.core.Evaluation` (see that module for the steps)."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np
import pandas as pd

from ..cache import ResultCache, backend_options, inpaint_cached
from ..errors import InvalidInputError, MissingLabelError, RadinpaintError
from ..records import (
    Case,
    InpaintRequest,
    InpaintResult,
    Mask,
    Predictions,
    Radiograph,
    check_same_shape,
)
from .core import Evaluation, case_seed, chunks
from .decomposition import decompose, decomposition_table
from .pixels import PixelStats
from .predcache import PredictionCache, StoredPrediction, predictor_fingerprint
from .specs import BackendSpec

__all__ = ["Runner", "is_seed_independent"]


def error_text(exc: BaseException) -> str:
    """A one-line reason for a failure (the class name added for unexpected errors)."""
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, RadinpaintError) else f"{type(exc).__name__}: {text}"


class _Recording:
    """Forwards to an inpainter and remembers which requests reached it (cache misses)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.computed: set[int] = set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def inpaint(self, requests: Sequence[InpaintRequest]) -> list[InpaintResult]:
        self.computed.update(id(r) for r in requests)
        return self._inner.inpaint(requests)


def is_seed_independent(backend: Any) -> bool:
    """Whether ``backend`` gives the same output for every seed.

    A backend says so with a ``deterministic = True`` attribute (the built-in controls,
    classical backends and ``gan`` do); without it, every variant is computed.
    """
    return bool(getattr(backend, "deterministic", False))


@attrs.define
class _Inp:
    spec: BackendSpec
    backend: Any = None
    error: str | None = None
    replicate: bool = True

    @property
    def deterministic(self) -> bool:
        return self.replicate and is_seed_independent(self.backend)


@attrs.define
class _Pred:
    spec: BackendSpec
    backend: Any = None
    error: str | None = None
    cache: PredictionCache = attrs.field(factory=PredictionCache)
    fingerprint: str = ""

    @property
    def needs_sex(self) -> bool:
        return bool(
            getattr(self.backend, "needs_sex", False) or getattr(self.backend, "uses_sex", False)
        )

    @property
    def infers_sex(self) -> bool:
        """Whether the predictor fills in an unknown sex from its own sex prediction."""
        return bool(getattr(self.backend, "sex_from_prediction", False))


@attrs.define
class _Output:
    result: InpaintResult | None = None
    error: str | None = None
    cached: bool = False
    view_hashes: dict[str, str] = attrs.field(factory=dict)
    collapse: str = ""


def _stored(preds: Predictions, i: int) -> StoredPrediction:
    def at(arr: np.ndarray | None) -> float:
        return math.nan if arr is None else float(arr[i])

    def row(arr: np.ndarray | None) -> tuple[float, ...]:
        return () if arr is None else tuple(float(v) for v in arr[i])

    return StoredPrediction(
        at(preds.bone_age_months),
        at(preds.p_male),
        row(preds.member_bone_age),
        row(preds.member_p_male),
    )


class Runner:
    """Carries one run's state; :meth:`run` returns the result."""

    def __init__(self, evaluation: Evaluation) -> None:
        self.ev = evaluation
        self.rows: list[dict[str, Any]] = []
        self.failures: list[dict[str, Any]] = []
        self.pixels = PixelStats()
        self.samples: list[dict[str, Any]] = []
        self.input_hashes: dict[str, dict[str, str]] = {}
        self.counts: dict[str, float] = dict.fromkeys(
            (
                "inpaint_computed",
                "inpaint_cached",
                "inpaint_replicated",
                "predict_computed",
                "predict_cached",
                "cost_usd_spent",
                "cost_usd_total",
                "inpaint_seconds_spent",
            ),
            0,
        )
        self.timings: dict[str, float] = {}
        self.case_index: dict[str, int] = {}
        self.prompts: set[str] = set()

    # -- setup ---------------------------------------------------------------------------

    def _build(self) -> None:
        ev = self.ev
        self.mask_provider = ev.mask_provider.build("mask_provider")
        self.inps = []
        for spec in ev.inpainters:
            try:
                self.inps.append(
                    _Inp(spec, spec.build("inpainter"), replicate=ev.replicate_seed_independent)
                )
            except Exception as exc:
                self.inps.append(_Inp(spec, error=error_text(exc)))
                self._fail("build", inpainter=spec.label, error=error_text(exc))
        self.preds = []
        pred_root = None if ev.cache_dir is None else ev.cache_dir / "predictions"
        for spec in ev.predictors:
            try:
                backend = spec.build("predictor")
                fp = predictor_fingerprint(spec.name, spec.options, backend)
                path = None if pred_root is None else pred_root / f"{fp}.jsonl"
                self.preds.append(_Pred(spec, backend, None, PredictionCache(path), fp))
            except Exception as exc:
                self.preds.append(_Pred(spec, error=error_text(exc)))
                self._fail("build", predictor=spec.label, error=error_text(exc))
        self.cache = None if ev.cache_dir is None else ResultCache(ev.cache_dir / "inpaint")

    def _fail(self, stage: str, *, error: str, **where: Any) -> None:
        self.failures.append({"stage": stage, **where, "error": error})

    # -- the run -------------------------------------------------------------------------

    def run(self) -> Any:
        from tqdm.auto import tqdm

        from .result import EvaluationResult

        ev = self.ev
        start = time.perf_counter()
        self._build()
        n = len(ev.dataset)
        runs_per_case = sum(
            1 if i.deterministic else ev.variants for i in self.inps if i.error is None
        )
        self.bar_inp = tqdm(
            total=n * runs_per_case, desc="inpaint", unit="img", disable=not ev.progress
        )
        self.bar_pred = tqdm(desc="predict", unit="img", disable=not ev.progress)
        try:
            for rng in chunks(n, ev.chunk_size):
                self._chunk(rng)
        finally:
            self.bar_inp.close()
            self.bar_pred.close()
        self.timings["inpaint_and_predict_s"] = time.perf_counter() - start
        table = pd.DataFrame(self.rows)
        t = time.perf_counter()
        metrics, metric_errors = self._metrics(table)
        self.timings["metrics_s"] = time.perf_counter() - t
        t = time.perf_counter()
        decomposition = decomposition_table(table, aggregate_variants=ev.preset.aggregate_variants)
        self.timings["decomposition_s"] = time.perf_counter() - t
        self.timings["total_s"] = time.perf_counter() - start
        from .manifest import build_manifest

        manifest = build_manifest(self, table)
        return EvaluationResult(
            table=table,
            metrics=metrics,
            metric_errors=metric_errors,
            decomposition=decomposition,
            pixels=self.pixels,
            failures=pd.DataFrame(self.failures),
            manifest=manifest,
            samples=self.samples,
            preset=ev.preset,
        )

    def _load(self, rng: range) -> list[Case]:
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
                    error=f"case id {case.id!r} repeats (item "
                    f"{i} and item {self.case_index[case.id]}); the repeat is skipped",
                )
                continue
            self.case_index[case.id] = i
            cases.append(case)
        return cases

    def _masks(self, cases: list[Case]) -> dict[str, Mask]:
        try:
            found = list(self.mask_provider.masks(cases))
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
                self._error_rows(case, f"mask: {error_text(mask)}")
            else:
                out[case.id] = mask
        return out

    def _timed(self, key: str, start: float) -> None:
        self.timings[key] = self.timings.get(key, 0.0) + time.perf_counter() - start

    def _chunk(self, rng: range) -> None:
        t = time.perf_counter()
        cases = self._load(rng)
        masks = self._masks(cases)
        cases = [c for c in cases if c.id in masks]
        for case in cases:
            self.input_hashes[case.id] = {
                "image": case.image.content_hash(),
                "mask": masks[case.id].content_hash(),
            }
            self.pixels.add_original(case, masks[case.id])
        self._timed("load_and_mask_s", t)
        outputs: dict[tuple[str, str, int], _Output] = {}
        for inp in self.inps:
            if inp.error is None:
                t = time.perf_counter()
                outputs.update(self._inpaint(inp, cases, masks))
                self._timed(f"inpaint[{inp.spec.label}]_s", t)
        t = time.perf_counter()
        self._decompose(cases, masks, outputs)
        self._timed("views_and_pixels_s", t)
        t = time.perf_counter()
        self._predict(cases, outputs)
        self._timed("predict_s", t)
        t = time.perf_counter()
        self._rows(cases, outputs)
        self._keep_samples(rng, cases, masks, outputs)
        self._timed("rows_s", t)

    # -- inpainting ----------------------------------------------------------------------

    def _batch_size(self, inp: _Inp) -> int:
        if self.ev.inpaint_batch_size is not None:
            return max(1, self.ev.inpaint_batch_size)
        return max(1, int(getattr(inp.backend, "batch_size", 8) or 8))

    def _inpaint(
        self, inp: _Inp, cases: list[Case], masks: dict[str, Mask]
    ) -> dict[tuple[str, str, int], _Output]:
        ev = self.ev
        k = 1 if inp.deterministic else ev.variants
        size = self._batch_size(inp)
        batches: list[list[InpaintRequest]] = []
        current: list[InpaintRequest] = []
        for case in cases:
            group = [
                InpaintRequest(
                    case.image,
                    masks[case.id],
                    prompt=ev.prompt,
                    seed=case_seed(ev.seed, case),
                    variant=v,
                    case_id=case.id,
                )
                for v in range(k)
            ]
            if current and len(current) + len(group) > size:
                batches.append(current)
                current = []
            current.extend(group)
        if current:
            batches.append(current)
        backend, cache = inp.backend, self.cache

        def work(batch: list[InpaintRequest]) -> tuple[list[InpaintResult], set[int]]:
            proxy = _Recording(backend)
            return inpaint_cached(proxy, batch, cache), proxy.computed

        out: dict[tuple[str, str, int], _Output] = {}
        workers = getattr(backend, "max_concurrency", None)
        retry: list[list[InpaintRequest]] = []
        for batch, outcome in ev.executor.map(work, batches, workers=workers):
            if isinstance(outcome, BaseException) and len(batch) > 1:
                retry.extend([r] for r in batch)  # find which request fails
                continue
            self._take(inp, batch, outcome, out)
        for batch, outcome in ev.executor.map(work, retry, workers=workers):
            self._take(inp, batch, outcome, out)
        if out and all(o.error for o in out.values()):
            # Every request failed: the backend cannot run here (missing weights, no key,
            # service down). Stop calling it; a rerun retries.
            reason = next(iter(out.values())).error
            inp.error = f"backend stopped after all {len(out)} requests of a chunk failed: {reason}"
            self._fail("backend", inpainter=inp.spec.label, error=inp.error)
        return out

    def _take(
        self,
        inp: _Inp,
        batch: list[InpaintRequest],
        outcome: Any,
        out: dict[tuple[str, str, int], _Output],
    ) -> None:
        self.bar_inp.update(len(batch))
        label = inp.spec.label
        if isinstance(outcome, BaseException):
            text = error_text(outcome)
            for r in batch:
                out[(label, str(r.case_id), r.variant)] = _Output(error=text)
                self._fail(
                    "inpaint", case_id=r.case_id, inpainter=label, variant=r.variant, error=text
                )
            return
        results, computed = outcome
        for r, res in zip(batch, results, strict=True):
            cached = id(r) not in computed
            self.counts["inpaint_cached" if cached else "inpaint_computed"] += 1
            self.counts["cost_usd_total"] += res.cost_usd
            if not cached:
                self.counts["cost_usd_spent"] += res.cost_usd
                self.counts["inpaint_seconds_spent"] += res.seconds
            if res.prompt:
                self.prompts.add(res.prompt)
            out[(label, str(r.case_id), r.variant)] = _Output(res, cached=cached)

    # -- views and predictions -----------------------------------------------------------

    def _decompose(
        self,
        cases: list[Case],
        masks: dict[str, Mask],
        outputs: dict[tuple[str, str, int], _Output],
    ) -> None:
        self.images: dict[str, Radiograph] = {}
        self.orig_hash: dict[str, str] = {}
        for case in cases:
            h = self.input_hashes[case.id]["image"]
            self.orig_hash[case.id] = h
            self.images[h] = case.image
        by_case = {c.id: c for c in cases}
        for (label, cid, variant), out in outputs.items():
            if out.result is None:
                continue
            case = by_case[cid]
            try:
                d = decompose(case.image, out.result.image, masks[cid], views=self.ev.views)
            except Exception as exc:
                out.error = f"decompose: {error_text(exc)}"
                continue
            out.collapse = d.collapse
            for view, image in d.images.items():
                h = image.content_hash()
                self.images.setdefault(h, image)
                out.view_hashes[view] = h
            for view, alias in d.aliases.items():
                out.view_hashes[view] = (
                    self.orig_hash[cid] if alias == "original" else out.view_hashes["total"]
                )
            detail = self.case_index.get(cid, 1 << 30) < self.ev.pixel_detail_cases
            try:
                self.pixels.add_output(
                    label, variant, case, masks[cid], out.result.image, detail=detail
                )
            except Exception as exc:  # pixel facts must not lose the predictions
                self._fail("pixels", case_id=cid, inpainter=label, error=error_text(exc))

    def _predict(self, cases: list[Case], outputs: dict[tuple[str, str, int], _Output]) -> None:
        male_of = {c.id: c.male for c in cases}
        needed: dict[str, set[str]] = {}  # image hash -> case ids using it
        for case in cases:
            needed.setdefault(self.orig_hash[case.id], set()).add(case.id)
        for (_, cid, _), out in outputs.items():
            for h in out.view_hashes.values():
                needed.setdefault(h, set()).add(cid)
        self.pred_errors: dict[tuple[str, str], str] = {}
        for pred in self.preds:
            if pred.error is not None:
                continue
            todo: dict[str, tuple[Radiograph, bool | None]] = {}
            for h, cids in needed.items():
                male = male_of[next(iter(cids))] if pred.needs_sex else None
                if pred.needs_sex and male is None and not pred.infers_sex:
                    self.pred_errors[(pred.spec.label, h)] = error_text(
                        MissingLabelError(
                            f"predictor {pred.spec.label} needs the sex of case "
                            f"{sorted(cids)[0]}, which is unknown",
                            fix="add the sex to the labels or use a predictor that needs none",
                        )
                    )
                    continue
                key = PredictionCache.key(h, male)
                if key in pred.cache:
                    self.counts["predict_cached"] += 1
                elif key not in todo:
                    todo[key] = (self.images[h], male)
            self._run_predictions(pred, todo)

    def _run_predictions(
        self, pred: _Pred, todo: dict[str, tuple[Radiograph, bool | None]]
    ) -> None:
        keys = list(todo)
        size = self.ev.predict_batch_size or int(getattr(pred.backend, "batch_size", 32) or 32)
        batches = [keys[i : i + size] for i in range(0, len(keys), size)]
        backend = pred.backend

        def work(batch: list[str]) -> Predictions:
            images = [todo[k][0] for k in batch]
            male = [todo[k][1] for k in batch] if pred.needs_sex else None
            result = (
                backend.predict(images, male=male)
                if male is not None
                else (backend.predict(images))
            )
            if len(result) != len(batch):
                raise RadinpaintError(
                    f"predictor {pred.spec.label} returned {len(result)} predictions for "
                    f"{len(batch)} images"
                )
            return result

        workers = getattr(backend, "max_concurrency", 1)
        retry: list[list[str]] = []
        for rounds in (batches, None):
            items = rounds if rounds is not None else retry
            for batch, outcome in self.ev.executor.map(work, items, workers=workers):
                if isinstance(outcome, BaseException):
                    if rounds is not None and len(batch) > 1:
                        retry.extend([k] for k in batch)
                        continue
                    for k in batch:
                        h = k.split(":")[0]
                        self.pred_errors[(pred.spec.label, h)] = error_text(outcome)
                        self._fail(
                            "predict",
                            predictor=pred.spec.label,
                            image=h[:12],
                            error=error_text(outcome),
                        )
                    continue
                pred.cache.put_many([(k, _stored(outcome, i)) for i, k in enumerate(batch)])
                self.counts["predict_computed"] += len(batch)
                self.bar_pred.update(len(batch))

    # -- rows ----------------------------------------------------------------------------

    def _lookup(self, pred: _Pred, case: Case, h: str) -> tuple[StoredPrediction | None, str]:
        err = self.pred_errors.get((pred.spec.label, h))
        if err:
            return None, err
        male = case.male if pred.needs_sex else None
        got = pred.cache.get(PredictionCache.key(h, male))
        return got, ("" if got is not None else "prediction missing")

    def _error_rows(self, case: Case, error: str) -> None:
        for inp in self.ev.inpainters:
            for pred in self.ev.predictors:
                self.rows.append(
                    self._base(case, inp.label, 0, pred.label, "total") | {"error": error}
                )

    def _base(self, case: Case, label: str, variant: int, plabel: str, view: str) -> dict:
        return {
            "case_id": case.id,
            "inpainter": label,
            "variant": variant,
            "predictor": plabel,
            "view": view,
            "true_bone_age": math.nan if case.bone_age_months is None else case.bone_age_months,
            "true_male": math.nan if case.male is None else float(case.male),
            "pred_bone_age": math.nan,
            "pred_p_male": math.nan,
            "orig_pred_bone_age": math.nan,
            "orig_pred_p_male": math.nan,
        }

    def _rows(self, cases: list[Case], outputs: dict[tuple[str, str, int], _Output]) -> None:
        ev = self.ev
        for inp in self.inps:
            if inp.error is None and inp.deterministic:
                self.counts["inpaint_replicated"] += len(cases) * (ev.variants - 1)
        for case in cases:
            for pred in self.preds:
                orig, orig_err = (
                    (None, pred.error or "")
                    if pred.error
                    else self._lookup(pred, case, self.orig_hash[case.id])
                )
                for inp in self.inps:
                    for v in range(ev.variants):
                        src = 0 if inp.deterministic else v
                        out = outputs.get((inp.spec.label, case.id, src))
                        self._row_set(case, inp, v, src, pred, out, orig, orig_err)

    def _row_set(
        self,
        case: Case,
        inp: _Inp,
        v: int,
        src: int,
        pred: _Pred,
        out: _Output | None,
        orig: StoredPrediction | None,
        orig_err: str,
    ) -> None:
        res = out.result if out is not None else None
        replicated = src != v
        for view in self.ev.views:
            spread = (math.nan, math.nan)
            row = self._base(case, inp.spec.label, v, pred.spec.label, view)
            error = inp.error or (out.error if out is not None else "not run") or ""
            if orig is not None:
                row["orig_pred_bone_age"] = orig.bone_age
                row["orig_pred_p_male"] = orig.p_male
            elif not error:
                error = f"original: {orig_err}"
            if not error and out is not None:
                got, err = self._lookup(pred, case, out.view_hashes[view])
                if got is None:
                    error = err
                else:
                    row["pred_bone_age"] = got.bone_age
                    row["pred_p_male"] = got.p_male
                    spread = got.spread()
            row.update(
                {
                    "backend": inp.spec.name,
                    "seed": res.seed if res else math.nan,
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
            self.rows.append(row)

    def _keep_samples(
        self,
        rng: range,
        cases: list[Case],
        masks: dict[str, Mask],
        outputs: dict[tuple[str, str, int], _Output],
    ) -> None:
        for case in cases:
            if len(self.samples) >= self.ev.n_samples:
                return
            entry: dict[str, Any] = {
                "case_id": case.id,
                "original": case.image.pixels,
                "mask": masks[case.id].array,
                "outputs": {},
            }
            for inp in self.inps:
                out = outputs.get((inp.spec.label, case.id, 0))
                if out is not None and out.result is not None:
                    entry["outputs"][inp.spec.label] = out.result.image.pixels
            self.samples.append(entry)

    # -- metrics -------------------------------------------------------------------------

    def _metrics(self, table: pd.DataFrame) -> tuple[dict[str, Any], dict[str, str]]:
        results: dict[str, Any] = {}
        errors: dict[str, str] = {}
        if table.empty:
            return results, errors
        ok = table[table["error"].isna()].reset_index(drop=True)
        for spec in self.ev.metric_specs():
            try:
                metric = spec.build("metric")
                results[spec.label] = metric.compute(ok)
            except Exception as exc:
                errors[spec.label] = error_text(exc)
                self._fail("metric", metric=spec.label, error=error_text(exc))
        return results, errors

    def backend_records(self) -> dict[str, Any]:
        """What each backend was, for the manifest."""
        out: dict[str, Any] = {"inpainters": [], "predictors": []}
        for inp in self.inps:
            rec = inp.spec.to_dict()
            if inp.backend is not None:
                try:
                    rec["recorded_options"] = backend_options(inp.backend)
                except Exception as exc:
                    rec["recorded_options_error"] = error_text(exc)
                rec["deterministic"] = inp.deterministic
            rec["error"] = inp.error
            out["inpainters"].append(rec)
        for pred in self.preds:
            rec = pred.spec.to_dict()
            rec["fingerprint"] = pred.fingerprint
            rec["error"] = pred.error
            out["predictors"].append(rec)
        return out

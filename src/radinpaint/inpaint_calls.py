"""Send a backend's requests call by call, through the result cache, never paying twice.

:class:`InpaintCalls` is the one path every entry point uses (``Evaluation``, ``radinpaint
run``/``bench``/``inpaint``, :func:`radinpaint.cache.inpaint_cached`):

1. every request is looked up in the :class:`~radinpaint.cache.ResultCache`; identical
   requests are computed once;
2. the misses are grouped into calls of the backend's declared ``batch_size``, the variants
   of a case staying together (the study's ``n=3`` stays three images per API call);
3. calls run through an executor, at most ``max_concurrency`` at once on the backend (a
   backend that declares 1 is never entered from two threads);
4. as each call returns, its successful results are written to the cache at once, whatever
   happens to the other requests of the call or to other calls: a kill costs at most the
   calls in flight;
5. requests that failed (and only those) are sent again once, still grouped by case and
   one case per call (so a case that fails a whole call cannot fail its neighbours again);
   a failure marked ``fatal`` (budget spent, model gone, no key) stops further calls.

The backend's answer is read per request: an :class:`~radinpaint.records.InpaintResult` or
an :class:`~radinpaint.records.InpaintFailure`; an exception from ``inpaint`` fails every
request of that call.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import attrs

from .capabilities import Capabilities
from .errors import BackendError, InvalidInputError, error_text, is_fatal
from .records import InpaintFailure, InpaintRequest, InpaintResult
from .scrub import scrub_options

if TYPE_CHECKING:
    from .cache import ResultCache
    from .evaluation.executor import Executor

__all__ = [
    "DRY_RUN_FLAG",
    "CallTask",
    "InpaintCalls",
    "Outcome",
    "error_text",
    "group_calls",
    "is_dry_run",
    "is_fatal",
]

DRY_RUN_FLAG = "dry-run"
"""The flag of a result a backend returned without computing it (``dry_run=True``: nothing
sent, the input returned as it was). Such a result is never cached, and an evaluation reports
it as not computed instead of scoring it."""


def is_dry_run(result: InpaintResult) -> bool:
    """Whether ``result`` is a dry run's stand-in (flagged :data:`DRY_RUN_FLAG`), not an output."""
    return DRY_RUN_FLAG in result.flags


@attrs.frozen
class Outcome:
    """What became of one request: its result or its failure, and whether it came from cache."""

    request: InpaintRequest
    result: InpaintResult | None = None
    failure: InpaintFailure | None = None
    cached: bool = False

    @property
    def ok(self) -> bool:
        """Whether the request has a result."""
        return self.result is not None


def group_calls(
    requests: Sequence[InpaintRequest], batch_size: int, *, one_case_per_call: bool = False
) -> list[list[int]]:
    """Indices of ``requests`` packed into calls of at most ``batch_size``.

    Requests of one case (same image, mask, prompt and seed: its variants) stay together;
    a case with more variants than ``batch_size`` fills whole calls of its own. Cases are
    packed in input order, several to a call unless ``one_case_per_call`` (used when
    retrying, so that one case that makes a whole call fail cannot fail the others again).
    """
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, r in enumerate(requests):
        key = (r.image.content_hash(), r.mask.content_hash(), r.prompt, r.seed)
        groups.setdefault(key, []).append(i)
    calls: list[list[int]] = []
    current: list[int] = []
    for idx in groups.values():
        parts = [idx[s : s + batch_size] for s in range(0, len(idx), batch_size)]
        for part in parts:
            if current and len(current) + len(part) > batch_size:
                calls.append(current)
                current = []
            current.extend(part)
            if len(current) >= batch_size or one_case_per_call:
                calls.append(current)
                current = []
    if current:
        calls.append(current)
    return calls


def _relabel(result: InpaintResult, request: InpaintRequest, key: str | None) -> InpaintResult:
    """A (possibly shared) result labelled with this request's case id, image source, key."""
    image = result.image
    if image.source != request.image.source:
        image = attrs.evolve(image, source=request.image.source)
    extra = dict(result.extra)
    if key is not None:
        extra["cache_key"] = key
    return attrs.evolve(result, case_id=request.case_id, image=image, extra=extra)


@attrs.frozen(eq=False)
class CallTask:
    """What :meth:`InpaintCalls.stream` hands an executor: ``task((indices, requests))``
    sends one call of the backend and returns one :class:`Outcome` per request.

    A local executor just calls it. An executor that runs calls on other machines reads
    :attr:`calls` (the backend's spec, capabilities, options and cache) to send the same
    call from there, with the results cached where every machine sees them.
    """

    calls: InpaintCalls

    def __call__(self, item: tuple[list[int], list[InpaintRequest]]) -> list[Outcome]:
        """Send ``item``'s requests as one call (see :meth:`InpaintCalls.call`)."""
        return self.calls.call(item[1])


@attrs.define(eq=False)
class InpaintCalls:
    """One backend's calls: cache lookups, grouping, guarded concurrency, per-call caching.

    Args:
        backend: the inpainter.
        capabilities: what it declared (batch size, concurrency, fingerprint, secrets).
        cache: the result cache, or None (compute everything, keep nothing).
        options: the options recorded in cache keys (the ones it was built with); together
            with ``capabilities.fingerprint`` they name the configuration.
        retries: how many more rounds failed, retryable requests get.
        batch_size: overrides the declared batch size.
        spec: the :class:`~radinpaint.evaluation.specs.BackendSpec` the backend was built
            from, for an executor that builds its own copy of the backend on other machines
            (:class:`~radinpaint.evaluation.ray_executor.RayExecutor`); ``None``: the backend
            object itself is shipped.
    """

    backend: Any
    capabilities: Capabilities
    cache: ResultCache | None = None
    options: Mapping[str, Any] = attrs.field(factory=dict)
    retries: int = 1
    batch_size: int | None = None
    spec: Any = attrs.field(default=None, kw_only=True)
    _slots: threading.BoundedSemaphore = attrs.field(init=False)
    _stopped: str | None = attrs.field(init=False, default=None)
    _lock: threading.Lock = attrs.field(init=False, factory=threading.Lock)

    def __attrs_post_init__(self) -> None:
        if self.batch_size is not None and self.batch_size < 1:
            raise InvalidInputError(
                f"batch_size must be >= 1, got {self.batch_size}",
                fix="leave it unset to use the backend's declared batch size",
            )
        self._slots = threading.BoundedSemaphore(self.capabilities.max_concurrency)

    @property
    def stopped(self) -> str | None:
        """Why calls stopped (a fatal failure), or None."""
        return self._stopped

    def key(self, request: InpaintRequest) -> str:
        """The request's cache key (also without a cache: equal keys are the same work).

        Options the backend declares operational (budgets, threads, timeouts) are left out,
        so changing them never makes a paid result look new.
        """
        from .cache import ResultCache

        operational = self.capabilities.operational_options
        options = {k: v for k, v in self.options.items() if k not in operational}
        return ResultCache.key(
            str(self.backend.name),
            options,
            request,
            fingerprint=self.capabilities.fingerprint,
            secret_names=self.capabilities.secret_options,
        )

    def cancel(self, reason: str = "cancelled: the run is stopping") -> None:
        """Send no further calls (calls in flight finish and are kept)."""
        with self._lock:
            self._stopped = self._stopped or reason

    def _fatal(self, reason: str) -> None:
        with self._lock:
            self._stopped = self._stopped or reason

    # -- one call ----------------------------------------------------------------------

    def call(self, requests: Sequence[InpaintRequest]) -> list[Outcome]:
        """Send ``requests`` as one call (guarded); cache each success as soon as it is back."""
        requests = list(requests)
        with self._slots:
            stopped = self._stopped  # read once the slot is ours: a call may just have failed
            if stopped is not None:
                return [
                    Outcome(r, failure=InpaintFailure.for_request(r, stopped, retryable=False))
                    for r in requests
                ]
            try:
                answers = list(self.backend.inpaint(requests))
            except Exception as exc:
                fatal = is_fatal(exc)
                if fatal:
                    self._fatal(error_text(exc))
                return [
                    Outcome(
                        r,
                        failure=InpaintFailure.for_request(
                            r, error_text(exc), retryable=not fatal, fatal=fatal
                        ),
                    )
                    for r in requests
                ]
        if len(answers) != len(requests):
            text = error_text(
                BackendError(
                    f"backend {self.backend.name!r} returned {len(answers)} answers for "
                    f"{len(requests)} requests",
                    fix="an inpainter returns exactly one result or failure per request, in order",
                )
            )
            return [Outcome(r, failure=InpaintFailure.for_request(r, text)) for r in requests]
        out = []
        secret = self.capabilities.secret_options
        for request, answer in zip(requests, answers, strict=True):
            if isinstance(answer, InpaintResult):
                if secret:  # names the backend declared secret leave the record here
                    answer = attrs.evolve(answer, options=scrub_options(answer.options, secret))
                key = self.key(request)
                if not is_dry_run(answer):  # a dry run's stand-in is no result to keep
                    self._store(key, answer)
                out.append(Outcome(request, result=_relabel(answer, request, key)))
            elif isinstance(answer, InpaintFailure):
                if answer.fatal:
                    self._fatal(answer.error)
                out.append(Outcome(request, failure=answer))
            else:
                text = (
                    f"backend {self.backend.name!r} answered with "
                    f"{type(answer).__name__}, not an InpaintResult or InpaintFailure"
                )
                out.append(Outcome(request, failure=InpaintFailure.for_request(request, text)))
        return out

    def _store(self, key: str, result: InpaintResult) -> None:
        """Cache a result; a result that cannot be stored is still delivered, never redone."""
        if self.cache is None:
            return
        try:
            self.cache.put(key, result)
        except Exception as exc:  # a full disk, a read-only cache: warn, keep the result
            warnings.warn(
                f"radinpaint: a result of {self.backend.name!r} for case "
                f"{result.case_id!r} could not be stored in the cache ({error_text(exc)}); "
                "it is used in this run but a rerun will compute it again",
                RuntimeWarning,
                stacklevel=2,
            )

    # -- many requests -----------------------------------------------------------------

    def lookup(self, request: InpaintRequest) -> Outcome | None:
        """The cached outcome of ``request``, or None.

        A stored ``"empty-mask"`` result (the input returned unchanged, nothing computed or
        paid) is no answer for a backend that declares ``edits_whole_image``: it edits an
        empty mask too, so the request is computed. A stored dry run's stand-in (written by
        an older version) is no answer either.
        """
        if self.cache is None:
            return None
        key = self.key(request)
        hit = self.cache.get(key)
        if hit is not None and self.capabilities.edits_whole_image and "empty-mask" in hit.flags:
            hit = None
        if hit is not None and is_dry_run(hit):
            hit = None
        return (
            None
            if hit is None
            else Outcome(request, result=_relabel(hit, request, key), cached=True)
        )

    def run(
        self, requests: Sequence[InpaintRequest], executor: Executor | None = None
    ) -> list[Outcome]:
        """One outcome per request, in order (see the module docs for the steps)."""
        return [o for _, o in sorted(self.stream(requests, executor), key=lambda p: p[0])]

    def stream(
        self, requests: Sequence[InpaintRequest], executor: Executor | None = None
    ) -> Iterator[tuple[int, Outcome]]:
        """Yield ``(index, outcome)`` for every request as its outcome is known."""
        from .evaluation.executor import SerialExecutor

        executor = executor or SerialExecutor()
        requests = list(requests)
        first: dict[str, int] = {}  # key -> index of the request computed for it
        same: dict[int, list[int]] = {}
        todo: list[int] = []
        # cache reads (a file read and a checksum each) overlap on a few local threads
        with ThreadPoolExecutor(4, thread_name_prefix="radinpaint-cache") as pool:
            hits = list(pool.map(self.lookup, requests))
        for i, r in enumerate(requests):
            hit = hits[i]
            if hit is not None:
                yield i, hit
                continue
            key = self.key(r)
            if key in first:
                same.setdefault(first[key], []).append(i)
                continue
            first[key] = i
            todo.append(i)
        for _round in range(1 + max(0, self.retries)):
            if not todo:
                break
            failed: list[int] = []
            size = self.batch_size or self.capabilities.batch_size
            grouped = group_calls([requests[i] for i in todo], size, one_case_per_call=_round > 0)
            calls = [[todo[j] for j in c] for c in grouped]
            work = ((c, [requests[i] for i in c]) for c in calls)
            for (indices, _), outcomes in executor.map(
                CallTask(self),
                work,
                # twice the declared calls: while one thread stores a call's results,
                # another already holds the backend (the guard keeps it at the declared
                # number)
                workers=2 * self.capabilities.max_concurrency,
            ):
                if isinstance(outcomes, BaseException):  # the executor itself failed
                    outcomes = [
                        Outcome(
                            requests[i],
                            failure=InpaintFailure.for_request(requests[i], error_text(outcomes)),
                        )
                        for i in indices
                    ]
                for i, outcome in zip(indices, outcomes, strict=True):
                    if outcome.failure is not None and outcome.failure.fatal:
                        self._fatal(outcome.failure.error)
                    last_round = _round == max(0, self.retries)
                    if (
                        outcome.failure is not None
                        and outcome.failure.retryable
                        and not outcome.failure.fatal
                        and not last_round
                    ):
                        failed.append(i)
                        continue
                    yield i, outcome
                    for j in same.get(i, ()):
                        yield j, self._shared(outcome, requests[j])
            todo = failed

    def _shared(self, outcome: Outcome, request: InpaintRequest) -> Outcome:
        if outcome.result is None:
            return Outcome(request, failure=outcome.failure)
        result = _relabel(outcome.result, request, self.key(request))
        return Outcome(request, result=result, cached=True)  # computed once, for another

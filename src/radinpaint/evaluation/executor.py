"""The execution seam: how an evaluation runs its units of work.

An :class:`Executor` maps a function over items and yields ``(item, outcome)`` pairs as the
work completes, where ``outcome`` is the function's return value or the exception it raised.
The :class:`~radinpaint.evaluation.Evaluation` hands it whole batches (a batch of inpainting
requests for one backend, a batch of images for one predictor), so a distributed executor
(a process pool, a cluster queue) can be dropped in without touching the evaluation.

Two executors ship:

- :class:`SerialExecutor` runs everything in the calling thread, in order (the simplest
  executor, and the reference behaviour for tests);
- :class:`LocalExecutor` runs up to ``max_workers`` items at once in a thread pool. API
  backends spend their time waiting on the network, so threads overlap them well; OpenCV,
  NumPy and PyTorch release the GIL in their heavy loops, so CPU backends overlap too. The
  evaluation asks for ``workers=1`` where a backend is not safe to call concurrently
  (device models, which get their parallelism from batching instead).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Protocol, TypeVar, runtime_checkable

import attrs

from ..errors import InvalidInputError

__all__ = ["Executor", "LocalExecutor", "SerialExecutor"]

T = TypeVar("T")
R = TypeVar("R")


@runtime_checkable
class Executor(Protocol):
    """Runs a function over items and reports each item's outcome.

    Contract of :meth:`map`:

    - calls ``fn(item)`` once for every item;
    - yields ``(item, result)`` for a success and ``(item, exception)`` for a failure (an
      exception is yielded, never raised, so one failure does not stop the rest);
    - may yield in any order (the evaluation matches outcomes to items, not to positions);
    - ``workers`` is a hint: the most items the caller wants in flight at once for this call
      (``1`` means "one at a time"; ``None`` means "as many as you like").
    """

    def map(
        self, fn: Callable[[T], R], items: Iterable[T], *, workers: int | None = None
    ) -> Iterator[tuple[T, R | BaseException]]:
        """Yield ``(item, fn(item) or the exception it raised)`` for every item."""
        ...

    def describe(self) -> dict[str, Any]:
        """JSON-ready description for the manifest (at least ``{"type": ...}``)."""
        ...


def _call(fn: Callable[[T], R], item: T) -> R | BaseException:
    try:
        return fn(item)
    except Exception as exc:  # reported to the caller as the item's outcome
        return exc


@attrs.define
class SerialExecutor:
    """Runs every item in the calling thread, in order."""

    def map(
        self, fn: Callable[[T], R], items: Iterable[T], *, workers: int | None = None
    ) -> Iterator[tuple[T, R | BaseException]]:
        """Yield ``(item, outcome)`` in input order (``workers`` is ignored)."""
        for item in items:
            yield item, _call(fn, item)

    def describe(self) -> dict[str, Any]:
        """JSON-ready description for the manifest."""
        return {"type": type(self).__name__}


def _check_workers(instance: object, attribute: attrs.Attribute, value: int) -> None:
    if value < 1:
        raise InvalidInputError(
            f"max_workers must be >= 1, got {value}", fix="use 1 for serial execution"
        )


@attrs.define
class LocalExecutor:
    """A thread pool on this machine.

    Args:
        max_workers: the most items in flight at once (a per-call ``workers`` hint lowers
            it). With one worker (or ``workers=1``) items run in the calling thread.

    At most ``2 * workers`` items are submitted ahead of the results being consumed, so a
    lazy iterable of large batches is never materialised all at once.
    """

    max_workers: int = attrs.field(default=8, validator=_check_workers)

    def map(
        self, fn: Callable[[T], R], items: Iterable[T], *, workers: int | None = None
    ) -> Iterator[tuple[T, R | BaseException]]:
        """Yield ``(item, outcome)`` as items complete."""
        n = self.max_workers if workers is None else max(1, min(int(workers), self.max_workers))
        if n == 1:
            yield from SerialExecutor().map(fn, items)
            return
        iterator = iter(items)
        with ThreadPoolExecutor(max_workers=n, thread_name_prefix="radinpaint") as pool:
            pending: dict[Future[R | BaseException], T] = {}

            def submit_more() -> None:
                while len(pending) < 2 * n:
                    try:
                        item = next(iterator)
                    except StopIteration:
                        return
                    pending[pool.submit(_call, fn, item)] = item

            submit_more()
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    item = pending.pop(future)
                    yield item, future.result()
                submit_more()

    def describe(self) -> dict[str, Any]:
        """JSON-ready description for the manifest."""
        return {"type": type(self).__name__, "max_workers": self.max_workers}

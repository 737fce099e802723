"""Run a stage of the next chunks in the background while the caller works on the last one."""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = ["run_ahead"]

T = TypeVar("T")


def run_ahead(
    items: Iterator[T],
    work: Callable[[T], None],
    *,
    depth: int = 2,
    on_stop: Callable[[], None] | None = None,
) -> Iterator[T]:
    """Yield each item of ``items`` once ``work(item)`` is done, in order.

    ``work`` runs in background threads on up to ``depth`` items at once, ahead of the
    caller: while the caller handles item k, items k+1 and k+2 are being worked on, and the
    work on k+2 starts while the last of k+1 is still out. (The evaluation uses it so that a
    slow API backend keeps its declared calls in flight across chunks while the predictors
    read the previous chunk; each backend's own guard keeps it within its concurrency.)
    At most ``depth + 2`` items are held. An exception from ``items`` or ``work`` is raised
    to the caller; leaving the loop early stops the background work after the items in hand.
    ``depth=0`` does the work inline, item by item, with no thread. ``on_stop`` is called
    when the caller stops early (an exception, Ctrl-C, leaving the loop), before waiting for
    the background work, so that work can stop starting new things (no new API calls).
    """
    if depth < 1:
        for item in items:
            work(item)
            yield item
        return
    done = object()
    ready: queue.Queue[Any] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def hand_over(item: Any) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            with ThreadPoolExecutor(depth, thread_name_prefix="radinpaint-ahead") as pool:
                pending: deque[tuple[T, Future[None]]] = deque()
                for item in items:
                    pending.append((item, pool.submit(work, item)))
                    while len(pending) >= depth or (pending and pending[0][1].done()):
                        first, future = pending.popleft()
                        future.result()
                        if not hand_over(first):
                            return
                while pending:
                    first, future = pending.popleft()
                    future.result()
                    if not hand_over(first):
                        return
            hand_over(done)
        except BaseException as exc:  # handed to the caller
            hand_over(exc)

    thread = threading.Thread(target=produce, name="radinpaint-producer", daemon=True)
    thread.start()
    finished = False
    try:
        while True:
            item = ready.get()
            if item is done:
                finished = True
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        if not finished and on_stop is not None:
            on_stop()
        thread.join()

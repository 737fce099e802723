"""The execution seam: executors report every item, failures included."""

from __future__ import annotations

import threading

import pytest

from radinpaint.errors import InvalidInputError
from radinpaint.evaluation import Executor, LocalExecutor, SerialExecutor


def _square(x: int) -> int:
    if x == 3:
        raise ValueError("three")
    return x * x


@pytest.mark.parametrize("executor", [SerialExecutor(), LocalExecutor(1), LocalExecutor(3)])
def test_every_item_reported_and_failures_yielded(executor: Executor) -> None:
    out = dict(executor.map(_square, range(8)))
    assert set(out) == set(range(8))
    assert isinstance(out[3], ValueError)
    assert all(out[i] == i * i for i in range(8) if i != 3)


def test_local_executor_runs_concurrently_up_to_the_hint() -> None:
    active, peak, lock = [0], [0], threading.Lock()
    gate = threading.Barrier(3, timeout=5)

    def work(x: int) -> int:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        if x < 3:
            gate.wait()  # only passes when 3 run at once
        with lock:
            active[0] -= 1
        return x

    assert sorted(r for _, r in LocalExecutor(4).map(work, range(6), workers=3)) == list(range(6))
    assert peak[0] == 3
    peak[0] = 0
    list(LocalExecutor(4).map(lambda x: x, range(5), workers=1))


def test_serial_hint_runs_in_calling_thread() -> None:
    seen = []
    list(LocalExecutor(4).map(lambda x: seen.append(threading.get_ident()), range(3), workers=1))
    assert set(seen) == {threading.get_ident()}


def test_bad_worker_count() -> None:
    with pytest.raises(InvalidInputError, match="max_workers"):
        LocalExecutor(0)


def test_protocol() -> None:
    assert isinstance(LocalExecutor(), Executor)
    assert isinstance(SerialExecutor(), Executor)

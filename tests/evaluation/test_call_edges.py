"""Edges of the call-by-call engine: fatal stops, storage failures, duplicates, cancelling,
refusals, counts, labels and failed builds never leaking secrets."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from radinpaint.cache import ResultCache
from radinpaint.capabilities import Capabilities
from radinpaint.errors import BackendError, BudgetExceededError, InvalidInputError
from radinpaint.evaluation import BackendSpec, Evaluation, LocalExecutor
from radinpaint.evaluation.ahead import run_ahead
from radinpaint.inpaint_calls import InpaintCalls
from radinpaint.inpainters.base import finish_result
from radinpaint.records import InpaintFailure, InpaintRequest, Mask, Radiograph


def _requests(n_cases: int, variants: int = 1) -> list[InpaintRequest]:
    rng = np.random.default_rng(1)
    out = []
    for c in range(n_cases):
        img = Radiograph.from_float(rng.random((24, 24)).astype(np.float32), 16)
        mask = np.zeros((24, 24), bool)
        mask[4:12, 4:12] = True
        for v in range(variants):
            out.append(
                InpaintRequest(img, Mask.from_array(mask), seed=c, variant=v, case_id=f"c{c}")
            )
    return out


class Recording:
    """Fills the mask with 0.5; counts calls and images; can fail on purpose."""

    name = "recording"

    def __init__(self, fail=None) -> None:
        self.calls: list[list[str]] = []
        self.fail = fail
        self.lock = threading.Lock()

    def inpaint(self, requests):
        with self.lock:
            self.calls.append([str(r.case_id) for r in requests])
            k = len(self.calls)
        time.sleep(0.02)
        if self.fail is not None:
            answer = self.fail(k, requests)
            if answer is not None:
                return answer
        return [
            finish_result(r, np.full(r.image.shape, 0.5, np.float32), backend=self.name, options={})
            for r in requests
        ]


def test_a_fatal_failure_stops_calls_already_queued():
    def budget(k, requests):
        if k == 1:
            raise BudgetExceededError("max_usd reached")
        return None

    backend = Recording(budget)
    calls = InpaintCalls(backend, Capabilities(max_concurrency=1, batch_size=1))
    out = calls.run(_requests(6), LocalExecutor(8))
    assert len(backend.calls) == 1  # the queued calls found the backend stopped
    assert calls.stopped is not None and not any(o.ok for o in out)


def test_a_fatal_failure_record_stops_too():
    def refuse(k, requests):
        return [
            InpaintFailure.for_request(r, "no key", retryable=False, fatal=True) for r in requests
        ]

    backend = Recording(refuse)
    InpaintCalls(backend, Capabilities(max_concurrency=1, batch_size=1)).run(
        _requests(5), LocalExecutor(8)
    )
    assert len(backend.calls) == 1


def test_a_raised_error_marked_fatal_stops():
    def no_key(k, requests):
        raise BackendError("no API key", fatal=True)

    backend = Recording(no_key)
    InpaintCalls(backend, Capabilities(batch_size=1)).run(_requests(4))
    assert len(backend.calls) == 1


def test_a_result_that_cannot_be_stored_is_delivered_not_paid_again(tmp_path):
    class FullDisk(ResultCache):
        def put(self, key, result):
            raise OSError(28, "No space left on device")

    backend = Recording()
    with pytest.warns(RuntimeWarning, match="could not be stored"):
        out = InpaintCalls(backend, Capabilities(batch_size=3), FullDisk(tmp_path)).run(
            _requests(1, variants=3)
        )
    assert all(o.ok for o in out) and len(backend.calls) == 1


def test_repeated_requests_are_computed_once_without_a_cache():
    backend = Recording()
    req = _requests(1)[0]
    out = InpaintCalls(backend, Capabilities(batch_size=8)).run([req, req, req])
    assert sum(len(c) for c in backend.calls) == 1 and all(o.ok for o in out)


def test_batch_sizes_must_be_positive():
    with pytest.raises(InvalidInputError, match="batch_size"):
        InpaintCalls(Recording(), Capabilities(), batch_size=-1)
    with pytest.raises(InvalidInputError, match="inpaint_batch_size"):
        Evaluation([], inpainters=["identity"], predictors=["x"], inpaint_batch_size=0)
    with pytest.raises(InvalidInputError, match="predict_batch_size"):
        Evaluation([], inpainters=["identity"], predictors=["x"], predict_batch_size=-2)


def test_stopping_early_cancels_the_work_running_ahead():
    stopped = threading.Event()
    started: list[int] = []

    def work(item: int) -> None:
        started.append(item)
        time.sleep(0.05)

    chunks = run_ahead(iter(range(20)), work, depth=2, on_stop=stopped.set)
    for item in chunks:
        if item == 1:
            break
    chunks.close()
    assert stopped.is_set() and len(started) < 20
    done = threading.Event()
    for _ in run_ahead(iter(range(3)), work, depth=2, on_stop=done.set):
        pass
    assert not done.is_set()  # a run that finishes does not cancel anything


def test_a_cancelled_backend_gets_no_new_calls():
    backend = Recording()
    calls = InpaintCalls(backend, Capabilities(batch_size=1))
    calls.cancel()
    out = calls.run(_requests(3))
    assert backend.calls == [] and all("cancelled" in o.failure.error for o in out)


def test_one_refused_case_does_not_stop_the_backend(test_plugin, phantoms):
    bad = phantoms[0].id
    res = Evaluation(
        phantoms[:4],
        inpainters=[{"name": "test-noise", "options": {"fail_cases": [bad]}, "label": "noise"}],
        predictors=["test-mean"],
        variants=1,
        chunk_size=1,
        progress=False,
    ).run()
    errors = res.table[res.table["error"].notna()]
    assert set(errors["case_id"]) == {bad}
    assert "backend" not in set(res.failures["stage"])


def test_replicated_counts_only_outputs_that_exist(test_plugin, phantoms):
    res = Evaluation(
        phantoms[:4],
        inpainters=["test-bright"],
        predictors=["test-mean"],
        variants=3,
        progress=False,
    ).run()
    assert res.manifest["counts"]["inpaint_replicated"] == 4 * 2


def test_derived_labels_and_failed_builds_hold_no_secret():
    spec = BackendSpec("telea", {"radius": 5, "api_key": "sk-LEAK-1"})
    assert "sk-LEAK-1" not in spec.label and spec.label == "telea[radius=5]"
    declared = BackendSpec("remote", {"licence": "LIC-2", "level": 1})
    record = declared.to_dict({"licence"})
    assert "LIC-2" not in str(record) and record["label"] == "remote[level=1]"

"""Rate limit, retries, timeouts, concurrency and budget of the openai inpainter.

Waiting is checked on a fake clock (the backend's sleeps advance it), never on wall time.
"""

from __future__ import annotations

import threading

import pytest

from radinpaint import InpaintRequest, get_inpainter
from radinpaint.cache import ResultCache, inpaint_cached
from radinpaint.errors import BatchFailedError, BudgetExceededError
from radinpaint.inpainters.openai.pricing import (
    PRICES,
    estimate_call_usd,
    output_tokens_per_image,
    price_for,
)
from radinpaint.inpainters.ratelimit import Budget, RetryPolicy, TokenBucket
from radinpaint.records import InpaintFailure, InpaintResult

from ._helpers import FakeClock, box_mask, radiograph


def backend(server, clock=None, **options):
    options.setdefault("size", "256x256")  # small images keep the tests fast
    inp = get_inpainter(
        "openai", base_url=server.base_url, api_key="sk-x", allow_external_upload=True, **options
    )
    if clock is not None:
        inp._clock = clock
        inp._sleep = clock.sleep
    return inp


def cases(k, variants=1):
    mask = box_mask((48, 48), (5, 20, 5, 20))
    return [
        InpaintRequest(radiograph((48, 48), seed=c), mask, seed=1, variant=v, case_id=f"c{c}")
        for c in range(k)
        for v in range(variants)
    ]


def test_token_bucket_spaces_acquisitions():
    clock = FakeClock()
    bucket = TokenBucket(60, burst=1, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        bucket.acquire(1)
    assert clock.now == pytest.approx(4.0)  # the first is free, then one a second
    bucket.pause(10)
    bucket.acquire(1)
    assert clock.now == pytest.approx(14.0)
    unlimited = TokenBucket(None, clock=clock, sleep=clock.sleep)
    assert unlimited.acquire(50) == 0.0


def test_retry_policy_prefers_retry_after_and_backs_off():
    policy = RetryPolicy(base_delay=1.0, max_delay=30.0)
    assert policy.delay(0, 7.0) == 7.0
    assert policy.delay(0, 500.0) == 30.0
    delays = [policy.delay(a, None) for a in range(6)]
    assert all(0.0 <= d <= min(2**a, 30) for a, d in enumerate(delays))  # full jitter
    assert delays != [policy.delay(a, None) for a in range(6)]  # drawn afresh, not seeded


def test_budget_refuses_before_overspending():
    budget = Budget(max_images=5, max_usd=1.0)
    budget.reserve(3, 0.5, what="a")
    with pytest.raises(BudgetExceededError, match="max_images=5"):
        budget.reserve(3, 0.1, what="b")
    budget.settle(3, 0.5, 0.4)
    with pytest.raises(BudgetExceededError, match=r"max_usd=1\.0"):
        budget.reserve(1, 0.7, what="c")
    assert (budget.spent_images, budget.spent_usd) == (3, pytest.approx(0.4))


def test_images_per_minute_is_enforced(server):
    clock = FakeClock()
    inp = backend(server, clock, images_per_minute=60, max_concurrency=1)
    inp.inpaint(cases(6))
    assert server.edit_count == 6
    assert clock.now == pytest.approx(5.0)  # 6 images at one a second, first one free


def test_429_pauses_for_retry_after(server):
    clock = FakeClock()
    server.fail_next(429, retry_after=7)
    (result,) = backend(server, clock).inpaint(cases(1))
    assert server.edit_count == 2
    assert clock.now == pytest.approx(7.0)
    assert result.extra["attempts"] == 2


def test_500s_are_retried_with_backoff(server):
    clock = FakeClock()
    server.fail_next(500)
    server.fail_next(502)
    (result,) = backend(server, clock).inpaint(cases(1))
    assert result.extra["attempts"] == 3 and server.edit_count == 3
    # full jitter below a doubling ceiling: up to 1 s, then up to 2 s
    assert len(clock.sleeps) == 2
    assert 0.0 <= clock.sleeps[0] <= 1.0 and 0.0 <= clock.sleeps[1] <= 2.0


def test_timeouts_are_retried_and_counted_against_the_budget(server):
    server.delays.append(3.0)  # longer than the client's timeout
    clock = FakeClock()
    inp = backend(server, clock, timeout=0.5)
    (result,) = inp.inpaint(cases(1))
    assert result.extra["attempts"] == 2
    assert inp.spent_images == 2  # the timed-out attempt may have been billed


def test_retries_give_up_with_a_clear_error(server):
    clock = FakeClock()
    for _ in range(3):
        server.fail_next(503)
    (failure,) = backend(server, clock, max_retries=2).inpaint(cases(1))
    assert isinstance(failure, InpaintFailure) and "after 3 attempt" in failure.error
    assert failure.retryable and not failure.fatal


def test_other_results_survive_a_failed_call(server):
    server.fail_next(400, code="bad_request")
    answers = backend(server, max_concurrency=1).inpaint(cases(3))
    assert isinstance(answers[0], InpaintFailure) and "HTTP 400" in answers[0].error
    assert all(isinstance(a, InpaintResult) for a in answers[1:])


def test_concurrency_is_bounded(server):
    server.latency = 0.5
    backend(server, max_concurrency=3).inpaint(cases(8))
    assert server.edit_count == 8
    assert 1 < server.max_in_flight <= 3


def test_max_images_stops_before_overspending(server, tmp_path):
    inp = backend(server, max_images=2, max_concurrency=1)
    reqs = cases(4)
    with pytest.raises(BatchFailedError, match="spent so far: 2 image") as info:
        inpaint_cached(inp, reqs, ResultCache(tmp_path))
    assert server.edit_count == 2
    outcomes = info.value.outcomes
    assert [o.result is not None for o in outcomes] == [True, True, False, False]
    assert all(o.failure.fatal for o in outcomes[2:])
    # what was paid for is in the cache: a rerun with more budget sends only the rest
    more = backend(server, max_images=2, max_concurrency=1)
    results = inpaint_cached(more, reqs, ResultCache(tmp_path))
    assert server.edit_count == 4 and len(results) == 4


def test_a_budget_spans_runs_through_the_spend_ledger(server, tmp_path):
    ledger = str(tmp_path / "spend.jsonl")
    reqs = cases(4)
    first = backend(server, max_images=3, max_concurrency=1, spend_ledger=ledger)
    assert all(isinstance(a, InpaintResult) for a in first.inpaint(reqs[:2]))
    # a new process (a new backend object) on the same ledger starts from what was spent
    second = backend(server, max_images=3, max_concurrency=1, spend_ledger=ledger)
    answers = second.inpaint(reqs[2:])
    assert isinstance(answers[0], InpaintResult)
    assert isinstance(answers[1], InpaintFailure) and "max_images=3" in answers[1].error
    assert server.edit_count == 3 and second.spent_images == 3


def test_max_usd_stops_before_overspending(server):
    price = PRICES["gpt-image-1.5"]
    inp = backend(server, quality="low", max_concurrency=1)
    one_call = estimate_call_usd(
        price, n=1, size="1024x1024", quality="low", input_fidelity="high", prompt=inp.prompt
    )
    inp = backend(
        server, size="1024x1024", quality="low", max_concurrency=1, max_usd=one_call * 1.05
    )
    answers = inp.inpaint(cases(3))
    assert isinstance(answers[0], InpaintResult)
    assert all(isinstance(a, InpaintFailure) and "max_usd" in a.error for a in answers[1:])
    assert server.edit_count == 1
    assert 0 < inp.spent_usd <= one_call * 1.05


def test_price_table_lookups():
    assert price_for("gpt-image-1.5-2025-12-16") == PRICES["gpt-image-1.5"]
    assert price_for("unknown") is None
    custom = price_for("x", {"text_input": 1, "image_input": 2, "image_output": 3})
    assert custom is not None and custom.image_output == 3.0
    assert output_tokens_per_image("high", "1024x1024") == 4160
    assert output_tokens_per_image(None, "1536x1024") == 6240  # auto priced as high


def test_concurrent_callers_share_the_bound(server):
    server.latency = 0.5
    inp = backend(server, max_concurrency=2)
    reqs = cases(6)
    threads = [threading.Thread(target=inp.inpaint, args=(reqs[k::2],)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert server.edit_count == 6 and server.max_in_flight <= 2
    caps = inp.capabilities()
    assert (caps.max_concurrency, caps.batch_size, caps.device) == (2, inp.n, "api")

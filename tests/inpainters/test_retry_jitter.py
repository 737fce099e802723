"""Retry waits: exponential backoff with full jitter, drawn afresh for every call.

Two calls that fail at the same moment must not come back at the same instant (the waits
are random, not seeded), every wait lies in ``[0, ceiling]``, and a server's
``Retry-After`` is a lower bound. The retry loop itself is driven with fake errors, so
no wall time passes.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from radinpaint.errors import BackendError
from radinpaint.inpainters.openai.client import call_with_retries
from radinpaint.inpainters.ratelimit import RetryPolicy, TokenBucket

from ._helpers import FakeClock

openai = pytest.importorskip("openai")


def status_error(status: int, retry_after: float | None = None) -> Exception:
    headers = {} if retry_after is None else {"retry-after": str(retry_after)}
    response = SimpleNamespace(request=None, status_code=status, headers=headers)
    cls = openai.RateLimitError if status == 429 else openai.InternalServerError
    if status < 500 and status != 429:
        cls = openai.BadRequestError
    return cls(f"injected {status}", response=response, body=None)


def failing(errors: list[Exception]):
    """A ``send`` that raises ``errors`` in turn, then answers ``"ok"``."""
    pending = list(errors)

    def send() -> str:
        if pending:
            raise pending.pop(0)
        return "ok"

    return send


def run(send, clock: FakeClock, policy: RetryPolicy, **kwargs):
    bucket = kwargs.pop("bucket", None) or TokenBucket(None, clock=clock, sleep=clock.sleep)
    return call_with_retries(
        send,
        tokens=1,
        bucket=bucket,
        policy=policy,
        sleep=clock.sleep,
        model="gpt-image-1.5",
        what="test call",
        **kwargs,
    )


def test_independent_policies_draw_different_delays():
    first, second = RetryPolicy(), RetryPolicy()
    a = [first.delay(k, None) for k in range(6)]
    b = [second.delay(k, None) for k in range(6)]
    assert all(x != y for x, y in zip(a, b, strict=True))  # no lock-step between workers
    assert [first.delay(k, None) for k in range(6)] != a  # nor between calls of one worker


def test_delays_are_full_jitter_within_the_exponential_ceiling():
    policy = RetryPolicy(base_delay=1.0, max_delay=30.0)
    assert [policy.ceiling(k) for k in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    for attempt in range(7):
        top = policy.ceiling(attempt)
        draws = [policy.delay(attempt, None) for _ in range(200)]
        assert all(0.0 <= d <= top for d in draws)
        # full jitter: the whole of [0, top] is used, not only its upper half
        assert min(draws) < 0.25 * top and max(draws) > 0.75 * top
    assert RetryPolicy(max_delay=5.0).delay(10_000, None) <= 5.0  # no overflow


def test_retry_after_is_a_lower_bound_capped_at_max_delay():
    policy = RetryPolicy(base_delay=1.0, max_delay=30.0)
    assert policy.delay(0, 7.0) == 7.0  # the first ceiling (1 s) is below Retry-After
    late = [policy.delay(4, 7.0) for _ in range(200)]  # ceiling 16 s
    assert all(7.0 <= d <= 16.0 for d in late) and max(late) > 7.0
    assert policy.delay(0, 500.0) == 30.0
    assert policy.delay(3, 0.0) <= 8.0


def test_two_failing_calls_retry_at_different_moments():
    waits = []
    for _ in range(2):
        clock = FakeClock()
        send = failing([status_error(500), openai.APIConnectionError(request=None)])
        assert run(send, clock, RetryPolicy()) == ("ok", 3)
        assert len(clock.sleeps) == 2
        assert 0.0 <= clock.sleeps[0] <= 1.0 and 0.0 <= clock.sleeps[1] <= 2.0
        waits.append(clock.sleeps)
    assert waits[0][0] != waits[1][0] and waits[0][1] != waits[1][1]


def test_a_429_pauses_the_shared_bucket_for_at_least_retry_after():
    clock = FakeClock()
    bucket = TokenBucket(None, clock=clock, sleep=clock.sleep)
    send = failing([status_error(429, retry_after=3)])
    assert run(send, clock, RetryPolicy(), bucket=bucket) == ("ok", 2)
    # the caller did not sleep itself: it waited in the bucket, as every worker would
    assert len(clock.sleeps) == 1 and clock.sleeps[0] == pytest.approx(3.0)
    assert bucket.waited == pytest.approx(3.0)


def test_timeouts_call_the_hook_and_other_errors_are_not_retried():
    clock = FakeClock()
    booked = []
    send = failing([openai.APITimeoutError(request=None)] * 2)
    result = run(send, clock, RetryPolicy(), on_timeout=lambda: booked.append(1))
    assert result == ("ok", 3) and booked == [1, 1]

    clock = FakeClock()
    with pytest.raises(BackendError, match="HTTP 400"):
        run(failing([status_error(400)]), clock, RetryPolicy())
    assert clock.sleeps == []

    with pytest.raises(BackendError, match="after 3 attempt"):
        run(failing([status_error(503)] * 3), clock, RetryPolicy(max_retries=2))
    assert len(clock.sleeps) == 2

"""Client-side throttling for paid remote backends: a rate limit, retries, and a budget.

Why our own and not a library's: the three pieces must share state across the worker
threads of one backend. A 429 answer seen by one thread pauses *all* of them (the server's
``Retry-After`` applies to the account, not to one connection), a retry must take a fresh
token from the same rate limiter as first attempts, and the budget must reserve money before
a call and settle it after, so that concurrent calls can never together overspend. Generic
retry libraries (tenacity, backoff) retry one call in isolation and know nothing of the
other two; the openai SDK's built-in retries bypass the rate limiter and the budget, and
refuse ``Retry-After`` values above two minutes. Every clock and sleep is injectable, so the
tests check behaviour with a fake clock rather than wall time.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

import attrs

from ..errors import BudgetExceededError, InvalidInputError

__all__ = ["Budget", "RetryPolicy", "TokenBucket"]

Clock = Callable[[], float]
Sleep = Callable[[float], None]


@attrs.define
class TokenBucket:
    """A thread-safe token bucket: ``rate_per_minute`` tokens a minute, up to ``burst`` saved.

    :meth:`acquire` blocks until the tokens are there. :meth:`pause` stops every caller
    until a moment (a server's ``Retry-After``). ``rate_per_minute=None`` means no limit
    (pauses still apply).

    Attributes:
        rate_per_minute: tokens added per minute (images per minute for the openai backend).
        burst: the most tokens that can accumulate (defaults to one second's worth, at
            least 1); the bucket starts full.
        clock: monotonic seconds (``time.monotonic`` unless testing).
        sleep: how to wait (``time.sleep`` unless testing).
    """

    rate_per_minute: float | None
    burst: float | None = None
    clock: Clock = attrs.field(default=time.monotonic, repr=False)
    sleep: Sleep = attrs.field(default=time.sleep, repr=False)
    _tokens: float = attrs.field(init=False, default=0.0)
    _stamp: float = attrs.field(init=False, default=0.0)
    _paused_until: float = attrs.field(init=False, default=0.0)
    _lock: threading.Lock = attrs.field(init=False, factory=threading.Lock, repr=False)
    waited: float = attrs.field(init=False, default=0.0)

    def __attrs_post_init__(self) -> None:
        if self.rate_per_minute is not None and self.rate_per_minute <= 0:
            raise InvalidInputError(
                f"a rate limit must be > 0 per minute, got {self.rate_per_minute}",
                fix="pass None for no limit",
            )
        if self.burst is None:
            per_second = (self.rate_per_minute or 60.0) / 60.0
            self.burst = max(1.0, per_second)
        self._tokens = float(self.burst)
        self._stamp = self.clock()

    def _refill(self, now: float) -> None:
        if self.rate_per_minute is None:
            return
        elapsed = max(0.0, now - self._stamp)
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate_per_minute / 60)
        self._stamp = now

    def acquire(self, tokens: float = 1.0) -> float:
        """Take ``tokens`` (waiting as needed); returns the seconds waited.

        A request for more tokens than ``burst`` waits until the bucket is full and then
        goes into debt, so large calls are slowed rather than refused.
        """
        waited = 0.0
        while True:
            with self._lock:
                now = self.clock()
                if now < self._paused_until:
                    delay = self._paused_until - now
                elif self.rate_per_minute is None:
                    self.waited += waited
                    return waited
                else:
                    self._refill(now)
                    need = min(tokens, float(self.burst))
                    if self._tokens >= need:
                        self._tokens -= tokens
                        self.waited += waited
                        return waited
                    delay = (need - self._tokens) * 60.0 / self.rate_per_minute
            self.sleep(delay)
            waited += delay

    def pause(self, seconds: float) -> None:
        """Stop every caller of :meth:`acquire` for ``seconds`` from now (never shortens)."""
        with self._lock:
            self._paused_until = max(self._paused_until, self.clock() + max(0.0, seconds))


@attrs.frozen
class RetryPolicy:
    """When and how long to wait before trying a failed call again.

    Waits ``Retry-After`` when the server gives one (capped at ``max_delay``), else an
    exponential backoff ``base_delay * 2**attempt`` capped at ``max_delay`` with "full
    jitter" (a uniform draw from ``[delay/2, delay]``) from a seeded generator.

    Attributes:
        max_retries: retries after the first attempt (0 = never retry).
        base_delay: seconds before the first retry without ``Retry-After``.
        max_delay: the longest wait between attempts, in seconds.
        seed: seeds the jitter.
    """

    max_retries: int = 5
    base_delay: float = 1.0
    max_delay: float = 120.0
    seed: int = 0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based)."""
        if retry_after is not None and retry_after >= 0:
            return min(float(retry_after), self.max_delay)
        top = min(self.base_delay * (2.0**attempt), self.max_delay)
        jitter = random.Random(self.seed * 1_000_003 + attempt).uniform(0.5, 1.0)
        return top * jitter


@attrs.define
class Budget:
    """A thread-safe spending cap in images and/or US dollars.

    Before a call, :meth:`reserve` books its image count and estimated cost; it raises
    :class:`BudgetExceededError` if the booking would pass a cap, so nothing is sent that
    could overspend. After the call, :meth:`settle` replaces the estimate by the actual cost
    (or :meth:`release` returns it when nothing was generated).

    Attributes:
        max_images: the most images to generate, or ``None``.
        max_usd: the most US dollars to spend (estimated), or ``None``.
    """

    max_images: int | None = None
    max_usd: float | None = None
    spent_images: int = attrs.field(init=False, default=0)
    spent_usd: float = attrs.field(init=False, default=0.0)
    _held_images: int = attrs.field(init=False, default=0)
    _held_usd: float = attrs.field(init=False, default=0.0)
    _lock: threading.Lock = attrs.field(init=False, factory=threading.Lock, repr=False)

    def describe_spent(self) -> str:
        """What has been spent so far, in words."""
        return f"{self.spent_images} image(s), ~${self.spent_usd:.4f} (estimate)"

    def reserve(self, images: int, usd: float | None, *, what: str) -> None:
        """Book ``images`` and ``usd`` for a call about to be made, or raise if over a cap."""
        with self._lock:
            if self.max_images is not None:
                after = self.spent_images + self._held_images + images
                if after > self.max_images:
                    raise BudgetExceededError(
                        f"sending {what} ({images} image(s)) would pass max_images="
                        f"{self.max_images}; spent so far: {self.describe_spent()}, "
                        f"in flight: {self._held_images} image(s)",
                        input=what,
                        fix="raise max_images, or rerun through a cache so that finished "
                        "images are not paid for twice",
                    )
            if self.max_usd is not None:
                if usd is None:
                    raise BudgetExceededError(
                        f"cannot keep to max_usd={self.max_usd} for {what}: the model has no "
                        "price in the table",
                        input=what,
                        fix="pass prices={'text_input': .., 'image_input': .., "
                        "'image_output': ..} (USD per million tokens), or use max_images",
                    )
                after_usd = self.spent_usd + self._held_usd + usd
                if after_usd > self.max_usd + 1e-12:
                    raise BudgetExceededError(
                        f"sending {what} (estimated ${usd:.4f}) would pass max_usd="
                        f"{self.max_usd}; spent so far: {self.describe_spent()}, "
                        f"in flight: ~${self._held_usd:.4f}",
                        input=what,
                        fix="raise max_usd, lower n or quality, or rerun through a cache "
                        "so that finished images are not paid for twice",
                    )
            self._held_images += images
            self._held_usd += usd or 0.0

    def settle(self, images: int, usd_reserved: float | None, usd_actual: float | None) -> None:
        """Turn a reservation into spending (``usd_actual`` or, if unknown, the estimate)."""
        with self._lock:
            self._held_images -= images
            self._held_usd -= usd_reserved or 0.0
            self.spent_images += images
            self.spent_usd += usd_actual if usd_actual is not None else (usd_reserved or 0.0)

    def release(self, images: int, usd_reserved: float | None) -> None:
        """Cancel a reservation (the call failed before anything was generated)."""
        with self._lock:
            self._held_images -= images
            self._held_usd -= usd_reserved or 0.0

"""Client-side throttling for paid remote backends: a rate limit, retries, and a budget.

Why our own and not a library's: the three pieces must share state across the worker
threads of one backend. A 429 answer seen by one thread pauses *all* of them (the server's
``Retry-After`` applies to the account, not to one connection), a retry must take a fresh
token from the same rate limiter as first attempts, and the budget must reserve money before
a call and settle it after, so that concurrent calls can never together overspend. Generic
retry loops (tenacity's ``Retrying``, backoff) retry one call in isolation and know nothing
of the other two; the openai SDK's built-in retries bypass the rate limiter and the budget,
and refuse ``Retry-After`` values above two minutes. Every clock and sleep is injectable, so
the tests check behaviour with a fake clock rather than wall time.

How long a retry waits (:meth:`RetryPolicy.delay`): exponential backoff with *full jitter*,
drawn by tenacity's ``wait_random_exponential``: before retry ``k`` (0-based) the wait is a
uniform random draw from ``[0, min(base_delay * 2**k, max_delay)]``. The draw is fresh for
every retry of every call (it is not seeded), so workers whose calls fail at the same moment
spread their retries out instead of all coming back at the same instant. When the server
sends ``Retry-After`` (or ``retry-after-ms``) that is a lower bound: the wait is the larger
of it and the draw, never above ``max_delay``. Retry timing is not part of any result, so
nothing is lost by it not being reproducible.

What happens during the wait (:func:`~radinpaint.inpainters.openai.client.call_with_retries`):
after a 429 the whole :class:`TokenBucket` is paused for the wait, so every worker of the
backend backs off, not just the one that saw it; after a 5xx, a timeout or a connection error
only the failing call sleeps. A timed-out call may have been done, and billed, by the server:
it is booked against the :class:`Budget` and the retry reserves anew. Every attempt, first or
retry, takes its tokens from the same bucket.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import attrs

from ..errors import BudgetExceededError, InvalidInputError, require
from ..ledger import SpendLedger

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

    def _burst(self) -> float:
        """``burst`` as a float (``__attrs_post_init__`` replaced None by the default)."""
        assert self.burst is not None
        return float(self.burst)

    def _refill(self, now: float) -> None:
        if self.rate_per_minute is None:
            return
        elapsed = max(0.0, now - self._stamp)
        self._tokens = min(self._burst(), self._tokens + elapsed * self.rate_per_minute / 60)
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
                    need = min(tokens, self._burst())
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

    Exponential backoff with full jitter: before retry ``attempt`` (0-based) the wait is a
    fresh uniform draw from ``[0, min(base_delay * 2**attempt, max_delay)]`` (tenacity's
    ``wait_random_exponential``, not seeded, so concurrent callers do not retry in
    lock-step). A server's ``Retry-After`` is a lower bound on the wait; no wait exceeds
    ``max_delay``.

    Attributes:
        max_retries: retries after the first attempt (0 = never retry).
        base_delay: the ceiling, in seconds, of the first retry's random wait; each later
            retry doubles it.
        max_delay: the longest wait between attempts, in seconds.
    """

    max_retries: int = 5
    base_delay: float = 1.0
    max_delay: float = 120.0

    @property
    def wait(self) -> Any:
        """The tenacity wait strategy that draws the jittered backoff."""
        tenacity: Any = require("tenacity", extra="openai", purpose="retries of remote calls")
        return tenacity.wait_random_exponential(multiplier=self.base_delay, max=self.max_delay)

    def ceiling(self, attempt: int) -> float:
        """The top of the random wait before retry number ``attempt`` (0-based)."""
        return min(self.base_delay * 2.0 ** min(attempt, 1023), self.max_delay)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based), drawn afresh each call.

        A uniform draw from ``[0, ceiling(attempt)]``, raised to ``retry_after`` when the
        server sent one, and never above ``max_delay``.
        """
        tenacity: Any = require("tenacity", extra="openai", purpose="retries of remote calls")
        state = tenacity.RetryCallState(retry_object=None, fn=None, args=(), kwargs={})
        state.attempt_number = attempt + 1  # tenacity counts attempts from 1
        drawn = float(self.wait(state))
        if retry_after is not None and retry_after >= 0:
            drawn = max(drawn, float(retry_after))
        return min(max(0.0, drawn), self.max_delay)


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
    ledger: SpendLedger = attrs.field(factory=SpendLedger)
    _held_images: int = attrs.field(init=False, default=0)
    _held_usd: float = attrs.field(init=False, default=0.0)
    _lock: threading.Lock = attrs.field(init=False, factory=threading.Lock, repr=False)

    @property
    def spent_images(self) -> int:
        """Images booked in the ledger (over every run that shares its file)."""
        return self.ledger.all_time().images

    @property
    def spent_usd(self) -> float:
        """US dollars booked in the ledger (over every run that shares its file)."""
        return self.ledger.all_time().usd

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

    def settle(
        self,
        images: int,
        usd_reserved: float | None,
        usd_actual: float | None,
        *,
        failed: bool = False,
        what: str = "",
        delivered: int | None = None,
    ) -> None:
        """Turn a reservation into spending (``usd_actual`` or, if unknown, the estimate).

        ``failed``: the images were (or may have been) generated and billed but not delivered
        (a timed-out call); they are booked all the same.

        ``delivered``: how many of the ``images`` actually arrived in a usable state
        (``None``: all of them, or none when ``failed``). When fewer arrived (a short answer,
        an undecodable image), the delivered ones are booked with their share of the cost
        and the rest as a separate failed booking with the remainder, so the ledger shows
        what was paid for and never received.
        """
        usd = usd_actual if usd_actual is not None else (usd_reserved or 0.0)
        with self._lock:
            self._held_images -= images
            self._held_usd -= usd_reserved or 0.0
            if failed or delivered is None or delivered >= images:
                self.ledger.book(images, usd, failed=failed, what=what)
                return
            got = max(0, int(delivered))
            share = usd * got / images if images else 0.0
            if got:
                self.ledger.book(got, share, what=what)
            self.ledger.book(images - got, usd - share, failed=True, what=f"{what} (not delivered)")

    def release(self, images: int, usd_reserved: float | None) -> None:
        """Cancel a reservation (the call failed before anything was generated)."""
        with self._lock:
            self._held_images -= images
            self._held_usd -= usd_reserved or 0.0

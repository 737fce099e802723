"""What a paid backend spent: images generated and US dollars, billed failures included.

A :class:`SpendLedger` is the backend's own account book. Every finished API call is
booked once, whether its images were delivered or the call timed out after the service may
have generated (and billed) them. The evaluation reports cost and "images paid" from the
ledger, never from the results it happened to receive.

With a ``path`` the ledger is also an append-only JSON-lines file (one line per booking,
flushed and fsynced), and a new ledger on the same file starts from the totals booked
before. That is how a budget spans runs: ``max_usd=3`` with a ledger file in the cache stops
at three dollars over every run that used the cache, not three dollars per process. A line
cut short by a kill, or one that is not a booking (JSON but not an object, a field
missing), is skipped.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import attrs

__all__ = ["SpendLedger", "SpendTotals"]


@attrs.frozen
class SpendTotals:
    """Sums over bookings: calls, images generated, US dollars, and of those, billed failures."""

    calls: int = 0
    images: int = 0
    usd: float = 0.0
    failed_calls: int = 0
    failed_images: int = 0
    failed_usd: float = 0.0

    def __add__(self, other: SpendTotals) -> SpendTotals:
        return SpendTotals(
            self.calls + other.calls,
            self.images + other.images,
            self.usd + other.usd,
            self.failed_calls + other.failed_calls,
            self.failed_images + other.failed_images,
            self.failed_usd + other.failed_usd,
        )

    def __sub__(self, other: SpendTotals) -> SpendTotals:
        return SpendTotals(
            self.calls - other.calls,
            self.images - other.images,
            self.usd - other.usd,
            self.failed_calls - other.failed_calls,
            self.failed_images - other.failed_images,
            self.failed_usd - other.failed_usd,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return attrs.asdict(self)


def _totals_of(booking: dict[str, Any]) -> SpendTotals:
    failed = bool(booking.get("failed"))
    images, usd = int(booking["images"]), float(booking["usd"])
    return SpendTotals(1, images, usd, int(failed), images if failed else 0, usd if failed else 0.0)


@attrs.define(eq=False)
class SpendLedger:
    """A thread-safe account of one backend's spending, optionally kept in a file.

    Args:
        path: a JSON-lines file shared by every run that should count against the same
            budget (``None``: this process only).
    """

    path: Path | None = attrs.field(
        default=None, converter=lambda p: None if p is None else Path(p).expanduser()
    )
    _before: SpendTotals = attrs.field(init=False, factory=SpendTotals)
    _now: SpendTotals = attrs.field(init=False, factory=SpendTotals)
    _lock: threading.Lock = attrs.field(init=False, factory=threading.Lock)

    def __attrs_post_init__(self) -> None:
        if self.path is None or not self.path.exists():
            return
        total = SpendTotals()
        with self.path.open(encoding="utf-8", errors="replace") as fh:
            for line in fh:
                try:
                    total = total + _totals_of(json.loads(line))
                except (ValueError, KeyError, TypeError, AttributeError):
                    continue  # a line cut short by a kill, or JSON that is not a booking
        self._before = total

    def book(self, images: int, usd: float, *, failed: bool = False, what: str = "") -> None:
        """Book one finished call: ``images`` generated for ``usd`` (``failed``: not delivered)."""
        booking = {"images": int(images), "usd": float(usd), "failed": bool(failed), "what": what}
        with self._lock:
            self._now = self._now + _totals_of(booking)
            if self.path is None:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                # a line cut short by an earlier kill must not swallow this one
                if fh.tell() > 0:
                    with self.path.open("rb") as check:
                        check.seek(-1, os.SEEK_END)
                        if check.read(1) != b"\n":
                            fh.write("\n")
                fh.write(json.dumps(booking, separators=(",", ":")) + "\n")
                fh.flush()
                os.fsync(fh.fileno())

    def totals(self) -> SpendTotals:
        """What this ledger object booked (this process)."""
        with self._lock:
            return self._now

    def all_time(self) -> SpendTotals:
        """What was booked in this process plus what the file held when it was opened."""
        with self._lock:
            return self._before + self._now

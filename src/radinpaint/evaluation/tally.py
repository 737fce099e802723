"""What a run counts as it goes: work done, failures, timings, progress (thread-safe)."""

from __future__ import annotations

import threading
import time
from typing import Any

__all__ = ["COUNTS", "Tally"]

COUNTS = (
    "inpaint_computed",
    "inpaint_cached",
    "inpaint_failed",
    "inpaint_replicated",
    "inpaint_dry_run",
    "predict_computed",
    "predict_cached",
    "images_paid",
    "cost_usd_spent",
    "cost_usd_billed_failures",
    "cost_usd_total",
    "inpaint_seconds_spent",
)
"""What the manifest counts (see docs/evaluation.md)."""


class Tally:
    """Counts, failures, timings, prompts and progress bars of one run.

    The stages of two chunks run at once (inpainting ahead, prediction behind), so every
    update takes a lock.
    """

    def __init__(self) -> None:
        self.counts: dict[str, float] = dict.fromkeys(COUNTS, 0)
        self.failures: list[dict[str, Any]] = []
        self.timings: dict[str, float] = {}
        self.prompts: set[str] = set()
        self._lock = threading.Lock()
        self._bars: dict[str, Any] = {}

    def count(self, key: str, amount: float = 1) -> None:
        """Add ``amount`` to counter ``key``."""
        with self._lock:
            self.counts[key] += amount

    def fail(self, stage: str, *, error: str, **where: Any) -> None:
        """Record a failure of ``stage`` at ``where`` (case id, backend label, ...)."""
        with self._lock:
            self.failures.append({"stage": stage, **where, "error": error})

    def timed(self, key: str, start: float) -> None:
        """Add the seconds since ``start`` (``time.perf_counter()``) to timing ``key``."""
        with self._lock:
            self.timings[key] = self.timings.get(key, 0.0) + time.perf_counter() - start

    def prompt(self, text: str) -> None:
        """Remember a prompt that was sent."""
        with self._lock:
            self.prompts.add(text)

    def open_progress(self, inpaint_total: int, *, enabled: bool) -> None:
        """Show progress bars for inpainted and predicted images."""
        from tqdm.auto import tqdm

        self._bars = {
            "inpaint": tqdm(total=inpaint_total, desc="inpaint", unit="img", disable=not enabled),
            "predict": tqdm(desc="predict", unit="img", disable=not enabled),
        }

    def advance(self, bar: str, n: int = 1) -> None:
        """Move progress bar ``bar`` (``"inpaint"`` or ``"predict"``) on by ``n``."""
        if bar in self._bars:
            self._bars[bar].update(n)

    def close_progress(self) -> None:
        """Close the progress bars."""
        for bar in self._bars.values():
            bar.close()
        self._bars = {}

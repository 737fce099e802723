"""A cache of predictions keyed by predictor and image content, so a rerun predicts nothing.

A prediction is a pure function of the predictor (its name, options and the fingerprint of
its weights that it declares), the image's pixels and, for sex-conditioned models, the sex
passed in. Entries live in one append-only JSON-lines file per predictor under
``root/<predictor fingerprint>.jsonl``; each batch is appended and flushed as soon as it is
predicted, so killing a run loses at most the batch in flight. A damaged last line (a kill
mid-write) is skipped on load.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

__all__ = ["PredictionCache", "StoredPrediction"]


def _f(value: Any) -> float:
    return float("nan") if value is None else float(value)


@attrs.frozen
class StoredPrediction:
    """One image's prediction: aggregated outputs and per-member outputs (may be empty)."""

    bone_age: float = math.nan
    p_male: float = math.nan
    member_bone_age: tuple[float, ...] = ()
    member_p_male: tuple[float, ...] = ()

    def spread(self) -> tuple[float, float]:
        """Standard deviation (ddof 0) across members of bone age and of P(male).

        Missing members are skipped; NaN with fewer than 2 members. The same statistic as
        :meth:`radinpaint.records.Predictions.member_spread`
        (:func:`radinpaint.metrics.stats.finite_sd`).
        """
        from ..metrics.stats import finite_sd

        def sd(values: tuple[float, ...]) -> float:
            return float(finite_sd(list(values), ddof=0, min_count=2))

        return sd(self.member_bone_age), sd(self.member_p_male)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form (NaN as null)."""

        def clean(v: float) -> float | None:
            return None if math.isnan(v) else v

        return {
            "bone_age": clean(self.bone_age),
            "p_male": clean(self.p_male),
            "member_bone_age": [clean(v) for v in self.member_bone_age],
            "member_p_male": [clean(v) for v in self.member_p_male],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StoredPrediction:
        """Inverse of :meth:`to_json`."""
        return cls(
            _f(data.get("bone_age")),
            _f(data.get("p_male")),
            tuple(_f(v) for v in data.get("member_bone_age") or ()),
            tuple(_f(v) for v in data.get("member_p_male") or ()),
        )


@attrs.define
class PredictionCache:
    """Predictions of one predictor, in memory and (when ``path`` is set) on disk.

    Args:
        path: the JSON-lines file, or ``None`` for a memory-only cache.
    """

    path: Path | None = attrs.field(
        default=None, converter=lambda p: None if p is None else Path(p)
    )
    _entries: dict[str, StoredPrediction] = attrs.field(factory=dict, init=False)
    _lock: threading.Lock = attrs.field(factory=threading.Lock, init=False)

    def __attrs_post_init__(self) -> None:
        if self.path is None or not self.path.exists():
            return
        with self.path.open("rb+") as fh:  # end a line cut short by a kill before appending
            fh.seek(0, os.SEEK_END)
            if fh.tell() > 0:
                fh.seek(-1, os.SEEK_END)
                if fh.read(1) != b"\n":
                    fh.write(b"\n")
        with self.path.open(encoding="utf-8") as fh:
            for line in fh:
                try:
                    row = json.loads(line)
                    self._entries[row["key"]] = StoredPrediction.from_json(row)
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short by a kill

    @staticmethod
    def key(image_hash: str, male: bool | None) -> str:
        """The entry key for an image (its content hash) and the sex passed to the model."""
        return f"{image_hash}:{'' if male is None else int(bool(male))}"

    def get(self, key: str) -> StoredPrediction | None:
        """The stored prediction, or None."""
        return self._entries.get(key)

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def put_many(self, items: Sequence[tuple[str, StoredPrediction]]) -> None:
        """Store predictions and append them to the file (one flush per call)."""
        with self._lock:
            for key, pred in items:
                self._entries[key] = pred
            if self.path is None or not items:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            text = "".join(
                json.dumps({"key": key, **pred.to_json()}, separators=(",", ":")) + "\n"
                for key, pred in items
            )
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())

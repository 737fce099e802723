"""A cache of predictions keyed by predictor and image content, so a rerun predicts nothing.

A prediction is a pure function of the predictor (its name, options and the fingerprint of
its weights that it declares), the image's pixels and, for sex-conditioned models, the sex
passed in. Entries live in one append-only JSON-lines file per predictor under
``root/<predictor fingerprint>.jsonl``; each batch is appended and flushed as soon as it is
predicted, so killing a run loses at most the batch in flight.

A line that cannot be read (cut short by a kill, not UTF-8, not JSON, JSON of the wrong
shape or types) is skipped on load, counted in :attr:`PredictionCache.skipped` and logged as
a warning (logger ``radinpaint.predcache``); the other lines are used, and the images the
skipped lines held are predicted again. A cache file that cannot be read or appended to at
all leaves a cache that works in memory for the run, with a warning, never an error.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

__all__ = ["PredictionCache", "StoredPrediction"]

log = logging.getLogger("radinpaint.predcache")


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
    skipped: int = attrs.field(default=0, init=False)
    """Lines of the file that could not be read on load (skipped; their images are
    predicted again)."""
    _entries: dict[str, StoredPrediction] = attrs.field(factory=dict, init=False)
    _lock: threading.Lock = attrs.field(factory=threading.Lock, init=False)
    _append_failed: bool = attrs.field(default=False, init=False)

    def __attrs_post_init__(self) -> None:
        if self.path is None:
            return
        try:
            fh = self.path.open("rb")
        except FileNotFoundError:
            return
        except OSError as exc:
            log.warning(
                "radinpaint: prediction cache %s cannot be read (%s: %s); its predictions "
                "are computed again",
                self.path,
                type(exc).__name__,
                exc,
            )
            return
        last, lines = b"", 0
        try:
            with fh:
                for line in fh:
                    if not lines and line.startswith(b"\xef\xbb\xbf"):  # an editor's mark
                        line = line[3:]
                    last = line
                    if not line.strip():
                        continue
                    lines += 1
                    parsed = _parse_line(line)
                    if parsed is None:
                        self.skipped += 1
                    else:
                        self._entries[parsed[0]] = parsed[1]
        except OSError as exc:  # a read error part way: keep what was read
            log.warning(
                "radinpaint: prediction cache %s could not be read to the end (%s: %s); "
                "the predictions after that point are computed again",
                self.path,
                type(exc).__name__,
                exc,
            )
        if last and not last.endswith(b"\n"):  # end a line cut short by a kill
            try:
                with self.path.open("ab") as out:  # at the true end, whoever wrote last
                    out.write(b"\n")
            except OSError:
                pass  # read-only: appending will say so
        if self.skipped:
            log.warning(
                "radinpaint: prediction cache %s: skipped %d damaged line(s) of %d; the "
                "other predictions are used and the skipped ones are computed again",
                self.path,
                self.skipped,
                lines,
            )

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
        """Store predictions and append them to the file (one flush per call).

        A file that cannot be appended to (a full disk, a read-only or damaged cache) is
        reported once as a warning; the predictions are still kept in memory for the run.
        """
        with self._lock:
            for key, pred in items:
                self._entries[key] = pred
            if self.path is None or not items:
                return
            text = "".join(
                json.dumps({"key": key, **pred.to_json()}, separators=(",", ":")) + "\n"
                for key, pred in items
            )
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("ab") as fh:
                    fh.write(text.encode("utf-8"))
                    fh.flush()
                    os.fsync(fh.fileno())
            except OSError as exc:
                if not self._append_failed:
                    self._append_failed = True
                    log.warning(
                        "radinpaint: predictions cannot be stored in %s (%s: %s); they are "
                        "used in this run but a rerun will compute them again",
                        self.path,
                        type(exc).__name__,
                        exc,
                    )


def _number(value: Any) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


def _parse_line(line: bytes) -> tuple[str, StoredPrediction] | None:
    """``(key, prediction)`` from one line of the file, or None when it is damaged."""
    try:
        row = json.loads(line.decode("utf-8"))
    except Exception:  # not UTF-8, not JSON, cut short, nested too deep
        return None
    if not isinstance(row, dict) or not isinstance(row.get("key"), str):
        return None
    if "bone_age" not in row or "p_male" not in row:
        return None
    if not (_number(row["bone_age"]) and _number(row["p_male"])):
        return None
    for name in ("member_bone_age", "member_p_male"):
        members = row.get(name)
        if members is not None and not (
            isinstance(members, list) and all(_number(v) for v in members)
        ):
            return None
    try:
        return row["key"], StoredPrediction.from_json(row)
    except (ValueError, TypeError, OverflowError):  # e.g. an integer too large for a float
        return None

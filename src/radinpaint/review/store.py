"""What a review shows: a results folder's outputs, their originals and masks, and the ratings.

A results folder (``radinpaint run/bench --out DIR``) holds the tidy table
(``results.csv``), the manifest (``manifest.json``: the backends with their options and
declared fingerprints, the seed and prompt, each case's image and mask content hashes, and
the cache folder) and, by default, the cache (``DIR/cache``). The outputs' pixels live in the
inpainting cache (:class:`radinpaint.cache.ResultCache`); each output's entry key is
recomputed from the manifest exactly as the run computed it. The originals are not stored
there: they are read again from the dataset (rebuilt from the manifest for phantoms, else
given as ``--data``), and their masks made again by the run's mask provider; both are checked
against the content hashes the manifest recorded, so a review never shows an output beside
the wrong original.

Each distinct output (by content hash: a deterministic backend's variants are one output)
is one item. Ratings go to ``DIR/review/ratings.sqlite`` (see :mod:`.ratings`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import random
import re
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from ..errors import InvalidInputError
from ..records import Case, Mask, Radiograph
from .ratings import Rating, connect, now_utc, upsert_rating

__all__ = ["DISPLAY_SIDE", "ReviewItem", "ReviewStore", "order_seed"]

DISPLAY_SIDE = 768
"""Images are shown at most this many pixels on their longer side."""

_PHANTOMS = re.compile(r"phantoms n=(\d+)((?: \w+=-?\d+)*)(?: \(first \d+\))?")


@attrs.frozen
class ReviewItem:
    """One distinct output to rate.

    Attributes:
        output_hash: the output's content hash (:meth:`Radiograph.content_hash`).
        case_id: the case it was made from.
        inpainter: the inpainter's label in the run (the first one, when several labels
            produced the same pixels).
        backend: the inpainter's registered name.
        variant: the variant number (0 for a deterministic backend).
        cache_key: its entry in the inpainting cache.
    """

    output_hash: str
    case_id: str
    inpainter: str
    backend: str
    variant: int
    cache_key: str


def order_seed(rater: str) -> int:
    """The seed of ``rater``'s item order: the first 8 bytes of SHA-256 of the rater id."""
    return int.from_bytes(hashlib.sha256(f"review-order:{rater}".encode()).digest()[:8], "big")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInputError(
            f"cannot read the run's manifest ({exc})",
            input=path,
            fix="give a folder written by radinpaint run or bench --out",
        ) from exc
    if not isinstance(data, dict):
        raise InvalidInputError("the manifest is not a JSON object", input=path)
    return data


def _cache_key(
    backend: Mapping[str, Any], image: str, mask: str, prompt: Any, seed: int, variant: int
) -> str:
    """The inpainting cache key of one output, as :meth:`ResultCache.key` computes it for
    the run's request (see :meth:`radinpaint.inpaint_calls.InpaintCalls.key`)."""
    from ..cache import CACHE_FORMAT, canonical_json, public_options

    caps = backend.get("capabilities") or {}
    operational = set(caps.get("operational_options") or ())
    options = {k: v for k, v in dict(backend.get("options") or {}).items() if k not in operational}
    recipe = {
        "format": CACHE_FORMAT,
        "backend": str(backend["name"]),
        "options": public_options(options, caps.get("secret_options") or ()),
        "fingerprint": str(caps.get("fingerprint") or ""),
        "image": image,
        "mask": mask,
        "prompt": prompt,
        "seed": seed,
        "variant": variant,
    }
    return hashlib.sha256(canonical_json(recipe).encode("utf-8")).hexdigest()


def _dataset(manifest: Mapping[str, Any], data: str | None, results: Path) -> Sequence[Case]:
    from ..evaluation.config import dataset_from_config

    if data is not None:
        from ..cli.run import data_spec

        return dataset_from_config(data_spec(data))
    desc = str((manifest.get("evaluation") or {}).get("dataset") or "")
    m = _PHANTOMS.fullmatch(desc)
    if m is None:
        raise InvalidInputError(
            "the results folder does not hold the original images, and its dataset "
            f"({desc or 'not recorded'}) cannot be rebuilt from the manifest",
            input=results,
            fix="give the dataset the run used: radinpaint review DIR --data PATH",
        )
    spec: dict[str, Any] = {"kind": "phantom", "n": int(m.group(1))}
    for part in m.group(2).split():
        key, _, value = part.partition("=")
        spec[key] = int(value)
    return dataset_from_config(spec)


class ReviewStore:
    """A results folder opened for review: its items, images and ratings database.

    Use :meth:`open`. Thread-safe: the web server calls it from several threads.
    """

    def __init__(
        self,
        results_dir: Path,
        items: Sequence[ReviewItem],
        cases: Mapping[str, int],
        dataset: Sequence[Case],
        mask_spec: Mapping[str, Any],
        inputs: Mapping[str, Mapping[str, str]],
        cache_dir: Path,
        db_path: Path,
    ) -> None:
        from ..cache import ResultCache

        self.results_dir = results_dir
        self.items: tuple[ReviewItem, ...] = tuple(items)
        self.by_hash: dict[str, ReviewItem] = {i.output_hash: i for i in self.items}
        self.db_path = db_path
        self._cases = dict(cases)
        self._dataset = dataset
        self._mask_spec = dict(mask_spec)
        self._inputs = {k: dict(v) for k, v in inputs.items()}
        self._cache = ResultCache(cache_dir / "inpaint")
        self._lock = threading.Lock()
        self._masks: Any = None
        self._local = threading.local()
        connect(db_path, create=True).close()

    # -- opening -------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        results_dir: str | Path,
        *,
        data: str | None = None,
        cache: str | Path | None = None,
        db: str | Path | None = None,
    ) -> ReviewStore:
        """Open ``results_dir`` for review, checking that everything it shows is there.

        Args:
            results_dir: a folder written by ``radinpaint run`` or ``bench`` (``--out``).
            data: the dataset the run used (as ``radinpaint run --data`` takes it); needed
                unless the run used phantoms, which are rebuilt from the manifest.
            cache: the cache folder, when the run's has moved (default: the manifest's).
            db: the ratings database (default ``results_dir/review/ratings.sqlite``).

        Raises:
            InvalidInputError: the folder is not a results folder, an output is missing from
                the cache, or the originals do not match the run's (wrong ``data``).
        """
        results = Path(results_dir).expanduser()
        if not results.is_dir():
            raise InvalidInputError(
                "no such results folder",
                input=results,
                fix="give a folder written by radinpaint run or bench --out",
            )
        manifest_path, table_path = results / "manifest.json", results / "results.csv"
        for path in (manifest_path, table_path):
            if not path.is_file():
                raise InvalidInputError(
                    f"the results folder has no {path.name}",
                    input=results,
                    fix="give a folder written by radinpaint run or bench --out (with csv "
                    "among its --format)",
                )
        manifest = _read_json(manifest_path)
        ev = manifest.get("evaluation") or {}
        inputs = manifest.get("inputs") or {}
        backends = (manifest.get("backends") or {}).get("inpainters") or []
        cache_dir = Path(cache).expanduser() if cache is not None else None
        if cache_dir is None and ev.get("cache_dir"):
            cache_dir = Path(str(ev["cache_dir"]))
            if not cache_dir.is_dir() and (results / "cache").is_dir():
                cache_dir = results / "cache"  # the folder was moved with its cache
        if cache_dir is None or not (cache_dir / "inpaint").is_dir():
            raise InvalidInputError(
                "the run's inpainting cache is not there (the outputs' pixels live in it)",
                input=cache_dir or results,
                fix="give the cache folder with --cache, or rerun with a cache",
            )
        items = cls._items(results, table_path, ev, inputs, backends, cache_dir)
        if not items:
            raise InvalidInputError(
                "the run has no output to review (every row failed, or none was made)",
                input=results,
                fix="review a run whose inpainters produced outputs",
            )
        dataset = _dataset(manifest, data, results)
        cases = cls._check_cases(results, dataset, inputs, {i.case_id for i in items})
        mask_spec = ev.get("mask_provider") or {"name": "ground-truth"}
        db_path = Path(db).expanduser() if db is not None else results / "review" / "ratings.sqlite"
        store = cls(results, items, cases, dataset, mask_spec, inputs, cache_dir, db_path)
        store.case_and_mask(items[0].case_id)  # the masks match the run's (checked on load)
        return store

    @staticmethod
    def _items(
        results: Path,
        table_path: Path,
        ev: Mapping[str, Any],
        inputs: Mapping[str, Any],
        backends: Sequence[Mapping[str, Any]],
        cache_dir: Path,
    ) -> list[ReviewItem]:
        import pandas as pd

        from ..cache import ResultCache
        from ..seeds import derive_seed

        table = pd.read_csv(table_path, dtype={"case_id": str})
        needed = {"case_id", "inpainter", "variant", "view", "error"}
        if not needed <= set(table.columns):
            raise InvalidInputError(
                f"results.csv lacks column(s) {', '.join(sorted(needed - set(table.columns)))}",
                input=table_path,
            )
        ok = table[(table["view"] == "total") & table["error"].isna()]
        done = ok[["case_id", "inpainter", "variant"]].drop_duplicates()
        by_label = {str(b.get("label") or b["name"]): b for b in backends if not b.get("error")}
        seed, prompt = int(ev.get("seed") or 0), ev.get("prompt")
        cache = ResultCache(cache_dir / "inpaint")
        items: dict[str, ReviewItem] = {}
        missing: list[str] = []
        seen: set[str] = set()
        for cid, label, variant in done.itertuples(index=False):
            backend = by_label.get(str(label))
            hashes = inputs.get(str(cid))
            if backend is None or not isinstance(hashes, Mapping):
                continue
            keyed_variant = 0 if backend.get("deterministic") else int(variant)
            key = _cache_key(
                backend,
                str(hashes["image"]),
                str(hashes["mask"]),
                prompt,
                derive_seed(seed, "case", str(cid)),
                keyed_variant,
            )
            if key in seen:
                continue  # a deterministic backend's other variants: the same output
            seen.add(key)
            result = cache.get(key)
            if result is None:
                missing.append(f"{label} / {cid} / variant {keyed_variant}")
                continue
            h = result.image.content_hash()
            if h not in items:
                items[h] = ReviewItem(h, str(cid), str(label), str(backend["name"]),
                                      keyed_variant, key)  # fmt: skip
        if missing:
            shown = "; ".join(missing[:5]) + (
                f"; and {len(missing) - 5} more" if len(missing) > 5 else ""
            )
            raise InvalidInputError(
                f"{len(missing)} output(s) of the run are missing from the cache: {shown}",
                input=cache_dir,
                fix="rerun the same radinpaint run/bench command with this cache (only the "
                "missing outputs are computed), or give the right cache with --cache",
            )
        return sorted(items.values(), key=lambda i: i.output_hash)

    @staticmethod
    def _check_cases(
        results: Path, dataset: Sequence[Case], inputs: Mapping[str, Any], wanted: set[str]
    ) -> dict[str, int]:
        ids = getattr(dataset, "ids", None)
        found: dict[str, int] = {}
        if isinstance(ids, list):
            found = {str(c): i for i, c in enumerate(ids) if str(c) in wanted}
        else:
            for i in range(len(dataset)):
                cid = str(dataset[i].id)
                if cid in wanted:
                    found[cid] = i
        lost = sorted(wanted - set(found))
        if lost:
            raise InvalidInputError(
                f"{len(lost)} case(s) of the run are not in the dataset: {', '.join(lost[:5])}",
                input=results,
                fix="give the dataset the run used with --data",
            )
        return found

    # -- reading -------------------------------------------------------------------------

    def order(self, rater: str) -> list[ReviewItem]:
        """``rater``'s items, shuffled with :func:`order_seed`: the same order on every visit,
        another order for another rater, backends and cases mixed."""
        items = list(self.items)
        random.Random(order_seed(rater)).shuffle(items)
        return items

    def item(self, output_hash: str) -> ReviewItem:
        """The item of ``output_hash``.

        Raises:
            InvalidInputError: no output of this review has that hash.
        """
        found = self.by_hash.get(str(output_hash))
        if found is None:
            raise InvalidInputError(
                "no output of this review has that content hash", input=output_hash
            )
        return found

    def output(self, output_hash: str) -> Radiograph:
        """The output's pixels (from the cache; checked against its hash)."""
        item = self.item(output_hash)
        result = self._cache.get(item.cache_key)
        if result is None or result.image.content_hash() != item.output_hash:
            raise InvalidInputError(
                "the output is no longer in the cache (or has changed)",
                input=f"{item.inpainter} / {item.case_id}",
                fix="restart the review after rerunning the run with this cache",
            )
        return result.image

    def case_and_mask(self, case_id: str) -> tuple[Case, Mask]:
        """The case's original and mask, checked against the run's content hashes."""
        return self._case_and_mask(case_id)

    @functools.lru_cache(maxsize=64)  # noqa: B019 - the store lives as long as the server
    def _case_and_mask(self, case_id: str) -> tuple[Case, Mask]:
        from ..evaluation.specs import BackendSpec

        case = self._dataset[self._cases[case_id]]
        want = self._inputs[case_id]
        if case.image.content_hash() != want["image"]:
            raise InvalidInputError(
                f"case {case_id}'s image differs from the one the run used",
                input=self.results_dir,
                fix="give the dataset the run used with --data",
            )
        with self._lock:  # one mask provider, used by one thread at a time
            if self._masks is None:
                spec = BackendSpec.parse(self._mask_spec)
                self._masks = spec.build_declared("mask_provider").backend
            mask = self._masks.masks([case])[0]
        if mask.content_hash() != want["mask"]:
            raise InvalidInputError(
                f"case {case_id}'s mask differs from the one the run used",
                input=self.results_dir,
                fix="review with the mask provider and dataset the run used",
            )
        return case, mask

    def png(self, output_hash: str, kind: str) -> bytes:
        """A PNG for the page: ``"output"``, ``"original"`` (8-bit grey, at most
        :data:`DISPLAY_SIDE` pixels) or ``"outline"`` (the mask's outline, red on
        transparent, the same size)."""
        return self._png(output_hash, kind)

    @functools.lru_cache(maxsize=256)  # noqa: B019 - the store lives as long as the server
    def _png(self, output_hash: str, kind: str) -> bytes:
        import cv2

        item = self.item(output_hash)
        case, mask = self.case_and_mask(item.case_id)
        h, w = case.image.shape[:2]
        scale = min(1.0, DISPLAY_SIDE / max(h, w))
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        if kind in ("output", "original"):
            image = self.output(output_hash) if kind == "output" else case.image
            grey: np.ndarray = np.asarray(image.pixels, dtype=np.float32)
            if grey.ndim == 3:
                grey = grey.mean(axis=2)
            if grey.shape[:2] != (h, w):
                grey = cv2.resize(grey, (w, h), interpolation=cv2.INTER_AREA)
            grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
            pixels = np.clip(np.rint(grey * 255.0), 0, 255).astype(np.uint8)
        elif kind == "outline":
            m = cv2.resize(mask.array.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
            width = max(1, math.ceil(2 * min(size) / 512))
            kernel = np.ones((2 * width + 1, 2 * width + 1), np.uint8)
            edge = (cv2.dilate(m, kernel) > 0) & ~(cv2.erode(m, kernel) > 0)
            pixels = np.zeros((size[1], size[0], 4), np.uint8)
            pixels[edge] = (48, 59, 255, 255)  # BGR + alpha: red
        else:
            raise InvalidInputError(
                f"unknown image kind {kind!r}", available=("output", "original", "outline")
            )
        ok, buf = cv2.imencode(".png", pixels)
        if not ok:  # pragma: no cover - cv2 encodes any uint8 array
            raise InvalidInputError("could not encode the image", input=output_hash)
        return bytes(buf)

    # -- ratings -------------------------------------------------------------------------

    def _db(self) -> Any:
        conn = getattr(self._local, "db", None)
        if conn is None:
            conn = connect(self.db_path, create=True)
            self._local.db = conn
        return conn

    def ratings(self, rater: str) -> dict[str, Rating]:
        """``rater``'s ratings of this review's outputs, by output hash."""
        from .ratings import CSV_COLUMNS, _from_sql

        rows = (
            self._db()
            .execute(f"SELECT {', '.join(CSV_COLUMNS)} FROM ratings WHERE rater = ?", (str(rater),))
            .fetchall()
        )
        out = {}
        for row in rows:
            r = _from_sql(row)
            if r.output_hash in self.by_hash:
                out[r.output_hash] = r
        return out

    def save(
        self,
        rater: str,
        output_hash: str,
        *,
        acceptable: bool,
        reasons: Sequence[str] = (),
        comment: str = "",
    ) -> Rating:
        """Store ``rater``'s verdict on ``output_hash`` (one transaction; an earlier rating of
        the same output by the same rater is updated). Returns the stored rating.

        Raises:
            InvalidInputError: unknown output, bad rater id or reason (nothing is written).
        """
        item = self.item(output_hash)
        now = now_utc()
        rating = Rating(
            rater=rater,
            output_hash=item.output_hash,
            case_id=item.case_id,
            inpainter=item.inpainter,
            backend=item.backend,
            variant=item.variant,
            acceptable=acceptable,
            reasons=tuple(reasons),
            comment=comment,
            created=now,
            updated=now,
        )
        return upsert_rating(self._db(), rating)

"""A content-addressed store of inpainting results, so nothing is computed or paid for twice.

A result is keyed by what produced it: the backend name, its options (canonical JSON, with
secrets such as API keys left out), the image's content hash, the mask's hash, the prompt,
the seed and the variant. The case id and the file name are not part of the key: the same
pixels under another name are the same work.

On disk, each entry is two files under ``root/<key[:2]>/``:

- ``<key>.<sha256[:16]>.npy``: the output's float32 pixels, exactly as computed (lossless
  at any depth), named after the key and the pixels' own hash;
- ``<key>.json``: ``{"format", "key", "result": InpaintResult.to_record(), "image": {...}}``
  with the pixels' SHA-256 and the name of their file, written last;
- for a result that also holds the output as the backend returned it (another frame, e.g.
  a squashed 1024x1024 square: :attr:`~radinpaint.records.InpaintResult.returned`), a
  second pixel file named the same way, described under ``"returned"`` in the JSON.
  Entries written before returned outputs were kept simply lack it.

Both are written to a temporary file in the same folder and moved into place with
:func:`os.replace`, which is atomic, so a reader sees a whole entry or none.
:meth:`ResultCache.get` reads the JSON first and then the pixel file it names, so two
processes writing the same entry at once (with different pixels, as a seed-dependent
backend gives) always leave one valid entry: whichever JSON lands last names its own pixel
file, which the other writer never touches. A replaced entry may leave its old pixel file
behind, unused. ``get`` checks the pixels against the hash in the JSON and treats any
mismatch, damage or missing field as a miss.

Use :func:`inpaint_cached` to run a backend through a cache::

    cache = ResultCache("runs/.cache")
    results = inpaint_cached(get_inpainter("telea"), requests, cache)
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from .errors import BatchFailedError, InvalidInputError
from .records import InpaintRequest, InpaintResult, Radiograph
from .scrub import scrub_options

if TYPE_CHECKING:
    from .capabilities import Capabilities
    from .evaluation.executor import Executor

__all__ = [
    "CACHE_FORMAT",
    "ResultCache",
    "canonical_json",
    "inpaint_cached",
    "public_options",
]

CACHE_FORMAT = 3
"""Version of the on-disk layout and key recipe; a change invalidates old entries.

2: the key holds the backend's declared fingerprint (its weights) and scrubbed options.
3: the pixel file is named after the key and the pixels' hash (``<key>.<sha256[:16]>.npy``)
and the JSON names it, so two writers of one key with different pixels can no longer pair
one writer's JSON with the other's pixels (which left an entry that was always a miss)."""


def public_options(options: Mapping[str, Any], secret_names: Iterable[str] = ()) -> dict[str, Any]:
    """``options`` without secrets (see :func:`radinpaint.scrub.scrub_options`)."""
    return scrub_options(options, secret_names)


def _jsonable(value: Any, path: str) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        if not np.isfinite(f):
            raise InvalidInputError(f"option {path} is not finite ({f})")
        return f
    if isinstance(value, enum.Enum):
        return _jsonable(value.value, path)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v, f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, np.ndarray) and value.ndim <= 1 and value.size <= 64:
        return _jsonable(value.tolist(), path)
    raise InvalidInputError(
        f"option {path} of type {type(value).__name__} cannot be recorded as JSON",
        fix="give the backend JSON-friendly options (numbers, strings, lists, dicts), "
        "or leave the value out of its options() record",
    )


def canonical_json(value: Any) -> str:
    """Deterministic JSON (sorted keys, no spaces): equal values give equal text."""
    return json.dumps(
        _jsonable(value, "options"), sort_keys=True, separators=(",", ":"), ensure_ascii=True
    )


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _npy_bytes(array: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


@attrs.define
class ResultCache:
    """A folder of inpainting results addressed by what produced them.

    Args:
        root: the cache folder (created when first written).
    """

    root: Path = attrs.field(converter=lambda p: Path(p).expanduser())

    @staticmethod
    def key(
        backend_name: str,
        options: Mapping[str, Any],
        request: InpaintRequest,
        *,
        fingerprint: str = "",
        secret_names: Iterable[str] = (),
    ) -> str:
        """The entry key (64 hex digits) for ``request`` run by ``backend_name`` with ``options``.

        ``fingerprint`` is the backend's declared fingerprint (a hash of its weights), so
        retrained weights under the same name and options never hit old entries. Secrets
        (names that look like secrets, ``secret_names``, URL credentials) are scrubbed
        first, so a key never depends on (or leaks) an API key.
        """
        recipe = {
            "format": CACHE_FORMAT,
            "backend": str(backend_name),
            "options": public_options(options, secret_names),
            "fingerprint": str(fingerprint),
            "image": request.image.content_hash(),
            "mask": request.mask.content_hash(),
            "prompt": request.prompt,
            "seed": request.seed,
            "variant": request.variant,
        }
        return hashlib.sha256(canonical_json(recipe).encode("utf-8")).hexdigest()

    def _paths(self, key: str) -> tuple[Path, Path]:
        """The entry's folder and its JSON file (the pixel file's name is in the JSON)."""
        if not re.fullmatch(r"[0-9a-f]{64}", key):
            raise InvalidInputError(f"not a cache key: {key!r}", fix="use ResultCache.key(...)")
        folder = self.root / key[:2]
        return folder, folder / f"{key}.json"

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    def get(self, key: str) -> InpaintResult | None:
        """The stored result for ``key``, or None when absent, partial or damaged.

        The JSON is read first, then the pixel file it names; an entry whose JSON lacks a
        field (or holds one of the wrong type) is a miss too, never an exception.
        """
        folder, meta = self._paths(key)
        try:
            entry = json.loads(meta.read_text(encoding="utf-8"))
            if entry.get("format") != CACHE_FORMAT or entry.get("key") != key:
                return None
            rec = entry["result"]
            image = _read_pixels(folder, key, entry["image"], int(rec["bit_depth"]))
            if image is None:
                return None
            returned = None
            if entry.get("returned") is not None:
                returned = _read_pixels(folder, key, entry["returned"], int(rec["bit_depth"]))
                if returned is None:
                    return None
            extra = dict(rec.get("extra") or {})
            extra["cache_key"] = key
            return InpaintResult(
                image=image,
                backend=rec["backend"],
                options=rec.get("options") or {},
                seed=int(rec.get("seed", 0)),
                prompt=rec.get("prompt"),
                variant=int(rec.get("variant", 0)),
                case_id=rec.get("case_id"),
                seconds=float(rec.get("seconds", 0.0)),
                cost_usd=float(rec.get("cost_usd", 0.0)),
                compositing=rec.get("compositing"),
                flags=tuple(rec.get("flags") or ()),
                extra=extra,
                placement=_placement(rec.get("placement")),
                returned=returned,
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            # absent, cut short, damaged, or well-formed JSON of the wrong shape
            # (InvalidInputError is a ValueError)
            return None

    def put(self, key: str, result: InpaintResult) -> None:
        """Store ``result`` under ``key`` (atomically; an existing entry is replaced).

        The pixels go to a file named after the key and their hash, then the JSON naming
        that file replaces the old one: concurrent writers each leave a whole entry.
        """
        folder, meta = self._paths(key)
        folder.mkdir(parents=True, exist_ok=True)
        record = result.to_record()
        record["options"] = public_options(record["options"])
        record["extra"] = {k: v for k, v in record["extra"].items() if k != "cache_key"}
        entry = {
            "format": CACHE_FORMAT,
            "key": key,
            "result": _jsonable(record, "result"),
            "image": _write_pixels(folder, key, result.image),
            "returned": None
            if result.returned is None
            else _write_pixels(folder, key, result.returned),
        }
        _atomic_write(meta, json.dumps(entry, indent=1, sort_keys=True).encode("utf-8"))

    def __len__(self) -> int:
        if not self.root.exists():
            return 0
        return sum(1 for _ in self.root.glob("??/*.json"))


def _write_pixels(folder: Path, key: str, image: Radiograph) -> dict[str, Any]:
    """Write ``image``'s float32 pixels to a file named by the key and their hash; its
    description for the entry's JSON."""
    pixels = np.ascontiguousarray(image.pixels, dtype=np.float32)
    digest = hashlib.sha256(pixels.tobytes()).hexdigest()
    name = f"{key}.{digest[:16]}.npy"
    _atomic_write(folder / name, _npy_bytes(pixels))
    return {
        "sha256": digest,
        "file": name,
        "source": image.source,
        "photometric": image.photometric,
    }


def _read_pixels(folder: Path, key: str, info: Any, bit_depth: int) -> Radiograph | None:
    """The image a ``_write_pixels`` description names, or None when it is missing,
    misnamed or does not match its hash."""
    name = info["file"]
    if not isinstance(name, str) or not re.fullmatch(rf"{key}\.[0-9a-f]{{16}}\.npy", name):
        return None
    pixels = np.load(folder / name, allow_pickle=False)
    digest = hashlib.sha256(np.ascontiguousarray(pixels).tobytes()).hexdigest()
    if digest != info["sha256"] or pixels.dtype != np.float32:
        return None
    return Radiograph(pixels, bit_depth, info.get("source"), info.get("photometric", "MONOCHROME2"))


def _placement(data: Any) -> Any:
    """The Placement a cache entry recorded, or None."""
    if not data:
        return None
    from .inpainters.geometry import Placement

    return Placement.from_dict(data)


def inpaint_cached(
    inpainter: Any,
    requests: Sequence[InpaintRequest],
    cache: ResultCache | None,
    *,
    options: Mapping[str, Any] | None = None,
    capabilities: Capabilities | None = None,
    executor: Executor | None = None,
) -> list[InpaintResult]:
    """Inpaint ``requests``, computing only what ``cache`` does not hold yet.

    Misses go to the backend call by call (:class:`~radinpaint.inpaint_calls.InpaintCalls`:
    calls of its declared batch size, variants of a case together, each call's results
    stored as soon as it returns; a request repeated in the batch is computed once);
    results come back in request order, each with the request's ``case_id``, its image's
    ``source`` and ``extra["cache_key"]``. With ``cache=None`` nothing is stored.

    Args:
        inpainter: the backend.
        requests: what to inpaint.
        cache: the result cache, or None.
        options: the options the backend was built with, recorded in the keys (default: none;
            built-in backends fold their resolved options into their fingerprint).
        capabilities: what the backend declares (default: its registration's declaration,
            :func:`radinpaint.registry.capabilities_of`).
        executor: runs the calls (default: one after another).

    Raises:
        BackendError: a request failed; ``exc.outcomes`` holds every request's outcome
            (the successes are in the cache already, so a rerun pays only for the rest).
    """
    from .inpaint_calls import InpaintCalls

    if capabilities is None:
        from .registry import capabilities_of

        capabilities = capabilities_of("inpainter", inpainter)
    calls = InpaintCalls(inpainter, capabilities, cache, options or {})
    outcomes = calls.run(requests, executor)
    failed = [o for o in outcomes if o.failure is not None]
    if failed:
        first = failed[0].failure
        assert first is not None
        raise BatchFailedError(
            f"{len(failed)} of {len(outcomes)} request(s) failed; first: {first.error}",
            input=first.case_id,
            fix="the requests that succeeded are cached; rerun to retry only the failed ones",
            outcomes=outcomes,
        )
    return [o.result for o in outcomes if o.result is not None]

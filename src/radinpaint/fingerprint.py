"""Fingerprints: short hashes of what a backend's output depends on beyond its options.

A backend declares one in its :class:`~radinpaint.capabilities.Capabilities` record, and
caches key on it, so weights retrained under the same file name never serve stale results.

- :func:`fingerprint_files` hashes the bytes of weight files (and configs), read in chunks;
  nothing is ever loaded as a model, and nothing here imports torch.
- :func:`fingerprint_value` hashes anything JSON can express (a hub model id and revision,
  preprocessing settings) through canonical JSON.
- :func:`file_sha256` is the SHA-256 of one file.

File digests are remembered for the life of the process, keyed by the file's resolved path,
size, modification time (ns), inode and change time: asking again for an unchanged file
(a fully cached rerun) costs one ``stat``, not a read of a large file. A file modified in
the last two seconds is not remembered (on file systems with coarse timestamps a second
write in the same tick would look unchanged).

Example::

    from radinpaint.fingerprint import fingerprint_files, fingerprint_value

    weights = fingerprint_files(["model/ensemble.json", "model/fold0.safetensors"])
    fp = fingerprint_value({"weights": weights, "preprocessing": {"size": 320}})
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .errors import InvalidInputError, ModelUnavailableError

__all__ = ["clear_fingerprint_memo", "file_sha256", "fingerprint_files", "fingerprint_value"]

_CHUNK = 1 << 20
_RECENT_S = 2.0
_FILES_TAG = b"radinpaint-fingerprint-files/1\n"
_VALUE_TAG = b"radinpaint-fingerprint-value/1\n"

_memo: dict[tuple[Any, ...], str] = {}
_memo_lock = threading.Lock()

PathLike = str | os.PathLike[str]


def clear_fingerprint_memo() -> None:
    """Forget every remembered file digest (the next request reads the files again)."""
    with _memo_lock:
        _memo.clear()


def _state(path: Path) -> tuple[Any, ...]:
    st = path.stat()
    return (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)


def file_sha256(path: PathLike) -> str:
    """SHA-256 hex digest of one file's bytes, read in 1 MiB chunks, remembered per process.

    Raises:
        ModelUnavailableError: the file does not exist or cannot be read.
    """
    p = Path(path)
    try:
        key = _state(p)
    except OSError as exc:
        raise ModelUnavailableError(
            f"cannot fingerprint a missing or unreadable file ({exc.strerror or exc})",
            input=str(p),
        ) from exc
    with _memo_lock:
        known = _memo.get(key)
    if known is not None:
        return known
    h = hashlib.sha256()
    try:
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(_CHUNK), b""):
                h.update(chunk)
    except OSError as exc:
        raise ModelUnavailableError(
            f"cannot read the file to fingerprint it ({exc.strerror or exc})", input=str(p)
        ) from exc
    digest = h.hexdigest()
    try:
        after = _state(p)
    except OSError:
        after = None
    # remember only a file that did not change while it was read and is not brand new
    if after == key and time.time() - key[2] / 1e9 >= _RECENT_S:
        with _memo_lock:
            _memo[key] = digest
    return digest


def _hidden(rel: Path) -> bool:
    return any(part.startswith(".") for part in rel.parts)


def _collect(paths: Iterable[PathLike]) -> tuple[list[Path], list[Path]]:
    """The files to hash (directories expanded) and the folders their names start from."""
    files: list[Path] = []
    anchors: list[Path] = []
    for item in paths:
        p = Path(item).expanduser()
        if p.is_dir():
            anchors.append(p.absolute())
            found = [f for f in p.rglob("*") if f.is_file() and not _hidden(f.relative_to(p))]
            files.extend(f.absolute() for f in found)
        elif p.is_file():
            anchors.append(p.absolute().parent)
            files.append(p.absolute())
        else:
            raise ModelUnavailableError(
                "cannot fingerprint a file or folder that does not exist",
                input=str(p),
                fix="check the weights path",
            )
    return files, anchors


def fingerprint_files(paths: Iterable[PathLike]) -> str:
    """SHA-256 over the bytes of weight files (and their configs), with their names.

    Each file is named by its path relative to the deepest folder holding every given path
    (for files in one folder: their file names; for a folder: paths inside it), so moving
    or copying the whole set elsewhere keeps the fingerprint, while renaming a file, or
    changing, adding or removing one, changes it. Files are taken in name order; a folder
    contributes every file under it except hidden ones (a name starting with ``.``).

    Nothing is loaded as a model: the bytes are read in chunks, and each file's digest is
    remembered for the life of the process (see the module docs), so asking again for
    unchanged files costs one ``stat`` each.

    Args:
        paths: files and/or folders.

    Returns:
        a 64-character hex digest.

    Raises:
        InvalidInputError: no path given (or only empty folders).
        ModelUnavailableError: a path does not exist or a file cannot be read.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files, anchors = _collect(paths)
    if not files:
        raise InvalidInputError(
            "fingerprint_files needs at least one file",
            fix="pass the weight files (or the folder holding them)",
        )
    root = Path(os.path.commonpath([str(a) for a in anchors]))
    named: dict[str, Path] = {}
    for f in files:
        named.setdefault(f.relative_to(root).as_posix(), f)
    h = hashlib.sha256(_FILES_TAG)
    for name in sorted(named):
        digest = file_sha256(named[name])
        h.update(json.dumps(name).encode("utf-8"))
        h.update(b"\0" + digest.encode("ascii") + b"\n")
    return h.hexdigest()


def _jsonable(value: Any) -> Any:
    """Values canonical JSON cannot take directly, in a stable form."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (set, frozenset)):
        return sorted((_canonical(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, bytes):
        return {"bytes_sha256": hashlib.sha256(value).hexdigest()}
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item) and getattr(value, "shape", None) == ():
        return item()
    tolist = getattr(value, "tolist", None)  # numpy arrays
    if callable(tolist):
        return tolist()
    raise InvalidInputError(
        f"fingerprint_value cannot hash a {type(value).__name__}",
        fix="pass JSON-like values (str, numbers, bools, None, lists, dicts with str keys)",
    )


def _canonical(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return {"float": repr(value)}
        return value
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise InvalidInputError(
                    f"fingerprint_value needs str keys, got {type(k).__name__} {k!r}"
                )
            out[k] = _canonical(v)
        return out
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    return _canonical(_jsonable(value))


def fingerprint_value(*parts: Any) -> str:
    """SHA-256 of the canonical JSON of ``parts`` (for inputs that are not files).

    Canonical: keys sorted, no whitespace, tuples as lists, paths as strings, sets sorted,
    objects with ``to_dict()`` through it; equal values always give the same digest, in
    any process. Use it for a hub model id and revision, preprocessing settings, or to
    combine :func:`fingerprint_files` digests with such settings::

        fingerprint_value({"model": "org/name", "revision": "main"})

    Raises:
        InvalidInputError: a part cannot be expressed as JSON.
    """
    text = json.dumps(
        _canonical(list(parts)), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(_VALUE_TAG + text.encode("utf-8")).hexdigest()

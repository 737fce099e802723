"""A content-addressed store of inpainting results, so nothing is computed or paid for twice.

A result is keyed by what produced it: the backend name, its options (canonical JSON, with
secrets such as API keys left out), the image's content hash, the mask's hash, the prompt,
the seed and the variant. The case id and the file name are not part of the key: the same
pixels under another name are the same work.

On disk, each entry is two files under ``root/<key[:2]>/``:

- ``<key>.<sha256[:16]>.npz``: the output's pixels, exactly as computed and given back bit
  for bit, named after the key and the float32 pixels' own hash. The ``.npz`` (a standard
  numpy archive with one member, ``pixels.npy``, deflated) holds 8-bit or 16-bit levels
  when every pixel lies exactly on that grid (an 8-bit PNG an API returned, a 16-bit
  radiograph pasted back), else the float32 pixels; entries written before as a plain
  float32 ``.npy`` are read as they are;
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
file, which the other writer never touches (it only ever replaces a pixel file with the same
name, hence the same bytes). A replaced entry may leave its old pixel file behind, unused.

``get`` checks everything it reads (the JSON's shape and types, the pixel file's header,
size, dtype, shape and SHA-256) and treats any damage as a miss, logged as a warning that
names the entry (logger ``radinpaint.cache``); it never raises for a damaged entry, so the
result is computed again and :meth:`ResultCache.put` replaces the damaged files (a folder
in the place of a file is removed when empty, else moved aside as ``<name>.damaged-...``).

Temporary files are named ``.<target>.<host>.<pid>.<random>.tmp`` and created with the
umask's permissions (like any file the process writes, 0644 under umask 022). A writer that
is killed leaves its temporary file behind: the first :meth:`~ResultCache.put` of a cache
object into a folder removes temporary files there that have not changed for
:data:`STALE_TEMP_SECONDS` and whose writer is not a live process on this host.

Use :func:`inpaint_cached` to run a backend through a cache::

    cache = ResultCache("runs/.cache")
    results = inpaint_cached(get_inpainter("telea"), requests, cache)
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import json
import logging
import os
import re
import secrets
import socket
import stat
import time
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
    "STALE_TEMP_SECONDS",
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

STALE_TEMP_SECONDS = 600.0
"""A temporary file unchanged for this long, whose writer is not a live process on this
host, is left over from a killed writer and is removed (see :class:`ResultCache`)."""

log = logging.getLogger("radinpaint.cache")


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


def _host() -> str:
    """This machine's name as it appears in temporary file names."""
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40] or "host"


_TEMP_NAME = re.compile(
    r"\.(?P<target>.+)\.(?P<host>[A-Za-z0-9-]+)\.(?P<pid>[0-9]+)\.[0-9a-f]{8}(?P<suffix>\.[^.]+)"
)


def _create_temp(folder: Path, target: str, suffix: str = ".tmp") -> tuple[int, str]:
    """Create ``folder/.<target>.<host>.<pid>.<random><suffix>`` for writing: ``(fd, path)``.

    Unlike :func:`tempfile.mkstemp` (always 0600) the file gets the umask's permissions, as
    any file the process writes would; the name says which process on which host writes it,
    so a sweep can tell a live writer's file from a dead one's.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    flags |= getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    tail = f".{_host()}.{os.getpid()}"
    target = target[: max(8, 240 - len(tail) - len(suffix) - 10)]  # a name fits in 255 bytes
    for _ in range(100):
        name = f".{target}{tail}.{secrets.token_hex(4)}{suffix}"
        path = os.path.join(folder, name)
        try:
            return os.open(path, flags, 0o666), path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary file name for {target!r} in {folder}")


def _pid_alive(pid: int) -> bool | None:
    """Whether process ``pid`` of this host lives (None: cannot tell on this system)."""
    if pid == os.getpid():
        return True
    if os.name != "posix":
        return None  # os.kill would end the process there
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # alive but someone else's (PermissionError), or unknown
        return True
    return True


def _remove_stale_temps(folder: Path, older_than: float | None = None) -> int:
    """Remove the temporary files killed writers left in ``folder``; how many were removed.

    A temporary file is removed only when it has not changed for ``older_than`` seconds
    (default :data:`STALE_TEMP_SECONDS`) and its name does not name a live process of this
    host (a writer on this host that cannot be checked gets a day). A live writer's file is
    never removed; should another host's writer stall for that long, its write is redone
    (:func:`_atomic_write`).
    """
    limit = STALE_TEMP_SECONDS if older_than is None else older_than
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    now = time.time()
    for e in entries:
        if not (e.name.startswith(".") and e.name.endswith(".tmp")):
            continue
        try:
            st = e.stat(follow_symlinks=False)
        except OSError:
            continue
        age = now - st.st_mtime
        if not stat.S_ISREG(st.st_mode) or age < limit:
            continue
        m = _TEMP_NAME.fullmatch(e.name)
        if m is not None and m["host"] == _host():
            alive = _pid_alive(int(m["pid"]))
            if alive or (alive is None and age < max(limit, 86400.0)):
                continue
        with contextlib.suppress(OSError):
            os.unlink(e.path)
            removed += 1
    return removed


def _move_aside(path: Path) -> None:
    """Clear ``path`` of what is in the way of a file: an empty folder is removed, anything
    else is renamed ``<name>.damaged-<time>-<random>`` (nothing is deleted)."""
    with contextlib.suppress(OSError):
        path.rmdir()
        log.warning("radinpaint: removed an empty folder in the place of cache file %s", path)
        return
    aside = path.with_name(f"{path.name}.damaged-{int(time.time())}-{secrets.token_hex(3)}")
    try:
        os.replace(path, aside)
    except FileNotFoundError:
        return  # another writer moved it first
    log.warning(
        "radinpaint: %s was in the place of cache file %s; moved aside to %s",
        "a folder" if aside.is_dir() else "a file",
        path,
        aside.name,
    )


def _in_the_way(path: Path) -> bool:
    """Whether a folder (not a link) occupies ``path``, where a file should go."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (a temporary file beside it, then
    :func:`os.replace`); a folder in the way is moved aside, and a temporary file that
    vanished before the move (a sweep took it) is written again."""
    for attempt in range(3):
        fd, tmp = _create_temp(path.parent, path.name)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.replace(tmp, path)
            except OSError:
                if not _in_the_way(path):
                    raise
                _move_aside(path)
                os.replace(tmp, path)
            return
        except FileNotFoundError:
            if attempt < 2 and not os.path.exists(tmp) and path.parent.is_dir():
                continue  # our temporary file was taken: write it again
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
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
    _swept: set[str] = attrs.field(factory=set, init=False, repr=False, eq=False)

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

        The JSON is read first, then the pixel file it names. Damage of any kind (a file cut
        short or emptied, JSON of the wrong shape or types, a pixel file that does not match
        its record, a folder in the place of a file) is a miss, logged as a warning naming
        the entry, never an exception: the result is computed again and :meth:`put`
        replaces the entry.
        """
        folder, meta = self._paths(key)
        try:
            raw = meta.read_bytes()
        except FileNotFoundError:
            return None  # absent (or the folder is): an ordinary miss
        except OSError as exc:
            _warn_damaged(meta, f"cannot be read ({type(exc).__name__}: {exc})")
            return None
        try:
            return _load_entry(folder, key, raw)
        except Exception as exc:  # damage of any kind is a miss, never an error
            reason = str(exc) if isinstance(exc, _Damage) else f"{type(exc).__name__}: {exc}"
            _warn_damaged(meta, reason)
            return None

    def put(self, key: str, result: InpaintResult) -> None:
        """Store ``result`` under ``key`` (atomically; an existing entry is replaced).

        The pixels go to a file named after the key and their hash, then the JSON naming
        that file replaces the old one: concurrent writers each leave a whole entry. A
        damaged entry is replaced the same way (a folder in the place of one of its files
        is removed when empty, else moved aside). The first ``put`` into a folder removes
        the temporary files killed writers left there.
        """
        folder, meta = self._paths(key)
        self._prepare(folder)
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

    def _prepare(self, folder: Path) -> None:
        """Make ``folder`` (moving aside a file in its place); sweep it once."""
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            if folder.is_dir():  # made meanwhile by another writer
                pass
            elif folder.parent.is_dir() and not folder.is_symlink():
                _move_aside(folder)
                folder.mkdir(exist_ok=True)
            else:
                raise
        if folder.name not in self._swept:
            self._swept.add(folder.name)
            _remove_stale_temps(folder)

    def __len__(self) -> int:
        if not self.root.exists():
            return 0
        return sum(1 for _ in self.root.glob("??/*.json"))


_LEVELS: dict[str, float] = {"|u1": 255.0, "<u2": 65535.0}
"""Integer encodings of pixels that lie exactly on the 8- or 16-bit grid, and their top."""


def _compact(pixels: np.ndarray) -> np.ndarray:
    """The smallest array that gives ``pixels`` back bit for bit: 8-bit or 16-bit levels
    when every pixel lies exactly on that grid (the decoded float32 compared in full),
    else the float32 pixels themselves."""
    for dtype, top in ((np.uint8, 255.0), (np.uint16, 65535.0)):
        levels = np.rint(pixels.astype(np.float64) * top)
        if levels.min() < 0 or levels.max() > top:
            continue
        encoded = levels.astype(dtype)
        if np.array_equal(encoded.astype(np.float32) / np.float32(top), pixels):
            return encoded
    return pixels


def _npz_bytes(array: np.ndarray) -> bytes:
    """A standard ``.npz`` (one member, ``pixels.npy``), deflated at level 1: about half
    the size of float32 pixels, far less for pixels on a grid, and fast to write."""
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("pixels.npy", _npy_bytes(array))
    return buf.getvalue()


def _write_pixels(folder: Path, key: str, image: Radiograph) -> dict[str, Any]:
    """Write ``image``'s pixels, losslessly and compactly (:func:`_compact`, deflated), to
    a file named by the key and the float32 pixels' hash; its description for the JSON."""
    pixels = np.ascontiguousarray(image.pixels, dtype=np.float32)
    digest = hashlib.sha256(pixels.tobytes()).hexdigest()
    name = f"{key}.{digest[:16]}.npz"
    _atomic_write(folder / name, _npz_bytes(_compact(pixels)))
    return {
        "sha256": digest,
        "file": name,
        "source": image.source,
        "photometric": image.photometric,
    }


class _Damage(ValueError):
    """Why a cache entry cannot be used."""


def _warn_damaged(meta: Path, reason: str) -> None:
    log.warning(
        "radinpaint: damaged cache entry %s (%s); treated as a miss, it will be computed "
        "again and replaced",
        meta,
        reason,
    )


def _check(ok: bool, reason: str) -> None:
    if not ok:
        raise _Damage(reason)


def _required(data: dict[str, Any], name: str, kind: type | tuple[type, ...], where: str) -> Any:
    """``data[name]``, which must be a ``kind`` (never a bool standing for a number)."""
    _check(name in data, f"{where} lacks {name!r}")
    value = data[name]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    _check(
        isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds),
        f"{where}.{name} is {type(value).__name__}",
    )
    return value


def _optional(
    data: dict[str, Any], name: str, kind: type | tuple[type, ...], default: Any, where: str
) -> Any:
    """``data[name]`` when present and not null (it must then be a ``kind``), else
    ``default`` (entries written by earlier versions lack some fields)."""
    if data.get(name) is None:
        return default
    return _required(data, name, kind, where)


def _shape(value: Any, where: str) -> tuple[int, ...] | None:
    if value is None:
        return None
    _check(
        isinstance(value, list)
        and len(value) == 2
        and all(type(v) is int and v > 0 for v in value),
        f"{where} is not a shape",
    )
    return tuple(value)


_NUMBER = (int, float)
_SCALAR = (str, int, float, bool)  # descriptive fields no writer validates: any JSON scalar


def _whole(data: dict[str, Any], name: str, where: str) -> int:
    """An integer field (0 when absent); an integral float is an integer written by a
    backend that counted in floats."""
    value = _optional(data, name, _NUMBER, 0, where)
    _check(float(value).is_integer(), f"{where}.{name} is not a whole number")
    return int(value)


def _load_entry(folder: Path, key: str, raw: bytes) -> InpaintResult:
    """The result an entry's JSON bytes (and the pixel files they name) hold; raises
    (:class:`_Damage` or whatever the damage causes) when anything is amiss."""
    try:
        entry = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise _Damage(f"the JSON is not UTF-8 ({exc})") from exc
    except ValueError as exc:
        raise _Damage(f"not JSON ({exc})") from exc
    _check(isinstance(entry, dict), f"the JSON is {type(entry).__name__}, not an object")
    fmt = entry.get("format")
    _check(type(fmt) is int and fmt == CACHE_FORMAT, f"format {fmt!r}, not {CACHE_FORMAT}")
    _check(entry.get("key") == key, "the JSON names another key")
    rec = _required(entry, "result", dict, "entry")
    bit_depth = _required(rec, "bit_depth", int, "result")
    backend = _required(rec, "backend", str, "result")
    shape = _shape(rec.get("shape"), "result.shape")
    image = _read_pixels(folder, key, _required(entry, "image", dict, "entry"), bit_depth, shape)
    returned = None
    if entry.get("returned") is not None:
        info = _required(entry, "returned", dict, "entry")
        returned_shape = _shape(rec.get("returned_shape"), "result.returned_shape")
        returned = _read_pixels(folder, key, info, bit_depth, returned_shape, "returned")
    extra = dict(_optional(rec, "extra", dict, {}, "result"))
    extra["cache_key"] = key
    flags = _optional(rec, "flags", list, [], "result")
    _check(all(isinstance(f, _SCALAR) for f in flags), "result.flags holds a non-scalar")
    placement = _optional(rec, "placement", dict, None, "result")
    return InpaintResult(
        image=image,
        backend=backend,
        options=_optional(rec, "options", dict, {}, "result"),
        seed=_whole(rec, "seed", "result"),
        prompt=_optional(rec, "prompt", _SCALAR, None, "result"),
        variant=_whole(rec, "variant", "result"),
        case_id=_optional(rec, "case_id", _SCALAR, None, "result"),
        seconds=float(_optional(rec, "seconds", _NUMBER, 0.0, "result")),
        cost_usd=float(_optional(rec, "cost_usd", _NUMBER, 0.0, "result")),
        compositing=_optional(rec, "compositing", _SCALAR, None, "result"),
        flags=tuple(flags),
        extra=extra,
        placement=_placement(placement),
        returned=returned,
    )


def _read_pixels(
    folder: Path,
    key: str,
    info: dict[str, Any],
    bit_depth: int,
    shape: tuple[int, ...] | None,
    what: str = "image",
) -> Radiograph:
    """The image a ``_write_pixels`` description names; raises :class:`_Damage` when it is
    missing, misnamed, cut short or does not match its hash or its recorded shape."""
    name = _required(info, "file", str, what)
    digest = _required(info, "sha256", str, what)
    source = _optional(info, "source", _SCALAR, None, what)
    photometric = _optional(info, "photometric", str, "MONOCHROME2", what)
    _check(re.fullmatch(r"[0-9a-f]{64}", digest) is not None, f"{what}.sha256 is not a digest")
    _check(
        re.fullmatch(rf"{key}\.{digest[:16]}\.np[yz]", name) is not None,
        f"{what}.file {name!r} is not this entry's pixel file",
    )
    path = folder / name
    pixels = _load_npz(path, what) if name.endswith(".npz") else _load_npy(path, what)
    if shape is not None:
        _check(pixels.shape == shape, f"the {what} pixels are {pixels.shape}, not {shape}")
    actual = hashlib.sha256(np.ascontiguousarray(pixels).tobytes()).hexdigest()
    _check(actual == digest, f"the {what} pixels do not match their hash")
    return Radiograph(pixels, bit_depth, source, photometric)


def _load_npy(path: Path, what: str) -> np.ndarray:
    """A 2-D float32 array from an ``.npy`` file (written before pixels were stored
    compactly); raises :class:`_Damage`."""
    try:
        with open(path, "rb") as fh:
            return _read_array(fh, what, ("<f4",))
    except _Damage:
        raise
    except FileNotFoundError as exc:
        raise _Damage(f"the {what} file {path.name} is missing") from exc
    except (OSError, ValueError) as exc:  # a folder, unreadable, not an .npy, cut short
        raise _Damage(f"the {what} file is unreadable ({type(exc).__name__}: {exc})") from exc


def _load_npz(path: Path, what: str) -> np.ndarray:
    """The float32 pixels of a compact ``.npz`` (:func:`_write_pixels`); the member's
    header is checked before anything is inflated, and no more is inflated than it
    announces; raises :class:`_Damage`."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            _check(names == ["pixels.npy"], f"the {what} file holds {names[:3]}")
            with zf.open("pixels.npy") as fh:
                stored = _read_array(fh, what, (*_LEVELS, "<f4"))
    except _Damage:
        raise
    except FileNotFoundError as exc:
        raise _Damage(f"the {what} file {path.name} is missing") from exc
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise _Damage(f"the {what} file is unreadable ({type(exc).__name__}: {exc})") from exc
    top = _LEVELS.get(stored.dtype.str)
    if top is None:
        return stored.astype(np.float32, copy=False)
    return stored.astype(np.float32) / np.float32(top)


def _read_array(fh: Any, what: str, dtypes: tuple[str, ...]) -> np.ndarray:
    """A 2-D array of one of ``dtypes`` from an open ``.npy`` stream, its header checked
    before any data is read (so a damaged header cannot ask for terabytes)."""
    fmt = np.lib.format
    version = fmt.read_magic(fh)
    if version == (1, 0):
        shape, fortran, dtype = fmt.read_array_header_1_0(fh)
    elif version == (2, 0):
        shape, fortran, dtype = fmt.read_array_header_2_0(fh)
    else:
        raise _Damage(f"the {what} file has .npy version {version}")
    _check(np.dtype(dtype).str in dtypes, f"the {what} file holds {dtype}, not {dtypes}")
    _check(
        len(shape) == 2 and all(int(n) > 0 for n in shape),
        f"the {what} file holds an array of shape {shape}",
    )
    size = int(shape[0]) * int(shape[1]) * np.dtype(dtype).itemsize
    data = fh.read(size + 1)
    _check(len(data) == size, f"the {what} file holds {len(data)} data bytes, not {size}")
    return np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")


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

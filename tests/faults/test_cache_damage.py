"""Fault injection on the caches: every kind of damage to a real entry, two processes writing
one cache, and a writer killed mid-write.

The rule: money and data are never lost; an API image paid for is never paid for again; a
damaged entry is a miss (computed again, then replaced), logged, never a crash.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import multiprocessing as mp
import os
import signal
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import attrs
import numpy as np
import pytest

import radinpaint.cache as cache_mod
from radinpaint.cache import ResultCache, inpaint_cached
from radinpaint.capabilities import Capabilities
from radinpaint.evaluation.predcache import PredictionCache, StoredPrediction
from radinpaint.inpainters.base import finish_result
from radinpaint.records import InpaintRequest, Mask, Radiograph

pytestmark = pytest.mark.faults

SHAPE = (20, 28)


def _request(case: int = 0, seed: int = 1) -> InpaintRequest:
    rng = np.random.default_rng(100 + case)
    image = Radiograph.from_uint(rng.integers(0, 4096, SHAPE, dtype=np.uint16), 12)
    mask = np.zeros(SHAPE, bool)
    mask[4:12, 6:18] = True
    return InpaintRequest(image, Mask.from_array(mask), seed=seed, case_id=f"case{case}")


@attrs.define
class Paid:
    """A backend that answers like a paid API: an output plus the frame it returned (a
    squashed square), seed-dependent unless ``salt`` is fixed; counts what it computes."""

    salt: int = 0
    computed: list[str] = attrs.field(factory=list)

    name = "paid-test"

    def inpaint(self, requests):
        out = []
        for r in requests:
            self.computed.append(str(r.case_id))
            rng = np.random.default_rng([r.variant_seed, self.salt])
            filled = rng.uniform(0.2, 0.8, r.image.shape).astype(np.float32)
            square = rng.uniform(0.0, 1.0, (16, 16)).astype(np.float32)
            result = finish_result(
                r,
                filled,
                backend=self.name,
                options={},
                seconds=0.5,
                cost_usd=0.04,
                flags=("paid",),
                extra={"model": "m"},
            )
            returned = Radiograph(square, r.image.bit_depth)
            out.append(attrs.evolve(result, returned=returned))
        return out


CAPS = Capabilities(batch_size=1)


@attrs.define
class Entry:
    """One real entry on disk and the ways to reach its files."""

    cache: ResultCache
    key: str
    folder: Path
    meta: Path
    record: dict
    image: Path
    returned: Path

    def load(self) -> dict:
        return json.loads(json.dumps(self.record))

    def write_json(self, value: object) -> None:
        self.meta.write_text(json.dumps(value), encoding="utf-8")

    def edit(self, fn: Callable[[dict], object]) -> None:
        entry = self.load()
        out = fn(entry)
        self.write_json(entry if out is None else out)


def _payload(path: Path) -> bytes:
    """The ``.npy`` bytes a pixel file holds (inside its ``.npz``, or the file itself)."""
    if path.suffix != ".npz":
        return path.read_bytes()
    with zipfile.ZipFile(path) as zf:
        return zf.read("pixels.npy")


def _put(path: Path, npy: bytes) -> None:
    """Write ``npy`` bytes into ``path`` the way the cache stores them (zipped for .npz):
    the damage is to the pixels, not to their container."""
    if path.suffix != ".npz":
        path.write_bytes(npy)
        return
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("pixels.npy", npy)
    path.write_bytes(buf.getvalue())


def _zip_with(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _npy(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=allow_pickle)
    return buf.getvalue()


def _pixels(path: Path) -> np.ndarray:
    """The float32 pixels a pixel file gives back (levels divided by their top)."""
    stored = np.load(io.BytesIO(_payload(path)), allow_pickle=False)
    top = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(stored.dtype)
    return stored.astype(np.float32) / np.float32(top) if top else stored


def _rehash(entry: Entry, which: str, array: np.ndarray) -> None:
    """Replace a pixel file with ``array`` and record it consistently (name and hash), so
    only what the pixels are (their range, their shape) is wrong."""
    data = entry.load()
    digest = hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()
    name = f"{entry.key}.{digest[:16]}.npz"
    _put(entry.folder / name, _npy(array))
    data[which]["file"], data[which]["sha256"] = name, digest
    entry.write_json(data)


def _drop(path: str) -> Callable[[dict], None]:
    def fn(e: dict) -> None:
        *parents, last = path.split(".")
        for p in parents:
            e = e[p]
        del e[last]

    return fn


def _set(path: str, value: object) -> Callable[[dict], None]:
    def fn(e: dict) -> None:
        *parents, last = path.split(".")
        for p in parents:
            e = e[p]
        e[last] = value

    return fn


def _dir(path: Path, full: bool = False) -> None:
    path.unlink()
    path.mkdir()
    if full:
        (path / "something").write_text("kept")


def _folder_to_file(folder: Path) -> None:
    for p in folder.iterdir():
        p.unlink()
    folder.rmdir()
    folder.write_text("x")


def _other_key(e: Entry) -> str:
    return hashlib.sha256(e.key.encode()).hexdigest()


_DAMAGE: dict[str, Callable[[Entry], None]] = {
    # the image's pixel file
    "file-empty": lambda e: e.image.write_bytes(b""),
    "file-cut": lambda e: e.image.write_bytes(e.image.read_bytes()[:-9]),
    "file-garbage": lambda e: e.image.write_bytes(os.urandom(600)),
    "zip-two-members": lambda e: e.image.write_bytes(
        _zip_with({"pixels.npy": _payload(e.image), "other.npy": b"x"})
    ),
    "zip-member-renamed": lambda e: e.image.write_bytes(_zip_with({"x.npy": _payload(e.image)})),
    "npy-empty": lambda e: _put(e.image, b""),
    "npy-header-cut": lambda e: _put(e.image, _payload(e.image)[:20]),
    "npy-data-cut": lambda e: _put(e.image, _payload(e.image)[:-9]),
    "npy-trailing-bytes": lambda e: _put(e.image, _payload(e.image) + b"\0" * 8),
    "npy-garbage": lambda e: _put(e.image, os.urandom(600)),
    "npy-float64": lambda e: _put(e.image, _npy(_pixels(e.image).astype(np.float64))),
    "npy-big-endian": lambda e: _put(e.image, _npy(_pixels(e.image).astype(">f4"))),
    "npy-flattened": lambda e: _put(e.image, _npy(_pixels(e.image).ravel())),
    "npy-transposed-shape": lambda e: _put(e.image, _npy(_pixels(e.image).reshape(SHAPE[::-1]))),
    "npy-pickled-object": lambda e: _put(
        e.image, _npy(np.array([{"x": 1}], dtype=object), allow_pickle=True)
    ),
    "npy-huge-header": lambda e: _put(
        e.image,
        _payload(e.image).replace(f"({SHAPE[0]}, {SHAPE[1]})".encode(), b"(99999, 99999)", 1),
    ),
    "npy-other-pixels": lambda e: _put(e.image, _npy(_pixels(e.image) * 0.5)),
    "npy-missing": lambda e: e.image.unlink(),
    "npy-is-a-folder": lambda e: _dir(e.image),
    "npy-is-a-full-folder": lambda e: _dir(e.image, full=True),
    "pixels-out-of-range": lambda e: _rehash(e, "image", _pixels(e.image) + 2.0),
    "pixels-not-finite": lambda e: _rehash(e, "image", np.full(SHAPE, np.nan, np.float32)),
    "pixels-not-the-recorded-shape": lambda e: _rehash(
        e, "image", np.zeros((SHAPE[0], SHAPE[1] + 1), np.float32)
    ),
    # the JSON file
    "json-empty": lambda e: e.meta.write_bytes(b""),
    "json-cut": lambda e: e.meta.write_bytes(e.meta.read_bytes()[:70]),
    "json-garbage": lambda e: e.meta.write_bytes(os.urandom(300)),
    "json-invalid-utf8": lambda e: e.meta.write_bytes(b'{"format": 3, "x": "\xff\xfe"}'),
    "json-nul-bytes": lambda e: e.meta.write_bytes(b"\0" * 64),
    "json-nested-too-deep": lambda e: e.meta.write_bytes(b"[" * 200_000),
    "json-is-a-folder": lambda e: _dir(e.meta),
    "json-is-a-full-folder": lambda e: _dir(e.meta, full=True),
    "json-list": lambda e: e.write_json([]),
    "json-null": lambda e: e.write_json(None),
    "json-empty-object": lambda e: e.write_json({}),
    "json-number": lambda e: e.write_json(3),
    "json-string": lambda e: e.write_json("entry"),
    "json-entry-in-a-list": lambda e: e.write_json([e.load()]),
    "folder-is-a-file": lambda e: _folder_to_file(e.folder),
    # the JSON's fields: missing
    "no-format": lambda e: e.edit(_drop("format")),
    "no-key": lambda e: e.edit(_drop("key")),
    "no-result": lambda e: e.edit(_drop("result")),
    "no-image": lambda e: e.edit(_drop("image")),
    "no-result.backend": lambda e: e.edit(_drop("result.backend")),
    "no-result.bit_depth": lambda e: e.edit(_drop("result.bit_depth")),
    "no-image.file": lambda e: e.edit(_drop("image.file")),
    "no-image.sha256": lambda e: e.edit(_drop("image.sha256")),
    "no-returned.file": lambda e: e.edit(_drop("returned.file")),
    "no-returned.sha256": lambda e: e.edit(_drop("returned.sha256")),
    # the JSON's fields: wrong values or types
    "format-older": lambda e: e.edit(_set("format", 2)),
    "format-newer": lambda e: e.edit(_set("format", 4)),
    "format-a-string": lambda e: e.edit(_set("format", "3")),
    "format-a-float": lambda e: e.edit(_set("format", 3.0)),
    "key-another": lambda e: e.edit(_set("key", _other_key(e))),
    "key-a-number": lambda e: e.edit(_set("key", 7)),
    "result-a-list": lambda e: e.edit(_set("result", [1, 2])),
    "result-null": lambda e: e.edit(_set("result", None)),
    "result.backend-a-number": lambda e: e.edit(_set("result.backend", 5)),
    "result.bit_depth-a-string": lambda e: e.edit(_set("result.bit_depth", "12")),
    "result.bit_depth-a-bool": lambda e: e.edit(_set("result.bit_depth", True)),
    "result.bit_depth-unsupported": lambda e: e.edit(_set("result.bit_depth", 7)),
    "result.shape-another": lambda e: e.edit(_set("result.shape", [SHAPE[0], SHAPE[1] + 1])),
    "result.shape-a-string": lambda e: e.edit(_set("result.shape", "20x28")),
    "result.returned_shape-another": lambda e: e.edit(_set("result.returned_shape", [8, 8])),
    "result.seed-a-string": lambda e: e.edit(_set("result.seed", "1")),
    "result.variant-a-fraction": lambda e: e.edit(_set("result.variant", 0.5)),
    "result.seconds-a-string": lambda e: e.edit(_set("result.seconds", "fast")),
    "result.cost_usd-a-list": lambda e: e.edit(_set("result.cost_usd", [0.04])),
    "result.prompt-an-object": lambda e: e.edit(_set("result.prompt", {"text": "x"})),
    "result.case_id-a-list": lambda e: e.edit(_set("result.case_id", ["c"])),
    "result.compositing-a-list": lambda e: e.edit(_set("result.compositing", ["raw"])),
    "result.flags-a-string": lambda e: e.edit(_set("result.flags", "paid")),
    "result.flags-holds-a-list": lambda e: e.edit(_set("result.flags", ["paid", [3]])),
    "result.options-a-list": lambda e: e.edit(_set("result.options", [["a", 1]])),
    "result.extra-a-number": lambda e: e.edit(_set("result.extra", 5)),
    "result.extra-a-list": lambda e: e.edit(_set("result.extra", [["model", "m"]])),
    "result.placement-not-a-placement": lambda e: e.edit(_set("result.placement", {"x": 1})),
    "result.placement-a-string": lambda e: e.edit(_set("result.placement", "letterbox")),
    "image-a-string": lambda e: e.edit(_set("image", "x.npy")),
    "image.file-a-number": lambda e: e.edit(_set("image.file", 3)),
    "image.file-outside-the-folder": lambda e: e.edit(
        _set("image.file", "../" + e.record["image"]["file"])
    ),
    "image.file-absolute": lambda e: e.edit(_set("image.file", str(e.image))),
    "image.file-names-the-returned-file": lambda e: e.edit(
        _set("image.file", e.record["returned"]["file"])
    ),
    "image.file-of-another-key": lambda e: e.edit(
        _set("image.file", e.image.name.replace(e.key, _other_key(e)))
    ),
    "image.sha256-another": lambda e: e.edit(_set("image.sha256", "0" * 64)),
    "image.sha256-a-number": lambda e: e.edit(_set("image.sha256", 12)),
    "image.source-an-object": lambda e: e.edit(_set("image.source", {"path": "x"})),
    "image.photometric-unknown": lambda e: e.edit(_set("image.photometric", "RGB")),
    "returned-a-string": lambda e: e.edit(_set("returned", "square.npy")),
    "returned.sha256-another": lambda e: e.edit(_set("returned.sha256", "f" * 64)),
    # the returned frame's pixel file
    "returned-npy-missing": lambda e: e.returned.unlink(),
    "returned-npy-empty": lambda e: e.returned.write_bytes(b""),
    "returned-npy-cut": lambda e: e.returned.write_bytes(e.returned.read_bytes()[:-5]),
    "returned-npy-other-pixels": lambda e: _put(e.returned, _npy(1.0 - _pixels(e.returned))),
    "returned-npy-is-a-folder": lambda e: _dir(e.returned),
}


@pytest.fixture
def entry(tmp_path) -> tuple[Entry, Paid, InpaintRequest]:
    backend = Paid(salt=7)  # the same answer when computed again
    req = _request()
    cache = ResultCache(tmp_path / "cache")
    (first,) = inpaint_cached(backend, [req], cache, capabilities=CAPS)
    key = first.extra["cache_key"]
    folder = cache.root / key[:2]
    meta = folder / f"{key}.json"
    record = json.loads(meta.read_text("utf-8"))
    found = Entry(
        cache,
        key,
        folder,
        meta,
        record,
        folder / record["image"]["file"],
        folder / record["returned"]["file"],
    )
    assert cache.get(key) is not None and backend.computed == ["case0"]
    return found, backend, req


@pytest.mark.parametrize("damage", sorted(_DAMAGE))
def test_a_damaged_entry_is_a_logged_miss_then_computed_again(entry, damage, caplog):
    e, backend, req = entry
    before = e.cache.get(e.key)
    assert before is not None
    _DAMAGE[damage](e)

    with caplog.at_level(logging.WARNING, logger="radinpaint.cache"):
        assert e.cache.get(e.key) is None  # a miss, never an exception
        assert e.key not in e.cache
    warned = [r.getMessage() for r in caplog.records if r.name == "radinpaint.cache"]
    assert warned and all(e.key in w for w in warned)

    (again,) = inpaint_cached(backend, [req], e.cache, capabilities=CAPS)
    assert backend.computed == ["case0", "case0"]  # computed again, once
    np.testing.assert_array_equal(again.image.pixels, before.image.pixels)
    fresh = ResultCache(e.cache.root)
    stored = fresh.get(e.key)
    assert stored is not None  # the entry is whole again
    np.testing.assert_array_equal(stored.image.pixels, before.image.pixels)
    assert stored.returned is not None
    np.testing.assert_array_equal(stored.returned.pixels, before.returned.pixels)
    assert stored.cost_usd == before.cost_usd and stored.flags == before.flags
    inpaint_cached(backend, [req], fresh, capabilities=CAPS)
    assert len(backend.computed) == 2  # and served from the cache from then on


def test_entries_without_the_newer_fields_still_hit(entry, caplog):
    """Entries written before some fields existed are not damage: no paid result is lost."""
    e, backend, req = entry
    data = e.load()
    for name in ("shape", "returned_shape", "placement", "options", "extra", "flags", "seed"):
        data["result"].pop(name, None)
    data.pop("returned")
    for name in ("source", "photometric"):
        data["image"].pop(name)
    e.write_json(data)
    with caplog.at_level(logging.WARNING):
        got = e.cache.get(e.key)
    assert got is not None and got.returned is None and not caplog.records
    inpaint_cached(backend, [req], e.cache, capabilities=CAPS)
    assert backend.computed == ["case0"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("result.case_id", 17),  # a dataset with integer ids
        ("result.prompt", 3.5),
        ("result.seed", 1.0),  # a backend counting in floats
        ("result.seconds", 2),
        ("result.flags", ["paid", 3]),
        ("image.source", 12),
    ],
)
def test_descriptive_fields_a_writer_may_give_any_scalar_still_hit(entry, field, value):
    """Fields no writer validates are not damage when they hold another scalar: a paid
    result is never thrown away over a record's type."""
    e, backend, req = entry
    e.edit(_set(field, value))
    assert e.cache.get(e.key) is not None
    inpaint_cached(backend, [req], e.cache, capabilities=CAPS)
    assert backend.computed == ["case0"]


def test_an_absent_entry_is_a_quiet_miss(tmp_path, caplog):
    cache = ResultCache(tmp_path / "never-written")
    with caplog.at_level(logging.WARNING):
        assert cache.get("ab" * 32) is None
    assert not caplog.records


# -- the prediction cache ----------------------------------------------------------------

GOOD = [
    ("aaaa:1", StoredPrediction(120.0, 0.9, (119.0, 121.0), (0.8, 1.0))),
    ("cccc:", StoredPrediction(60.5, math.nan, (), ())),
]
BAD_KEY = "bbbb:0"
BAD_PRED = StoredPrediction(99.0, 0.25, (98.0, 100.0), (0.2, 0.3))


def _line(key: str = BAD_KEY, **changes: object) -> bytes:
    row = {"key": key, **BAD_PRED.to_json(), **changes}
    return json.dumps(row, separators=(",", ":")).encode()


def _without(name: str) -> bytes:
    row = json.loads(_line())
    del row[name]
    return json.dumps(row).encode()


_BAD_LINES: dict[str, bytes] = {
    "invalid-utf8": _line()[:-2] + b',"x":"\xff\xfe"}',
    "latin1-text": '{"key":"bbbb:0","note":"caf\xe9"}'.encode("latin-1"),
    "null": b"null",
    "empty-list": b"[]",
    "row-in-a-list": b"[" + _line() + b"]",
    "string": b'"bbbb:0"',
    "number": b"42",
    "true": b"true",
    "empty-object": b"{}",
    "cut-short": _line()[:25],
    "garbage": b"#$%^ not json at all",
    "nul-bytes": b"\0" * 40,
    "nested-too-deep": b"[" * 200_000,
    "no-key": _without("key"),
    "key-a-number": _line(key=7),  # type: ignore[arg-type]
    "key-a-list": _line(key=["bbbb", 0]),  # type: ignore[arg-type]
    "key-null": _line(key=None),  # type: ignore[arg-type]
    "no-bone_age": _without("bone_age"),
    "no-p_male": _without("p_male"),
    "bone_age-a-string": _line(bone_age="99"),
    "bone_age-a-bool": _line(bone_age=True),
    "bone_age-an-object": _line(bone_age={"v": 99}),
    "p_male-a-list": _line(p_male=[0.25]),
    "members-a-string": _line(member_bone_age="98"),
    "members-a-number": _line(member_bone_age=98.0),
    "members-hold-a-string": _line(member_p_male=[0.2, "0.3"]),
    "number-too-large-for-a-float": _line()[:-1] + b',"bone_age":1' + b"0" * 400 + b"}",
}


def _write_cache(path: Path, bad: bytes | None, *, last: bool = False) -> None:
    lines = [json.dumps({"key": k, **p.to_json()}).encode() for k, p in GOOD]
    if bad is not None:
        lines.insert(len(lines) if last else 1, bad)
    text = b"\n".join(lines)
    path.write_bytes(text if last else text + b"\n")


def _same(a: StoredPrediction | None, b: StoredPrediction) -> bool:
    return a is not None and json.dumps(a.to_json()) == json.dumps(b.to_json())


@pytest.mark.parametrize("last", [False, True], ids=["mid-file", "last-line-no-newline"])
@pytest.mark.parametrize("damage", sorted(_BAD_LINES))
def test_a_damaged_prediction_line_is_skipped_and_recomputed(tmp_path, damage, last, caplog):
    path = tmp_path / "predictions" / "fp.jsonl"
    path.parent.mkdir()
    _write_cache(path, _BAD_LINES[damage], last=last)

    with caplog.at_level(logging.WARNING, logger="radinpaint.predcache"):
        cache = PredictionCache(path)  # never raises
    assert cache.skipped == 1
    assert any(str(path) in r.getMessage() for r in caplog.records)
    assert len(cache) == 2 and BAD_KEY not in cache  # the rest is used; this one is a miss
    for key, pred in GOOD:
        assert _same(cache.get(key), pred)

    cache.put_many([(BAD_KEY, BAD_PRED)])  # predicted again, appended
    again = PredictionCache(path)
    assert len(again) == 3 and again.skipped == 1
    assert _same(again.get(BAD_KEY), BAD_PRED)
    for key, pred in GOOD:
        assert _same(again.get(key), pred)


@pytest.mark.parametrize("damage", ["a-folder", "a-full-folder"])
def test_a_prediction_cache_file_that_is_a_folder_leaves_a_memory_cache(tmp_path, damage, caplog):
    path = tmp_path / "fp.jsonl"
    path.mkdir()
    if damage == "a-full-folder":
        (path / "x").write_text("kept")
    with caplog.at_level(logging.WARNING, logger="radinpaint.predcache"):
        cache = PredictionCache(path)
        cache.put_many([(BAD_KEY, BAD_PRED)])
        cache.put_many([(GOOD[0][0], GOOD[0][1])])
    assert _same(cache.get(BAD_KEY), BAD_PRED) and len(cache) == 2
    assert sum("cannot be stored" in r.getMessage() for r in caplog.records) == 1
    assert path.is_dir()  # nothing of the user's is deleted


# -- two processes writing one cache -------------------------------------------------------


def _run_writer(root: str, salt: int, order: int, start, errors) -> None:
    """A process inpainting 300 cases through the cache with its own seed-dependent answers,
    sweeping for stale temporary files at every write."""
    try:
        cache_mod.STALE_TEMP_SECONDS = 0.0  # every temporary file looks old: only liveness counts
        backend = Paid(salt=salt)
        reqs = [_request(i % 7, seed=i) for i in range(300)][::order]
        start.wait()
        for r in reqs:
            inpaint_cached(backend, [r], ResultCache(root), capabilities=CAPS)
    except BaseException as exc:  # reported to the parent
        errors.put(repr(exc))
        raise


def test_two_processes_inpainting_the_same_cases_leave_every_entry_valid(tmp_path):
    ctx = mp.get_context("fork")
    root = str(tmp_path / "cache")
    start, errors = ctx.Barrier(2), ctx.Queue()
    procs = [
        ctx.Process(target=_run_writer, args=(root, s, o, start, errors))
        for s, o in ((1, 1), (2, -1))
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0], errors.get(timeout=1)

    cache = ResultCache(root)
    answers = {
        salt: Paid(salt=salt).inpaint([_request(i % 7, seed=i) for i in range(300)])
        for salt in (1, 2)
    }
    valid = 0
    for i in range(300):
        key = cache.key("paid-test", {}, _request(i % 7, seed=i))
        got = cache.get(key)
        assert got is not None, f"entry {i} is not valid"
        # one writer's whole result: its output and its returned frame together
        assert any(
            np.array_equal(got.image.pixels, a[i].image.pixels)
            and np.array_equal(got.returned.pixels, a[i].returned.pixels)
            for a in answers.values()
        ), f"entry {i} mixes the writers' files"
        valid += 1
    assert valid == len(cache) == 300
    assert not list(Path(root).glob("??/.*.tmp"))  # no temporary file left behind


# -- a writer killed mid-write -------------------------------------------------------------


def _hang_in_fsync(root: str, ready) -> None:
    def stuck(fd: int) -> None:
        ready.set()
        time.sleep(600)

    os.fsync = stuck  # the kill comes while the pixel file is being written
    backend = Paid()
    inpaint_cached(backend, [_request()], ResultCache(root), capabilities=CAPS)


def test_a_killed_writer_leaves_a_temporary_file_the_next_writer_removes(tmp_path):
    ctx = mp.get_context("fork")
    root = tmp_path / "cache"
    ready = ctx.Event()
    proc = ctx.Process(target=_hang_in_fsync, args=(str(root), ready))
    proc.start()
    try:
        assert ready.wait(60)
        (orphan,) = root.glob("??/.*.tmp")
        old = time.time() - 2 * cache_mod.STALE_TEMP_SECONDS
        os.utime(orphan, (old, old))
        assert cache_mod._remove_stale_temps(orphan.parent) == 0  # its writer lives: kept
        assert orphan.exists()
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(30)
    assert orphan.exists()  # what the kill left

    cache = ResultCache(root)
    (result,) = inpaint_cached(Paid(), [_request()], cache, capabilities=CAPS)
    assert not orphan.exists()  # the first write into its folder swept it
    assert cache.get(result.extra["cache_key"]) is not None
    assert not list(root.glob("??/.*.tmp"))

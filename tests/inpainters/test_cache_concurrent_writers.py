"""The result cache with two writers of one key, and with entries of the wrong shape.

A seed-dependent backend run by two processes on one cache can store different pixels under
the same key. Whatever order their files land in, one valid entry must remain. A JSON file
that parses but lacks a field (or holds one of the wrong type) is a miss, never an error.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import threading
import traceback
from pathlib import Path

import attrs
import numpy as np
import pytest

import radinpaint.cache as cache_mod
from radinpaint.cache import CACHE_FORMAT, ResultCache
from radinpaint.records import InpaintRequest, InpaintResult, Radiograph

from ._helpers import box_mask, radiograph


def _request() -> InpaintRequest:
    image = radiograph((24, 32))
    return InpaintRequest(image, box_mask(image.shape, (4, 12, 4, 20)), seed=1, case_id="c")


def _result(request: InpaintRequest, shift: float = 0.0) -> InpaintResult:
    pixels = np.where(request.mask.array, 0.5 + shift, request.image.pixels).astype(np.float32)
    image = Radiograph(np.clip(pixels, 0, 1), request.image.bit_depth, request.image.source)
    return InpaintResult(
        image=image,
        backend="paid",
        options={},
        seed=request.seed,
        variant=request.variant,
        case_id=request.case_id,
    )


@pytest.mark.parametrize(
    "order",
    [
        ["A.npz", "B.npz", "B.json", "A.json"],
        ["A.npz", "B.npz", "A.json", "B.json"],
        ["B.npz", "A.npz", "A.json", "B.json"],
        ["A.npz", "A.json", "B.npz", "B.json"],
    ],
)
def test_interleaved_writers_leave_one_valid_entry(tmp_path, monkeypatch, order):
    req = _request()
    results = {"A": _result(req), "B": _result(req, 0.1)}
    cache = ResultCache(tmp_path)
    key = cache.key("paid", {}, req)

    turn = threading.Condition()
    step = [0]
    original = cache_mod._atomic_write

    def gated(path, data):
        me = f"{threading.current_thread().name}.{path.suffix[1:]}"
        with turn:
            assert turn.wait_for(lambda: order[step[0]] == me, timeout=10)
            original(path, data)
            step[0] += 1
            turn.notify_all()

    monkeypatch.setattr(cache_mod, "_atomic_write", gated)
    threads = [
        threading.Thread(target=cache.put, args=(key, r), name=name) for name, r in results.items()
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert step[0] == 4

    got = cache.get(key)
    assert got is not None
    last = order[-1].split(".")[0]  # the JSON that landed last wins
    assert np.array_equal(got.image.pixels, results[last].image.pixels)
    assert len(cache) == 1  # entries are counted by their JSON files


def test_the_pixel_file_is_named_after_the_key_and_the_pixels(tmp_path):
    req = _request()
    cache = ResultCache(tmp_path)
    key = cache.key("paid", {}, req)
    cache.put(key, _result(req))
    entry = json.loads((tmp_path / key[:2] / f"{key}.json").read_text())
    assert entry["format"] == CACHE_FORMAT == 3
    name = entry["image"]["file"]
    assert name == f"{key}.{entry['image']['sha256'][:16]}.npz"
    assert (tmp_path / key[:2] / name).is_file()


def _mangle(entry: dict, how: str) -> object:
    entry = json.loads(json.dumps(entry))
    if how == "no-image":
        del entry["image"]
    elif how == "no-file":
        del entry["image"]["file"]
    elif how == "no-sha":
        del entry["image"]["sha256"]
    elif how == "no-result":
        del entry["result"]
    elif how == "no-bit-depth":
        del entry["result"]["bit_depth"]
    elif how == "result-is-a-list":
        entry["result"] = [1, 2]
    elif how == "image-is-a-string":
        entry["image"] = "x"
    elif how == "file-is-a-number":
        entry["image"]["file"] = 3
    elif how == "file-elsewhere":
        entry["image"]["file"] = "../" + entry["image"]["file"]
    elif how == "extra-is-a-number":
        entry["result"]["extra"] = 5
    elif how == "entry-is-a-list":
        return [entry]
    elif how == "entry-is-null":
        return None
    return entry


@pytest.mark.parametrize(
    "how",
    [
        "no-image",
        "no-file",
        "no-sha",
        "no-result",
        "no-bit-depth",
        "result-is-a-list",
        "image-is-a-string",
        "file-is-a-number",
        "file-elsewhere",
        "extra-is-a-number",
        "entry-is-a-list",
        "entry-is-null",
    ],
)
def test_well_formed_json_of_the_wrong_shape_is_a_miss(tmp_path, how):
    req = _request()
    cache = ResultCache(tmp_path)
    key = cache.key("paid", {}, req)
    cache.put(key, _result(req))
    meta = tmp_path / key[:2] / f"{key}.json"
    entry = json.loads(meta.read_text())
    meta.write_text(json.dumps(_mangle(entry, how)))
    assert cache.get(key) is None
    assert key not in cache
    meta.write_text(json.dumps(entry))
    assert cache.get(key) is not None  # the untouched entry is a hit


def test_a_replaced_entry_serves_the_new_pixels(tmp_path):
    req = _request()
    cache = ResultCache(tmp_path)
    key = cache.key("paid", {}, req)
    cache.put(key, _result(req))
    new = attrs.evolve(_result(req, 0.2), seconds=1.5)
    cache.put(key, new)
    got = cache.get(key)
    assert got is not None and got.seconds == 1.5
    assert np.array_equal(got.image.pixels, new.image.pixels)
    assert len(cache) == 1


# -- two processes, 300 keys -----------------------------------------------------------------

N_KEYS = 300


def _key(i: int) -> str:
    return hashlib.sha256(f"key {i}".encode()).hexdigest()


def _writer_result(i: int, writer: int) -> InpaintResult:
    """Writer ``writer``'s result for key ``i``: they differ in the output, in the returned
    frame only, in the output only (the same frame), or in having a returned frame at all."""
    kind = i % 4
    own = np.random.default_rng([i, writer])
    shared = np.random.default_rng([i, 99])
    pixels = (own if kind != 1 else shared).random((12, 10), dtype=np.float32)
    frame = (own if kind != 2 else shared).random((8, 8), dtype=np.float32)
    returned = None if kind == 3 and writer == 1 else Radiograph(frame, 16)
    return InpaintResult(
        image=Radiograph(pixels, 16),
        backend="paid",
        seed=i,
        seconds=float(writer),  # which writer's record this is
        extra={"writer": writer},
        returned=returned,
    )


def _whole(got: InpaintResult, i: int) -> bool:
    """Whether ``got`` is one writer's whole result for key ``i`` (nothing mixed)."""
    want = _writer_result(i, int(got.seconds))
    same_frame = (got.returned is None and want.returned is None) or (
        got.returned is not None
        and want.returned is not None
        and np.array_equal(got.returned.pixels, want.returned.pixels)
    )
    return (
        got.extra.get("writer") == int(got.seconds)
        and np.array_equal(got.image.pixels, want.image.pixels)
        and same_frame
    )


def _write_all(root: str, writer: int, start, problems) -> None:
    try:
        cache_mod.STALE_TEMP_SECONDS = 0.0  # sweeps at every write: only liveness protects
        order = list(range(N_KEYS)) if writer == 0 else list(range(N_KEYS))[::-1]
        start.wait()
        for _ in range(2):
            for i in order:
                ResultCache(root).put(_key(i), _writer_result(i, writer))
    except BaseException:
        problems.put(f"writer {writer}: {traceback.format_exc()}")


def _read_all(root: str, start, stop, problems) -> None:
    """Read every key while the writers write: an entry, once whole, stays whole."""
    try:
        cache = ResultCache(root)
        seen: set[int] = set()
        start.wait()
        while not stop.is_set():
            for i in range(N_KEYS):
                got = cache.get(_key(i))
                if got is None:
                    if i in seen:
                        problems.put(f"reader: entry {i} was whole, then a miss")
                elif not _whole(got, i):
                    problems.put(f"reader: entry {i} mixes the writers")
                else:
                    seen.add(i)
    except BaseException:
        problems.put(f"reader: {traceback.format_exc()}")


def test_two_processes_writing_different_results_leave_every_entry_valid(tmp_path):
    ctx = mp.get_context("fork")
    root = str(tmp_path / "cache")
    start, stop, problems = ctx.Barrier(3), ctx.Event(), ctx.Queue()
    writers = [ctx.Process(target=_write_all, args=(root, w, start, problems)) for w in (0, 1)]
    reader = ctx.Process(target=_read_all, args=(root, start, stop, problems))
    for p in [*writers, reader]:
        p.start()
    for p in writers:
        p.join(300)
    stop.set()
    reader.join(60)
    found = []
    while not problems.empty():
        found.append(problems.get())
    assert not found, "\n".join(found[:5])
    assert [p.exitcode for p in [*writers, reader]] == [0, 0, 0]

    cache = ResultCache(root)
    entries = {i: cache.get(_key(i)) for i in range(N_KEYS)}
    assert [i for i, got in entries.items() if got is None or not _whole(got, i)] == []
    assert len(cache) == N_KEYS
    assert not list(Path(root).glob("??/.*.tmp"))  # no temporary file left behind

"""The result cache with two writers of one key, and with entries of the wrong shape.

A seed-dependent backend run by two processes on one cache can store different pixels under
the same key. Whatever order their files land in, one valid entry must remain. A JSON file
that parses but lacks a field (or holds one of the wrong type) is a miss, never an error.
"""

from __future__ import annotations

import json
import threading

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
        ["A.npy", "B.npy", "B.json", "A.json"],
        ["A.npy", "B.npy", "A.json", "B.json"],
        ["B.npy", "A.npy", "A.json", "B.json"],
        ["A.npy", "A.json", "B.npy", "B.json"],
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
    assert name == f"{key}.{entry['image']['sha256'][:16]}.npy"
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

"""The result cache: keys, lossless round trip, atomic concurrent writes, inpaint_cached."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import attrs
import numpy as np
import pytest

from radinpaint.cache import ResultCache, canonical_json, inpaint_cached, public_options
from radinpaint.errors import BackendError, InvalidInputError
from radinpaint.records import InpaintRequest, InpaintResult, Mask, Radiograph

from ._helpers import box_mask, radiograph


@attrs.define
class CountingInpainter:
    """Fills the mask with a seed-dependent value; counts calls and requests."""

    level: float = 0.5
    api_key: str = "sk-secret"
    calls: list[int] = attrs.field(factory=list)

    name = "counting"

    def options(self) -> dict:
        return {"level": self.level, "api_key": self.api_key}

    def inpaint(self, requests):
        self.calls.append(len(requests))
        out = []
        for r in requests:
            value = (r.variant_seed % 1000) / 1000.0 * self.level
            pixels = np.where(r.mask.array, np.float32(value), r.image.pixels)
            out.append(
                InpaintResult(
                    image=r.image.with_pixels(pixels),
                    backend=self.name,
                    options=public_options(self.options()),
                    seed=r.variant_seed,
                    prompt=r.prompt,
                    variant=r.variant,
                    case_id=r.case_id,
                    compositing="paste-back",
                    flags=("x",),
                    extra={"model": "m1"},
                )
            )
        return out


def _request(seed=0, variant=0, bits=16, prompt=None, case_id="c1", image_seed=0):
    img = radiograph((24, 32), bits, seed=image_seed)
    return InpaintRequest(img, box_mask(img.shape, (4, 12, 5, 20)), prompt, seed, variant, case_id)


def test_key_depends_on_everything_that_changes_the_output(tmp_path):
    cache = ResultCache(tmp_path)
    base = cache.key("b", {"r": 3}, _request())
    assert base == cache.key("b", {"r": 3}, _request(case_id="other"))  # case id is not content
    assert len(base) == 64
    different = {
        cache.key("b2", {"r": 3}, _request()),
        cache.key("b", {"r": 4}, _request()),
        cache.key("b", {"r": 3}, _request(seed=1)),
        cache.key("b", {"r": 3}, _request(variant=1)),
        cache.key("b", {"r": 3}, _request(prompt="remove")),
        cache.key("b", {"r": 3}, _request(image_seed=5)),
        cache.key("b", {"r": 3}, _request(bits=8)),
    }
    r = _request()
    other_mask = InpaintRequest(r.image, box_mask(r.image.shape, (4, 12, 5, 21)))
    different.add(cache.key("b", {"r": 3}, other_mask))
    assert base not in different and len(different) == 8


def test_key_ignores_secrets_and_option_order(tmp_path):
    cache = ResultCache(tmp_path)
    r = _request()
    k1 = cache.key("b", {"a": 1, "b": [1, 2], "api_key": "sk-1"}, r)
    k2 = cache.key("b", {"b": (1, 2), "a": 1, "api_key": "sk-2", "auth_token": "t"}, r)
    assert k1 == k2
    assert public_options({"api_key": 1, "OPENAI_API_KEY": 2, "radius": 3}) == {"radius": 3}
    assert canonical_json({"b": 1, "a": Path("x")}) == '{"a":"x","b":1}'
    with pytest.raises(InvalidInputError, match="JSON"):
        cache.key("b", {"fn": object()}, r)


@pytest.mark.parametrize("bits", [8, 12, 16])
def test_put_get_round_trip_is_lossless(tmp_path, bits):
    cache = ResultCache(tmp_path)
    backend = CountingInpainter()
    r = _request(bits=bits, prompt="p")
    result = backend.inpaint([r])[0]
    # unquantized pixels survive too
    result = attrs.evolve(result, image=result.image.with_pixels(result.image.pixels * 0.999))
    key = cache.key(backend.name, backend.options(), r)
    assert cache.get(key) is None and key not in cache
    cache.put(key, result)
    got = cache.get(key)
    assert got is not None and key in cache and len(cache) == 1
    assert np.array_equal(got.image.pixels, result.image.pixels)
    assert got.image.bit_depth == bits
    rec = got.to_record()
    rec["extra"].pop("cache_key")
    assert rec == result.to_record()
    assert "api_key" not in (tmp_path / key[:2] / f"{key}.json").read_text()


def test_damaged_or_partial_entries_are_misses(tmp_path):
    cache = ResultCache(tmp_path)
    backend = CountingInpainter()
    r = _request()
    key = cache.key("counting", {}, r)
    cache.put(key, backend.inpaint([r])[0])
    (pixel_file,) = (tmp_path / key[:2]).glob(f"{key}.*.np?")
    with open(pixel_file, "wb") as fh:  # pixels no longer match the recorded hash
        np.savez_compressed(fh, pixels=np.zeros((24, 32), np.float32))
    assert cache.get(key) is None
    (tmp_path / key[:2] / f"{key}.json").write_text("{not json")
    assert cache.get(key) is None
    with pytest.raises(InvalidInputError):
        cache.get("../../etc/passwd")


def test_inpaint_cached_computes_only_misses_in_one_batch(tmp_path):
    cache = ResultCache(tmp_path)
    backend = CountingInpainter()
    reqs = [_request(seed=1, variant=k, case_id=f"c{k}") for k in range(3)]
    first = inpaint_cached(backend, reqs, cache)
    assert backend.calls == [3]
    more = [*reqs, _request(seed=1, variant=3, case_id="c3"), reqs[0]]
    second = inpaint_cached(backend, more, cache)
    assert backend.calls == [3, 1]  # only the new variant, once
    assert [r.variant for r in second] == [0, 1, 2, 3, 0]
    assert [r.case_id for r in second] == ["c0", "c1", "c2", "c3", "c0"]
    for a, b in zip(first, second[:3], strict=True):
        assert np.array_equal(a.image.pixels, b.image.pixels)
        assert a.extra["cache_key"] == b.extra["cache_key"]
    inpaint_cached(backend, more, cache)
    assert backend.calls == [3, 1]  # nothing new


def test_inpaint_cached_deduplicates_within_a_batch_and_none_means_no_cache(tmp_path):
    backend = CountingInpainter()
    r = _request()
    out = inpaint_cached(backend, [r, r, r], ResultCache(tmp_path))
    assert backend.calls == [1] and len(out) == 3
    backend2 = CountingInpainter()
    inpaint_cached(backend2, [r], None)
    inpaint_cached(backend2, [r], None)
    assert backend2.calls == [1, 1]


def test_cache_hit_gets_the_requests_case_id_and_source(tmp_path):
    cache = ResultCache(tmp_path)
    backend = CountingInpainter()
    inpaint_cached(backend, [_request(case_id="a")], cache)
    r = _request(case_id="b")
    r = InpaintRequest(attrs.evolve(r.image, source="b.png"), r.mask, case_id="b")
    (hit,) = inpaint_cached(backend, [r], cache)
    assert hit.case_id == "b" and hit.image.source == "b.png" and backend.calls == [1]


def test_options_change_invalidates(tmp_path):
    cache = ResultCache(tmp_path)
    b1, b2 = CountingInpainter(level=0.5), CountingInpainter(level=0.6)
    inpaint_cached(b1, [_request()], cache, options=b1.options())
    inpaint_cached(b2, [_request()], cache, options=b2.options())
    assert b2.calls == [1]
    b3 = CountingInpainter(level=0.5, api_key="another-key")
    inpaint_cached(b3, [_request()], cache, options=b3.options())
    assert b3.calls == []  # a new API key is not a new result


def test_declared_fingerprint_invalidates(tmp_path):
    from radinpaint.capabilities import Capabilities

    cache = ResultCache(tmp_path)
    b1 = CountingInpainter()
    inpaint_cached(b1, [_request()], cache, capabilities=Capabilities(fingerprint="weights-a"))
    inpaint_cached(b1, [_request()], cache, capabilities=Capabilities(fingerprint="weights-a"))
    assert b1.calls == [1]
    inpaint_cached(b1, [_request()], cache, capabilities=Capabilities(fingerprint="weights-b"))
    assert b1.calls == [1, 1]  # retrained weights under the same name: computed again


def test_wrong_result_count_is_a_backend_error(tmp_path):
    class Broken(CountingInpainter):
        def inpaint(self, requests):
            return super().inpaint(requests)[:-1]

    with pytest.raises(BackendError, match="1 requests"):
        inpaint_cached(Broken(), [_request()], ResultCache(tmp_path))


def _writer(root: str, worker: int, rounds: int) -> int:
    cache = ResultCache(root)
    backend = CountingInpainter()
    written = 0
    for i in range(rounds):
        r = _request(seed=i % 3)
        key = cache.key(backend.name, backend.options(), r)
        result = backend.inpaint([r])[0]
        cache.put(key, attrs.evolve(result, extra={"worker": worker}))
        got = cache.get(key)
        assert got is not None and np.array_equal(got.image.pixels, result.image.pixels)
        written += 1
    return written


def test_concurrent_writers_leave_valid_entries(tmp_path):
    ctx = mp.get_context("spawn" if mp.get_start_method(allow_none=True) == "spawn" else "fork")
    with ctx.Pool(3) as pool:
        counts = pool.starmap(_writer, [(str(tmp_path), w, 20) for w in range(3)])
    assert counts == [20, 20, 20]
    cache = ResultCache(tmp_path)
    assert len(cache) == 3
    backend = CountingInpainter()
    for seed in range(3):
        r = _request(seed=seed)
        got = cache.get(cache.key(backend.name, backend.options(), r))
        assert got is not None
        assert np.array_equal(got.image.pixels, backend.inpaint([r])[0].image.pixels)
    assert not list(tmp_path.glob("*/.*.tmp"))


def test_empty_mask_request_round_trips(tmp_path):
    img = radiograph((10, 10), 8)
    r = InpaintRequest(img, Mask.empty(img.shape))
    cache = ResultCache(tmp_path)
    res = InpaintResult(image=img, backend="b", flags=("empty-mask",))
    cache.put(cache.key("b", {}, r), res)
    assert cache.get(cache.key("b", {}, r)).flags == ("empty-mask",)


def test_pixels_are_stored_compactly_and_come_back_bit_for_bit(tmp_path):
    import json

    from radinpaint.cache import _load_npz

    cache = ResultCache(tmp_path)
    r = _request()
    result = CountingInpainter().inpaint([r])[0]
    rng = np.random.default_rng(3)
    grids = {
        "u1": np.rint(rng.uniform(0, 255, (64, 48))).astype(np.float32) / np.float32(255),
        "<u2": np.rint(rng.uniform(0, 65535, (64, 48))).astype(np.float32) / np.float32(65535),
        "<f4": rng.uniform(0, 1, (64, 48)).astype(np.float32),
    }
    for kind, pixels in grids.items():
        image = Radiograph(pixels, 16)
        key = cache.key("counting", {"kind": kind}, r)
        cache.put(key, attrs.evolve(result, image=image))
        got = cache.get(key)
        assert got is not None and np.array_equal(got.image.pixels, pixels)  # lossless
        name = json.loads((tmp_path / key[:2] / f"{key}.json").read_text())["image"]["file"]
        assert name.endswith(".npz")
        stored = np.load(tmp_path / key[:2] / name)["pixels"]
        assert stored.dtype.str.endswith(kind.lstrip("<|"))  # the smallest exact encoding
        assert np.array_equal(_load_npz(tmp_path / key[:2] / name, "image"), pixels)
    sizes = sorted(p.stat().st_size for p in tmp_path.rglob("*.npz"))
    assert sizes[0] < 1.2 * 64 * 48 < 3 * 64 * 48 < sizes[-1]  # 8-bit levels: ~a byte a pixel


def test_entries_written_as_npy_still_hit(tmp_path):
    import json

    cache = ResultCache(tmp_path)
    r = _request()
    key = cache.key("counting", {}, r)
    result = CountingInpainter().inpaint([r])[0]
    cache.put(key, result)
    meta = tmp_path / key[:2] / f"{key}.json"
    entry = json.loads(meta.read_text())
    old = (tmp_path / key[:2] / entry["image"]["file"]).with_suffix(".npy")
    np.save(old, np.ascontiguousarray(result.image.pixels, np.float32))
    entry["image"]["file"] = old.name
    meta.write_text(json.dumps(entry))
    got = cache.get(key)
    assert got is not None and np.array_equal(got.image.pixels, result.image.pixels)

"""Shared base: seeds per variant, replay from the record, finish_result, result flags."""

from __future__ import annotations

import json

import attrs
import numpy as np
import pytest

from radinpaint import get_inpainter
from radinpaint.errors import InvalidInputError
from radinpaint.inpainters.base import PerImageInpainter, finish_result
from radinpaint.records import InpaintRequest, Mask
from radinpaint.seeds import derive_seed

from ._helpers import box_mask, radiograph


@attrs.define
class Noisy(PerImageInpainter):
    """Seeded noise inside the mask; flags every result."""

    amplitude: float = 1.0
    name = "noisy"

    def inpaint_one(self, request):
        rng = np.random.default_rng(request.variant_seed)
        return (self.amplitude * rng.random(request.image.shape)).astype(np.float32)

    def result_flags(self, request):
        return ("test-flag",)


def _requests(k=3, seed=42):
    img = radiograph((32, 32), 16)
    mask = box_mask(img.shape, (8, 20, 8, 20))
    return [InpaintRequest(img, mask, seed=seed, variant=v, case_id="c") for v in range(k)]


def test_variant_k_uses_the_derived_seed_and_same_seed_replays():
    reqs = _requests()
    first = Noisy().inpaint(reqs)
    assert [r.seed for r in first] == [derive_seed(42, v) for v in range(3)]
    assert [r.seed for r in first] == [r.variant_seed for r in reqs]
    again = Noisy().inpaint(list(reversed(reqs)))[::-1]
    for a, b in zip(first, again, strict=True):
        assert np.array_equal(a.image.pixels, b.image.pixels)
    assert not np.array_equal(first[0].image.pixels, first[1].image.pixels)  # variants differ
    other = Noisy().inpaint(_requests(seed=43))
    assert not np.array_equal(first[0].image.pixels, other[0].image.pixels)


def test_a_result_replays_bit_for_bit_from_its_record():
    (req,) = _requests(1)
    (result,) = get_inpainter("telea", radius=4, compositing="feather").inpaint([req])
    record = json.loads(json.dumps(result.to_record()))
    rebuilt = get_inpainter(record["backend"], **record["options"])
    replay_req = InpaintRequest(req.image, req.mask, record["prompt"], seed=42, variant=0)
    assert replay_req.variant_seed == record["seed"]
    (replay,) = rebuilt.inpaint([replay_req])
    assert np.array_equal(replay.image.pixels, result.image.pixels)


def test_per_image_results_carry_flags_timing_and_compositing():
    (res,) = Noisy().inpaint(_requests(1))
    assert res.flags == ("test-flag",) and res.compositing == "paste-back"
    assert res.seconds >= 0 and res.options == {"amplitude": 1.0}


def test_compositing_none_keeps_the_raw_output_and_records_none():
    class Uncomposited(Noisy):
        compositing = None

    (req,) = _requests(1)
    (res,) = Uncomposited(amplitude=2.0).inpaint([req])
    assert res.compositing is None and res.image.pixels.max() == 1.0  # clipped


def test_finish_result_records_everything_and_drops_secrets():
    (req,) = _requests(1)
    out = np.full(req.image.shape, 0.5, np.float32)
    res = finish_result(
        req,
        out,
        backend="b",
        options={"model": "m", "api_key": "sk-1"},
        compositing="raw",
        prompt="sent prompt",
        seconds=1.5,
        cost_usd=0.04,
        flags=["8-bit-roundtrip"],
        extra={"usage": 3},
    )
    assert res.options == {"model": "m"}
    assert res.prompt == "sent prompt" and res.cost_usd == 0.04 and res.seconds == 1.5
    assert res.flags == ("8-bit-roundtrip",) and res.extra == {"usage": 3}
    assert res.seed == req.variant_seed and res.case_id == "c"
    assert np.all(res.image.pixels == 0.5)
    with pytest.raises(InvalidInputError):
        finish_result(req, out, backend="b", options={}, compositing="overlay")


def test_empty_mask_is_never_sent_to_the_backend():
    calls = []

    class Spy(Noisy):
        def inpaint_one(self, request):
            calls.append(request)
            return super().inpaint_one(request)

    img = radiograph((16, 16), 8)
    (res,) = Spy().inpaint([InpaintRequest(img, Mask.empty(img.shape))])
    assert calls == [] and res.flags == ("empty-mask",) and res.compositing is None

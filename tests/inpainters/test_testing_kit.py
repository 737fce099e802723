"""The conformance kit catches each broken rule, and passes a correct backend."""

from __future__ import annotations

import attrs
import numpy as np
import pytest

from radinpaint import get_mask_provider
from radinpaint.inpainters.base import PerImageInpainter, finish_result, unchanged_result
from radinpaint.records import Case, Mask, Predictions
from radinpaint.testing import (
    check_inpainter,
    check_mask_provider,
    check_predictor,
    sample_images,
    sample_mask,
)


@attrs.define
class Good(PerImageInpainter):
    """Fills the mask with seed-dependent noise (a correct, seeded, paste-back backend)."""

    name = "good"

    def inpaint_one(self, request):
        rng = np.random.default_rng(request.variant_seed)
        return rng.random(request.image.shape).astype(np.float32)


def test_a_correct_backend_passes_every_check():
    ran = check_inpainter(Good())
    assert set(ran) >= {
        "empty-batch",
        "count",
        "shape",
        "bit-depth",
        "record",
        "empty-mask",
        "outside-mask-exact",
        "seed-replay",
        "order",
    }


def test_sample_images_and_mask():
    imgs = sample_images()
    assert [i.bit_depth for i in imgs] == [8, 16, 12]
    for img in imgs:
        m = sample_mask(img.shape)
        assert 0.01 < m.fraction < 0.2


class Unseeded(Good):
    def inpaint_one(self, request):
        return np.random.default_rng().random(request.image.shape).astype(np.float32)


class Leaky(Good):
    compositing = "paste-back"

    def inpaint(self, requests):
        out = []
        for r in requests:
            if r.mask.is_empty:
                out.append(unchanged_result(r, self.name, {}, "empty-mask"))
                continue
            raw = finish_result(
                r,
                np.full(r.image.shape, 0.5, np.float32),
                backend=self.name,
                options={},
                compositing="raw",
            )
            out.append(attrs.evolve(raw, compositing="paste-back"))  # claims, but did not
        return out


class WrongDepth(Good):
    def inpaint(self, requests):
        res = super().inpaint(requests)
        return [
            attrs.evolve(
                r,
                image=r.image.with_pixels(r.image.pixels).__class__(
                    r.image.pixels, 16 if r.image.bit_depth != 16 else 8
                ),
            )
            for r in res
        ]


class Reversed(Good):
    def inpaint(self, requests):
        return list(reversed(super().inpaint(list(reversed(requests)))))[::-1]


class DropsOne(Good):
    def inpaint(self, requests):
        return super().inpaint(requests)[:-1]


class NoEmptyFlag(Good):
    def inpaint(self, requests):
        return [attrs.evolve(r, flags=()) for r in super().inpaint(requests)]


class BadOptions(Good):
    def options(self):
        return {"fn": object()}


class SecretOptions(Good):
    """Options are scrubbed by the record itself; a secret can still leak through ``extra``."""

    def inpaint(self, requests):
        return [attrs.evolve(r, extra={"api_key": "sk-123"}) for r in super().inpaint(requests)]


class WrongSeed(Good):
    def inpaint(self, requests):
        return [attrs.evolve(r, seed=r.seed + 1) for r in super().inpaint(requests)]


class DropsPrompt(Good):
    def inpaint(self, requests):
        return [attrs.evolve(r, prompt=None) for r in super().inpaint(requests)]


class WrongName(Good):
    def inpaint(self, requests):
        return [attrs.evolve(r, backend="other") for r in super().inpaint(requests)]


class WrongShape(Good):
    def inpaint(self, requests):
        out = super().inpaint(requests)
        return [attrs.evolve(r, image=r.image.with_pixels(r.image.pixels[:-1])) for r in out]


class OrderDependent(Good):
    """Output depends on the position in the batch, not on the seed."""

    def inpaint(self, requests):
        out = []
        for i, r in enumerate(requests):
            if r.mask.is_empty:
                out.append(unchanged_result(r, self.name, {}, "empty-mask"))
                continue
            px = np.full(r.image.shape, 0.1 * (i + 1), np.float32)
            out.append(finish_result(r, px, backend=self.name, options={}))
        return out


@pytest.mark.parametrize(
    ("backend", "message"),
    [
        (Unseeded(), "same request gives the same output"),
        (Leaky(), "outside the mask exactly"),
        (WrongDepth(), "bit depth"),
        (Reversed(), "order"),
        (DropsOne(), "one result per request"),
        (NoEmptyFlag(), "empty-mask"),
        (BadOptions(), "JSON"),
        (SecretOptions(), "secrets"),
        (WrongSeed(), "seed"),
        (DropsPrompt(), "prompt"),
        (WrongName(), "registered name"),
        (WrongShape(), "shape"),
        (OrderDependent(), "batch order"),
    ],
)
def test_each_broken_rule_is_reported(backend, message):
    with pytest.raises(AssertionError, match=message):
        check_inpainter(backend)


def test_paste_back_false_skips_the_outside_rule():
    ran = check_inpainter(Leaky(), paste_back=False)
    assert "outside-mask-exact" not in ran


def test_missing_name_is_reported():
    class Nameless:
        def inpaint(self, requests):
            return []

    with pytest.raises(AssertionError, match="name"):
        check_inpainter(Nameless())


@attrs.define
class MeanPredictor:
    name: str = "mean"
    noisy: bool = False

    def predict(self, images, male=None):
        ages = [float(i.pixels.mean()) * 200 for i in images]
        if self.noisy:
            ages = [a + np.random.default_rng().random() for a in ages]
        return Predictions(self.name, bone_age_months=ages, p_male=[0.5] * len(images))


def test_check_predictor():
    assert "order" in check_predictor(MeanPredictor())
    with pytest.raises(AssertionError, match="deterministic"):
        check_predictor(MeanPredictor(noisy=True))


def test_check_mask_provider_on_ground_truth():
    items = [
        Case(str(i), img, artifact_mask=sample_mask(img.shape))
        for i, img in enumerate(sample_images())
    ]
    assert "shape" in check_mask_provider(get_mask_provider("ground-truth"), items=items)

    class Wrong:
        name = "wrong"

        def masks(self, items):
            return [Mask.empty((3, 3)) for _ in items]

    with pytest.raises(AssertionError, match="shape"):
        check_mask_provider(Wrong())

"""EnsemblePredictor: batched == naive, stacking, sex routing, aggregation, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from radinpaint.errors import InvalidInputError
from radinpaint.predictors.ensemble import EnsemblePredictor
from radinpaint.predictors.members import Member, MemberSpec
from radinpaint.protocols import Predictor

from .conftest import TINY, random_images

ARCH = {"widths": [8, 16], "stem_width": 4}


def _member(name: str, targets, seed: int, **kw) -> Member:
    torch.manual_seed(seed)
    spec = MemberSpec(name, "compact-cnn", targets, TINY, arch_options=ARCH, **kw)
    member = Member.build(spec)
    # non-trivial BN statistics, so eval-mode batch independence is really exercised
    for mod in member.module.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.2, 0.2)
            mod.running_var.uniform_(0.5, 1.5)
    return member


def _ensemble(**kw) -> EnsemblePredictor:
    members = [_member(f"age{i}", ("bone_age",), i, age_scale=40, age_offset=120) for i in range(3)]
    members += [_member(f"sex{i}", ("male",), 10 + i) for i in range(2)]
    members += [_member("both", ("bone_age", "male"), 20, age_scale=40, age_offset=120)]
    return EnsemblePredictor("test", members, batch_size=4, **kw)


def test_is_a_predictor_and_batched_equals_naive(images) -> None:
    ens = _ensemble()
    assert isinstance(ens, Predictor)
    fast, slow = ens.predict(images), ens.predict_naive(images)
    assert len(fast) == len(images)
    assert fast.member_bone_age.shape == (len(images), 4)
    assert fast.member_p_male.shape == (len(images), 3)
    np.testing.assert_allclose(fast.member_bone_age, slow.member_bone_age, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(fast.member_p_male, slow.member_p_male, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fast.bone_age_months, fast.member_bone_age.mean(axis=1))


def test_vmap_stacking_equals_loop_and_no_prefetch(images) -> None:
    loop = _ensemble(stack="loop").predict(images)
    vmapped = _ensemble(stack="vmap", prefetch=False).predict(images)
    np.testing.assert_allclose(loop.member_bone_age, vmapped.member_bone_age, atol=1e-4)
    np.testing.assert_allclose(loop.member_p_male, vmapped.member_p_male, atol=1e-6)


def test_deterministic_and_median(images) -> None:
    ens = _ensemble()
    a, b = ens.predict(images), ens.predict(images)
    assert np.array_equal(a.member_bone_age, b.member_bone_age)
    med = _ensemble(aggregation="median").predict(images)
    np.testing.assert_allclose(med.bone_age_months, np.median(a.member_bone_age, axis=1))
    np.testing.assert_allclose(med.p_male, np.median(a.member_p_male, axis=1))


def _constant(name: str, value: float, **kw) -> Member:
    member = _member(name, ("bone_age",), 0, **kw)
    with torch.no_grad():
        member.module.fc.weight.zero_()
        member.module.fc.bias.fill_(value)
    return member


def test_sex_specific_members_only_see_their_sex(images) -> None:
    members = [
        _constant("m0", 100.0, sex_subset="male"),
        _constant("m1", 110.0, sex_subset="male"),
        _constant("f0", 50.0, sex_subset="female"),
        _constant("f1", 60.0, sex_subset="female"),
    ]
    ens = EnsemblePredictor("sexed", members, batch_size=3)
    male = [i % 2 == 0 for i in range(len(images))]
    pred = ens.predict(images, male=male)
    expected = np.where(male, 105.0, 55.0)
    np.testing.assert_allclose(pred.bone_age_months, expected, atol=1e-4)
    assert pred.member_bone_age.shape == (len(images), 2)
    np.testing.assert_allclose(pred.member_bone_age[0], [100.0, 110.0], atol=1e-4)
    np.testing.assert_allclose(pred.member_bone_age[1], [50.0, 60.0], atol=1e-4)
    np.testing.assert_allclose(ens.predict_naive(images, male).bone_age_months, expected, atol=1e-4)


def test_sex_needed_but_missing_is_a_clear_error(images) -> None:
    members = [_member("a", ("bone_age",), 0, sex_input=True)]
    ens = EnsemblePredictor("needs-sex", members)
    with pytest.raises(InvalidInputError, match="needs each image's sex"):
        ens.predict(images)
    with pytest.raises(InvalidInputError, match="sexes in male="):
        ens.predict(images, male=[True])
    out = ens.predict(images, male=[True] * len(images))
    other = ens.predict(images, male=[False] * len(images))
    assert not np.allclose(out.bone_age_months, other.bone_age_months)


def test_sex_from_prediction(images) -> None:
    members = [
        _member("a", ("bone_age",), 0, sex_input=True),
        _member("s", ("male",), 1),
    ]
    ens = EnsemblePredictor("auto-sex", members, sex_from_prediction=True, batch_size=4)
    pred = ens.predict(images)
    given = ens.predict(images, male=list(pred.p_male >= 0.5))
    np.testing.assert_allclose(pred.bone_age_months, given.bone_age_months, atol=1e-5)
    np.testing.assert_allclose(
        ens.predict_naive(images).bone_age_months, pred.bone_age_months, atol=1e-4
    )


def test_invalid_member_configs() -> None:
    with pytest.raises(InvalidInputError, match="predicts sex"):
        MemberSpec("x", "compact-cnn", ("male",), TINY, sex_input=True)
    with pytest.raises(InvalidInputError, match="unknown member target"):
        MemberSpec("x", "compact-cnn", ("height",), TINY)
    with pytest.raises(InvalidInputError, match="unique"):
        EnsemblePredictor("dup", [_member("a", ("male",), 0), _member("a", ("male",), 1)])
    with pytest.raises(InvalidInputError, match="aggregation"):
        EnsemblePredictor("agg", [_member("a", ("male",), 0)], aggregation="mode")


def test_lazy_sequence_of_cases_and_bad_items() -> None:
    from radinpaint.records import Case

    imgs = random_images(5, seed=4)
    cases = [Case(id=str(i), image=im) for i, im in enumerate(imgs)]
    ens = _ensemble()
    np.testing.assert_allclose(
        ens.predict(cases).bone_age_months, ens.predict(imgs).bone_age_months
    )
    # a bad item fails alone: its neighbours keep the predictions they get on their own
    mixed = ens.predict([imgs[0], "not an image", imgs[1]])  # type: ignore[list-item]
    assert set(mixed.failures) == {1} and "not a Radiograph" in mixed.failures[1]
    assert np.isnan(mixed.bone_age_months[1]) and np.isnan(mixed.p_male[1])
    alone = ens.predict(imgs[:2])
    np.testing.assert_allclose(mixed.bone_age_months[[0, 2]], alone.bone_age_months, rtol=1e-5)
    np.testing.assert_allclose(mixed.p_male[[0, 2]], alone.p_male, rtol=1e-5)


@pytest.mark.gpu
def test_gpu_amp_channels_last_close_to_fp32(images) -> None:
    cpu = _ensemble(device="cpu").predict(images)
    gpu = _ensemble(device="cuda", amp="bf16").predict(images)
    np.testing.assert_allclose(gpu.bone_age_months, cpu.bone_age_months, rtol=0.05, atol=2.0)
    np.testing.assert_allclose(gpu.p_male, cpu.p_male, atol=0.05)
    stacked = _ensemble(device="cuda", amp="none", stack="vmap").predict(images)
    np.testing.assert_allclose(stacked.member_bone_age, cpu.member_bone_age, rtol=1e-3, atol=0.1)


def test_partly_unknown_sex(images) -> None:
    members = [_member("a", ("bone_age",), 0, sex_input=True), _member("s", ("male",), 1)]
    strict = EnsemblePredictor("strict", members)
    male = [True, None] + [False] * (len(images) - 2)
    with pytest.raises(InvalidInputError, match="1 image"):
        strict.predict(images, male=male)
    auto = EnsemblePredictor("auto", members, sex_from_prediction=True)
    pred = auto.predict(images, male=male)
    filled = [True, bool(pred.p_male[1] >= 0.5), *male[2:]]
    np.testing.assert_allclose(
        pred.bone_age_months, auto.predict(images, male=filled).bone_age_months, atol=1e-6
    )


def test_a_prediction_does_not_depend_on_its_batch_neighbours():
    # kernels round differently with the batch size; the prediction cache assumes an image's
    # prediction is a function of its pixels alone, so every pass has one fixed size
    from radinpaint.datasets import make_phantoms
    from radinpaint.registry import get_backend

    images = [c.image for c in make_phantoms(20, seed=13, size=96)]
    ensemble = get_backend("predictor", "phantom-ensemble")
    together = ensemble.predict(images)
    for i in (0, 1, 17):
        alone = ensemble.predict([images[i]])
        assert alone.bone_age_months[0] == together.bone_age_months[i]
        assert alone.p_male[0] == together.p_male[i]
    pair = ensemble.predict(images[1:3])
    assert np.array_equal(pair.bone_age_months, together.bone_age_months[1:3])

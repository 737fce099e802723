"""Saliency maps against closed forms: a model that reads one known region looks there."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("captum")
torch = pytest.importorskip("torch")

from radinpaint.errors import InvalidInputError  # noqa: E402
from radinpaint.predictors.ensemble import EnsemblePredictor  # noqa: E402
from radinpaint.predictors.members import Member, MemberSpec  # noqa: E402
from radinpaint.predictors.preprocessing import Preprocessing  # noqa: E402
from radinpaint.records import Radiograph  # noqa: E402
from radinpaint.saliency import explain, input_frame, to_image_frame  # noqa: E402

PREP = Preprocessing(name="test-32", size=32, channels=1, crop_foreground=False, resize="cv2-area")


class Quadrant(torch.nn.Module):
    """A conv net whose output is the mean of its features over the top-left quadrant of
    its input (the other quadrants are multiplied by zero inside ``features``)."""

    def __init__(self, size: int = 32) -> None:
        super().__init__()
        conv = torch.nn.Conv2d(1, 4, 3, padding=1, bias=False)
        with torch.no_grad():
            conv.weight.zero_()
            conv.weight[:, 0, 1, 1] = torch.tensor([1.0, 0.5, 2.0, 1.5])
        keep = torch.zeros(1, 1, size, size)
        keep[..., : size // 2, : size // 2] = 1.0
        self.conv = conv
        self.register_buffer("keep", keep)
        self.features = torch.nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.features(torch.relu(self.conv(x)) * self.keep)
        return feats.mean(dim=(1, 2, 3))[:, None] * 100.0


def quadrant_ensemble(target: str = "bone_age") -> EnsemblePredictor:
    spec = MemberSpec("quadrant", "compact-cnn", (target,), PREP)
    return EnsemblePredictor("quadrant", [Member(spec, Quadrant().eval())], device="cpu")


def noise_images(n: int, shape: tuple[int, int] = (64, 64), seed: int = 0) -> list[Radiograph]:
    rng = np.random.default_rng(seed)
    return [Radiograph(rng.uniform(0.2, 1.0, shape).astype(np.float32), 16) for _ in range(n)]


def quadrant_share(saliency: np.ndarray, margin: int = 0) -> float:
    h, w = saliency.shape
    return float(saliency[: h // 2 + margin, : w // 2 + margin].sum() / saliency.sum())


@pytest.mark.parametrize("method", ["grad-cam", "integrated-gradients", "input-x-gradient"])
def test_saliency_lies_in_the_region_the_model_reads(method: str) -> None:
    images = noise_images(3)
    maps = explain(quadrant_ensemble(), images, method=method, batch_size=2)
    assert len(maps) == 3 and set(maps.members) == {"quadrant"}
    for m in maps.ensemble:
        assert m.shape == (64, 64)
        assert m.min() >= 0.0
        assert m.sum() == pytest.approx(1.0, rel=1e-5)
        # gradients reach only the quadrant (and the 3x3 conv's one-pixel halo, two image
        # pixels at this scale); Grad-CAM's bilinear upsampling bleeds a little further
        assert quadrant_share(m, margin=3) > 0.97
        assert quadrant_share(m) > (0.85 if method == "grad-cam" else 0.95)


def test_maps_come_back_in_the_frame_of_each_image() -> None:
    """A portrait image is letterboxed: the quadrant the model reads is the image's
    top-left region, shifted by the padding."""
    img = noise_images(1, (64, 40))[0]
    maps = explain(quadrant_ensemble(), [img], method="input-x-gradient")
    m = maps.ensemble[0]
    assert m.shape == (64, 40)
    frame = input_frame(PREP, img)
    assert frame.resized == (32, 20) and frame.offset == (0, 6)
    # square columns 0..16 are padding 0..6 then image columns 0..20 (scale 2)
    assert m[:, 24:].sum() < 1e-6
    assert m[34:, :].sum() < 1e-6
    assert m[:32, :20].sum() > 0.9


@pytest.mark.parametrize(
    "prep",
    [
        PREP,
        Preprocessing(name="c", size=32, channels=1, crop_foreground=True, crop_threshold=0.1),
        Preprocessing(name="s", size=32, channels=1, crop_foreground=False, fit="squash"),
        Preprocessing(name="cc", size=32, channels=1, crop_foreground=False, fit="center-crop"),
    ],
)
def test_frame_mapping_inverts_the_preprocessing_geometry(prep: Preprocessing) -> None:
    """Sending a smooth map through the preprocessing's geometry and back gives it again
    where the network saw it (and zero where it did not)."""
    h, w = 90, 60
    yy, xx = np.mgrid[0:h, 0:w]
    pixels = (0.5 + 0.4 * np.sin(yy / 9.0) * np.cos(xx / 7.0)).astype(np.float32)
    pixels[:5] = 0.0  # a dark border for the foreground crop
    img = Radiograph(pixels, 16)
    back = to_image_frame(prep.geometry(img), input_frame(prep, img))
    assert back.shape == (h, w)
    frame = input_frame(prep, img)
    r0, r1, c0, c1 = frame.crop
    seen = np.zeros((h, w), bool)
    seen[r0 + 3 : r1 - 3, c0 + 3 : c1 - 3] = True
    if prep.fit == "center-crop":  # only the central 60x60 of the 90x60 crop is seen
        seen[: r0 + 15 + 3] = False
        seen[r1 - 15 - 3 :] = False
        assert back[:10].max() == 0.0
    err = np.abs(back - pixels)[seen]
    assert err.mean() < 0.03
    assert back[: frame.crop[0]].max(initial=0.0) == 0.0


def test_batched_equals_one_at_a_time() -> None:
    from radinpaint.datasets.phantom import make_phantom
    from radinpaint.predictors import load_phantom_ensemble

    ens = load_phantom_ensemble(device="cpu")
    cases = [make_phantom(s, size=128) for s in range(3)]
    male = [c.male for c in cases]
    for target, method in (("bone_age", "grad-cam"), ("male", "input-x-gradient")):
        batched = explain(ens, cases, target=target, method=method, male=male, batch_size=4)
        single = [
            explain(ens, [c], target=target, method=method, male=[c.male], batch_size=1)
            for c in cases
        ]
        assert set(batched.members) == {m.name for m in ens.target_members(target)}
        for i, one in enumerate(single):
            np.testing.assert_allclose(batched.ensemble[i], one.ensemble[0], rtol=1e-4,
                                       atol=1e-6 * float(one.ensemble[0].max()))  # fmt: skip
            for name, maps in batched.members.items():
                ref = one.members[name][0]
                assert ref is not None and maps[i] is not None
                np.testing.assert_allclose(maps[i], ref, rtol=1e-4, atol=1e-5 * ref.max())


def test_an_image_gets_the_same_map_whichever_images_share_its_pass() -> None:
    ens = quadrant_ensemble()
    images = noise_images(5)
    a = explain(ens, images, method="grad-cam", batch_size=4)
    b = explain(ens, images[::-1], method="grad-cam", batch_size=4)
    for i in range(5):
        assert np.array_equal(a.ensemble[i], b.ensemble[4 - i])


def test_sex_specific_members_apply_to_their_cases_only() -> None:
    prep = PREP
    specs = [
        MemberSpec("boys", "compact-cnn", ("bone_age",), prep, sex_subset="male",
                   arch_options={"widths": (8,), "stem_width": 4}),
        MemberSpec("girls", "compact-cnn", ("bone_age",), prep, sex_subset="female",
                   arch_options={"widths": (8,), "stem_width": 4}),
        MemberSpec("both", "compact-cnn", ("bone_age",), prep, sex_input=True,
                   arch_options={"widths": (8,), "stem_width": 4}),
    ]  # fmt: skip
    torch.manual_seed(0)
    ens = EnsemblePredictor("sexed", [Member.build(s) for s in specs], device="cpu")
    images = noise_images(3)
    maps = explain(ens, images, male=[True, False, True], method="input-x-gradient")
    assert [m is None for m in maps.members["boys"]] == [False, True, False]
    assert [m is None for m in maps.members["girls"]] == [True, False, True]
    assert all(m is not None for m in maps.members["both"])
    with pytest.raises(InvalidInputError, match="need each image's sex"):
        explain(ens, images, method="grad-cam")


class OnnxLike:
    """Stands in for a member that runs outside torch (no gradients)."""

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.zeros((len(x), 1), np.float32)

    def eval(self) -> OnnxLike:
        return self


def test_a_member_without_gradients_is_refused() -> None:
    spec = MemberSpec("external", "adapter:onnx", ("bone_age",), PREP)
    good = quadrant_ensemble().members[0]
    ens = EnsemblePredictor("mixed", [good, Member(spec, OnnxLike())], device="cpu")
    with pytest.raises(InvalidInputError, match="'external' is not a differentiable torch"):
        explain(ens, noise_images(1))


def test_unknown_method_and_target_are_refused() -> None:
    ens = quadrant_ensemble()
    with pytest.raises(InvalidInputError, match="unknown saliency method"):
        explain(ens, noise_images(1), method="occlusion")
    with pytest.raises(InvalidInputError, match="predicts 'male'"):
        explain(ens, noise_images(1), target="male")
    with pytest.raises(InvalidInputError, match="EnsemblePredictor"):
        explain(object(), noise_images(1))  # type: ignore[arg-type]


def test_torchscript_members_are_refused_for_grad_cam_only() -> None:
    module = torch.jit.script(Quadrant().eval())
    spec = MemberSpec("scripted", "torchscript", ("bone_age",), PREP)
    ens = EnsemblePredictor("script", [Member(spec, module)], device="cpu")
    with pytest.raises(InvalidInputError, match="Grad-CAM cannot hook"):
        explain(ens, noise_images(1), method="grad-cam")
    maps = explain(ens, noise_images(1), method="input-x-gradient")
    assert quadrant_share(maps.ensemble[0], margin=3) > 0.97


@pytest.mark.gpu
def test_maps_on_the_gpu_match_the_cpu() -> None:
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    images = noise_images(3)
    cpu = explain(quadrant_ensemble(), images, method="integrated-gradients")
    ens = quadrant_ensemble()
    ens.device = "cuda"
    gpu = explain(ens, images, method="integrated-gradients")
    for a, b in zip(cpu.ensemble, gpu.ensemble, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-6)


def test_an_unknown_sex_comes_from_the_ensemble_when_it_declares_so() -> None:
    from radinpaint.datasets.phantom import make_phantom
    from radinpaint.predictors import load_phantom_ensemble

    cases = [make_phantom(s, size=96) for s in range(2)]
    strict = load_phantom_ensemble(device="cpu", sex_from_prediction=False)
    with pytest.raises(InvalidInputError, match="sex_from_prediction"):
        explain(strict, cases, target="bone_age")
    ens = load_phantom_ensemble(device="cpu", sex_from_prediction=True)
    assert ens.capabilities().infers_sex
    p = ens.predict(cases).p_male
    assert p is not None
    predicted = [bool(v >= 0.5) for v in p]
    inferred = explain(ens, cases, target="bone_age", method="input-x-gradient")
    given = explain(ens, cases, target="bone_age", method="input-x-gradient", male=predicted)
    for a, b in zip(inferred.ensemble, given.ensemble, strict=True):
        assert np.array_equal(a, b)

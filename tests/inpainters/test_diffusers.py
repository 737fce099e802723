"""The diffusers inpainter on a tiny random-weight Stable Diffusion inpainting pipeline.

The pipeline is built offline (``save_random_inpaint_pipeline``), saved with
``save_pretrained`` into a temporary folder and loaded back through the backend, as a
downloaded model would be.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from radinpaint import InpaintRequest, get_inpainter
from radinpaint.errors import InvalidInputError, ModelUnavailableError
from radinpaint.records import Mask
from radinpaint.testing import check_inpainter

from ._helpers import box_mask, radiograph

PROMPT = "hand x-ray"


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    import torch

    from radinpaint.inpainters.diffusers.tiny import save_random_inpaint_pipeline

    torch.set_num_threads(1)
    return str(save_random_inpaint_pipeline(tmp_path_factory.mktemp("tiny-sd-inpaint")))


def backend(model, **options):
    options.setdefault("steps", 2)
    options.setdefault("size", 64)
    options.setdefault("prompt", PROMPT)
    options.setdefault("negative_prompt", "text")
    options.setdefault("device", "cpu")
    return get_inpainter("diffusers", model=model, **options)


def requests_for(image, mask, k=2, seed=3):
    return [InpaintRequest(image, mask, seed=seed, variant=v, case_id="c") for v in range(k)]


@pytest.mark.parametrize("bit_depth", [8, 16])
def test_output_keeps_shape_depth_and_outside_pixels(tiny_model, bit_depth):
    image = radiograph((80, 64), bit_depth)
    mask = box_mask(image.shape, (10, 30, 10, 34))
    results = backend(tiny_model).inpaint(requests_for(image, mask))
    for r in results:
        assert r.image.shape == image.shape and r.image.bit_depth == bit_depth
        assert r.compositing == "paste-back"
        assert np.array_equal(r.image.to_uint()[~mask.array], image.to_uint()[~mask.array])
        assert not np.array_equal(r.image.pixels[mask.array], image.pixels[mask.array])
        assert "8-bit-roundtrip" not in r.flags
        assert r.extra["pipeline_class"] == "StableDiffusionInpaintPipeline"
        assert r.extra["dtype"] == "float32"
    if bit_depth == 16:  # float output: more grey levels in the mask than 8 bits could hold
        levels = np.unique(results[0].image.to_uint()[mask.array])
        assert len(levels) > 256 or not np.all(levels % 257 == 0)


def test_seeds_replay_and_variants_differ(tiny_model):
    image = radiograph((64, 64), 16)
    mask = box_mask(image.shape, (8, 40, 8, 40))
    reqs = requests_for(image, mask, k=3)
    first = backend(tiny_model, batch_size=3).inpaint(reqs)
    again = backend(tiny_model, batch_size=3).inpaint(reqs)
    single = backend(tiny_model, batch_size=1).inpaint(reqs)
    for a, b, c in zip(first, again, single, strict=True):
        assert np.array_equal(a.image.pixels, b.image.pixels)  # same batch: bit for bit
        np.testing.assert_allclose(a.image.pixels, c.image.pixels, atol=1e-5)  # float rounding
    inside = mask.array
    assert not np.allclose(first[0].image.pixels[inside], first[1].image.pixels[inside])
    assert [r.seed for r in first] == [r.variant_seed for r in reqs]


def test_raw_output_changes_pixels_outside_the_mask(tiny_model):
    image = radiograph((64, 64), 16)
    mask = box_mask(image.shape, (8, 20, 8, 20))
    (raw,) = backend(tiny_model, compositing="raw").inpaint(requests_for(image, mask, k=1))
    assert raw.compositing == "raw"
    assert not np.array_equal(raw.image.pixels[~mask.array], image.pixels[~mask.array])


@pytest.mark.parametrize("geometry", ["letterbox", "squash"])
def test_whole_image_geometries_come_back_to_the_input_shape(tiny_model, geometry):
    image = radiograph((90, 50), 12)
    mask = box_mask(image.shape, (60, 80, 10, 30))
    (r,) = backend(tiny_model, geometry=geometry).inpaint(requests_for(image, mask, k=1))
    assert r.image.shape == (90, 50) and "resampled" in r.flags
    assert np.array_equal(r.image.to_uint()[~mask.array], image.to_uint()[~mask.array])


def test_scheduler_option(tiny_model):
    image = radiograph((64, 64))
    reqs = requests_for(image, box_mask(image.shape, (8, 20, 8, 20)), k=1)
    (r,) = backend(tiny_model, scheduler="EulerDiscreteScheduler").inpaint(reqs)
    assert r.options["scheduler"] == "EulerDiscreteScheduler"
    with pytest.raises(InvalidInputError, match="NoSuchScheduler"):
        backend(tiny_model, scheduler="NoSuchScheduler").inpaint(reqs)


def test_empty_mask_does_not_load_anything():
    image = radiograph((64, 64))
    reqs = requests_for(image, Mask.empty(image.shape))
    results = backend("/nonexistent/never-loaded").inpaint(reqs)
    assert all(r.flags == ("empty-mask",) for r in results)


@pytest.mark.parametrize("pipeline", ["auto", "flux-fill"])
def test_missing_hub_weights_fail_clearly_offline(pipeline):
    image = radiograph((64, 64))
    reqs = requests_for(image, box_mask(image.shape, (8, 20, 8, 20)), k=1)
    model = "radinpaint-tests/not-downloaded-inpainting"
    with pytest.raises(ModelUnavailableError) as info:
        backend(model, pipeline=pipeline).inpaint(reqs)
    assert model in str(info.value)
    assert f"huggingface-cli download {model}" in str(info.value)


def test_missing_local_folder_fails_clearly(tmp_path):
    image = radiograph((64, 64))
    reqs = requests_for(image, box_mask(image.shape, (8, 20, 8, 20)), k=1)
    with pytest.raises(ModelUnavailableError, match="save_pretrained"):
        backend(str(tmp_path / "missing")).inpaint(reqs)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelUnavailableError, match="save_pretrained"):
        backend(str(tmp_path / "empty")).inpaint(reqs)


def test_options_record_and_rebuild(tiny_model):
    inp = backend(tiny_model, batch_size=2)
    opts = inp.options()
    assert "device" not in opts and "batch_size" not in opts
    assert opts["guidance"] == 7.5 and opts["pipeline"] == "auto"
    assert get_inpainter("diffusers", **opts).options() == opts


def test_conformance_kit(tiny_model):
    ran = check_inpainter(backend(tiny_model, batch_size=1), paste_back=True)
    assert "outside-mask-exact" in ran and "seed-replay" in ran


@pytest.mark.gpu
def test_fp16_on_gpu(tiny_model):
    image = radiograph((64, 64), 16)
    reqs = requests_for(image, box_mask(image.shape, (8, 20, 8, 20)), k=2)
    results = backend(tiny_model, device="auto").inpaint(reqs)
    assert results[0].extra["device"].startswith("cuda")
    assert results[0].extra["dtype"] == "float16" and "float16-inference" in results[0].flags
    assert np.array_equal(results[0].image.to_uint()[:4], image.to_uint()[:4])


@pytest.fixture(scope="session")
def tiny_flux(tmp_path_factory):
    from radinpaint.inpainters.diffusers.tiny import save_random_flux_fill_pipeline

    try:
        folder = save_random_flux_fill_pipeline(tmp_path_factory.mktemp("tiny-flux-fill"))
    except TypeError as exc:  # transformers 4.x: T5TokenizerFast cannot take vocab=
        pytest.skip(f"cannot build a tiny T5 tokenizer with this transformers: {exc}")
    return str(folder)


def test_flux_fill_pipeline(tiny_flux):
    image = radiograph((72, 64), 16)
    mask = box_mask(image.shape, (8, 30, 20, 50))
    inp = get_inpainter(
        "diffusers", model=tiny_flux, pipeline="flux-fill", steps=2, size=64, device="cpu"
    )
    assert inp.options()["guidance"] == 30.0 and inp.options()["negative_prompt"] is None
    reqs = requests_for(image, mask, k=2)
    first, second = inp.inpaint(reqs)
    assert first.extra["pipeline_class"] == "FluxFillPipeline"
    for r in (first, second):
        assert r.image.shape == image.shape and r.image.bit_depth == 16
        assert np.array_equal(r.image.to_uint()[~mask.array], image.to_uint()[~mask.array])
    assert not np.array_equal(first.image.pixels, second.image.pixels)
    again = inp.inpaint(reqs)
    assert np.array_equal(again[0].image.pixels, first.image.pixels)
    with_negative = get_inpainter(
        "diffusers",
        model=tiny_flux,
        pipeline="flux-fill",
        steps=1,
        size=64,
        device="cpu",
        negative_prompt="text",
        padding_mask_crop=8,
    )
    (r,) = with_negative.inpaint(reqs[:1])
    assert {"negative_prompt", "padding_mask_crop"} <= set(r.extra["ignored_options"])


def test_padding_mask_crop_goes_through_8_bits(tiny_model):
    image = radiograph((64, 64), 16)
    mask = box_mask(image.shape, (10, 30, 10, 30))
    (r,) = backend(tiny_model, padding_mask_crop=8).inpaint(requests_for(image, mask, k=1))
    assert "8-bit-roundtrip" in r.flags and r.extra["ignored_options"] == []
    assert np.array_equal(r.image.to_uint()[~mask.array], image.to_uint()[~mask.array])

"""The diffusers inpainter's fingerprint: stable across the first download, and per configuration.

The fingerprint is read before the pipeline loads (and downloads) its weights, so it must not
depend on what the local Hugging Face cache holds; and two differently configured backend
objects must never share cache entries.
"""

from __future__ import annotations

import pytest

from radinpaint.cache import ResultCache
from radinpaint.inpainters.diffusers.backend import DiffusersInpainter
from radinpaint.records import InpaintRequest

from ._helpers import box_mask, radiograph


def _request() -> InpaintRequest:
    image = radiograph((32, 32))
    return InpaintRequest(image, box_mask(image.shape, (4, 12, 4, 12)), seed=1, case_id="c")


def test_a_first_run_that_downloads_the_model_keeps_its_cache_keys(tmp_path, monkeypatch):
    constants = pytest.importorskip("huggingface_hub.constants")
    hub = tmp_path / "hub"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hub))
    cache = ResultCache(tmp_path / "cache")
    req = _request()

    before = DiffusersInpainter(model="someorg/sd-inpaint").capabilities().fingerprint
    key_run1 = cache.key("diffusers", {}, req, fingerprint=before)
    refs = hub / "models--someorg--sd-inpaint" / "refs"
    refs.mkdir(parents=True)
    (refs / "main").write_text("a" * 40)  # what from_pretrained leaves after downloading
    after = DiffusersInpainter(model="someorg/sd-inpaint").capabilities().fingerprint
    assert cache.key("diffusers", {}, req, fingerprint=after) == key_run1


def test_a_pinned_revision_is_part_of_the_fingerprint():
    def fp(**kw):
        return DiffusersInpainter(model="someorg/sd-inpaint", **kw).capabilities().fingerprint

    assert fp() == fp(revision="main")
    assert len({fp(), fp(revision="a" * 40), fp(revision="b" * 40)}) == 3
    assert fp() != DiffusersInpainter(model="someorg/other").capabilities().fingerprint


def test_output_shaping_options_are_part_of_the_fingerprint():
    def fp(**kw):
        return DiffusersInpainter(model="someorg/sd-inpaint", **kw).capabilities().fingerprint

    base = fp()
    for change in (
        {"steps": 12},
        {"strength": 0.5},
        {"guidance": 3.0},
        {"prompt": "another prompt"},
        {"negative_prompt": "nothing"},
        {"size": 256},
        {"geometry": "squash"},
        {"scheduler": "DPMSolverMultistepScheduler"},
        {"dtype": "float32"},
        {"compositing": "raw"},
        {"feather": 9},
        {"pipeline": "flux-fill"},
        {"padding_mask_crop": 16},
    ):
        assert fp(**change) != base, change
    # operational options do not change an output
    assert fp(device="cpu", batch_size=1, allow_download=True) == base


def test_the_revision_reaches_the_pipeline_loader(monkeypatch):
    from radinpaint.inpainters.diffusers import pipeline

    seen = {}

    def fake_load(model, **kw):
        seen.update(kw, model=model)
        raise RuntimeError("stop here")

    monkeypatch.setattr(pipeline, "load_pipeline", fake_load)
    backend = DiffusersInpainter(model="someorg/sd-inpaint", revision="c" * 40)
    with pytest.raises(RuntimeError, match="stop here"):
        backend.inpaint([_request()])
    assert seen["model"] == "someorg/sd-inpaint" and seen["revision"] == "c" * 40
    assert backend.options()["revision"] == "c" * 40


def test_a_hub_revision_is_passed_to_from_pretrained():
    from radinpaint.errors import ModelUnavailableError
    from radinpaint.inpainters.diffusers.pipeline import _load_uncached

    calls = []

    class FakePipeline:
        @classmethod
        def from_pretrained(cls, path, **kw):
            calls.append((path, kw))
            raise OSError("not in the local cache")

    fake = type("FakeDiffusers", (), {"AutoPipelineForInpainting": FakePipeline})
    for revision in ("d" * 40, None):
        with pytest.raises(ModelUnavailableError):
            _load_uncached("someorg/sd-inpaint", fake, None, "cpu", "auto", None, False, revision)
    assert calls[0][1]["revision"] == "d" * 40
    assert "revision" not in calls[1][1]  # not given: the library's default ("main")
